"""Central finite differences for the gradient tests (float64): one helper the test files share."""

from __future__ import annotations

import numpy as np


def central_diff(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """``d f / d x`` by central differences, entry by entry; ``f`` maps an array like ``x`` to a
    float. ``x`` itself is not modified."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g
