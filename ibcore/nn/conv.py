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
from .modules import Module, Parameter, _input, _size, _sizes

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "OffsetTiedLinear",
           "offset_index", "receptive_field"]


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
        in_channels, out_channels = _sizes("Conv2d", "channel counts", in_channels=in_channels,
                                           out_channels=out_channels)
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


def offset_index(in_channels: int, out_channels: int, kernel_size, in_size, padding=0
                 ) -> np.ndarray:
    """The offset map that ties a dense layer's weights into a stride-1 convolution.

    A dense layer from a ``(C, H, W)`` image to an ``(O, Ho, Wo)`` map has one weight
    ``W[(o, i, j), (c, k, l)]`` per pair of output and input units. Translation equivariance
    makes it depend only on the offset ``(a, b) = (k + p_h - i, l + p_w - j)``, and locality sets
    it to zero outside ``0 <= a < kh, 0 <= b < kw``: ``W[(o, i, j), (c, k, l)] =
    K[o, c, a, b]``. This function returns, for every entry of the dense matrix, the position of
    its kernel weight in ``K.reshape(-1)``, or ``O C kh kw`` (one past the end: a fixed zero)
    where the offset falls outside the window.

    Shapes: ``in_size = (H, W)``; returns an int64 array ``(O Ho Wo, C H W)`` with
    ``Ho = H + 2 p_h - kh + 1`` (and the same for widths), rows and columns in C order of
    ``(o, i, j)`` and ``(c, k, l)``, the order of ``reshape``.

    Raises:
        ValueError: for sizes below 1 or a kernel larger than the padded input.
    """
    O = _size("offset_index", "out_channels", out_channels)
    C = _size("offset_index", "in_channels", in_channels)
    kh, kw = _pair_int("offset_index", "kernel_size", kernel_size, 1)
    H, W = _pair_int("offset_index", "in_size", in_size, 1)
    ph, pw = _pair_int("offset_index", "padding", padding, 0)
    Ho, Wo = H + 2 * ph - kh + 1, W + 2 * pw - kw + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"offset_index: kernel {(kh, kw)} is larger than the padded input "
                         f"({H + 2 * ph}, {W + 2 * pw}) (in_size {(H, W)}, padding "
                         f"{(ph, pw)})")
    o, i, j, c, k, m = np.ix_(range(O), range(Ho), range(Wo), range(C), range(H), range(W))
    a, b = k + ph - i, m + pw - j
    inside = (a >= 0) & (a < kh) & (b >= 0) & (b < kw)
    flat = ((o * C + c) * kh + a) * kw + b
    idx = np.where(inside, flat, O * C * kh * kw)
    return idx.reshape(O * Ho * Wo, C * H * W).astype(np.int64)


class OffsetTiedLinear(Module):
    """A dense layer whose weights are tied by the offset map: a convolution written as `Linear`.

    The weight matrix ``(O Ho Wo, C H W)`` is gathered from a kernel ``(O, C, kh, kw)`` by
    `offset_index` (translation equivariance: one weight per offset; locality: zero outside the
    window), then applied as one matrix product, ``out = x.reshape(N, C H W) @ W.T + b``. The
    forward equals ``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) to rounding; the
    backward of the gather adds the gradients of all the entries that share one kernel weight,
    which is the convolution's kernel gradient (a sum over positions). It exists to make that
    derivation executable; `Conv2d` computes the same map without the ``O Ho Wo x C H W`` matrix.
    A kernel of size ``(2H - 1, 2W - 1)`` with padding ``(H - 1, W - 1)`` imposes equivariance
    without locality.

    Args:
        in_channels, out_channels, kernel_size, padding: as `Conv2d` (stride 1).
        in_size: ``(H, W)`` of the input images (a dense layer is built for one image size).
        rng, dtype: as `Conv2d` (the same initialisation).

    Shapes: input ``(N, C, H, W)``, output ``(N, O, Ho, Wo)``.

    Raises:
        ValueError: as `offset_index`, or (in ``forward``) for an input not of shape
            ``(N, C, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, in_size, padding=0,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        idx = offset_index(in_channels, out_channels, kernel_size, in_size, padding)
        kh, kw = _pair_int("OffsetTiedLinear", "kernel_size", kernel_size, 1)
        H, W = _pair_int("OffsetTiedLinear", "in_size", in_size, 1)
        ph, pw = _pair_int("OffsetTiedLinear", "padding", padding, 0)
        object.__setattr__(self, "index", idx)
        object.__setattr__(self, "in_shape", (in_channels, H, W))
        object.__setattr__(self, "out_shape", (out_channels, H + 2 * ph - kh + 1,
                                               W + 2 * pw - kw + 1))
        rng = rng if rng is not None else get_rng()
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = Parameter(
            rng.uniform(-bound, bound, (out_channels, in_channels, kh, kw)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype))

    def dense_weight(self) -> Tensor:
        """The tied dense matrix ``(O Ho Wo, C H W)``, differentiable in ``weight``."""
        zero = Tensor(np.zeros(1, dtype=self.weight.dtype))
        return F.index(F.cat([F.reshape(self.weight, (-1,)), zero]), self.index)

    def forward(self, x):
        x = _input("OffsetTiedLinear", x, self.weight.dtype)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"OffsetTiedLinear: input must have shape (N, C, H, W) = "
                             f"(N, {self.in_shape[0]}, {self.in_shape[1]}, "
                             f"{self.in_shape[2]}), got {x.shape}")
        O, Ho, Wo = self.out_shape
        out = F.linear(F.reshape(x, (x.shape[0], -1)), self.dense_weight())
        out = F.add(F.reshape(out, (x.shape[0], O, Ho * Wo)), F.reshape(self.bias, (O, 1)))
        return F.reshape(out, (x.shape[0], O, Ho, Wo))


def receptive_field(layers) -> int:
    """The (theoretical) receptive field of a stack of layers: how many input pixels along one
    axis can reach one output unit.

    For layers with kernel sizes ``k_l`` and strides ``s_l`` (square), ``r = 1 + sum_l (k_l - 1)
    prod_{m < l} s_m``: each layer widens the field by ``k_l - 1`` units of its own input, which
    are ``prod_{m < l} s_m`` input pixels apart. `Conv2d`, `MaxPool2d` and `AvgPool2d` count;
    other layers (activations) leave it unchanged. Source: e.g. Luo et al. (2016), "Understanding
    the effective receptive field in deep convolutional neural networks", section 2.

    Raises:
        ValueError: if a layer's kernel or stride is not square.
    """
    r, jump = 1, 1
    for layer in layers:
        if isinstance(layer, Conv2d):
            k, s = layer.kernel_size, layer.stride
        elif isinstance(layer, MaxPool2d):
            k = _pair_int(type(layer).__name__, "kernel_size", layer.kernel_size, 1)
            s = k if layer.stride is None else _pair_int(type(layer).__name__, "stride",
                                                         layer.stride, 1)
        else:
            continue
        if k[0] != k[1] or s[0] != s[1]:
            raise ValueError(f"receptive_field: {type(layer).__name__} has kernel {k} and stride "
                             f"{s}; only square ones are supported")
        r += (k[0] - 1) * jump
        jump *= s[0]
    return r
