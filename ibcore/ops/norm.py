"""Normalisation layers' operations: `layer_norm` (Ba, Kiros and Hinton 2016).

Notation: each *row* is the ``n`` entries of the trailing ``normalized_shape`` dimensions;
``mu`` and ``var`` are the row's mean and (biased) variance, ``r = 1 / sqrt(var + eps)``,
``xhat = (x - mu) r``; ``g = dL/d(out)``. Means in the backward are over the row.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _t

__all__ = ["layer_norm"]


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
    axes = tuple(range(X.ndim - len(ns), X.ndim))
    batch_axes = tuple(range(X.ndim - len(ns)))
    mu = X.mean(axis=axes, keepdims=True)
    xc = X - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    r = 1.0 / np.sqrt(var + np.asarray(eps, dtype=X.dtype))
    xhat = xc * r
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
            grads.append(r * (h - h.mean(axis=axes, keepdims=True)
                              - xhat * (h * xhat).mean(axis=axes, keepdims=True)))
        else:
            grads.append(None)
        if weight is not None:
            grads.append((g * xhat).sum(axis=batch_axes) if weight.requires_grad else None)
        if bias is not None:
            grads.append(g.sum(axis=batch_axes) if bias.requires_grad else None)
        return tuple(grads)

    return make_result(out, tuple(parents), backward, "layer_norm")
