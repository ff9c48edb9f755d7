"""Synthetic sequence tasks whose answer is known exactly."""

from __future__ import annotations

import numpy as np

__all__ = ["delayed_recall"]


def delayed_recall(n: int, delay: int, n_symbols: int = 4, n_distractors: int = 4,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Remember the first token through ``delay`` distractors, then say it when cued.

    Each sequence has ``delay + 2`` tokens: a symbol ``s`` in ``[0, n_symbols)``, then ``delay``
    distractors drawn uniformly from ``[n_symbols, n_symbols + n_distractors)``, then the cue
    token ``n_symbols + n_distractors``. The target is ``s``. Chance accuracy is
    ``1 / n_symbols``; only information carried across ``delay + 1`` steps beats it.

    Returns:
        ``X (n, delay + 2)`` int64 tokens, ``y (n,)`` int64 targets, and the number of distinct
        tokens ``n_symbols + n_distractors + 1``.

    Raises:
        ValueError: if ``n < 1``, ``delay < 0``, ``n_symbols < 2`` or ``n_distractors < 1``.
    """
    if n < 1 or delay < 0 or n_symbols < 2 or n_distractors < 1:
        raise ValueError(f"delayed_recall: need n >= 1, delay >= 0, n_symbols >= 2 and "
                         f"n_distractors >= 1, got n={n}, delay={delay}, n_symbols={n_symbols}, "
                         f"n_distractors={n_distractors}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_symbols, n)
    X = np.empty((n, delay + 2), dtype=np.int64)
    X[:, 0] = y
    X[:, 1:-1] = rng.integers(n_symbols, n_symbols + n_distractors, (n, delay))
    X[:, -1] = n_symbols + n_distractors
    return X, y.astype(np.int64), n_symbols + n_distractors + 1
