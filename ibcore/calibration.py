"""Calibration of a classifier's probabilities: reliability bins, expected calibration error, and
temperature scaling.

A classifier is *calibrated* when, among the examples to which it gives confidence ``c`` in its
top class, a fraction ``c`` is classified correctly. The reliability diagram bins the examples
by confidence and compares each bin's accuracy with its mean confidence; the expected
calibration error (ECE) is the average gap, weighted by the bins' sizes (Naeini, Cooper and
Hauskrecht 2015; Guo et al. 2017)::

    ECE = sum_b (n_b / n) |acc_b - conf_b|

Temperature scaling (Guo et al. 2017) divides every logit by one positive number ``T`` fitted
on held-out data by minimising the negative log-likelihood. ``T > 1`` softens overconfident
predictions; the arg-max, and so the accuracy, is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["Reliability", "reliability", "expected_calibration_error", "fit_temperature",
           "softmax_nll"]


@dataclass(frozen=True)
class Reliability:
    """Per-bin statistics: ``edges (bins + 1,)`` of the confidence bins; for each bin the number
    of examples ``count``, the mean confidence ``confidence`` and the accuracy ``accuracy``
    (NaN for empty bins)."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean of ``|accuracy - confidence|``."""
        keep = self.count > 0
        w = self.count[keep] / self.count.sum()
        return float(np.sum(w * np.abs(self.accuracy[keep] - self.confidence[keep])))


def _check(probs, labels):
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2:
        raise ValueError(f"calibration: probs must have shape (n, classes), got {p.shape}")
    if y.shape != (p.shape[0],):
        raise ValueError(f"calibration: labels must have shape ({p.shape[0]},), got {y.shape}")
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= p.shape[1])):
        raise ValueError(f"calibration: labels must be integers in [0, {p.shape[1]})")
    return p, y


def reliability(probs, labels, bins: int = 10) -> Reliability:
    """Bin examples by top-class confidence into ``bins`` equal-width bins on [0, 1].

    Args:
        probs: ``(n, classes)`` predicted probabilities (rows sum to 1).
        labels: ``(n,)`` integer labels.
        bins: number of bins (at least 1).

    Raises:
        ValueError: for wrong shapes, labels out of range or ``bins < 1``.
    """
    p, y = _check(probs, labels)
    if not (isinstance(bins, (int, np.integer)) and bins >= 1):
        raise ValueError(f"reliability: bins must be a positive integer, got {bins!r}")
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    # bin b holds confidences in (edges[b], edges[b+1]]; confidence 0 cannot occur (>= 1/classes)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, bins) / count
        acc = np.bincount(which, correct, bins) / count
    return Reliability(edges, count, mean_conf, acc)


def expected_calibration_error(probs, labels, bins: int = 10) -> float:
    """``sum_b (n_b / n) |acc_b - conf_b|`` over equal-width confidence bins (see `reliability`)."""
    return reliability(probs, labels, bins).ece


def softmax_nll(logits, labels, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of ``softmax(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(z)), np.asarray(labels)].mean())


def fit_temperature(logits, labels, bounds=(0.05, 20.0)) -> float:
    """The temperature ``T`` minimising the held-out NLL of ``softmax(logits / T)``.

    The NLL is a smooth one-dimensional function of ``log T``; a bounded Brent search on
    ``log T`` finds its minimum to about 1e-5 relative.

    Raises:
        ValueError: for wrong shapes or bounds that are not ``0 < low < high``.
    """
    z = np.asarray(logits, dtype=np.float64)
    _check(z, labels)
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"fit_temperature: need 0 < low < high, got {bounds}")
    res = minimize_scalar(lambda u: softmax_nll(z, labels, np.exp(u)),
                          bounds=(np.log(lo), np.log(hi)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))
