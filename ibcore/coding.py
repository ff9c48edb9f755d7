"""Arithmetic coding driven by a model's next-symbol probabilities.

Shannon (1948) showed that a source can be coded in about ``-log2 p(x)`` bits per message and no
fewer on average; an arithmetic coder achieves it to within a few bits for the whole message. This
is the integer coder of Witten, Neal and Cleary (1987): the state is an interval
``[low, high]`` of ``precision``-bit integers; each symbol narrows it to the sub-interval its
frequency owns, and whenever the interval lies in one half of the range the common leading bit is
sent and the interval doubled. When it straddles the middle, narrowly, the coder doubles it about
the middle and remembers a *pending* bit that the next decision settles (the E3 scaling).

The model supplies, before each symbol, a probability vector over the ``V`` symbols.
`quantize` turns it into integer frequencies with a fixed total ``2 ** freq_bits`` and every
frequency at least 1 (so no symbol is ever impossible to code). Encoder and decoder call the same
``next_probs`` on the same history, so they build bit-identical tables. The code length is then
``-sum_t log2(f_t(x_t) / 2**freq_bits)`` bits up to two bits of termination and the rounding of
the interval, at most about ``2 ** (freq_bits + 2 - precision)`` bits per symbol.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["quantize", "arithmetic_encode", "arithmetic_decode", "ideal_code_length"]


def quantize(probs, freq_bits: int = 16) -> np.ndarray:
    """Integer frequencies for one probability vector: ``probs (V,)`` -> int64 ``(V,)``, each
    at least 1, summing to ``2 ** freq_bits``.

    ``f_v = 1 + floor(p_v (2**freq_bits - V))``; what the floors leave goes to the most probable
    symbol. Deterministic: equal inputs give equal tables.

    Raises:
        ValueError: if ``probs`` is not 1-D, has a negative or non-finite entry, does not sum to
            1 within 1e-6, or has more symbols than ``2 ** freq_bits`` can give frequency 1.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"quantize: probs must be 1-D (V,), got shape {p.shape}")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError("quantize: probs must be finite and non-negative")
    if abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"quantize: probs must sum to 1, got {p.sum():.8f}")
    total = 1 << freq_bits
    V = len(p)
    if V >= total:
        raise ValueError(f"quantize: {V} symbols do not fit a total of 2**{freq_bits}")
    f = 1 + np.floor(p * (total - V)).astype(np.int64)
    f[int(np.argmax(p))] += total - int(f.sum())
    return f


def ideal_code_length(freqs: np.ndarray, symbols, freq_bits: int = 16) -> float:
    """``-sum_t log2(freqs[t, x_t] / 2**freq_bits)``: the code length in bits that the
    quantised tables ``freqs (n, V)`` allow for ``symbols (n,)``."""
    f = np.asarray(freqs)[np.arange(len(symbols)), np.asarray(symbols)]
    return float(-(np.log2(f) - freq_bits).sum())


def _check_args(precision: int, freq_bits: int, what: str):
    if not 16 <= precision <= 62:
        raise ValueError(f"{what}: precision must be in [16, 62] bits, got {precision}")
    if not 1 <= freq_bits <= precision - 2:
        raise ValueError(f"{what}: freq_bits must be in [1, precision - 2 = {precision - 2}], "
                         f"got {freq_bits}")


def _table(next_probs, history, freq_bits, V, what) -> np.ndarray:
    f = quantize(next_probs(history), freq_bits)
    if V is not None and len(f) != V:
        raise ValueError(f"{what}: next_probs returned {len(f)} probabilities, expected {V}")
    return f


