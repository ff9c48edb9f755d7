"""Shape and indexing operations: `reshape`, `transpose`, `permute`, `index` (``x[idx]``),
`gather`, `cat`, `stack`.

Notation: ``g = dL/d(out)``. These ops move entries without changing them, so each backward
moves ``g`` back: reshaped, transposed or split back to the input's layout, or *scattered* back
to the indexed positions (with ``np.add.at`` where an index may repeat, so repeated positions
receive the sum of their gradients).
"""

from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _axes, _t

__all__ = ["reshape", "transpose", "permute", "index", "gather", "cat", "stack"]


def reshape(x, shape) -> Tensor:
    """Reshape (one entry may be -1). Backward: ``g`` reshaped to the input shape.

    Raises:
        ValueError: if the element counts differ, naming both shapes.
    """
    x = _t(x)
    shape = tuple(int(s) for s in shape)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.data.size} elements) into shape {shape}") from None
    in_shape = x.data.shape
    return make_result(out, (x,), lambda g: (g.reshape(in_shape),), "reshape")


def transpose(x, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dimensions. Backward: swap them back."""
    x = _t(x)
    _axes((dim0, dim1), x.ndim)
    out = np.swapaxes(x.data, dim0, dim1)
    return make_result(out, (x,), lambda g: (np.swapaxes(g, dim0, dim1),), "transpose")


def permute(x, dims) -> Tensor:
    """Reorder dimensions (``torch.permute``). Backward: the inverse permutation."""
    x = _t(x)
    dims = tuple(int(d) % builtins.max(x.ndim, 1) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dimensions of a "
                         f"tensor of shape {x.shape}")
    inv = tuple(np.argsort(dims))
    return make_result(np.transpose(x.data, dims), (x,),
                       lambda g: (np.transpose(g, inv),), "permute")


def _clean_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return builtins.any(isinstance(i, (np.ndarray, list)) for i in items)


def index(x, idx) -> Tensor:
    """``x[idx]`` with NumPy indexing (slices, integers, integer or boolean arrays).

    Backward: a zero array of the input's shape with ``g`` scattered back into the indexed
    positions. For integer-array ("gather") indices the scatter adds (``np.add.at``, or for one
    integer array into the first axis, as an embedding lookup, a sort and ``np.add.reduceat``),
    so an index that appears several times receives the sum of its gradients.

    Raises:
        IndexError: for out-of-range indices (NumPy's message, prefixed with the op and shape).
    """
    x = _t(x)
    idx = _clean_index(idx)
    try:
        out = x.data[idx]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {x.shape})") from None
    shape, dtype = x.data.shape, x.data.dtype
    advanced = _is_advanced(idx)

    rows = isinstance(idx, np.ndarray) and idx.dtype.kind in "iu"  # x[ids]: an embedding

    def backward(g):
        if rows:
            return (_scatter_rows(shape, dtype, idx, g),)
        z = np.zeros(shape, dtype=dtype)
        if advanced:
            np.add.at(z, idx, g)
        else:
            z[idx] += g
        return (z,)

    return make_result(np.asarray(out), (x,), backward, "index")


def _scatter_rows(shape, dtype, ids: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``np.add.at(zeros(shape), ids, g)`` for integer ``ids`` into the first axis, computed by
    sorting: the gradients of equal ids are adjacent after a stable sort, and one
    ``np.add.reduceat`` sums each run (several times faster than ``np.add.at``)."""
    z = np.zeros(shape, dtype=dtype)
    flat = ids.ravel() % shape[0]  # negative ids count from the end, as in the forward
    if flat.size == 0:
        return z
    g2 = g.reshape(flat.size, -1)
    order = np.argsort(flat, kind="stable")
    s = flat[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    z.reshape(shape[0], -1)[s[starts]] = np.add.reduceat(g2[order], starts, axis=0)
    return z


def gather(x, dim: int, index) -> Tensor:
    """``torch.gather``: ``out[i][j] = x[index[i][j]][j]`` for ``dim=0`` (and so on).

    Shapes: ``index`` has as many dimensions as ``x``; the output has ``index``'s shape.
    Backward: scatter-add of ``g`` into the gathered positions (repeated indices accumulate).

    Raises:
        ValueError: if ``index`` has a different number of dimensions or is not integer.
        IndexError: if an index is out of range.
    """
    x = _t(x)
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    if ind.ndim != x.ndim or ind.dtype.kind not in "iu":
        raise ValueError(f"gather: index must be an integer array with {x.ndim} dimensions, got "
                         f"shape {ind.shape} and dtype {ind.dtype}")
    dim = dim % x.ndim
    size = x.shape[dim]
    if ind.size and (ind.min() < -size or ind.max() >= size):
        raise IndexError(f"gather: index out of range for dimension {dim} of size {size}")
    out = np.take_along_axis(x.data, ind, axis=dim)
    shape, dtype = x.data.shape, x.data.dtype

    def backward(g):
        z = np.zeros(shape, dtype=dtype)
        grids = list(np.indices(ind.shape, sparse=True))
        grids[dim] = ind
        np.add.at(z, tuple(grids), g)
        return (z,)

    return make_result(out, (x,), backward, "gather")


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension. Backward: ``g`` split back into the pieces.

    Raises:
        ValueError: if the list is empty or the shapes differ outside ``dim`` (shapes named).
    """
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("cat: expected a non-empty list of tensors")
    try:
        out = np.concatenate([t.data for t in ts], axis=dim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise ValueError(f"cat: cannot concatenate shapes {[t.shape for t in ts]} along dim "
                         f"{dim}: {e}") from None
    sizes = np.cumsum([t.shape[dim] for t in ts])[:-1]

    def backward(g):
        return tuple(np.split(g, sizes, axis=dim))

    return make_result(out, ts, backward, "cat")


def stack(tensors, dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new dimension. Backward: ``g`` unstacked.

    Raises:
        ValueError: if the list is empty or the shapes differ (shapes named).
    """
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got "
                         f"{[t.shape for t in ts]}")
    out = np.stack([t.data for t in ts], axis=dim)
    d = dim % out.ndim

    def backward(g):
        return tuple(np.take(g, i, axis=d) for i in range(len(ts)))

    return make_result(out, ts, backward, "stack")
