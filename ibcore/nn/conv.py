"""Convolution and pooling layers, NCHW like torch: inputs ``(batch, channels, height, width)``.

`Conv2d` is a `Linear` layer applied at every position of the image with the same weights
(translation equivariance) and looking only at a small window (locality); see
`ibcore.functional.conv2d` for the im2col forward and the derivation of the backward.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..ops.conv import _pair_int
from ..tensor import Tensor, get_rng
from .modules import Module, Parameter, _input, _size

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten"]


class Conv2d(Module):
    """2-D convolution layer (``torch.nn.Conv2d``), zero padding.

    Args:
        in_channels, out_channels: ``C`` and ``O``.
        kernel_size, stride, padding: an int or a pair ``(h, w)``.
        bias: learn a bias per output channel.
        rng, dtype: initialisation generator (default: ibcore's global one) and dtype.

    Shapes: input ``(N, C, H, W)``, output ``(N, O, Ho, Wo)``; ``weight (O, C, kh, kw)``,
    ``bias (O,)``. Parameters: ``O C kh kw + O``, independent of the image size.

    Initialisation (torch's default): uniform on ``[-1/sqrt(C kh kw), 1/sqrt(C kh kw)]``.

    Dtype rule: as every layer (see `ibcore.nn.Linear`), the layer computes in its parameters'
    dtype; a floating input of another dtype is cast to it.

    Raises:
        TypeError: if a channel count is not an integer (``Conv2d(3, 4.0, 3)``).
        ValueError: for channel counts below 1, kernel sizes, strides or paddings that are not
            integers of at least 1 (0 for padding) or pairs of them, or (in ``forward``) an input
            whose shape does not fit (see `ibcore.functional.conv2d`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        in_channels = _size("Conv2d", "in_channels", in_channels, minimum=-2**62)
        out_channels = _size("Conv2d", "out_channels", out_channels, minimum=-2**62)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d: channel counts must be positive, got in_channels="
                             f"{in_channels}, out_channels={out_channels}")
        kh, kw = _pair_int("Conv2d", "kernel_size", kernel_size, 1)
        object.__setattr__(self, "stride", _pair_int("Conv2d", "stride", stride, 1))
        object.__setattr__(self, "padding", _pair_int("Conv2d", "padding", padding, 0))
        object.__setattr__(self, "in_channels", in_channels)
        object.__setattr__(self, "out_channels", out_channels)
        object.__setattr__(self, "kernel_size", (kh, kw))
        rng = rng if rng is not None else get_rng()
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = Parameter(
            rng.uniform(-bound, bound, (out_channels, in_channels, kh, kw)).astype(dtype))
        self.bias = (Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype))
                     if bias else None)

    def forward(self, x):
        return F.conv2d(_input("Conv2d", x, self.weight.dtype), self.weight, self.bias,
                        self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2d(Module):
    """Max pooling (``torch.nn.MaxPool2d``); ``stride`` defaults to ``kernel_size``.
    Shapes ``(N, C, H, W) -> (N, C, Ho, Wo)``; no parameters.

    Raises:
        ValueError: if ``kernel_size``, ``stride`` (at least 1) or ``padding`` (at least 0) is not
            an integer or a pair of them, naming the layer and the value; in ``forward``, as
            `ibcore.functional.max_pool2d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        object.__setattr__(self, "kernel_size", kernel_size)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "padding", padding)
        name = type(self).__name__
        _pair_int(name, "kernel_size", kernel_size, 1)
        if stride is not None:
            _pair_int(name, "stride", stride, 1)
        _pair_int(name, "padding", padding, 0)

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """Average pooling (``torch.nn.AvgPool2d``, zero padding counted); shapes as `MaxPool2d`."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """Global average pooling: the mean of each channel over all positions.

    Shapes: ``(N, C, H, W) -> (N, C)`` (``torch.nn.AdaptiveAvgPool2d(1)`` followed by
    ``Flatten``). A sum over positions forgets *where* a feature fired, so a stack of
    translation-equivariant layers followed by this pooling is translation *invariant* (for
    shifts that keep the content away from the borders and are multiples of the strides).
    Backward: ``g / (H W)`` to every position.

    Raises:
        ValueError: if the input is not 4-D.
    """

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 4:
            raise ValueError(f"GlobalAvgPool2d: input must have shape (batch, channels, height, "
                             f"width), got {x.shape}")
        return F.mean(x, dim=(2, 3))


class Flatten(Module):
    """Flatten dimensions ``start_dim..end_dim`` into one (``torch.nn.Flatten``; by default
    ``(N, C, H, W) -> (N, C H W)``).

    Raises:
        TypeError: if ``start_dim`` or ``end_dim`` is not an integer.
        ValueError: (in ``forward``) if ``start_dim`` comes after ``end_dim``.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        object.__setattr__(self, "start_dim", _size("Flatten", "start_dim", start_dim, -2**62))
        object.__setattr__(self, "end_dim", _size("Flatten", "end_dim", end_dim, -2**62))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        nd = x.ndim
        s, e = self.start_dim % nd, self.end_dim % nd
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for an input of shape {x.shape}")
        shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
        return F.reshape(x, shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
