"""The pointer task and its k-hop variant (Posts 6 and 7): synthetic, seeded, truth known exactly.

**Pointer task.** An input is ``M`` memory bits followed by ``log2(M)`` address bits (most
significant first); the label is the memory bit at the address. With ``M = 8`` this is the
11-input multiplexer. All ``2^M * M`` inputs are distinct, so the test set is a held-out set of
inputs never seen in training.

**k-hop task.** ``M`` memory cells each hold a pointer (an integer in ``[0, M)``); given a start
address ``a``, follow ``k`` pointers: ``v_1 = mem[a]``, ``v_{i+1} = mem[v_i]``; the label is
``v_k`` (``M`` classes). ``k = 1`` is a lookup.

**Tokens for a transformer.** Each memory cell is one token, the address is one token (its bits
read as an integer, with its own ids so it is not confused with a memory value), and a final
``READ`` token is the readout position where the answer is classified:

- pointer: ids ``0, 1`` memory bits, ``2 + a`` the address ``a``, ``2 + M`` READ;
  sequence length ``M + 2``, vocabulary ``M + 3``;
- k-hop: ids ``0 .. M-1`` memory values, ``M + a`` the address, ``2M`` READ; vocabulary
  ``2M + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PointerTask", "pointer", "pointer_khop", "pointer_tokens"]


@dataclass(frozen=True)
class PointerTask:
    """A train/test split of a pointer task.

    Attributes:
        X_train, X_test: raw inputs. Pointer: ``(n, M + log2 M)`` bits (int64 0/1), memory then
            address. k-hop: ``(n, M + 1)`` integers, memory values then the address.
        y_train, y_test: ``(n,)`` int64 labels.
        tokens_train, tokens_test: ``(n, M + 2)`` int64 token ids (see the module docstring).
        address_train, address_test: ``(n,)`` the address as an integer in ``[0, M)``.
        M, k: memory size and number of hops (1 for the pointer task).
        vocab_size, num_classes: for the transformer and its head.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    tokens_train: np.ndarray
    tokens_test: np.ndarray
    address_train: np.ndarray
    address_test: np.ndarray
    M: int
    k: int
    vocab_size: int
    num_classes: int

    @property
    def seq_len(self) -> int:
        return self.M + 2

    @property
    def readout(self) -> int:
        """Position of the READ token (the last)."""
        return self.M + 1

    @property
    def address_position(self) -> int:
        return self.M


def _check_M(op: str, M: int) -> int:
    M = int(M)
    if M < 2 or M & (M - 1):
        raise ValueError(f"{op}: M must be a power of two >= 2, got {M}")
    return M


def pointer_tokens(X: np.ndarray, M: int) -> np.ndarray:
    """Token ids ``(n, M + 2)`` for pointer-task inputs ``X (n, M + log2 M)`` of bits.

    Raises:
        ValueError: if ``X`` does not have ``M + log2 M`` columns of 0/1 values.
    """
    M = _check_M("pointer_tokens", M)
    b = M.bit_length() - 1
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != M + b or not np.isin(X, (0, 1)).all():
        raise ValueError(f"pointer_tokens: X must be (n, {M + b}) bits for M={M}, got shape "
                         f"{X.shape}")
    addr = X[:, M:] @ (1 << np.arange(b - 1, -1, -1))
    n = len(X)
    return np.concatenate([X[:, :M], (2 + addr)[:, None], np.full((n, 1), 2 + M)],
                          axis=1).astype(np.int64)


def pointer(M: int = 8, n_test: int = 512, n_train: int | None = None, seed: int = 0
            ) -> PointerTask:
    """The pointer task: ``M`` memory bits, ``log2(M)`` address bits, label = the addressed bit.

    Inputs are distinct and drawn without replacement (all ``2^M * M`` of them are enumerated
    when there are at most 2^20; otherwise drawn at random and deduplicated); the first
    ``n_test`` of a seeded permutation form the test set and the next ``n_train`` (default: all
    the rest) the training set.

    Raises:
        ValueError: if ``M`` is not a power of two, or there are not enough distinct inputs.
    """
    M = _check_M("pointer", M)
    b = M.bit_length() - 1
    total = (2**M) * M
    n_tr = total - n_test if n_train is None else int(n_train)
    if n_test < 1 or n_tr < 1 or n_test + n_tr > total:
        raise ValueError(f"pointer: need 1 <= n_test, n_train and n_test + n_train <= {total} "
                         f"(distinct inputs for M={M}), got n_test={n_test}, n_train={n_tr}")
    rng = np.random.default_rng(seed)
    if total <= 2**20:
        codes = rng.permutation(total)[: n_test + n_tr]
    else:
        codes = np.unique(rng.integers(0, total, 2 * (n_test + n_tr)))
        codes = rng.permutation(codes)[: n_test + n_tr]
        if len(codes) < n_test + n_tr:  # pragma: no cover - astronomically unlikely
            raise ValueError("pointer: could not draw enough distinct inputs")
    mem_code, addr = codes // M, codes % M
    mem = (mem_code[:, None] >> np.arange(M)[None, :]) & 1
    addr_bits = (addr[:, None] >> np.arange(b - 1, -1, -1)[None, :]) & 1
    X = np.concatenate([mem, addr_bits], axis=1).astype(np.int64)
    y = mem[np.arange(len(mem)), addr].astype(np.int64)
    tok = pointer_tokens(X, M)
    te, tr = slice(0, n_test), slice(n_test, n_test + n_tr)
    return PointerTask(X[tr], y[tr], X[te], y[te], tok[tr], tok[te], addr[tr].astype(np.int64),
                       addr[te].astype(np.int64), M, 1, M + 3, 2)


def pointer_khop(M: int = 8, k: int = 2, n_train: int = 4000, n_test: int = 1000, seed: int = 0
                 ) -> PointerTask:
    """The k-hop task: follow ``k`` pointers from the start address; label = the cell reached.

    Memory values and addresses are uniform and independent; examples are drawn i.i.d. (with
    ``8^8 * 8`` possible inputs for ``M = 8`` the chance of a train/test duplicate is negligible,
    and duplicates of training inputs are removed from the test set anyway).

    Raises:
        ValueError: if ``M`` is not a power of two, ``k < 1``, or a size is not positive.
    """
    M = _check_M("pointer_khop", M)
    if k < 1:
        raise ValueError(f"pointer_khop: k must be at least 1, got {k}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"pointer_khop: n_train and n_test must be positive, got {n_train}, "
                         f"{n_test}")
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    mem = rng.integers(0, M, (n, M))
    addr = rng.integers(0, M, n)
    v = addr
    rows = np.arange(n)
    for _ in range(k):
        v = mem[rows, v]
    X = np.concatenate([mem, addr[:, None]], axis=1).astype(np.int64)
    tok = np.concatenate([mem, (M + addr)[:, None], np.full((n, 1), 2 * M)], axis=1)
    tok = tok.astype(np.int64)
    tr = np.arange(n_train)
    seen = {r.tobytes() for r in X[tr]}
    te = np.array([i for i in range(n_train, n) if X[i].tobytes() not in seen], dtype=np.int64)
    return PointerTask(X[tr], v[tr].astype(np.int64), X[te], v[te].astype(np.int64), tok[tr],
                       tok[te], addr[tr].astype(np.int64), addr[te].astype(np.int64), M, k,
                       2 * M + 1, M)
