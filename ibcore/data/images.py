"""Image transforms for the digits (monograph chapter 4): canvases, shifts, shifted copies for
augmentation, and the power spectrum, a hand-made translation-invariant feature.

Images are arrays whose last two axes are height and width: ``(..., H, W)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["canvas", "shift", "shifted_copies", "power_spectrum"]


def canvas(images, pad: int) -> np.ndarray:
    """Place each image in the centre of a blank canvas ``pad`` pixels wider on every side.

    Shapes: ``(..., H, W) -> (..., H + 2 pad, W + 2 pad)``.

    Raises:
        ValueError: if ``pad`` is negative or the input has fewer than two axes.
    """
    images = np.asarray(images)
    if pad < 0 or images.ndim < 2:
        raise ValueError(f"canvas: need pad >= 0 and images (..., H, W), got pad={pad}, shape "
                         f"{images.shape}")
    widths = [(0, 0)] * (images.ndim - 2) + [(pad, pad), (pad, pad)]
    return np.pad(images, widths)


def shift(images, dy: int, dx: int, circular: bool = False) -> np.ndarray:
    """Translate images by ``dy`` rows (down) and ``dx`` columns (right).

    With ``circular=False`` the pixels shifted out are lost and zeros come in (a translation on a
    blank background); with ``circular=True`` they wrap around (``np.roll``), the shift under
    which the discrete Fourier transform's power spectrum is exactly invariant.

    Shapes: ``(..., H, W) -> (..., H, W)``.

    Raises:
        ValueError: if the input has fewer than two axes.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"shift: images must be (..., H, W), got shape {images.shape}")
    dy, dx = int(dy), int(dx)
    if circular:
        return np.roll(images, (dy, dx), axis=(-2, -1))
    H, W = images.shape[-2:]
    out = np.zeros_like(images)
    if abs(dy) >= H or abs(dx) >= W:
        return out
    src = images[..., max(0, -dy) : H - max(0, dy), max(0, -dx) : W - max(0, dx)]
    out[..., max(0, dy) : H - max(0, -dy), max(0, dx) : W - max(0, -dx)] = src
    return out


def shifted_copies(images, labels, copies: int, max_shift: int, rng) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Data augmentation by translation: the images plus ``copies`` shifted copies of each.

    Every copy of every image gets its own shift ``(dy, dx)`` drawn uniformly from
    ``{-max_shift, ..., max_shift}^2`` (zero fill, `shift`); the originals come first.

    Shapes: ``images (n, ..., H, W)``, ``labels (n,)`` -> ``((copies + 1) n, ..., H, W)`` and
    ``((copies + 1) n,)``.

    Raises:
        ValueError: if ``copies`` or ``max_shift`` is negative, or the lengths differ.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if copies < 0 or max_shift < 0 or len(images) != len(labels):
        raise ValueError(f"shifted_copies: need copies >= 0, max_shift >= 0 and as many labels as "
                         f"images, got copies={copies}, max_shift={max_shift}, "
                         f"{len(images)} images, {len(labels)} labels")
    out_x, out_y = [images], [labels]
    for _ in range(copies):
        d = rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))
        moved = np.empty_like(images)
        for n, (dy, dx) in enumerate(d):
            moved[n] = shift(images[n], dy, dx)
        out_x.append(moved)
        out_y.append(labels)
    return np.concatenate(out_x), np.concatenate(out_y)


def power_spectrum(images) -> np.ndarray:
    """The power spectrum ``|FFT(x)|^2`` of each image, a feature invariant to circular shifts.

    A circular shift by ``(dy, dx)`` multiplies the 2-D discrete Fourier transform by the phase
    ``exp(-2 pi i (u dy / H + v dx / W))`` of modulus 1, so ``|X(u, v)|^2`` is unchanged. For real
    images ``X(-u, -v)`` is the conjugate of ``X(u, v)``, so the half spectrum of ``np.fft.rfft2``
    holds every distinct value.

    Shapes: ``(..., H, W) -> (..., H, W // 2 + 1)``, float64, in squared pixel-intensity units.

    Raises:
        ValueError: if the input has fewer than two axes.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 2:
        raise ValueError(f"power_spectrum: images must be (..., H, W), got shape {images.shape}")
    return np.abs(np.fft.rfft2(images)) ** 2
