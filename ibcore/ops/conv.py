"""Convolution and pooling: `conv2d` (im2col and one matrix product), `max_pool2d`,
`avg_pool2d`.

Notation: images are NCHW, as in torch: ``x`` of shape ``(N, C, H, W)`` (batch, channels,
height, width); a kernel ``(kh, kw)`` moves with stride ``(s_h, s_w)`` over the input padded by
``(p_h, p_w)``, giving ``Ho x Wo`` output positions, ``Ho = (H + 2 p_h - kh) // s_h + 1``;
``g = dL/d(out)``. For a fixed kernel offset ``(a, b)`` the pixels the windows read form one
strided slice of the padded input, ``[a : a + s_h Ho : s_h, b : b + s_w Wo : s_w]``, in which
no pixel repeats: forward passes read these ``kh kw`` slices, and backward passes add into them.

Memory layout: the arrays are indexed NCHW, but a `conv2d` output is *stored* batch-last, as a
C-contiguous ``(C, H, W, N)`` array (its matrix product produces it that way), and the next
`conv2d` reads such an input without a copy. Pointwise ops and pooling keep the layout of their
input, so one layout runs through a conv stack, forward and backward (a gradient that arrives in
another layout, as from ``Flatten``, is copied into it once). Batch-last makes every strided
slice above a run of ``N`` (or ``Wo N``) contiguous values, so NumPy's loops over these slices
are long, whatever the image size or the number of channels.
"""

from __future__ import annotations

import builtins

import numpy as np

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


_SCRATCH: dict[tuple, np.ndarray] = {}


def _scratch(name: str, shape, dtype) -> np.ndarray:
    """A reused work array (uninitialised) for a temporary that never leaves the op that fills it.

    Why: the first write to a freshly allocated array costs the operating system a page fault
    per 4 KB; at batch 1437 the digits CNN's columns are 20 MB, and faulting them in took longer
    than filling them. One buffer per ``(name, shape, dtype)``, the 16 most recently used kept
    (module-level state: not for concurrent use from several threads).
    """
    key = (name, tuple(shape), np.dtype(dtype))
    buf = _SCRATCH.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype=dtype)
        _FILLED_BY.pop(key, None)
    _SCRATCH[key] = buf  # most recently used last
    while len(_SCRATCH) > 16:
        old = next(iter(_SCRATCH))
        del _SCRATCH[old]
        _FILLED_BY.pop(old, None)
    return buf


_FILLED_BY: dict[tuple, object] = {}


def _scratch_filled(name: str, shape, dtype, owner: object, fill) -> np.ndarray:
    """`_scratch`, filled by ``fill(buf)`` unless the same ``owner`` filled it last and nobody
    has used it since (then it is returned as it is: a backward pass reuses its forward's
    columns if no other forward has overwritten them)."""
    key = (name, tuple(shape), np.dtype(dtype))
    buf = _scratch(name, shape, dtype)
    if _FILLED_BY.get(key) is not owner:
        fill(buf)
        _FILLED_BY[key] = owner
    return buf


def _scratch_like(name: str, ref: np.ndarray, dtype) -> np.ndarray:
    """`_scratch` with ``ref``'s shape and memory layout."""
    order = sorted(range(ref.ndim), key=lambda i: -ref.strides[i])
    return _scratch(name, [ref.shape[i] for i in order], dtype).transpose(np.argsort(order))


def _slices(xp: np.ndarray, kernel, stride, out_hw):
    """For each kernel offset ``(a, b)``: the strided view ``xp[..., a : a + s_h Ho : s_h,
    b : b + s_w Wo : s_w]`` of the pixels that the ``Ho x Wo`` windows read at that offset (the
    last two axes of ``xp`` are height and width). No copies."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    return [((a, b), xp[..., a : a + sh * (Ho - 1) + 1 : sh, b : b + sw * (Wo - 1) + 1 : sw])
            for a in range(kh) for b in range(kw)]


def _batch_last(X: np.ndarray) -> np.ndarray:
    """``X (N, C, H, W)`` as a C-contiguous ``(C, H, W, N)`` array, the layout of the activations
    of a conv stack (module docstring). A view, not a copy, when ``X`` is already stored that way
    (a `conv2d` or pooling output)."""
    return np.ascontiguousarray(X.transpose(1, 2, 3, 0))


def _alloc(X: np.ndarray, shape, fill=None, dtype=None) -> np.ndarray:
    """A new array of ``shape`` (same number of dimensions as ``X``) whose memory layout is
    ``X``'s: its axes are stored in the order of ``X``'s strides. Filled with ``fill`` unless
    None."""
    order = sorted(range(X.ndim), key=lambda i: -X.strides[i])  # outermost axis first
    mem = np.empty([shape[i] for i in order], dtype=dtype or X.dtype)
    if fill is not None:
        mem.fill(fill)
    return mem.transpose(np.argsort(order))


def _pad(X: np.ndarray, padding, value=0.0) -> np.ndarray:
    """Pad the last two axes of ``X (N, C, H, W)`` with ``value``, keeping ``X``'s layout."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return X
    N, C, H, W = X.shape
    xp = _alloc(X, (N, C, H + 2 * ph, W + 2 * pw), fill=value)
    xp[:, :, ph : ph + H, pw : pw + W] = X
    return xp


