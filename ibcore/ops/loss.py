"""Losses, each the negative log-likelihood of an output distribution, fused and stable:
`cross_entropy` (Categorical), `binary_cross_entropy_with_logits` (Bernoulli), `mse_loss`
(Gaussian, up to scale and constant). All in nats.

Notation: ``x`` the logits (natural parameters), ``y`` the targets, ``g = dL/d(out)``. With the
canonical link each gradient with respect to the logits is prediction minus target, times ``g``;
``reduction`` is ``'mean'`` (divide by the count), ``'sum'`` or ``'none'`` (per example).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit as _expit

from ..tensor import Tensor, make_result
from ._base import _check_reduction, _pair, _reduce, _t
from .reduce import _log_softmax_np

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"]


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy ``-log softmax(logits)[target]`` in nats, fused and stable.

    Args:
        logits: ``(batch, classes)`` unnormalised log-probabilities.
        target: ``(batch,)`` integer class labels in ``[0, classes)``.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'`` (per-example ``(batch,)``).

    Backward: ``(softmax(logits) - onehot(target)) * g`` (divided by ``batch`` for the mean): the
    gradient of the negative log-likelihood of a Categorical with respect to its natural
    parameters is prediction minus target.

    Raises:
        ValueError: on wrong shapes, labels that are not of an integer dtype (float labels are
            refused even when they hold whole numbers, as in torch), or labels out of range
            (the first offending positions and values are named).
    """
    logits = _t(logits)
    _check_reduction("cross_entropy", reduction)
    T = target.data if isinstance(target, Tensor) else np.asarray(target)
    X = logits.data
    if X.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (batch, classes), got {X.shape}")
    if T.shape != (X.shape[0],):
        raise ValueError(f"cross_entropy: target must have shape ({X.shape[0]},) to match logits "
                         f"{X.shape}, got {T.shape}")
    if T.dtype.kind not in "iu":  # torch refuses float class indices too, even whole ones
        raise ValueError(f"cross_entropy: target must hold integer class labels, got dtype "
                         f"{T.dtype}; pass integer labels (e.g. target.astype(np.int64))")
    C = X.shape[1]
    bad = np.flatnonzero((T < 0) | (T >= C))
    if bad.size:
        raise ValueError(f"cross_entropy: labels must be in [0, {C}); got {T[bad[:5]].tolist()} "
                         f"at positions {bad[:5].tolist()}")
    ls = _log_softmax_np(X, 1)
    rows = np.arange(X.shape[0])
    losses = -ls[rows, T]
    out, scale = _reduce("cross_entropy", losses, reduction)

    def backward(g):
        grad = np.exp(ls)
        grad[rows, T] -= 1
        if scale is None:
            return (grad * g[:, None],)
        return (grad * (g * scale),)

    return make_result(out, (logits,), backward, "cross_entropy")


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Bernoulli negative log-likelihood on logits, in nats, fused and stable.

    ``loss = softplus(x) - y x = max(x, 0) - x y + log(1 + exp(-|x|))`` for logit ``x`` and target
    ``y`` in [0, 1]; finite for logits of +-1e3. An infinite logit gives the limit: ``x = +inf``
    costs ``(1 - y) x``, so ``inf`` for ``y = 0`` (as torch) and 0 for ``y = 1``; ``x = -inf``
    costs ``-y x``, 0 for ``y = 0`` and ``inf`` otherwise (torch gives NaN for some of these).

    Backward: ``(sigmoid(x) - y) * g`` for the logits (prediction minus target) and ``-x * g``
    for the target, each divided by the count for ``reduction='mean'``.

    Raises:
        ValueError: if the shapes differ (no silent broadcasting), naming both.
    """
    x, y = _pair(logits, target)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if x.shape != y.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits of shape {x.shape} and target "
                         f"of shape {y.shape} must have the same shape")
    X, Y = x.data, y.data
    with np.errstate(invalid="ignore"):
        losses = np.maximum(X, 0) - X * Y + np.log1p(np.exp(-np.abs(X)))
    inf = np.isinf(X)
    if inf.any():  # the limits, where the formula has inf - inf: (1 - y) x for x = +inf, -y x
        # for x = -inf, each inf unless its factor is 0, and then 0
        lim = np.where(X > 0, np.where(Y < 1, np.inf, 0.0), np.where(Y > 0, np.inf, 0.0))
        losses = np.where(inf, lim.astype(losses.dtype), losses)
    out, scale = _reduce("bce", losses, reduction)

    def backward(g):
        g = g * scale if scale is not None else g
        gx = (_expit(X) - Y) * g if x.requires_grad else None
        gy = -X * g if y.requires_grad else None
        return gx, gy

    return make_result(out, (x, y), backward, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)**2`` (the Gaussian NLL up to scale and constant).

    Backward: ``2 (input - target) g`` for the input and its negative for the target, divided by
    the count for ``reduction='mean'``.

    Raises:
        ValueError: if the shapes differ (no silent broadcasting), naming both.
    """
    x, y = _pair(input, target)
    _check_reduction("mse_loss", reduction)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input of shape {x.shape} and target of shape {y.shape} must "
                         f"have the same shape")
    d = x.data - y.data
    out, scale = _reduce("mse", d * d, reduction)

    def backward(g):
        g = g * scale if scale is not None else g
        gd = 2 * d * g
        return (gd if x.requires_grad else None, -gd if y.requires_grad else None)

    return make_result(out, (x, y), backward, "mse_loss")
