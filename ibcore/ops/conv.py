"""Convolution and pooling: `conv2d` (im2col and one matrix product), `max_pool2d`,
`avg_pool2d`.

Notation: images are NCHW, as in torch: ``x`` of shape ``(N, C, H, W)`` (batch, channels,
height, width); a kernel ``(kh, kw)`` moves with stride ``(s_h, s_w)`` over the input padded by
``(p_h, p_w)``, giving ``Ho x Wo`` output positions, ``Ho = (H + 2 p_h - kh) // s_h + 1``;
``g = dL/d(out)``. For a fixed kernel offset ``(a, b)`` the pixels the windows read form one
strided slice of the padded input, ``[a : a + s_h Ho : s_h, b : b + s_w Wo : s_w]``, in which
no pixel repeats: forward passes read these ``kh kw`` slices, and backward passes add into them.
"""

from __future__ import annotations

import builtins

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view as _sliding_window_view

from ..tensor import Tensor, make_result
from ._base import _t

__all__ = ["conv2d", "max_pool2d", "avg_pool2d"]


def _pair_int(op: str, name: str, v, minimum: int) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3)`` kept; anything else or below ``minimum`` raises ValueError."""
    vals = (v, v) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(
        v, (tuple, list)) else None
    if (vals is None or len(vals) != 2
            or not builtins.all(isinstance(a, (int, np.integer)) for a in vals)
            or builtins.any(a < minimum for a in vals)):
        raise ValueError(f"{op}: {name} must be an integer >= {minimum} or a pair of them, "
                         f"got {v!r}")
    return int(vals[0]), int(vals[1])


def _check_nchw(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must have shape (batch, channels, height, width), got "
                         f"{x.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: input must be floating point, got {x.dtype}")


def _out_size(op: str, x_shape, kernel, stride, padding) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    H, W = x_shape[2] + 2 * ph, x_shape[3] + 2 * pw
    if kh > H or kw > W:
        raise ValueError(f"{op}: kernel {kernel} is larger than the padded input "
                         f"({H}, {W}) (input shape {tuple(x_shape)}, padding {padding})")
    return (H - kh) // sh + 1, (W - kw) // sw + 1


def _slices(xp: np.ndarray, kernel, stride, out_hw):
    """For each kernel offset ``(a, b)``: the strided view ``xp[..., a : a + s_h Ho : s_h,
    b : b + s_w Wo : s_w]`` of the pixels that the ``Ho x Wo`` windows read at that offset (the
    last two axes of ``xp`` are height and width). No copies."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    return [((a, b), xp[..., a : a + sh * (Ho - 1) + 1 : sh, b : b + sw * (Wo - 1) + 1 : sw])
            for a in range(kh) for b in range(kw)]