def _like(g: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``g`` in ``ref``'s memory layout (a copy only if the layouts differ), so that the strided
    operations of a backward pass walk both arrays in the same order. ``Flatten``'s backward, for
    one, hands a pooling layer a C-contiguous gradient for a batch-last output."""
    if g.strides == ref.strides:
        return g
    out = _alloc(ref, ref.shape, dtype=g.dtype)
    out[...] = g
    return out


def conv2d(input, weight, bias=None, stride=1, padding=0) -> Tensor:
    """2-D cross-correlation (``torch.nn.functional.conv2d``), via im2col and one matmul.

    Shapes: ``input (N, C, H, W)``, ``weight (O, C, kh, kw)``, ``bias (O,)`` ->
    ``out (N, O, Ho, Wo)`` with ``Ho = (H + 2 p_h - kh) // s_h + 1`` (and the same for widths).
    ``stride`` and ``padding`` are an int or a pair; padding is with zeros.

    Forward. Write ``x`` for the zero-padded input. Output pixel ``(n, o, i, j)`` is

        out[n, o, i, j] = b[o] + sum_{c, a, b'} W[o, c, a, b'] x[n, c, s_h i + a, s_w j + b']

    im2col gathers, for every output position ``(n, i, j)``, the ``C kh kw`` input values its
    window reads into one column of a matrix ``X_col`` of shape ``(C kh kw, Ho Wo N)``; the
    convolution is then the matrix product ``out_col = W_col X_col + b`` with ``W_col`` the
    weight ``(O, C kh kw)`` flattened in the same ``(c, a, b')`` order: the same affine map as a
    `linear` layer, applied at every position with the *same* weights. The rows of ``X_col``
    for one channel ``c`` and one offset ``(a, b')`` are the strided slice of that offset (module
    docstring), so im2col is ``kh kw`` slice copies, each of all channels and images at once.

    Backward (``g = dL/d(out)``, rearranged to ``g_col`` of shape ``(O, Ho Wo N)``). The forward
    is `linear` applied to the columns of ``X_col``, so its three gradients are those of
    `linear`:

    - ``dL/dW_col = g_col X_col^T``, i.e. ``dL/dW[o, c, a, b'] = sum_{n, i, j} g[n, o, i, j]
      x[n, c, s_h i + a, s_w j + b']``. The matmul's inner dimension runs over *every output
      position of every example*: this sum over positions is what weight sharing looks like in
      the backward. One weight was used at all ``N Ho Wo`` positions, so it receives the sum of all
      their gradients (the chain rule for a value used many times).
    - ``dL/db[o] = sum_{n, i, j} g[n, o, i, j]``, again a sum over positions.
    - ``dL/dX_col = W_col^T g_col``, one gradient per (window, offset). col2im scatters each back
      to the input pixel it was read from and *adds* where windows overlap:
      ``dL/dx[n, c, h, w] = sum over (i, j, a, b') with s_h i + a = h, s_w j + b' = w of
      dX_col[(c, a, b'), (n, i, j)]``; the padding's gradient is dropped. The scatter-add loops
      over the ``kh kw`` kernel offsets, never over positions: for a fixed offset ``(a, b')`` the
      pixels read by the ``Ho x Wo`` windows form one strided slice
      ``[a : a + s_h Ho : s_h, b' : b' + s_w Wo : s_w]`` in which no pixel repeats, so ``+=`` on
      that slice is an exact scatter-add (the same result as ``np.add.at`` with the flat indices).

    Memory layout: ``out`` is an ``(N, O, Ho, Wo)`` view of a C-contiguous ``(O, Ho, Wo, N)``
    array (the matmul's result, never rearranged), and an input stored that way is read without
    a copy: a stack of convolutions, nonlinearities and pooling keeps one layout throughout
    (module docstring).

    Cost: the forward matmul, two backward matmuls of the same size, one im2col copy (``kh kw``
    times the input; the columns live in a reused buffer, and the backward rebuilds them only if
    another call has overwritten them since) and ``kh kw`` strided additions.

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
    (ph, pw), K = padding, kh * kw
    N, _, H, W_in = x.shape
    if ph or pw:  # padded, batch-last (C, Hp, Wp, N): one copy, whatever the input's layout
        xp = np.zeros((C, H + 2 * ph, W_in + 2 * pw, N), dtype=x.dtype)
        xp[:, ph : ph + H, pw : pw + W_in] = x.data.transpose(1, 2, 3, 0)
    else:
        xp = _batch_last(x.data)  # (C, H, W, N)
    offsets = _slices(xp.transpose(0, 3, 1, 2), (kh, kw), stride, (Ho, Wo))

    def fill(cols):  # im2col: one slice copy per kernel offset, every channel and image at once
        for k, (_, v) in enumerate(offsets):
            cols[:, k] = v.transpose(0, 2, 3, 1)

    token = object()  # this call's columns, in a reused buffer (rebuilt if overwritten since)

    def im2col():
        cols = _scratch_filled("conv2d.cols", (C, K, Ho, Wo, N), xp.dtype, token, fill)
        return cols.reshape(C * K, Ho * Wo * N)

    Wc = w.data.reshape(O, C * K)
    out_col = Wc @ im2col()  # (O, Ho Wo N)
    if bias is not None:
        out_col += bias.data[:, None]
    out = out_col.reshape(O, Ho, Wo, N).transpose(3, 0, 1, 2)  # NCHW view of batch-last memory
    parents = (x, w) if bias is None else (x, w, bias)

    def backward(g):
        g_col = _batch_last(g).reshape(O, Ho * Wo * N)
        gx = gw = gb = None
        if x.requires_grad:  # col2im: scatter-add, one strided slice per kernel offset
            # dX_col = W_col^T g_col, one offset's block (C, Ho Wo N) at a time
            Wk = np.ascontiguousarray(w.data.reshape(O, C, K).transpose(2, 1, 0))  # (K, C, O)
            block = _scratch("conv2d.block", (C, Ho * Wo * N), g_col.dtype)
            dxp = np.zeros(xp.shape, dtype=g_col.dtype)
            for k, (_, v) in enumerate(_slices(dxp.transpose(0, 3, 1, 2), (kh, kw), stride,
                                               (Ho, Wo))):
                np.matmul(Wk[k], g_col, out=block)
                v += block.reshape(C, Ho, Wo, N).transpose(0, 3, 1, 2)
            gx = dxp[:, ph : ph + H, pw : pw + W_in].transpose(3, 0, 1, 2)
        if w.requires_grad:  # the sum over positions: inner dimension Ho Wo N
            gw = (g_col @ im2col().T).reshape(O, C, kh, kw)
        if bias is None:
            return gx, gw
        if bias.requires_grad:  # again a sum over positions: the product g_col 1 (one BLAS call)
            gb = g_col @ np.ones(g_col.shape[1], dtype=g_col.dtype)
        return gx, gw, gb

    return make_result(out, parents, backward, "conv2d")


def _disjoint(kernel, stride) -> bool:
    """Whether no pixel is in two windows (stride at least the kernel, in both directions)."""
    return stride[0] >= kernel[0] and stride[1] >= kernel[1]


def _grad_buffer(xp: np.ndarray, dtype, kernel, stride, out_hw) -> np.ndarray:
    """The array a pooling backward adds into: ``xp``'s shape and memory layout, zeros, or left
    uninitialised when the windows tile ``xp`` exactly (every entry is then written once)."""
    tiles = (tuple(stride) == tuple(kernel) and out_hw[0] * stride[0] == xp.shape[2]
             and out_hw[1] * stride[1] == xp.shape[3])
    return np.empty_like(xp, dtype=dtype) if tiles else np.zeros_like(xp, dtype=dtype)


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
    out = sl[0][1].copy(order="K")  # keep the input's memory layout (batch-last after conv2d)
    for _, v in sl[1:]:
        np.maximum(out, v, out=out)
    ph, pw = padding
    H, W = x.shape[2], x.shape[3]

    def backward(g):
        g = _like(g, out)
        dxp = _grad_buffer(xp, g.dtype, kernel, stride, out_hw)
        hit = _scratch_like("max_pool2d.hit", out, bool)
        free = _scratch_like("max_pool2d.free", out, bool)  # windows not yet given their g
        sl = _slices(xp, kernel, stride, out_hw)
        for i, ((_, v), (_, d)) in enumerate(zip(sl, _slices(dxp, kernel, stride, out_hw),
                                                 strict=True)):
            np.equal(v, out, out=hit)
            if i == 0:
                np.logical_not(hit, out=free)
            else:
                hit &= free
                if i < len(sl) - 1:
                    free ^= hit
            if _disjoint(kernel, stride):  # each pixel is in at most one window: write
                np.multiply(g, hit, out=d)
            else:
                d += g * hit
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
        gn = _like(g, out) / np.asarray(n, dtype=g.dtype)
        dxp = _grad_buffer(xp, gn.dtype, kernel, stride, out_hw)
        for _, d in _slices(dxp, kernel, stride, out_hw):
            if _disjoint(kernel, stride):
                d[...] = gn
            else:
                d += gn
        return (dxp[:, :, ph : ph + H, pw : pw + W],)

    return make_result(out, (x,), backward, "avg_pool2d")
