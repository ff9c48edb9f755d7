"""Utilities on parameter gradients."""

from __future__ import annotations

import numpy as np


def clip_grad_norm_(parameters, max_norm: float) -> float:
    """Rescale gradients in place so their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_`` (Pascanu et al. 2013): with total norm
    ``n = sqrt(sum ||g_i||^2)``, every gradient is multiplied by ``min(1, max_norm / (n + 1e-6))``.

    Returns:
        The total norm before clipping (a float).

    Raises:
        ValueError: if ``max_norm`` is not positive.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads)))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total
