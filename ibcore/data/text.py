"""A character-level corpus that ships with Python: the standard library's ``pydoc_data.topics``.

``pydoc_data.topics.topics`` maps help-topic names to their text (the Python language reference
as shown by ``help()``; about 460 KB of English and code in Python 3.11). The topics are joined in
sorted-key order, so the corpus is fixed for a given Python version (other versions ship slightly
different text, and so give slightly different numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Vocab", "CharCorpus", "char_corpus", "context_windows", "sequence_batch"]


@dataclass(frozen=True)
class Vocab:
    """Characters and their ids: ``itos[i]`` is the character with id ``i`` (sorted order)."""

    itos: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "_stoi", {c: i for i, c in enumerate(self.itos)})

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def stoi(self) -> dict[str, int]:
        return dict(self._stoi)

    def encode(self, text: str) -> np.ndarray:
        """Text -> int64 ids ``(len(text),)``.

        Raises:
            ValueError: naming the first characters that are not in the vocabulary.
        """
        try:
            return np.fromiter((self._stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            missing = sorted({c for c in text if c not in self._stoi})
            raise ValueError(f"Vocab.encode: characters not in the vocabulary: "
                             f"{missing[:10]!r}") from None

    def decode(self, ids) -> str:
        """Ids -> text.

        Raises:
            ValueError: for ids outside ``[0, len(vocab))``.
        """
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.itos)):
            raise ValueError(f"Vocab.decode: ids must be in [0, {len(self.itos)}), got min "
                             f"{ids.min()} and max {ids.max()}")
        return "".join(self.itos[int(i)] for i in ids)


@dataclass(frozen=True)
class CharCorpus:
    """``train`` and ``valid`` int64 id arrays (contiguous: validation is the text's end) and the
    `Vocab` (every character of the corpus, so validation has no unknown characters)."""

    train: np.ndarray
    valid: np.ndarray
    vocab: Vocab
    text: str


def char_corpus(max_chars: int | None = None, valid_fraction: float = 0.1) -> CharCorpus:
    """The ``pydoc_data.topics`` text as a character corpus with a fixed split.

    Args:
        max_chars: keep only the first ``max_chars`` characters (None: all of it).
        valid_fraction: the last this fraction of the (kept) text is the validation set.

    Raises:
        ValueError: if ``valid_fraction`` is not in (0, 1) or ``max_chars`` is below 100.
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"char_corpus: valid_fraction must be in (0, 1), got {valid_fraction}")
    if max_chars is not None and max_chars < 100:
        raise ValueError(f"char_corpus: max_chars must be at least 100, got {max_chars}")
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k].strip() for k in sorted(topics))
    if max_chars is not None:
        text = text[:max_chars]
    vocab = Vocab(tuple(sorted(set(text))))
    ids = vocab.encode(text)
    cut = len(ids) - int(round(valid_fraction * len(ids)))
    return CharCorpus(ids[:cut], ids[cut:], vocab, text)


def context_windows(ids, context_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``context_size`` consecutive ids and the id after it.

    Returns:
        ``X (len(ids) - context_size, context_size)`` int64 (a read-only strided view) and
        ``y (len(ids) - context_size,)``.

    Raises:
        ValueError: if ``context_size < 1`` or the sequence is not longer than the window.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if context_size < 1 or len(ids) <= context_size:
        raise ValueError(f"context_windows: need 1 <= context_size < len(ids), got "
                         f"context_size={context_size} for {len(ids)} ids")
    X = np.lib.stride_tricks.sliding_window_view(ids[:-1], context_size)
    return X, ids[context_size:]


def sequence_batch(ids, batch_size: int, seq_len: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random contiguous chunks for a recurrent model: inputs ``(batch, seq_len)``
    and targets ``(batch, seq_len)`` (the same chunks shifted by one).

    Raises:
        ValueError: if the sequence is shorter than ``seq_len + 1``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if seq_len < 1 or len(ids) < seq_len + 1:
        raise ValueError(f"sequence_batch: need 1 <= seq_len < len(ids), got seq_len={seq_len} "
                         f"for {len(ids)} ids")
    starts = rng.integers(0, len(ids) - seq_len, batch_size)
    idx = starts[:, None] + np.arange(seq_len + 1)
    chunks = ids[idx]
    return chunks[:, :-1], chunks[:, 1:]
