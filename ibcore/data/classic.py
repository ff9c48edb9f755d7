"""XOR and the 8x8 digits: the small classic datasets of Post 1 (seeded, nothing downloads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["xor", "digits", "Split"]


def xor(dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points.

    Returns:
        ``X`` of shape ``(4, 2)`` with rows (0,0), (0,1), (1,0), (1,1), and labels ``y`` of shape
        ``(4,)`` (int64), ``y = x1 XOR x2`` = 0, 1, 1, 0.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


@dataclass(frozen=True)
class Split:
    """A train/test split: ``X_train (n_train, d)``, ``y_train (n_train,)``, and the same for
    test; ``images_*`` keep the 2-D images where the data has them."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    images_train: np.ndarray | None = None
    images_test: np.ndarray | None = None


def digits(seed: int = 0, test_size: int = 360, dtype=np.float32) -> Split:
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), scaled to [0, 1].

    A stratified split (class proportions kept) of 1437 training and 360 test images by default,
    fixed by ``seed``. Source: the UCI optical recognition of handwritten digits data, as shipped
    with scikit-learn (no download).

    Returns:
        `Split` with ``X_* (n, 64)`` pixel intensities in [0, 1], ``y_* (n,)`` int64 labels 0-9,
        and ``images_* (n, 8, 8)``.

    Raises:
        ValueError: if ``test_size`` is not between 10 and 1787.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 10 <= test_size <= 1787:
        raise ValueError(f"digits: test_size must be between 10 and 1787, got {test_size}")
    d = load_digits()
    X = (d.data / 16.0).astype(dtype)
    y = d.target.astype(np.int64)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    imgs = X.reshape(-1, 8, 8)
    return Split(X[tr], y[tr], X[te], y[te], imgs[tr], imgs[te])
