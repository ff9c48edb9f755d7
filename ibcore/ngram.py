"""Count-based n-gram language models: add-k and interpolated Kneser-Ney smoothing.

An n-gram model with a window of ``N = context_size`` symbols estimates
``P(w | h)`` for every context ``h`` of ``N`` symbols from counts in a training sequence. Raw
relative frequencies give probability zero to every (context, symbol) pair that never occurred,
and a single zero makes the cross-entropy infinite, so the counts are *smoothed*:

* **add-k** (Laplace for ``k = 1``, Lidstone in general):
  ``P(w | h) = (c(h w) + k) / (c(h) + k V)``. It needs no lower-order model and moves the same
  mass to every unseen symbol, whatever the context.
* **interpolated Kneser-Ney** (Kneser and Ney 1995; the interpolated form of Chen and Goodman
  1999, eq. 26): subtract a discount ``D_j`` from every non-zero count of order ``j`` and give the
  freed mass to the model with one symbol less of context,

  ``P_j(w | h) = max(c_j(h w) - D_j, 0) / c_j(h) + D_j N_{1+}(h .) / c_j(h) * P_{j-1}(w | h')``,

  where ``h'`` drops the oldest symbol of ``h``, ``N_{1+}(h .)`` is the number of distinct symbols
  seen after ``h``, and ``P_{-1}(w) = 1 / V``. The highest order uses raw counts; every lower
  order uses *continuation counts* ``c_j(h w) = N_{1+}(. h w)``, the number of distinct symbols
  seen before ``h w``: a lower-order estimate is only consulted when the longer context is rare,
  so it should say how many contexts a symbol follows, not how often it occurs. A context never
  seen (``c_j(h) = 0``) hands all its mass to ``P_{j-1}``. The discount defaults to Ney's
  estimate ``D_j = n_1 / (n_1 + 2 n_2)``, with ``n_r`` the number of ``(j+1)``-grams counted
  exactly ``r`` times at that order (Chen and Goodman 1999, eq. 22).

Contexts are coded as integers in base ``V`` (oldest symbol most significant), so the model
needs ``V ** (context_size + 1)`` below ``2 ** 63``. Probabilities are float64; log-probabilities
are in nats.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["NGramLM"]

_SMOOTHINGS = ("kneser-ney", "add-k")


def _codes(windows: np.ndarray, base: int) -> np.ndarray:
    """Rows of symbols ``(n, j)`` -> int64 codes ``(n,)`` in base ``base``, oldest first."""
    code = np.zeros(len(windows), dtype=np.int64)
    for col in range(windows.shape[1]):
        code = code * base + windows[:, col]
    return code


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values[i]`` where ``keys[i] == query`` (keys sorted, unique), 0 where absent."""
    if len(keys) == 0:
        return np.zeros(query.shape, dtype=values.dtype)
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0)


