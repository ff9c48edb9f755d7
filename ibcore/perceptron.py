"""Rosenblatt's perceptron: the error-correction rule, Novikoff's bound, and cycle detection.

The perceptron predicts ``sign(w . x~)`` for an input ``x`` augmented with a constant 1,
``x~ = (x, 1)``, so the last entry of ``w`` is the bias. Labels are ``+1`` and ``-1``. Whenever an
example is misclassified (``y w . x~ <= 0``), the rule adds it to the weights:
``w <- w + y x~`` (Rosenblatt 1958; the learning rate is 1 without loss of generality, since
from ``w = 0`` it only scales ``w``).

On linearly separable data the rule stops after at most ``(R / gamma)^2`` updates, where
``R = max ||x~||`` and ``gamma = min y u . x~`` for any unit vector ``u`` that separates the data
(Novikoff 1962). On data that no hyperplane separates, such as XOR, it never stops; with integer
inputs and ``w = 0`` at the start the weights stay on the integer lattice, and `train` reports
the first epoch whose starting weights repeat an earlier epoch's: from then on the run is
periodic.

This module is NumPy only (the perceptron has no gradient); Chapter 1 of the monograph runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PerceptronRun", "augment", "train", "novikoff_bound"]


def augment(X) -> np.ndarray:
    """Append a column of ones to ``X (n, d)``, giving ``(n, d + 1)``: the bias input."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"perceptron.augment: X must have shape (n, d), got {X.shape}")
    return np.hstack([X, np.ones((len(X), 1))])


def _check(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (len(X),):
        raise ValueError(f"perceptron: need X (n, d) and y (n,), got {X.shape} and {y.shape}")
    if not np.all(np.isin(y, (-1, 1))):
        bad = np.flatnonzero(~np.isin(y, (-1, 1)))[:5]
        raise ValueError(f"perceptron: labels must be +1 or -1; got {y[bad].tolist()} at "
                         f"positions {bad.tolist()}")
    return X, y.astype(np.float64)


@dataclass
class PerceptronRun:
    """What `train` recorded.

    Attributes:
        w: final weights ``(d + 1,)``, bias last.
        updates: number of updates made (misclassified examples seen).
        epochs: passes over the data made.
        converged: True if the last epoch made no update (every example correct).
        history: weights after every update, ``(updates + 1, d + 1)``, starting with ``w0``.
        cycle: ``(first, period)`` if the weights at the start of epoch ``first + period``
            equal those at the start of epoch ``first`` (the run is then periodic), else None.
    """

    w: np.ndarray
    updates: int
    epochs: int
    converged: bool
    history: np.ndarray
    cycle: tuple[int, int] | None = None
    epoch_starts: list[np.ndarray] = field(default_factory=list, repr=False)


def train(X, y, *, max_epochs: int = 1000, w0=None) -> PerceptronRun:
    """Run the perceptron rule over ``X (n, d)`` (augmented here) with labels ``y`` in {+1, -1}.

    The examples are visited in the given order, once per epoch. Training stops after an epoch
    without an update (converged), when an epoch starts with weights seen at an earlier epoch's
    start (a cycle: the run would repeat forever), or after ``max_epochs``.

    Raises:
        ValueError: on wrong shapes or labels other than +1 and -1.
    """
    X, y = _check(X, y)
    Xa = augment(X)
    w = np.zeros(Xa.shape[1]) if w0 is None else np.array(w0, dtype=np.float64)
    history = [w.copy()]
    seen: dict[bytes, int] = {}
    starts: list[np.ndarray] = []
    updates, cycle = 0, None
    for epoch in range(max_epochs):
        key = w.tobytes()
        if key in seen:  # an epoch starts where an earlier one did: a cycle
            cycle = (seen[key], epoch - seen[key])
            return PerceptronRun(w, updates, epoch, False, np.array(history),
                                 cycle, starts)
        seen[key] = epoch
        starts.append(w.copy())
        changed = False
        for xi, yi in zip(Xa, y, strict=True):
            if yi * (w @ xi) <= 0:  # misclassified (or on the boundary)
                w = w + yi * xi
                updates += 1
                changed = True
                history.append(w.copy())
        if not changed:  # every example correct: converged
            return PerceptronRun(w, updates, epoch + 1, True,
                                 np.array(history), None, starts)
    return PerceptronRun(w, updates, max_epochs, False, np.array(history), None, starts)


def novikoff_bound(X, y, u) -> float:
    """Novikoff's bound ``(R / gamma)^2`` on the number of perceptron updates.

    ``R`` is the largest norm of an augmented input and ``gamma = min_i y_i u . x~_i`` the margin
    of the separator ``u`` (normalised here to unit length; a bias entry last).

    Raises:
        ValueError: if ``u`` does not separate the data (``gamma <= 0``).
    """
    X, y = _check(X, y)
    Xa = augment(X)
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (Xa.shape[1],):
        raise ValueError(f"novikoff_bound: u must have shape ({Xa.shape[1]},), got {u.shape}")
    u = u / np.linalg.norm(u)
    gamma = float(np.min(y * (Xa @ u)))
    if gamma <= 0:
        raise ValueError(f"novikoff_bound: u does not separate the data "
                         f"(margin {gamma:.3g})")
    R = float(np.max(np.linalg.norm(Xa, axis=1)))
    return (R / gamma) ** 2
