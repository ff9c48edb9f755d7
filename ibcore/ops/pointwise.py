"""Pointwise operations: arithmetic with broadcasting and the elementwise nonlinearities.

Notation (as in every op module): ``g`` is the upstream gradient ``dL/d(out)`` (same shape as
``out``); each backward returns ``dL/d(input)`` for every input. Binary ops broadcast as NumPy
does, and their gradients may come back in the broadcast shape: the engine
(`ibcore.tensor.sum_to_shape`) sums them down to each input's shape. Each backward here is the
derivative of a scalar function applied entry by entry, so it is ``g`` times that derivative.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma as _digamma
from scipy.special import expit as _expit
from scipy.special import gammaln as _gammaln

from ..tensor import Tensor, make_result
from ._base import _broadcast_check, _pair, _t

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid", "relu",
           "softplus", "logsigmoid", "where", "astype", "lgamma"]


def add(a, b) -> Tensor:
    """``a + b`` with broadcasting. Backward: ``(g, g)``."""
    a, b = _pair(a, b)
    _broadcast_check("add", a, b)
    return make_result(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a, b) -> Tensor:
    """``a - b`` with broadcasting. Backward: ``(g, -g)``."""
    a, b = _pair(a, b)
    _broadcast_check("sub", a, b)
    return make_result(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a, b) -> Tensor:
    """``a * b`` elementwise with broadcasting. Backward: ``(g * b, g * a)``."""
    a, b = _pair(a, b)
    _broadcast_check("mul", a, b)
    A, B = a.data, b.data

    def backward(g):
        return (g * B if a.requires_grad else None, g * A if b.requires_grad else None)

    return make_result(A * B, (a, b), backward, "mul")


def div(a, b) -> Tensor:
    """``a / b`` elementwise. Backward: ``(g / b, -g * a / b**2)``."""
    a, b = _pair(a, b)
    _broadcast_check("div", a, b)
    A, B = a.data, b.data
    out = A / B

    def backward(g):
        return (g / B if a.requires_grad else None,
                -g * out / B if b.requires_grad else None)

    return make_result(out, (a, b), backward, "div")


def pow(a, b) -> Tensor:
    """``a ** b``. Backward: ``g * b * a**(b-1)`` for ``a``; ``g * out * log(a)`` for ``b``."""
    a, b = _pair(a, b)
    _broadcast_check("pow", a, b)
    A, B = a.data, b.data
    out = A**B

    def backward(g):
        ga = g * B * A ** (B - 1) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.where(A > 0, np.log(np.where(A > 0, A, 1)), 0)
        return ga, gb

    return make_result(out, (a, b), backward, "pow")


def neg(a) -> Tensor:
    """``-a``. Backward: ``-g``."""
    a = _t(a)
    return make_result(-a.data, (a,), lambda g: (-g,), "neg")


def exp(x) -> Tensor:
    """``exp(x)``. Backward: ``g * exp(x)``."""
    x = _t(x)
    out = np.exp(x.data)
    return make_result(out, (x,), lambda g: (g * out,), "exp")


def log(x) -> Tensor:
    """Natural log. Backward: ``g / x``."""
    x = _t(x)
    X = x.data
    return make_result(np.log(X), (x,), lambda g: (g / X,), "log")


def tanh(x) -> Tensor:
    """``tanh(x)``. Backward: ``g * (1 - tanh(x)**2)``."""
    x = _t(x)
    out = np.tanh(x.data)
    return make_result(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def sigmoid(x) -> Tensor:
    """Logistic ``1 / (1 + exp(-x))``, evaluated stably. Backward: ``g * s * (1 - s)``."""
    x = _t(x)
    out = _expit(x.data)
    return make_result(out, (x,), lambda g: (g * out * (1 - out),), "sigmoid")


def relu(x) -> Tensor:
    """``max(x, 0)``. Backward: ``g * (x > 0)`` (subgradient 0 at 0, as in torch)."""
    x = _t(x)
    X = x.data
    return make_result(np.maximum(X, 0), (x,), lambda g: (g * (X > 0),), "relu")


def softplus(x) -> Tensor:
    """``log(1 + exp(x))`` computed as ``logaddexp(0, x)`` (stable). Backward: ``g*sigmoid(x)``."""
    x = _t(x)
    X = x.data
    return make_result(np.logaddexp(0, X), (x,), lambda g: (g * _expit(X),), "softplus")


def logsigmoid(x) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable at +-1e3. Backward: ``g * sigmoid(-x)``."""
    x = _t(x)
    X = x.data
    return make_result(-np.logaddexp(0, -X), (x,), lambda g: (g * _expit(-X),), "logsigmoid")


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b``. Backward: ``g`` masked to each branch."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = _pair(a, b)
    cond = cond.astype(bool)

    def backward(g):
        return np.where(cond, g, 0), np.where(cond, 0, g)

    return make_result(np.where(cond, a.data, b.data), (a, b), backward, "where")


def astype(x, dtype) -> Tensor:
    """Cast to ``dtype``. Backward: ``g`` cast back."""
    x = _t(x)
    src = x.dtype
    return make_result(x.data.astype(dtype), (x,), lambda g: (g.astype(src),), "astype")


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
    out = _gammaln(X).astype(X.dtype, copy=False)
    return make_result(out, (x,), lambda g: (g * _digamma(X).astype(X.dtype, copy=False),),
                       "lgamma")
