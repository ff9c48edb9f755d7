"""Probes of convolutional structure (monograph chapter 4): the effective receptive field of a
network, and how far a dense layer's weight matrix is from a convolution's.

The dense-layer measures read a square weight matrix ``W (H W, H W)`` from an ``H x W`` image to
an ``H x W`` map as ``W[(i, j), (k, l)]``, rows and columns in C order, and sort its entries by
the offset ``(k - i, l - j)`` between input and output pixel.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["effective_receptive_field", "erf_std", "offset_tied_fraction", "window_fraction"]


def effective_receptive_field(model, input_shape, n_samples: int = 8, rng=None, channel=None
                              ) -> np.ndarray:
    """The effective receptive field (Luo et al. 2016): ``|d y / d x|`` for the centre unit ``y``.

    For each of ``n_samples`` standard-normal inputs ``x`` of shape ``input_shape = (C, H, W)``,
    backpropagate a gradient of 1 at the centre position ``(Ho // 2, Wo // 2)`` of the model's
    output map (summed over its channels, or only ``channel``) and 0 elsewhere; return the mean
    over samples of the absolute input gradient, summed over input channels. For a linear network
    the map does not depend on ``x``; with nonlinearities it does, hence the average.

    Returns:
        ``(H, W)`` array, nonnegative, in units of output per unit input.

    Raises:
        ValueError: if ``input_shape`` is not ``(C, H, W)`` or the model's output is not 4-D.
    """
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"effective_receptive_field: input_shape must be (C, H, W), got "
                         f"{tuple(input_shape)}")
    rng = np.random.default_rng(0) if rng is None else rng
    dtype = next(iter(model.parameters())).dtype
    x = Tensor(rng.standard_normal((n_samples, *input_shape)).astype(dtype), requires_grad=True)
    out = model(x)
    if out.ndim != 4:
        raise ValueError(f"effective_receptive_field: the model's output must be (N, O, Ho, Wo), "
                         f"got {out.shape}")
    seed = np.zeros(out.shape, dtype=out.dtype)
    chans = slice(None) if channel is None else channel
    seed[:, chans, out.shape[2] // 2, out.shape[3] // 2] = 1.0
    out.backward(seed)
    return np.abs(x.grad).sum(axis=1).mean(axis=0)


def erf_std(erf: np.ndarray) -> float:
    """The width of a receptive-field map: the standard deviation, in pixels, of the map read as a
    distribution over positions (normalised to sum 1), the root-mean-square of the two axes'
    standard deviations.

    Raises:
        ValueError: if ``erf`` is not 2-D, has a negative entry or sums to zero.
    """
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2 or (erf < 0).any() or erf.sum() <= 0:
        raise ValueError(f"erf_std: expected a nonnegative 2-D map with positive sum, got shape "
                         f"{erf.shape}")
    p = erf / erf.sum()
    variances = []
    for axis in (0, 1):
        marg = p.sum(axis=1 - axis)
        pos = np.arange(len(marg))
        mean = (marg * pos).sum()
        variances.append((marg * (pos - mean) ** 2).sum())
    return float(np.sqrt(np.mean(variances)))


def _offsets(W: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    H, Wd = size
    if W.shape != (H * Wd, H * Wd):
        raise ValueError(f"expected a weight matrix of shape ({H * Wd}, {H * Wd}) for a "
                         f"{H}x{Wd} image, got {W.shape}")
    i, j = np.divmod(np.arange(H * Wd), Wd)
    return i[None, :] - i[:, None], j[None, :] - j[:, None]  # (k - i, l - j) per entry


def offset_tied_fraction(W, size) -> float:
    """The fraction of a dense layer's squared weight norm that offset tying keeps.

    Projects ``W (H W, H W)`` onto the offset-tied matrices (every entry replaced by the mean of
    the entries with the same offset ``(k - i, l - j)``, the least-squares projection) and returns
    ``||P W||^2 / ||W||^2``: 1 for a convolution (stride 1, zero padding, output the input's
    size), and about ``(2H - 1)(2W - 1) / (H W)^2`` for a matrix of independent entries.

    Raises:
        ValueError: if ``W`` is not ``(H W, H W)`` for ``size = (H, W)``.
    """
    W = np.asarray(W, dtype=np.float64)
    da, db = _offsets(W, size)
    key = (da + size[0] - 1) * (2 * size[1] - 1) + (db + size[1] - 1)
    sums = np.bincount(key.ravel(), weights=W.ravel())
    counts = np.bincount(key.ravel())
    proj = (sums / np.maximum(counts, 1))[key]
    return float((proj ** 2).sum() / (W ** 2).sum())


def window_fraction(W, size, radius: int = 1) -> float:
    """The fraction of a dense layer's squared weight norm on offsets inside the window
    ``|k - i| <= radius, |l - j| <= radius``: 1 for a ``(2 radius + 1)``-square convolution.

    Raises:
        ValueError: if ``W`` is not ``(H W, H W)`` for ``size = (H, W)``.
    """
    W = np.asarray(W, dtype=np.float64)
    da, db = _offsets(W, size)
    inside = (np.abs(da) <= radius) & (np.abs(db) <= radius)
    return float((W[inside] ** 2).sum() / (W ** 2).sum())
