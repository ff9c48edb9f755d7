"""Reductions along dimensions: `sum`, `mean`, `max`, and the normalising reductions `softmax`
and `log_softmax`.

Notation: ``dim`` is an int, a tuple, or None (all dimensions); ``keepdim`` keeps the reduced
dimensions with size 1, as in torch. ``g = dL/d(out)`` has the reduced shape; a backward puts
it back where each entry came from (broadcast over the reduced dimensions), weighted by the
derivative: 1 for a sum, ``1/n`` for a mean, the indicator of the arg-max for a max.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _axes, _t

__all__ = ["sum", "mean", "max", "softmax", "log_softmax", "logsumexp"]


def _expand_back(g, shape, axes, keepdim):
    if not keepdim:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


def sum(x, dim=None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (int, tuple, or None for all). Backward: ``g`` broadcast back."""
    x = _t(x)
    axes = _axes(dim, x.ndim)
    out = np.sum(x.data, axis=axes, keepdims=keepdim)
    shape = x.data.shape
    return make_result(np.asarray(out), (x,),
                       lambda g: (_expand_back(g, shape, axes, keepdim),), "sum")


def mean(x, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim``. Backward: ``g / n`` broadcast back, ``n`` the number averaged."""
    x = _t(x)
    if x.dtype.kind != "f":
        raise ValueError(f"mean: needs a floating-point tensor, got {x.dtype}")
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.data.shape[i] for i in axes])) if axes else 1
    out = np.mean(x.data, axis=axes, keepdims=keepdim)
    shape = x.data.shape
    return make_result(np.asarray(out), (x,),
                       lambda g: (_expand_back(g / n, shape, axes, keepdim),), "mean")


def max(x, dim=None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (values only, like ``torch.amax``).

    Backward: the gradient goes to the arguments of the maximum; where several entries tie, it is
    split evenly between them (as ``torch.amax`` does), so the total is preserved.
    """
    x = _t(x)
    if x.data.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    axes = _axes(dim, x.ndim)
    X = x.data
    out_k = np.max(X, axis=axes, keepdims=True)
    out = out_k if keepdim else np.squeeze(out_k, axis=axes)

    def backward(g):
        mask = X == out_k
        count = mask.sum(axis=axes, keepdims=True)
        gk = g if keepdim else np.expand_dims(g, axes)
        return (mask * (gk / count),)

    return make_result(np.asarray(out), (x,), backward, "max")


def _log_softmax_np(X, dim):
    m = np.max(X, axis=dim, keepdims=True)
    shifted = X - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


def softmax(x, dim: int = -1) -> Tensor:
    """Softmax along ``dim``: ``exp(x - max) / sum(exp(x - max))`` (shift-invariant, stable).

    Backward: ``s * (g - sum(g * s, dim))``, the Jacobian-vector product of the softmax.
    """
    x = _t(x)
    _axes(dim, x.ndim)
    s = np.exp(_log_softmax_np(x.data, dim))

    def backward(g):
        return (s * (g - np.sum(g * s, axis=dim, keepdims=True)),)

    return make_result(s, (x,), backward, "softmax")


def log_softmax(x, dim: int = -1) -> Tensor:
    """``x - logsumexp(x, dim)``, with the maximum subtracted first so it never overflows.

    Backward: ``g - softmax(x) * sum(g, dim)``.
    """
    x = _t(x)
    _axes(dim, x.ndim)
    out = _log_softmax_np(x.data, dim)

    def backward(g):
        return (g - np.exp(out) * np.sum(g, axis=dim, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax")


def logsumexp(x, dim: int = -1, keepdim: bool = False) -> Tensor:
    """``log sum_k exp(x_k)`` along ``dim``, stable: ``m + log sum_k exp(x_k - m)``, ``m = max``.

    Backward: ``g * softmax(x, dim)`` (the derivative of the log-partition function is the
    distribution it normalises).

    Raises:
        ValueError: if ``dim`` is out of range for ``x``'s shape.
    """
    x = _t(x)
    X = x.data
    if not -X.ndim <= dim < X.ndim:
        raise ValueError(f"logsumexp: dim {dim} out of range for a tensor of shape {X.shape}")
    m = np.max(X, axis=dim, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    lse = m + np.log(np.sum(np.exp(X - m), axis=dim, keepdims=True))
    p = np.exp(X - lse)
    out = lse if keepdim else np.squeeze(lse, axis=dim)

    def backward(g):
        gk = g if keepdim else np.expand_dims(g, dim)
        return (gk * p,)

    return make_result(out.astype(X.dtype, copy=False), (x,), backward, "logsumexp")
