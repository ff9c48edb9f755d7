"""Helpers every op module shares: coercion to `Tensor` (Python scalars are *weak*: they take
the other operand's float dtype), broadcast and ``dim`` checks, and the ``reduction`` argument of
the losses. Not public; the ops are re-exported from `ibcore.functional`.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor


def _t(x, like: Tensor | None = None) -> Tensor:
    """Coerce ``x`` to a Tensor; Python scalars take ``like``'s float dtype (weak scalars)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, np.number)) and like.dtype.kind == "f":
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def _pair(a, b) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, _t(b, a)
    b = _t(b)
    return _t(a, b), b


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    if a.data.shape == b.data.shape:
        return
    try:
        np.broadcast_shapes(a.data.shape, b.data.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.data.shape} and {b.data.shape} cannot be broadcast together"
        ) from None


def _axes(dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise ValueError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


def _sum_last(a: np.ndarray) -> np.ndarray:
    """Sum over the last axis, keeping it (``keepdims=True``), as the product ``a 1``: one BLAS
    matrix-vector call over all rows, several times faster than NumPy's reduction for the short
    rows of the book's models (a row of 10 to 64 entries)."""
    n, m = a.shape[-1], int(np.prod(a.shape[:-1], dtype=np.int64))
    return (a.reshape(m, n) @ np.ones(n, dtype=a.dtype)).reshape(a.shape[:-1] + (1,))


def _sum_leading(a: np.ndarray, k: int) -> np.ndarray:
    """Sum over every axis but the trailing ``k``, as the product ``1^T a`` (one BLAS call;
    NumPy's reduction over the leading axes of a C-contiguous array is several times slower)."""
    lead, tail = a.shape[:a.ndim - k], a.shape[a.ndim - k:]
    a2 = a.reshape(int(np.prod(lead, dtype=np.int64)), int(np.prod(tail, dtype=np.int64)))
    return (np.ones(a2.shape[0], dtype=a.dtype) @ a2).reshape(tail)


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(op, losses, reduction):
    if reduction == "mean":  # sum / n is what np.mean computes, with less call overhead
        return np.asarray(losses.sum() / losses.size), 1.0 / losses.size
    if reduction == "sum":
        return np.asarray(losses.sum()), 1.0
    return losses, None
