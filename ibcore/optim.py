"""Optimizers with ``torch.optim``'s update rules. Updates write ``.data`` in place and never
build a graph."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Holds a list of parameters; ``zero_grad()`` clears their gradients, ``step()`` updates.

    Raises:
        ValueError: for an empty parameter list or a non-positive learning rate.
    """

    def __init__(self, params, lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        for i, p in enumerate(self.params):
            if not getattr(p, "requires_grad", False):
                raise ValueError(f"{type(self).__name__}: parameter {i} does not require grad")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        """Set every gradient to None (torch's default ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional (heavy-ball) momentum, as ``torch.optim.SGD``:

    ``b <- momentum * b + g`` (``b = g`` on the first step), ``p <- p - lr * b``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self._buf: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        lr, mu = self.lr, self.momentum
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if mu:
                b = self._buf[i]
                if b is None:
                    b = self._buf[i] = np.array(g, copy=True)
                else:
                    b *= mu
                    b += g
                g = b
            p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015, Algorithm 1), with ``torch.optim.Adam``'s arithmetic:

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"Adam: eps must be non-negative, got {eps}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)
        self._m = [np.zeros_like(p.data) for p in self.params]
        self._v = [np.zeros_like(p.data) for p in self.params]
        self._t = [0] * len(self.params)

    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            self._t[i] += 1
            t = self._t[i]
            m, v = self._m[i], self._v[i]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            step_size = self.lr / (1 - b1**t)
            # math.sqrt keeps the scalar a Python float, so float32 parameters are updated in
            # float32 (a NumPy float64 scalar would promote every temporary to float64)
            denom = np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps
            p.data -= step_size * (m / denom)
