"""Normalisation layers' operations: `layer_norm` (Ba, Kiros and Hinton 2016) and `batch_norm`
(Ioffe and Szegedy 2015).

Notation: each *row* is the ``n`` entries of the trailing ``normalized_shape`` dimensions;
``mu`` and ``var`` are the row's mean and (biased) variance, ``r = 1 / sqrt(var + eps)``,
``xhat = (x - mu) r``; ``g = dL/d(out)``. Means in the backward are over the row.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _sum_last, _sum_leading, _t

__all__ = ["layer_norm", "batch_norm"]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation (Ba, Kiros and Hinton 2016) over the trailing ``normalized_shape``
    dimensions, as ``torch.nn.functional.layer_norm``, one fused node.

    Forward, over the ``n`` normalised entries of each row: ``mu = mean(x)``,
    ``var = mean((x - mu)^2)`` (biased), ``xhat = (x - mu) / sqrt(var + eps)``,
    ``out = xhat * weight + bias``.

    Backward (``g = dL/d(out)``, ``r = 1 / sqrt(var + eps)``): ``dL/dbias = sum g`` and
    ``dL/dweight = sum g * xhat`` over the leading (batch) dimensions; with ``h = g * weight``,
    ``dL/dx = r (h - mean(h) - xhat * mean(h * xhat))``, the means over the normalised entries.
    (Differentiate ``xhat_i = (x_i - mu) r``: ``dmu/dx_j = 1/n`` and
    ``dr/dx_j = -r^3 (x_j - mu) / n``, so
    ``dxhat_i/dx_j = r (delta_ij - 1/n - xhat_i xhat_j / n)``.)

    Shapes: ``x (..., *normalized_shape)``; ``weight`` and ``bias`` ``normalized_shape``.

    Raises:
        ValueError: if ``x``'s trailing dimensions are not ``normalized_shape``, or ``weight`` /
            ``bias`` do not have that shape, or ``eps`` is negative.
    """
    x = _t(x)
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(n) for n in normalized_shape)
    X = x.data
    if len(ns) == 0 or X.ndim < len(ns) or X.shape[X.ndim - len(ns):] != ns:
        raise ValueError(f"layer_norm: input of shape {X.shape} does not end in "
                         f"normalized_shape {ns}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.data.shape != ns:
            raise ValueError(f"layer_norm: {name} of shape {p.data.shape} must have "
                             f"normalized_shape {ns}")
    if not eps >= 0:
        raise ValueError(f"layer_norm: eps must be non-negative, got {eps}")
    k, n = len(ns), int(np.prod(ns, dtype=np.int64))
    row = X.shape[:X.ndim - k] + (1,) * k  # the shape of a per-row statistic (keepdims)

    def mean(a):  # the mean over each row's n entries, as one product (see _sum_last)
        return (_sum_last(a.reshape(a.shape[:a.ndim - k] + (n,))) / n).reshape(row)

    mu = mean(X)
    xc = X - mu
    var = mean(xc * xc)
    r = 1.0 / np.sqrt(var + np.asarray(eps, dtype=X.dtype))
    # in place where the dtypes allow: xc is not needed again (one array fewer per call)
    xhat = np.multiply(xc, r, out=xc) if xc.dtype == r.dtype else xc * r
    out = xhat
    if weight is not None:
        out = out * weight.data
    if bias is not None:
        out = out + bias.data
    parents = [x]
    if weight is not None:
        parents.append(weight)
    if bias is not None:
        parents.append(bias)

    def backward(g):
        grads = []
        h = g * weight.data if weight is not None else g
        if x.requires_grad:
            gx = h - mean(h)
            gx -= xhat * mean(h * xhat)
            gx *= r
            grads.append(gx)
        else:
            grads.append(None)
        if weight is not None:
            grads.append(_sum_leading(g * xhat, k) if weight.requires_grad else None)
        if bias is not None:
            grads.append(_sum_leading(g, k) if bias.requires_grad else None)
        return tuple(grads)

    return make_result(out, tuple(parents), backward, "layer_norm")


def _as_array(name: str, v):
    """The ndarray behind a Tensor / array running statistic (updated in place), or None."""
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"batch_norm: {name} must be a Tensor or an ndarray (it is updated in "
                        f"place), got {type(v).__name__}")
    return arr


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation (Ioffe and Szegedy 2015), as ``torch.nn.functional.batch_norm``; one
    fused node.

    Shapes: ``input (N, C)`` or ``(N, C, L)``; the statistics are per channel ``C``, taken over
    the ``m = N`` (or ``N * L``) entries of that channel. ``running_mean``, ``running_var``,
    ``weight`` and ``bias`` have shape ``(C,)``.

    Forward, training mode (or no running statistics): per channel
    ``mu = mean(x)``, ``var = mean((x - mu)^2)`` (biased), ``r = 1 / sqrt(var + eps)``,
    ``xhat = (x - mu) r``, ``out = weight * xhat + bias``. The running statistics, when given,
    are updated in place as torch does: ``running_mean <- (1 - momentum) running_mean +
    momentum mu`` and ``running_var <- (1 - momentum) running_var + momentum var * m / (m - 1)``
    (the unbiased variance). Evaluation mode uses ``running_mean`` and ``running_var`` in place
    of ``mu`` and ``var``, so the output of a row no longer depends on the rest of the batch.

    Backward, training mode (``g = dL/d(out)``, ``h = g * weight``, means over the ``m`` entries
    of a channel): ``dL/dbias = sum g``, ``dL/dweight = sum g * xhat`` and
    ``dL/dx = r (h - mean(h) - xhat mean(h * xhat))``. Derivation: ``dmu/dx_j = 1/m`` and
    ``dvar/dx_j = 2 (x_j - mu) / m`` give ``dr/dx_j = -r^3 (x_j - mu) / m``, so
    ``dxhat_i/dx_j = r (delta_ij - 1/m - xhat_i xhat_j / m)``; contracting with ``h_i`` gives the
    formula. The batch statistics are differentiated through, which couples the rows of a batch.
    Evaluation mode is an affine map per channel: ``dL/dx = g * weight * r`` with the running
    ``r``, and ``dL/dweight = sum g * xhat`` as before.

    Raises:
        ValueError: input not 2-D or 3-D; a statistic or parameter not of shape ``(C,)``;
            training with a single value per channel (``m = 1``, as torch refuses); evaluation
            mode without running statistics; ``eps`` negative or ``momentum`` outside [0, 1].
        TypeError: a running statistic that is neither a Tensor nor an ndarray.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    X = x.data
    if X.ndim not in (2, 3):
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, L), got shape {X.shape}")
    C = X.shape[1]
    rm = _as_array("running_mean", running_mean)
    rv = _as_array("running_var", running_var)
    for name, v in (("running_mean", rm), ("running_var", rv),
                    ("weight", None if weight is None else weight.data),
                    ("bias", None if bias is None else bias.data)):
        if v is not None and v.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},), got {v.shape}")
    if not eps >= 0:
        raise ValueError(f"batch_norm: eps must be non-negative, got {eps}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    axes = (0,) if X.ndim == 2 else (0, 2)
    shape = (1, C) if X.ndim == 2 else (1, C, 1)
    m = X.shape[0] * (1 if X.ndim == 2 else X.shape[2])
    use_batch = training or rm is None or rv is None
    if use_batch:
        if m < 2 and training:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {X.shape}")
        if not training:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        mu = X.mean(axis=axes)
        xc = X - mu.reshape(shape)
        var = (xc * xc).mean(axis=axes)
        if rm is not None:
            rm *= 1 - momentum
            rm += (momentum * mu).astype(rm.dtype)
        if rv is not None:
            rv *= 1 - momentum
            rv += (momentum * var * (m / (m - 1))).astype(rv.dtype)
    else:
        mu, var = rm.astype(X.dtype), rv.astype(X.dtype)
        xc = X - mu.reshape(shape)
    r = (1.0 / np.sqrt(var + np.asarray(eps, dtype=X.dtype))).reshape(shape).astype(X.dtype)
    xhat = xc * r
    w = None if weight is None else weight.data.reshape(shape)
    out = xhat if w is None else xhat * w
    if bias is not None:
        out = out + bias.data.reshape(shape)
    parents = [x] + [p for p in (weight, bias) if p is not None]

    def backward(g):
        h = g if w is None else g * w
        if not x.requires_grad:
            gx = None
        elif use_batch:
            gx = r * (h - h.mean(axis=axes, keepdims=True)
                      - xhat * (h * xhat).mean(axis=axes, keepdims=True))
        else:
            gx = h * r
        grads = [gx]
        if weight is not None:
            grads.append((g * xhat).sum(axis=axes) if weight.requires_grad else None)
        if bias is not None:
            grads.append(g.sum(axis=axes) if bias.requires_grad else None)
        return tuple(grads)

    return make_result(out, tuple(parents), backward, "batch_norm")