def _pad(X: np.ndarray, padding, value=0.0) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return X
    return np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d(input, weight, bias=None, stride=1, padding=0) -> Tensor:
    """2-D cross-correlation (``torch.nn.functional.conv2d``), via im2col and one matmul.

    Shapes: ``input (N, C, H, W)``, ``weight (O, C, kh, kw)``, ``bias (O,)`` ->
    ``out (N, O, Ho, Wo)`` with ``Ho = (H + 2 p_h - kh) // s_h + 1`` (and the same for widths).
    ``stride`` and ``padding`` are an int or a pair; padding is with zeros.

    Forward. Write ``x`` for the zero-padded input. Output pixel ``(n, o, i, j)`` is

        out[n, o, i, j] = b[o] + sum_{c, a, b'} W[o, c, a, b'] x[n, c, s_h i + a, s_w j + b']

    im2col gathers, for every output position ``(n, i, j)``, the ``C kh kw`` input values its
    window reads into one row of a matrix ``X_col`` of shape ``(N Ho Wo, kh kw C)`` (a strided
    view of ``x``, made contiguous once); the convolution is then the matrix product
    ``out_col = X_col W_col^T + b`` with ``W_col`` the weight flattened in the same
    ``(a, b', c)`` order: the same affine map as a `linear` layer, applied at every position with
    the *same* weights.

    Backward (``g = dL/d(out)``, rearranged to ``g_col`` of shape ``(N Ho Wo, O)``). The forward
    is `linear` applied to the rows of ``X_col``, so its three gradients are those of `linear`:

    - ``dL/dW_col = g_col^T X_col``, i.e. ``dL/dW[o, c, a, b'] = sum_{n, i, j} g[n, o, i, j]
      x[n, c, s_h i + a, s_w j + b']``. The matmul's inner dimension runs over *every output
      position of every example*: this sum over positions is what weight sharing looks like in
      the backward. One weight was used at all ``N Ho Wo`` positions, so it receives the sum of all
      their gradients (the chain rule for a value used many times).
    - ``dL/db[o] = sum_{n, i, j} g[n, o, i, j]``, again a sum over positions.
    - ``dL/dX_col = g_col W_col``, one gradient per (window, offset). col2im scatters each back
      to the input pixel it was read from and *adds* where windows overlap:
      ``dL/dx[n, c, h, w] = sum over (i, j, a, b') with s_h i + a = h, s_w j + b' = w of
      dX_col[(n, i, j), (a, b', c)]``; the padding's gradient is dropped. The scatter-add loops
      over the ``kh kw`` kernel offsets, never over positions: for a fixed offset ``(a, b')`` the
      pixels read by the ``Ho x Wo`` windows form one strided slice
      ``[a : a + s_h Ho : s_h, b' : b' + s_w Wo : s_w]`` in which no pixel repeats, so ``+=`` on
      that slice is an exact scatter-add (the same result as ``np.add.at`` with the flat indices).

    Internally the columns are laid out channels-last (``N H W C``), so that the im2col copy and
    the col2im additions read and write contiguous runs of channels.

    Cost: the forward matmul, two backward matmuls of the same size, one im2col copy (``kh kw``
    times the input) and ``kh kw`` strided additions.

    Reference: the convolutional layers of LeCun et al. (1989, 1998); im2col as in Chellapilla,
    Puri and Simard (2006), "High performance convolutional neural networks for document
    processing".

    Raises:
        ValueError: if ``input`` is not 4-D, ``weight`` not ``(O, C, kh, kw)`` with ``C`` equal to
            the input's channels, the bias not ``(O,)``, stride/padding invalid, or the kernel
            larger than the padded input (the message names the shapes).
    """
    x = _t(input)
    w = _t(weight)
    _check_nchw("conv2d", x)
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (out_channels, in_channels, kh, kw), "
                         f"got {w.shape}")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels but weight "
                         f"of shape {w.shape} expects {w.shape[1]}")
    O, C, kh, kw = w.shape
    if bias is not None:
        bias = _t(bias)
        if bias.shape != (O,):
            raise ValueError(f"conv2d: bias of shape {bias.shape} does not match weight of shape "
                             f"{w.shape} (expected ({O},))")
    stride = _pair_int("conv2d", "stride", stride, 1)
    padding = _pair_int("conv2d", "padding", padding, 0)
    Ho, Wo = _out_size("conv2d", x.shape, (kh, kw), stride, padding)
    (sh, sw), (ph, pw) = stride, padding
    N, _, H, W_in = x.shape
    xh = x.data.transpose(0, 2, 3, 1)  # channels last (a view)
    if ph or pw:
        xh = np.pad(xh, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    Hp, Wp = xh.shape[1], xh.shape[2]
    # im2col: the (N, Ho, Wo, C, kh, kw) window view -> (N, Ho, Wo, kh, kw, C) -> one copy
    win = _sliding_window_view(xh, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :Ho, :Wo]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    Wc = w.data.transpose(0, 2, 3, 1).reshape(O, kh * kw * C)
    out_col = cols @ Wc.T  # (N Ho Wo, O)
    if bias is not None:
        out_col += bias.data
    out = out_col.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)  # NCHW view of NHWC memory
    parents = (x, w) if bias is None else (x, w, bias)

    def backward(g):
        g_col = g.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, O)
        gx = gw = None
        if x.requires_grad:  # col2im: scatter-add, one strided slice per kernel offset
            # dX_col = g_col W_col, computed offset by offset as (kh kw, N Ho Wo, C) so that each
            # offset's block is contiguous: the additions below then run over long rows.
            Wk = Wc.reshape(O, kh * kw, C).transpose(1, 0, 2)
            dcols = np.matmul(g_col[None], Wk)
            dxh = np.zeros((N, Hp, Wp, C), dtype=dcols.dtype)
            for a in range(kh):
                for b in range(kw):
                    dxh[:, a : a + sh * (Ho - 1) + 1 : sh,
                        b : b + sw * (Wo - 1) + 1 : sw] += dcols[a * kw + b].reshape(N, Ho, Wo, C)
            gx = dxh[:, ph : ph + H, pw : pw + W_in].transpose(0, 3, 1, 2)
        if w.requires_grad:  # the sum over positions: inner dimension N Ho Wo
            gw = (g_col.T @ cols).reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
        if bias is None:
            return gx, gw
        # the bias gradient, a sum over positions, as a matrix-vector product (BLAS is much
        # faster than NumPy's reduction over the long first axis of a narrow matrix)
        gb = np.ones(N * Ho * Wo, dtype=g_col.dtype) @ g_col if bias.requires_grad else None
        return gx, gw, gb

    return make_result(out, parents, backward, "conv2d")


