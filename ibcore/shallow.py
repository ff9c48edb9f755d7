"""One-hidden-layer regression networks ``1-H-1`` fitted by Levenberg-Marquardt (NumPy).

The network is ``f(x) = sum_j a_j tanh(w_j x + b_j) + c`` with ``H`` hidden tanh units: the
form of Cybenko's (1989) approximation theorem. Chapter 1 of the monograph asks how many units a
target needs, which is a question about what the architecture can represent, so the fit should
fail only when no good ``H``-unit network is near: a second-order least-squares method converges
in a few hundred iterations where Adam needs tens of thousands. Levenberg-Marquardt solves

    (J^T J + lam * diag(J^T J)) delta = -J^T r

for the step ``delta`` (``r`` the residuals, ``J = dr/dtheta``), accepting it and shrinking
``lam`` when the squared error falls, growing ``lam`` otherwise (Levenberg 1944; Marquardt 1963;
see Nocedal and Wright 2006, section 10.3).

Parameters are one float64 vector ``theta = (w (H,), b (H,), a (H,), c)`` of length ``3H + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShallowFit", "init", "predict", "jacobian", "fit"]


def _split(theta: np.ndarray, H: int):
    return theta[:H], theta[H:2 * H], theta[2 * H:3 * H], theta[3 * H]


def _width(theta) -> int:
    theta = np.asarray(theta)
    if theta.ndim != 1 or (theta.size - 1) % 3 or theta.size < 4:
        raise ValueError(f"shallow: theta must have length 3H + 1 for H >= 1, got {theta.shape}")
    return (theta.size - 1) // 3


def init(H: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    """Spread initialisation on the input interval ``[low, high]``.

    Unit ``j`` switches (``w_j x + b_j = 0``) at a centre drawn uniformly from the interval, with
    a slope whose magnitude is about the number of units per unit length (so neighbouring units'
    transitions overlap), a random sign, and an output weight drawn from ``N(0, 1/H)``. It uses
    the interval and ``H``, never the target.

    Raises:
        ValueError: for ``H < 1`` or an empty interval.
    """
    if H < 1 or not high > low:
        raise ValueError(f"shallow.init: need H >= 1 and low < high, got H={H}, [{low}, {high}]")
    rng = np.random.default_rng(seed)
    centres = rng.uniform(low, high, H)
    slope = rng.uniform(1.0, 3.0, H) * H / (high - low) * rng.choice([-1.0, 1.0], H)
    a = rng.normal(0.0, 1.0 / np.sqrt(H), H)
    return np.concatenate([slope, -slope * centres, a, [0.0]])


def predict(theta, x) -> np.ndarray:
    """``f(x)`` for inputs ``x (n,)``; returns ``(n,)``."""
    H = _width(theta)
    w, b, a, c = _split(np.asarray(theta, dtype=np.float64), H)
    return np.tanh(np.outer(x, w) + b) @ a + c


def jacobian(theta, x) -> np.ndarray:
    """``df(x_i)/dtheta``, shape ``(n, 3H + 1)``: by the chain rule, with ``t = tanh(w x + b)``,

    ``df/dw_j = a_j (1 - t_j^2) x``, ``df/db_j = a_j (1 - t_j^2)``, ``df/da_j = t_j``,
    ``df/dc = 1``.
    """
    H = _width(theta)
    w, b, a, _ = _split(np.asarray(theta, dtype=np.float64), H)
    x = np.asarray(x, dtype=np.float64)
    t = np.tanh(np.outer(x, w) + b)
    s = (1.0 - t * t) * a
    return np.hstack([s * x[:, None], s, t, np.ones((len(x), 1))])


@dataclass
class ShallowFit:
    """Result of `fit`: ``theta``, the training root-mean-square error per accepted step
    (``rmse``, in the target's units) and the number of iterations run."""

    theta: np.ndarray
    rmse: list[float]
    iterations: int

    @property
    def H(self) -> int:
        return _width(self.theta)


def fit(x, y, H: int, *, seed: int = 0, iters: int = 300, theta0=None, lam: float = 1e-2,
        tol: float = 1e-12) -> ShallowFit:
    """Least-squares fit of a ``1-H-1`` tanh network to ``(x, y)`` by Levenberg-Marquardt.

    Args:
        x, y: inputs and targets, shape ``(n,)``.
        H: hidden units.
        seed: for `init` over ``[min x, max x]`` (ignored when ``theta0`` is given).
        iters: maximum iterations; stops early when the relative decrease of the squared error
            of an accepted step falls below ``tol``.

    Raises:
        ValueError: if ``x`` and ``y`` differ in shape or are not 1-D.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"shallow.fit: x and y must be 1-D of one length, got {x.shape}, "
                         f"{y.shape}")
    theta = init(H, x.min(), x.max(), seed) if theta0 is None else np.array(theta0, float)
    r = predict(theta, x) - y
    sse = float(r @ r)
    rmse = [np.sqrt(sse / len(x))]
    it = 0
    for it in range(1, iters + 1):
        J = jacobian(theta, x)
        A = J.T @ J
        g = J.T @ r
        damp = np.diag(A) + 1e-12
        while True:
            try:
                step = np.linalg.solve(A + lam * np.diag(damp), -g)
            except np.linalg.LinAlgError:
                step = None
            if step is not None:
                cand = theta + step
                r_new = predict(cand, x) - y
                sse_new = float(r_new @ r_new)
                if np.isfinite(sse_new) and sse_new < sse:
                    break
            lam *= 4.0
            if lam > 1e12:
                return ShallowFit(theta, rmse, it)
        done = (sse - sse_new) <= tol * sse
        theta, r, sse = cand, r_new, sse_new
        lam = max(lam / 3.0, 1e-12)
        rmse.append(np.sqrt(sse / len(x)))
        if done:
            break
    return ShallowFit(theta, rmse, it)
