"""Order-k Markov sources with a seeded random transition table and their exact entropies.

A source over ``n_symbols`` symbols draws ``x_t`` from ``P(. | x_{t-k}, ..., x_{t-1})``, one row of
the transition table per context of ``k`` symbols; each row is drawn from a symmetric Dirichlet
with parameter ``concentration`` (small: peaked, predictable rows; large: near uniform).

The entropy rate (Shannon 1948; Cover and Thomas 2006, theorem 4.2.4) of the stationary process
is ``H = sum_s pi(s) H(P(. | s))``, with ``pi`` the stationary distribution of the chain on
contexts ``s``. A model that sees only the last ``n < k`` symbols can do no better than the
conditional entropy ``H(X_t | X_{t-n}, ..., X_{t-1}) = H(X_{t-n..t}) - H(X_{t-n..t-1})``, which
we compute exactly from ``pi`` and the table by marginalising the joint law of ``(s, x_t)``.
All entropies are in nats.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MarkovSource"]


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


class MarkovSource:
    """An order-``order`` Markov source over ``n_symbols`` symbols.

    Contexts are numbered in base ``n_symbols`` with the oldest symbol most significant:
    context ``(a, b, c)`` is ``a K^2 + b K + c``.

    Attributes:
        table: ``(n_symbols**order, n_symbols)`` transition probabilities, rows sum to 1.
        stationary: ``(n_symbols**order,)`` the stationary distribution over contexts.

    Raises:
        ValueError: for ``n_symbols < 2``, ``order < 1``, a non-positive concentration, or a
            table with more than 10**6 entries.
    """

    def __init__(self, n_symbols: int, order: int, concentration: float = 1.0, seed: int = 0):
        if n_symbols < 2 or order < 1:
            raise ValueError(f"MarkovSource: need n_symbols >= 2 and order >= 1, got "
                             f"n_symbols={n_symbols}, order={order}")
        if not concentration > 0:
            raise ValueError(f"MarkovSource: concentration must be positive, got "
                             f"{concentration}")
        if n_symbols ** (order + 1) > 10**6:
            raise ValueError(f"MarkovSource: {n_symbols}**{order + 1} table entries is too many")
        self.n_symbols, self.order = int(n_symbols), int(order)
        self.concentration, self.seed = float(concentration), seed
        rng = np.random.default_rng(seed)
        K, k = self.n_symbols, self.order
        self.table = rng.dirichlet(np.full(K, self.concentration), size=K**k)
        self.stationary = self._stationary()

    def _next_context(self) -> np.ndarray:
        """``(K^k, K)``: the context after context ``s`` emits symbol ``x``."""
        K, k = self.n_symbols, self.order
        s = np.arange(K**k)[:, None]
        return (s % K ** (k - 1)) * K + np.arange(K)[None, :]

    def _stationary(self) -> np.ndarray:
        K, k = self.n_symbols, self.order
        M = np.zeros((K**k, K**k))
        nxt = self._next_context()
        rows = np.repeat(np.arange(K**k), K)
        np.add.at(M, (rows, nxt.ravel()), self.table.ravel())
        # pi M = pi: the eigenvector of M^T for eigenvalue 1 (rows of M sum to one)
        vals, vecs = np.linalg.eig(M.T)
        i = int(np.argmin(np.abs(vals - 1)))
        pi = np.abs(np.real(vecs[:, i]))
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """``H = sum_s pi(s) H(P(. | s))`` in nats per symbol."""
        row_h = -(self.table * np.log(np.where(self.table > 0, self.table, 1))).sum(axis=1)
        return float(self.stationary @ row_h)

    def conditional_entropy(self, n: int) -> float:
        """``H(X_t | X_{t-n}, ..., X_{t-1})`` in nats, exactly, for ``0 <= n``.

        For ``n >= order`` it equals the entropy rate (more history does not help an order-k
        source); ``n = 0`` is the entropy of the stationary single-symbol marginal.

        Raises:
            ValueError: if ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"MarkovSource.conditional_entropy: n must be >= 0, got {n}")
        K, k = self.n_symbols, self.order
        if n >= k:
            return self.entropy_rate()
        joint = (self.stationary[:, None] * self.table).reshape((K,) * (k + 1))
        # keep the last n context symbols and the next symbol: sum out the k - n oldest
        marg = joint.sum(axis=tuple(range(k - n)))  # (K,)*(n+1)
        ctx = marg.sum(axis=-1)
        return _entropy(marg.ravel()) - _entropy(ctx.ravel())

    def sample(self, length: int, seed: int = 0) -> np.ndarray:
        """A sequence of ``length`` symbols (int64), starting from a context drawn from the
        stationary distribution (so the whole sequence is stationary).

        Raises:
            ValueError: if ``length < 1``.
        """
        if length < 1:
            raise ValueError(f"MarkovSource.sample: length must be positive, got {length}")
        K, k = self.n_symbols, self.order
        rng = np.random.default_rng(seed)
        s = int(rng.choice(K**k, p=self.stationary))
        cdf = np.cumsum(self.table, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random(length)
        out = np.empty(length, dtype=np.int64)
        mod = K ** (k - 1)
        for t in range(length):
            x = int(np.searchsorted(cdf[s], u[t], side="right"))
            out[t] = x
            s = (s % mod) * K + x
        return out

    def log_prob(self, seq) -> np.ndarray:
        """``log P(x_t | previous k symbols)`` for ``t = k..len(seq)-1`` (nats), shape
        ``(len(seq) - k,)``: the per-symbol loss of the true model."""
        seq = np.asarray(seq, dtype=np.int64)
        K, k = self.n_symbols, self.order
        win = np.lib.stride_tricks.sliding_window_view(seq[:-1], k)
        ctx = win @ (K ** np.arange(k - 1, -1, -1))
        return np.log(self.table[ctx, seq[k:]])

    def __repr__(self) -> str:
        return (f"MarkovSource(n_symbols={self.n_symbols}, order={self.order}, "
                f"concentration={self.concentration}, seed={self.seed})")