def arithmetic_encode(symbols, next_probs: Callable[[np.ndarray], np.ndarray], *,
                      precision: int = 32, freq_bits: int = 16,
                      return_tables: bool = False):
    """Encode ``symbols`` with the model ``next_probs``.

    Args:
        symbols: 1-D integer ids ``(n,)``.
        next_probs: ``next_probs(history) -> (V,)`` probabilities of the next symbol, given the
            ids coded so far (``history = symbols[:t]``, int64). Called ``n`` times, in order.
        precision: bits of the coder's interval (default 32).
        freq_bits: the frequency tables sum to ``2 ** freq_bits`` (default 16).
        return_tables: also return the ``(n, V)`` frequency tables used.

    Returns:
        ``(data, n_bits)``: the code as bytes (zero-padded to whole bytes) and its length in
        bits, or ``(data, n_bits, tables)``.

    Raises:
        ValueError: for symbols that are not 1-D integers or fall outside the model's ``V``,
            for bad ``precision``/``freq_bits``, or for probabilities `quantize` refuses.
    """
    _check_args(precision, freq_bits, "arithmetic_encode")
    x = np.asarray(symbols)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"arithmetic_encode: symbols must be a 1-D integer array, got shape "
                         f"{x.shape} and dtype {x.dtype}")
    x = x.astype(np.int64)
    full, half = (1 << precision) - 1, 1 << (precision - 1)
    quarter = 1 << (precision - 2)
    low, high, pending = 0, full, 0
    bits: list[int] = []
    tables = []
    V = None

    def emit(bit: int):
        nonlocal pending
        bits.append(bit)
        bits.extend([1 - bit] * pending)
        pending = 0

    for t in range(len(x)):
        f = _table(next_probs, x[:t], freq_bits, V, "arithmetic_encode")
        V = len(f)
        s = int(x[t])
        if not 0 <= s < V:
            raise ValueError(f"arithmetic_encode: symbol {s} at position {t} is outside "
                             f"[0, {V})")
        if return_tables:
            tables.append(f)
        cum_lo = int(f[:s].sum())
        cum_hi = cum_lo + int(f[s])
        rng = high - low + 1
        high = low + (rng * cum_hi >> freq_bits) - 1
        low = low + (rng * cum_lo >> freq_bits)
        while True:
            if high < half:
                emit(0)
            elif low >= half:
                emit(1)
                low, high = low - half, high - half
            elif low >= quarter and high < half + quarter:
                pending += 1
                low, high = low - quarter, high - quarter
            else:
                break
            low, high = 2 * low, 2 * high + 1
    # termination: two more bits pick a point inside [low, high]
    pending += 1
    emit(0 if low < quarter else 1)
    n_bits = len(bits)
    data = np.packbits(np.array(bits, dtype=np.uint8)).tobytes() if bits else b""
    if return_tables:
        return data, n_bits, np.array(tables).reshape(len(x), -1)
    return data, n_bits


def arithmetic_decode(data: bytes, n_symbols: int,
                      next_probs: Callable[[np.ndarray], np.ndarray], *,
                      precision: int = 32, freq_bits: int = 16) -> np.ndarray:
    """Decode ``n_symbols`` ids from ``data`` written by `arithmetic_encode` with the same
    model, ``precision`` and ``freq_bits``; ``next_probs`` sees the ids decoded so far.

    Returns:
        int64 ``(n_symbols,)``.

    Raises:
        TypeError: if ``data`` is not bytes.
        ValueError: for a negative ``n_symbols`` or bad ``precision``/``freq_bits``.
    """
    _check_args(precision, freq_bits, "arithmetic_decode")
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"arithmetic_decode: data must be bytes, got {type(data).__name__}")
    if n_symbols < 0:
        raise ValueError(f"arithmetic_decode: n_symbols must be >= 0, got {n_symbols}")
    stream = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).tolist()
    full, half = (1 << precision) - 1, 1 << (precision - 1)
    quarter = 1 << (precision - 2)
    pos = 0

    def next_bit() -> int:
        nonlocal pos
        b = stream[pos] if pos < len(stream) else 0  # past the end: zeros
        pos += 1
        return b

    value = 0
    for _ in range(precision):
        value = 2 * value + next_bit()
    low, high = 0, full
    out = np.empty(n_symbols, dtype=np.int64)
    for t in range(n_symbols):
        f = _table(next_probs, out[:t], freq_bits, None, "arithmetic_decode")
        cum = np.concatenate([[0], np.cumsum(f)])
        rng = high - low + 1
        target = ((value - low + 1) << freq_bits) - 1
        target //= rng
        s = int(np.searchsorted(cum, target, side="right")) - 1
        out[t] = s
        high = low + (rng * int(cum[s + 1]) >> freq_bits) - 1
        low = low + (rng * int(cum[s]) >> freq_bits)
        while True:
            if high < half:
                pass
            elif low >= half:
                low, high, value = low - half, high - half, value - half
            elif low >= quarter and high < half + quarter:
                low, high, value = low - quarter, high - quarter, value - quarter
            else:
                break
            low, high = 2 * low, 2 * high + 1
            value = 2 * value + next_bit()
    return out
