"""Optimizers with ``torch.optim``'s update rules. Updates write ``.data`` in place and never
build a graph."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Holds a list of parameters; ``zero_grad()`` clears their gradients, ``step()`` updates.

    Args:
        params: an iterable of parameters (``model.parameters()``, or a list of leaf tensors with
            ``requires_grad=True``), as torch's optimizers take them. A parameter listed twice
            is kept once, with a warning (torch warns, and then updates it twice).
        lr: the learning rate, positive.

    Raises:
        TypeError: if ``params`` is a single tensor rather than an iterable of them (iterating
            it would give its rows, which ``step`` never writes back), or an element is not a
            tensor.
        ValueError: for an empty parameter list, a non-positive learning rate, a parameter that
            does not require grad, or one that is not a leaf ("can't optimize a non-leaf
            Tensor": the result of an operation, such as ``w * 2``, is recomputed from its
            inputs and never updated).
    """

    def __init__(self, params, lr: float):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors (e.g. "
                            f"model.parameters() or [w, b]), got a single {type(params).__name__}"
                            f" of shape {params.shape}; pass [w]")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{name}: params must be an iterable of Tensors, got "
                            f"{type(params).__name__}") from None
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"{name}: lr must be positive, got {lr}")
        unique, seen = [], set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} is a "
                                f"{type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {i} does not require grad")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {i}, of "
                                 f"shape {p.shape}, is the result of the operation "
                                 f"'{p._op}'; optimize the leaf it was computed from)")
            if id(p) in seen:
                continue
            seen.add(id(p))
            unique.append(p)
        if len(unique) < len(params):
            warnings.warn(f"{name}: the parameter list contains duplicate parameters; each is "
                          f"kept once (torch warns the same, then updates it twice)",
                          UserWarning, stacklevel=3)
        self.params = unique
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
