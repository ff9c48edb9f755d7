"""Special functions as differentiable ops: what the Gamma, Beta and mixture heads need.

- ``lgamma(x)``: the log of the gamma function, ``log Gamma(x)`` for ``x > 0``; its derivative
  is the digamma function ``psi(x) = Gamma'(x) / Gamma(x)``.
- ``logsumexp(x, dim)``: ``log sum_k exp(x_k)`` with the maximum subtracted first, so it is
  finite for entries of +-1e3; its derivative is ``softmax(x)`` along ``dim``.

Both follow PyTorch's names (``torch.lgamma``, ``torch.logsumexp``) and are checked against them
and against float64 finite differences in ``tests/test_special.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from .tensor import Tensor, make_result

__all__ = ["lgamma", "logsumexp"]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def lgamma(x) -> Tensor:
    """``log Gamma(x)``, elementwise, for positive ``x`` (any shape).

    Backward: ``g * digamma(x)``, since ``d/dx log Gamma(x) = Gamma'(x) / Gamma(x) = psi(x)``.

    Raises:
        ValueError: for non-positive or non-finite entries (the heads only ever need ``x > 0``;
            there ``Gamma(x)`` is positive and its log is real), naming the first few and where.
    """
    x = _t(x)
    X = x.data
    bad = ~(np.isfinite(X) & (X > 0))
    if bad.any():
        idx = np.argwhere(bad)[:5]
        vals = [X[tuple(i)].item() for i in idx]
        raise ValueError(f"lgamma: arguments must be positive and finite; got {vals} at "
                         f"positions {[tuple(int(j) for j in i) for i in idx]}")
    out = gammaln(X).astype(X.dtype, copy=False)
    return make_result(out, (x,), lambda g: (g * digamma(X).astype(X.dtype, copy=False),),
                       "lgamma")


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
