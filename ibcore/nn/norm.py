"""`BatchNorm1d` and `Dropout`: the two layers whose forward pass depends on ``train()`` /
``eval()`` (monograph chapter 3).

Both follow ``torch.nn``: `BatchNorm1d` normalises with the batch's statistics while training and
keeps exponential moving averages of them for evaluation; `Dropout` zeroes entries while
training (inverted dropout, so evaluation is the identity). The arithmetic is in
`ibcore.functional.batch_norm` and `ibcore.functional.dropout`.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .modules import Module, Parameter

__all__ = ["BatchNorm1d", "Dropout"]


class BatchNorm1d(Module):
    """``torch.nn.BatchNorm1d(num_features)`` (Ioffe and Szegedy 2015).

    Shapes: input ``(N, C)`` or ``(N, C, L)`` with ``C = num_features``; output the same.

    Parameters ``weight`` (init 1) and ``bias`` (init 0) when ``affine``. Buffers (plain float
    arrays, not parameters, so optimizers and ``state_dict`` leave them alone):
    ``running_mean`` (init 0), ``running_var`` (init 1) and ``num_batches_tracked``. In
    training mode each forward call normalises with the batch statistics and moves the running
    ones by ``momentum`` (torch's convention: ``new = (1 - momentum) old + momentum batch``, the
    batch variance unbiased); in evaluation mode (``eval()``) it uses the running statistics.
    With ``momentum=None`` the running statistics are the cumulative average of all batches seen,
    as in torch. With ``track_running_stats=False`` batch statistics are used in both modes.

    Raises:
        ValueError: non-positive ``num_features``, negative ``eps``, ``momentum`` outside [0, 1].
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        if int(num_features) < 1:
            raise ValueError(f"BatchNorm1d: num_features must be positive, got {num_features}")
        if not eps >= 0:
            raise ValueError(f"BatchNorm1d: eps must be non-negative, got {eps}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        C = self.num_features
        self.weight = Parameter(np.ones(C, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(C, dtype=dtype)) if affine else None
        if track_running_stats:
            self.running_mean = np.zeros(C, dtype=dtype)
            self.running_var = np.ones(C, dtype=dtype)
            self.num_batches_tracked = 0
        else:
            self.running_mean = self.running_var = None
            self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked = 0

    def forward(self, x):
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / self.num_batches_tracked
        # without running statistics, batch statistics are used in evaluation mode too (torch)
        bn_training = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=bn_training, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class Dropout(Module):
    """``torch.nn.Dropout(p)`` (Srivastava et al. 2014): in training mode each entry is zeroed
    with probability ``p`` and the survivors are scaled by ``1 / (1 - p)`` (inverted dropout);
    in evaluation mode it is the identity. Any input shape. The mask comes from ibcore's global
    generator (`ibcore.manual_seed`) unless ``rng`` is given.

    Raises:
        ValueError: if ``p`` is not in [0, 1].
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        object.__setattr__(self, "rng", rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"
