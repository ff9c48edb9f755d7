"""Synthetic regression data whose truth is known exactly (Post 2): counts with a varying rate,
and real targets whose noise grows with the input. Every function is seeded."""

from __future__ import annotations

import numpy as np

__all__ = ["count_rate", "count_data", "hetero_mean", "hetero_scale", "heteroscedastic_data"]


def _check(name: str, n: int, low: float, high: float) -> None:
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"{name}: n must be a positive integer, got {n!r}")
    if not low < high:
        raise ValueError(f"{name}: need low < high, got low={low}, high={high}")


def count_rate(x) -> np.ndarray:
    """The true Poisson rate ``lambda(x) = max(0.1, 2 + 5 sin(pi x))`` (counts per unit)."""
    return np.maximum(0.1, 2 + 5 * np.sin(np.pi * np.asarray(x, dtype=np.float64)))


def count_data(n: int = 400, seed: int = 0, low: float = 0.0, high: float = 2.0,
               dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``y ~ Poisson(count_rate(x))`` at ``x ~ Uniform(low, high)``.

    Over the default ``[0, 2]`` (one period of the sine) the rate rises to 7 near ``x = 0.5`` and
    sits at its floor 0.1 for ``x`` in about ``(1.13, 1.87)``, where almost every count is 0.

    Returns:
        ``x (n, 1)`` of ``dtype`` (sorted), ``y (n,)`` int64 counts.

    Raises:
        ValueError: for ``n < 1`` or ``low >= high``.
    """
    _check("count_data", n, low, high)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, n))
    y = rng.poisson(count_rate(x)).astype(np.int64)
    return x[:, None].astype(dtype), y


def hetero_mean(x) -> np.ndarray:
    """The true mean ``sin(1.5 x) + x / 2`` of `heteroscedastic_data`."""
    x = np.asarray(x, dtype=np.float64)
    return np.sin(1.5 * x) + 0.5 * x


def hetero_scale(x) -> np.ndarray:
    """The true noise standard deviation ``sigma(x) = |x| / 3 + 0.1``."""
    return np.abs(np.asarray(x, dtype=np.float64)) / 3 + 0.1


def heteroscedastic_data(n: int = 1000, seed: int = 0, low: float = -3.0, high: float = 3.0,
                         dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``y = hetero_mean(x) + hetero_scale(x) eps`` with ``eps ~ N(0, 1)``, ``x ~ U(low, high)``.

    Over the default ``[-3, 3]`` the noise scale runs from 0.1 at ``x = 0`` to 1.1 at the ends:
    one global variance (mean squared error) is wrong almost everywhere.

    Returns:
        ``x (n, 1)`` of ``dtype`` (sorted), ``y (n,)`` of ``dtype``.

    Raises:
        ValueError: for ``n < 1`` or ``low >= high``.
    """
    _check("heteroscedastic_data", n, low, high)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, n))
    y = hetero_mean(x) + hetero_scale(x) * rng.standard_normal(n)
    return x[:, None].astype(dtype), y.astype(dtype)
