"""Graph operations: gathers by an index (`index_select`), scatter-adds by an index
(`index_add`, `segment_sum`, `segment_mean`), the segment maximum (`segment_max`) and the softmax
over the entries that share a segment (`segment_softmax`).

Notation: a graph with ``N`` nodes and ``E`` directed edges stores its edges as ``edge_index`` of
shape ``(2, E)``: row 0 the source ``u`` (where a message comes from), row 1 the target ``v``
(where it goes), PyTorch Geometric's convention. A message-passing layer *gathers* node rows
along the edges (``x[u]``: `index_select`) and *scatters* the messages back to their targets,
summing the rows that share a target (`index_add`, `segment_sum`). The two are each other's
transpose, and so each one's backward is the other: the gradient of a gather is a scatter-add of
``g`` to the gathered rows (repeated indices accumulate), the gradient of a scatter-add is a
gather of ``g`` at the scattered rows.

A *segment* index ``index`` of shape ``(E,)`` with values in ``[0, num_segments)`` assigns each
row of ``src`` to one segment (a node's incoming edges, a graph's nodes, a set's elements); the
segment ops reduce over the rows of each segment. An empty segment sums to 0 and has maximum 0
(PyTorch Geometric's ``scatter`` convention).

The scatter-add is computed as a sparse matrix product: with ``S`` the ``(num_segments, E)``
0/1 matrix ``S[index[e], e] = 1``, ``segment_sum(src) = S @ src`` (SciPy's CSR product, many
times faster than ``np.add.at``).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

from ..tensor import Tensor, make_result
from ._base import _t

__all__ = ["index_select", "index_add", "segment_sum", "segment_mean", "segment_max",
           "segment_softmax"]


def _index(op: str, index, length: int | None = None, size: int | None = None) -> np.ndarray:
    """``index`` as a 1-D int64 array, checked: integer, 1-D, of ``length`` entries, in
    ``[0, size)``."""
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    if ind.dtype.kind not in "iu" and not (ind.size == 0 and ind.dtype.kind == "f"):
        raise TypeError(f"{op}: index must hold integers, got dtype {ind.dtype}")
    if ind.ndim != 1:
        raise ValueError(f"{op}: index must be 1-D, got shape {ind.shape}")
    ind = ind.astype(np.int64, copy=False)
    if length is not None and ind.shape[0] != length:
        raise ValueError(f"{op}: index has {ind.shape[0]} entries but the source has {length} "
                         f"rows along the indexed dimension (expected index of shape "
                         f"({length},))")
    if size is not None and ind.size and (ind.min() < 0 or ind.max() >= size):
        raise IndexError(f"{op}: index out of range: values must be in [0, {size}), got "
                         f"min {ind.min()} and max {ind.max()}")
    return ind


_CACHE: OrderedDict = OrderedDict()  # the last few scatter matrices, keyed by index content


def _scatter_matrix(index: np.ndarray, num_segments: int) -> sp.csr_matrix:
    """The ``(num_segments, E)`` 0/1 matrix ``S[index[e], e] = 1`` that sums the rows of each
    segment. A message-passing network uses the same index in every layer, forward and
    backward, so the last few matrices are kept, keyed by the index's contents (compared in
    full, so a changed index never reuses a stale matrix)."""
    key = (index.shape[0], num_segments, hash(index.tobytes()))
    hit = _CACHE.get(key)
    if hit is not None and np.array_equal(hit[0], index):
        _CACHE.move_to_end(key)
        return hit[1]
    e = index.shape[0]
    m = sp.csr_matrix((np.ones(e, dtype=np.float32), (index, np.arange(e))),
                      shape=(num_segments, e))
    _CACHE[key] = (index.copy(), m)
    if len(_CACHE) > 16:
        _CACHE.popitem(last=False)
    return m


def _scatter_sum(index: np.ndarray, src: np.ndarray, num_segments: int) -> np.ndarray:
    """``out[index[e]] += src[e]`` along axis 0, for ``src`` of any trailing shape."""
    flat = src.reshape(src.shape[0], int(np.prod(src.shape[1:])))
    m = _scatter_matrix(index, num_segments)
    out = (m @ flat) if flat.dtype == np.float32 else (m.astype(flat.dtype) @ flat)
    return np.asarray(out, dtype=src.dtype).reshape((num_segments, *src.shape[1:]))


def index_select(input, dim: int, index) -> Tensor:
    """``torch.index_select``: the entries of ``input`` at positions ``index`` along ``dim``.

    Shapes: ``input (..., n, ...)`` with ``n`` along ``dim``, ``index (k,)`` integers in
    ``[0, n)``; the output has ``k`` along ``dim``. On a graph, ``index_select(x, 0, src)`` with
    ``x (N, d)`` and ``src = edge_index[0]`` gives each edge its source node's row, ``(E, d)``.

    Backward: ``g`` scatter-added back to the selected positions (`index_add` of ``g``), so a
    position selected several times receives the sum of its gradients.

    Raises:
        TypeError: if ``index`` does not hold integers.
        ValueError: if ``index`` is not 1-D or ``dim`` is out of range.
        IndexError: if an index is outside ``[0, n)``.
    """
    x = _t(input)
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise ValueError(f"index_select: dim {dim} is out of range for a tensor of shape "
                         f"{x.shape}")
    dim = dim % x.ndim
    ind = _index("index_select", index, size=x.shape[dim])
    out = np.take(x.data, ind, axis=dim)
    shape, dtype, n = x.data.shape, x.data.dtype, x.shape[dim]

    def backward(g):
        gm = np.moveaxis(g, dim, 0)
        z = _scatter_sum(ind, gm, n).astype(dtype, copy=False)
        return (np.moveaxis(z, 0, dim).reshape(shape),)

    return make_result(out, (x,), backward, "index_select")


def index_add(input, dim: int, index, source, alpha: float = 1.0) -> Tensor:
    """``torch.index_add`` (out of place): ``out = input`` with ``alpha * source[i]`` added at
    position ``index[i]`` along ``dim``; rows that share an index are summed.

    Shapes: ``input (..., n, ...)``, ``index (k,)`` integers in ``[0, n)``, ``source`` the shape
    of ``input`` with ``k`` along ``dim``. On a graph, ``index_add(zeros (N, d), 0, dst,
    messages (E, d))`` sums each node's incoming messages: the aggregation of message passing.

    Backward: ``dL/d input = g``; ``dL/d source = alpha * index_select(g, dim, index)`` (each
    source row receives the gradient of the row it was added to).

    Raises:
        TypeError: if ``index`` does not hold integers.
        ValueError: if ``index`` is not 1-D, its length differs from ``source``'s size along
            ``dim``, or ``input`` and ``source`` differ outside ``dim`` (both shapes named).
        IndexError: if an index is outside ``[0, n)``.
    """
    x = _t(input)
    s = _t(source, x)
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise ValueError(f"index_add: dim {dim} is out of range for a tensor of shape {x.shape}")
    dim = dim % x.ndim
    if s.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, s.shape, strict=True))
                               if i != dim):
        raise ValueError(f"index_add: source of shape {s.shape} does not match input of shape "
                         f"{x.shape} outside dim {dim}")
    ind = _index("index_add", index, length=s.shape[dim], size=x.shape[dim])
    n = x.shape[dim]
    added = _scatter_sum(ind, np.moveaxis(s.data, dim, 0), n)
    out = x.data + alpha * np.moveaxis(added, 0, dim).astype(x.data.dtype, copy=False)

    def backward(g):
        gs = np.take(g, ind, axis=dim)
        return (g, alpha * gs if s.requires_grad else None)

    return make_result(out, (x, s), backward, "index_add")


def segment_sum(src, index, num_segments: int) -> Tensor:
    """Sum of the rows of ``src`` in each segment: ``out[k] = sum_{e: index[e] = k} src[e]``.

    Shapes: ``src (E, ...)``, ``index (E,)`` integers in ``[0, num_segments)``; output
    ``(num_segments, ...)``. The same as ``index_add(zeros, 0, index, src)``; PyTorch Geometric
    calls it ``scatter(src, index, reduce="sum")``.

    Backward: ``g[index]`` (a gather).

    Raises:
        TypeError, ValueError, IndexError: as `index_add` (index not integer, not 1-D, of the
            wrong length, or out of range), and ``ValueError`` if ``num_segments`` < 0.
    """
    x, ind, num_segments = _segment_args("segment_sum", src, index, num_segments)
    out = _scatter_sum(ind, x.data, num_segments).astype(x.data.dtype, copy=False)
    return make_result(out, (x,), lambda g: (g[ind],), "segment_sum")


def _num_segments(op: str, num_segments) -> int:
    try:
        k = int(num_segments)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: num_segments must be an integer, got {num_segments!r}") from None
    if k != num_segments or k < 0:
        raise ValueError(f"{op}: num_segments must be a non-negative integer, got "
                         f"{num_segments!r}")
    return k


def _segment_args(op: str, src, index, num_segments, floating: bool = False):
    """A segment op's checked arguments ``(x, ind, num_segments)``: ``src`` as a Tensor (of a
    floating dtype where the op needs one), ``index`` as an integer array of ``src``'s length
    with values in ``[0, num_segments)``, and ``num_segments`` as an int; errors name ``op``."""
    x = _t(src)
    if floating and x.dtype.kind != "f":
        raise ValueError(f"{op}: needs a floating-point tensor, got {x.dtype}")
    num_segments = _num_segments(op, num_segments)
    ind = _index(op, index, length=x.shape[0] if x.ndim else None, size=num_segments)
    return x, ind, num_segments


def segment_mean(src, index, num_segments: int) -> Tensor:
    """Mean of the rows of ``src`` in each segment (0 for an empty segment).

    Shapes as `segment_sum`. Backward: ``g[index] / count[index]``, ``count[k]`` the number of
    rows in segment ``k``.

    Raises:
        as `segment_sum`.
    """
    x, ind, num_segments = _segment_args("segment_mean", src, index, num_segments, floating=True)
    count = np.maximum(np.bincount(ind, minlength=num_segments), 1).astype(x.dtype)
    cshape = (num_segments,) + (1,) * (x.ndim - 1)
    out = (_scatter_sum(ind, x.data, num_segments) / count.reshape(cshape)).astype(x.dtype)
    per_row = (1.0 / count[ind]).reshape((-1,) + (1,) * (x.ndim - 1))
    return make_result(out, (x,), lambda g: (g[ind] * per_row,), "segment_mean")


def segment_max(src, index, num_segments: int) -> Tensor:
    """Maximum of the rows of ``src`` in each segment, entry by entry (0 for an empty segment).

    Shapes as `segment_sum`. Backward: ``g[index]`` where a row attains its segment's maximum,
    split evenly between tied rows (as `max` and ``torch.amax`` do), 0 elsewhere.

    Raises:
        as `segment_sum`.
    """
    x, ind, num_segments = _segment_args("segment_max", src, index, num_segments)
    X = x.data
    out = np.full((num_segments, *X.shape[1:]), -np.inf, dtype=X.dtype)
    np.maximum.at(out, ind, X)
    empty = np.bincount(ind, minlength=num_segments) == 0
    out[empty] = 0
    hit = X == out[ind]
    count = _scatter_sum(ind, hit.astype(X.dtype), num_segments)

    def backward(g):
        return (np.where(hit, g[ind] / np.maximum(count[ind], 1), 0).astype(X.dtype),)

    return make_result(out, (x,), backward, "segment_max")


def segment_softmax(src, index, num_segments: int) -> Tensor:
    """Softmax over the rows of ``src`` that share a segment: for ``e`` in segment ``k``,
    ``out[e] = exp(src[e] - m_k) / sum_{e': index[e'] = k} exp(src[e'] - m_k)`` with ``m_k``
    the segment's maximum (subtracted so that nothing overflows). With ``index`` the edges'
    targets, this is the attention of each node over its incoming edges (GAT, Velickovic et al.
    2018, eq. 3).

    Shapes: ``src (E,)`` or ``(E, heads)``, ``index (E,)``; output the shape of ``src``, and the
    rows of each segment sum to 1 (for every head).

    Backward: ``s * (g - segment_sum(g * s)[index])``, the softmax's Jacobian-vector product
    taken segment by segment.

    Raises:
        as `segment_sum`.
    """
    x, ind, num_segments = _segment_args("segment_softmax", src, index, num_segments, floating=True)
    X = x.data
    m = np.full((num_segments, *X.shape[1:]), -np.inf, dtype=X.dtype)
    np.maximum.at(m, ind, X)
    e = np.exp(X - m[ind])
    s = (e / _scatter_sum(ind, e, num_segments)[ind]).astype(X.dtype)

    def backward(g):
        return (s * (g - _scatter_sum(ind, g * s, num_segments)[ind]),)

    return make_result(s, (x,), backward, "segment_softmax")