def _pool_args(op, x, kernel_size, stride, padding):
    _check_nchw(op, x)
    kernel = _pair_int(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair_int(op, "stride", stride, 1)
    padding = _pair_int(op, "padding", padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel}")
    return kernel, stride, padding, _out_size(op, x.shape, kernel, stride, padding)


def max_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling (``torch.nn.functional.max_pool2d``): the largest value in each window.

    Shapes: ``(N, C, H, W) -> (N, C, Ho, Wo)``, ``Ho = (H + 2 p - k) // s + 1``; ``stride``
    defaults to ``kernel_size``; padding is with ``-inf`` (never selected) and at most half the
    kernel, as in torch.

    Forward: the running maximum over the ``k_h k_w`` strided slices, one per window offset (see
    `conv2d`), so no window is ever copied.

    Backward: ``dL/dx`` is zero except at each window's arg-max, which receives that window's
    ``g``; a pixel that is the maximum of several overlapping windows receives the sum. Ties go to
    the first maximum in row-major window order, as in torch: the offsets are visited in that
    order and each window's gradient is handed to the first offset that attains its maximum.

    Raises:
        ValueError: for a non-4-D input, invalid kernel/stride/padding, or a window larger than
            the padded input.
    """
    x = _t(input)
    kernel, stride, padding, out_hw = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, padding, value=-np.inf)
    sl = _slices(xp, kernel, stride, out_hw)
    out = sl[0][1].copy(order="K")  # keep the input's memory layout (channels-last after conv2d)
    for _, v in sl[1:]:
        np.maximum(out, v, out=out)
    ph, pw = padding
    H, W = x.shape[2], x.shape[3]

    def backward(g):
        dxp = np.zeros_like(xp, dtype=g.dtype)  # same memory layout as the input
        free = np.ones_like(out, dtype=bool)  # windows whose gradient is not yet placed
        for (a, b), v in _slices(xp, kernel, stride, out_hw):
            hit = (v == out) & free
            free &= ~hit
            dxp[..., a : a + stride[0] * (out_hw[0] - 1) + 1 : stride[0],
                b : b + stride[1] * (out_hw[1] - 1) + 1 : stride[1]] += g * hit
        return (dxp[:, :, ph : ph + H, pw : pw + W],)

    return make_result(out, (x,), backward, "max_pool2d")


def avg_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling (``torch.nn.functional.avg_pool2d`` with ``count_include_pad=True``).

    Shapes as `max_pool2d`; every window's mean over its ``k_h k_w`` entries (zero padding counts).

    Backward: each input pixel receives ``g / (k_h k_w)`` from every window that contains it
    (summed where windows overlap), one strided addition per window offset.

    Raises:
        ValueError: as `max_pool2d`.
    """
    x = _t(input)
    kernel, stride, padding, out_hw = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, padding)
    n = kernel[0] * kernel[1]
    sl = _slices(xp, kernel, stride, out_hw)
    out = sl[0][1].copy(order="K")
    for _, v in sl[1:]:
        out += v
    out /= np.asarray(n, dtype=out.dtype)
    ph, pw = padding
    H, W = x.shape[2], x.shape[3]

    def backward(g):
        dxp = np.zeros_like(xp, dtype=g.dtype)
        gn = g / np.asarray(n, dtype=g.dtype)
        for (a, b), _ in sl:
            dxp[..., a : a + stride[0] * (out_hw[0] - 1) + 1 : stride[0],
                b : b + stride[1] * (out_hw[1] - 1) + 1 : stride[1]] += gn
        return (dxp[:, :, ph : ph + H, pw : pw + W],)

    return make_result(out, (x,), backward, "avg_pool2d")