class _Order:
    """The counts of one order ``j``: ``(j+1)``-gram codes and counts, context totals and types."""

    def __init__(self, gram_codes: np.ndarray, gram_counts: np.ndarray, vocab_size: int):
        self.gram_codes, self.gram_counts = gram_codes, gram_counts.astype(np.float64)
        ctx, first = np.unique(gram_codes // vocab_size, return_index=True)
        self.ctx_codes = ctx
        self.ctx_totals = np.add.reduceat(self.gram_counts, first) if len(first) else \
            np.zeros(0)
        self.ctx_types = np.diff(np.append(first, len(gram_codes))).astype(np.float64)
        n1 = float((gram_counts == 1).sum())
        n2 = float((gram_counts == 2).sum())
        self.ney_discount = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5


class NGramLM:
    """A count-based language model over the last ``context_size`` symbols.

    Args:
        vocab_size: number of symbols ``V``; ids are ``0 .. V-1``.
        context_size: the window ``N`` (the model is an ``(N+1)``-gram model); 0 is allowed
            (unigram frequencies).
        smoothing: ``"kneser-ney"`` (interpolated, the module docstring's equation) or
            ``"add-k"``.
        k: the pseudo-count of add-k smoothing (positive).
        discount: a fixed Kneser-Ney discount in ``(0, 1)`` for every order; None estimates
            ``D_j = n_1 / (n_1 + 2 n_2)`` per order.

    Use ``fit(ids)``, then ``predict_proba(contexts)`` for whole distributions or
    ``log_prob(ids)`` / ``cross_entropy(ids)`` to score a sequence.

    Raises:
        TypeError: if a size is not an integer.
        ValueError: for ``vocab_size < 2``, a negative ``context_size``, ``V ** (N + 1)`` too
            large for int64 codes, an unknown ``smoothing``, ``k <= 0`` or a discount outside
            ``(0, 1)``.
    """

    def __init__(self, vocab_size: int, context_size: int, smoothing: str = "kneser-ney",
                 k: float = 1.0, discount: float | None = None):
        try:
            vocab_size, context_size = operator.index(vocab_size), operator.index(context_size)
        except TypeError:
            raise TypeError(f"NGramLM: vocab_size and context_size must be integers, got "
                            f"{type(vocab_size).__name__} and "
                            f"{type(context_size).__name__}") from None
        if vocab_size < 2 or context_size < 0:
            raise ValueError(f"NGramLM: need vocab_size >= 2 and context_size >= 0, got "
                             f"vocab_size={vocab_size}, context_size={context_size}")
        if vocab_size ** (context_size + 1) >= 2**63:
            raise ValueError(f"NGramLM: vocab_size ** (context_size + 1) = {vocab_size}**"
                             f"{context_size + 1} does not fit int64 context codes")
        if smoothing not in _SMOOTHINGS:
            raise ValueError(f"NGramLM: smoothing must be one of {_SMOOTHINGS}, got "
                             f"{smoothing!r}")
        if not k > 0:
            raise ValueError(f"NGramLM: k must be positive, got {k}")
        if discount is not None and not 0 < discount < 1:
            raise ValueError(f"NGramLM: discount must be in (0, 1), got {discount}")
        self.vocab_size, self.context_size = vocab_size, context_size
        self.smoothing, self.k, self.discount = smoothing, float(k), discount
        self.orders: list[_Order | None] | None = None

    def _check_ids(self, ids, what: str, min_len: int) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"NGramLM.{what}: ids must be a 1-D integer array, got shape "
                             f"{ids.shape} and dtype {ids.dtype}")
        if len(ids) < min_len:
            raise ValueError(f"NGramLM.{what}: need at least {min_len} ids, got {len(ids)}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"NGramLM.{what}: ids must be in [0, {self.vocab_size}), got min "
                             f"{ids.min()} and max {ids.max()}")
        return ids.astype(np.int64)

    def fit(self, ids) -> NGramLM:
        """Count every ``(j+1)``-gram of ``ids``, ``j = 0..N`` (add-k: ``j = N`` only; the
        counts of order ``j`` are ``self.orders[j]``); returns ``self``.

        Raises:
            ValueError: for ids that are not 1-D integers in ``[0, V)`` or fewer than ``N + 1``.
        """
        ids = self._check_ids(ids, "fit", self.context_size + 1)
        V, N = self.vocab_size, self.context_size
        orders = []
        for j in range(N + 1):
            if self.smoothing == "add-k" and j < N:
                orders.append(None)  # add-k reads the highest order only
                continue
            grams = np.lib.stride_tricks.sliding_window_view(ids, j + 1)
            raw_codes, raw_counts = np.unique(_codes(grams, V), return_counts=True)
            if j == N:
                orders.append(_Order(raw_codes, raw_counts, V))
            else:
                # continuation counts: distinct left extensions of each (j+1)-gram
                longer = np.unique(_codes(np.lib.stride_tricks.sliding_window_view(ids, j + 2),
                                          V))
                codes, counts = np.unique(longer % V ** (j + 1), return_counts=True)
                orders.append(_Order(codes, counts, V))
        self.orders = orders
        return self

    def _discount(self, j: int) -> float:
        return self.discount if self.discount is not None else self.orders[j].ney_discount

    def _prob(self, contexts: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """``P(symbols[b, i] | contexts[b])`` for ``contexts (B, N)``, ``symbols (B, S)``."""
        V, N = self.vocab_size, self.context_size
        if self.smoothing == "add-k":
            top = self.orders[N]
            h = _codes(contexts, V)
            c_h = _lookup(top.ctx_codes, top.ctx_totals, h)[:, None]
            c_hw = _lookup(top.gram_codes, top.gram_counts, h[:, None] * V + symbols)
            return (c_hw + self.k) / (c_h + self.k * V)
        p = np.full(symbols.shape, 1.0 / V)
        for j in range(N + 1):
            order, D = self.orders[j], self._discount(j)
            h = _codes(contexts[:, N - j:], V)
            c_h = _lookup(order.ctx_codes, order.ctx_totals, h)[:, None]
            t_h = _lookup(order.ctx_codes, order.ctx_types, h)[:, None]
            c_hw = _lookup(order.gram_codes, order.gram_counts, h[:, None] * V + symbols)
            seen = c_h > 0
            safe = np.where(seen, c_h, 1.0)
            p = np.where(seen, np.maximum(c_hw - D, 0) / safe + D * t_h / safe * p, p)
        return p

    def _check_contexts(self, contexts, what: str) -> np.ndarray:
        if self.orders is None:
            raise ValueError(f"NGramLM.{what}: call fit(ids) first")
        c = np.asarray(contexts)
        if c.ndim != 2 or c.shape[1] != self.context_size or \
                not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"NGramLM.{what}: contexts must be integers of shape "
                             f"(batch, {self.context_size}), got {c.shape} ({c.dtype})")
        if c.size and (c.min() < 0 or c.max() >= self.vocab_size):
            raise ValueError(f"NGramLM.{what}: ids must be in [0, {self.vocab_size}), got min "
                             f"{c.min()} and max {c.max()}")
        return c.astype(np.int64)

    def predict_proba(self, contexts) -> np.ndarray:
        """Next-symbol distributions: ``contexts (batch, N)`` ids, oldest first -> float64
        ``(batch, V)`` whose rows sum to 1.

        Raises:
            ValueError: before ``fit``, or for contexts of the wrong shape or ids out of range.
        """
        c = self._check_contexts(contexts, "predict_proba")
        symbols = np.broadcast_to(np.arange(self.vocab_size), (len(c), self.vocab_size))
        return self._prob(c, symbols)

    def log_prob(self, ids) -> np.ndarray:
        """``log P(x_t | x_{t-N..t-1})`` in nats for ``t = N .. len(ids)-1``: shape
        ``(len(ids) - N,)``.

        Raises:
            ValueError: before ``fit``, or for ids that are not 1-D integers in ``[0, V)`` or
                not longer than the window.
        """
        if self.orders is None:
            raise ValueError("NGramLM.log_prob: call fit(ids) first")
        ids = self._check_ids(ids, "log_prob", self.context_size + 1)
        N = self.context_size
        ctx = np.lib.stride_tricks.sliding_window_view(ids[:-1], N) if N else \
            np.zeros((len(ids), 0), dtype=np.int64)
        return np.log(self._prob(ctx, ids[N:, None])[:, 0])

    def cross_entropy(self, ids) -> float:
        """Mean of ``-log_prob(ids)``: nats per symbol (divide by ``ln 2`` for bits)."""
        return float(-self.log_prob(ids).mean())

    def __repr__(self) -> str:
        extra = f", k={self.k}" if self.smoothing == "add-k" else ""
        return (f"NGramLM(vocab_size={self.vocab_size}, context_size={self.context_size}, "
                f"smoothing={self.smoothing!r}{extra})")
