"""Count-based n-gram models (ibcore.ngram) and the arithmetic coder (ibcore.coding)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ibcore.coding import arithmetic_decode, arithmetic_encode, ideal_code_length, quantize
from ibcore.data import MarkovSource
from ibcore.ngram import NGramLM

# "a b a b c a": bigrams ab ab ba bc ca
TINY = np.array([0, 1, 0, 1, 2, 0])


def test_kneser_ney_bigram_by_hand():
    m = NGramLM(3, 1, discount=0.5).fit(TINY)
    # order 0 uses continuation counts: a follows {b, c}, b follows {a}, c follows {b};
    # 4 bigram types, 3 symbols seen: P0 = (N1+(.w) - 0.5) / 4 + 0.5 * 3/4 * 1/3
    p0 = np.array([1.5 / 4 + 0.125, 0.5 / 4 + 0.125, 0.5 / 4 + 0.125])  # .5 .25 .25
    # context a: c(ab) = 2, c(a) = 2, one type
    pa = np.array([0.25 * p0[0], 1.5 / 2 + 0.25 * p0[1], 0.25 * p0[2]])
    # context b: c(ba) = c(bc) = 1, two types
    pb = np.array([0.5 / 2 + 0.5 * p0[0], 0.5 * p0[1], 0.5 / 2 + 0.5 * p0[2]])
    # context c: c(ca) = 1
    pc = np.array([0.5 + 0.5 * p0[0], 0.5 * p0[1], 0.5 * p0[2]])
    P = m.predict_proba(np.array([[0], [1], [2]]))
    np.testing.assert_allclose(P, np.stack([pa, pb, pc]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(P[0], [0.125, 0.8125, 0.0625], atol=1e-15)


def test_add_k_bigram_by_hand():
    m = NGramLM(3, 1, smoothing="add-k", k=1.0).fit(TINY)
    P = m.predict_proba(np.array([[0], [1], [2]]))
    # (c(hw) + 1) / (c(h) + 3): c(ab) = 2 of 2; c(ba) = c(bc) = 1 of 2; c(ca) = 1 of 1
    expected = [[1 / 5, 3 / 5, 1 / 5], [2 / 5, 1 / 5, 2 / 5], [2 / 4, 1 / 4, 1 / 4]]
    np.testing.assert_allclose(P, expected, atol=1e-15)


def test_unigram_is_discounted_frequency():
    m = NGramLM(3, 0, discount=0.5).fit(TINY)  # counts 3, 2, 1 of 6
    P = m.predict_proba(np.zeros((1, 0), dtype=np.int64))[0]
    np.testing.assert_allclose(P, [2.5 / 6 + 1 / 12, 1.5 / 6 + 1 / 12, 0.5 / 6 + 1 / 12])


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
@pytest.mark.parametrize("N", [0, 1, 2, 4])
def test_every_conditional_sums_to_one(smoothing, N):
    rng = np.random.default_rng(N)
    x = MarkovSource(6, 2, 0.3, seed=1).sample(3000, seed=2)
    m = NGramLM(6, N, smoothing=smoothing, k=0.1).fit(x)
    seen = np.lib.stride_tricks.sliding_window_view(x, N)[:50] if N else \
        np.zeros((50, 0), dtype=np.int64)
    ctx = np.concatenate([seen, rng.integers(0, 6, (50, N))])  # seen and (mostly) unseen
    P = m.predict_proba(ctx)
    assert P.shape == (100, 6) and (P > 0).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # log_prob reads the same numbers
    lp = m.log_prob(x[:200])
    win = np.lib.stride_tricks.sliding_window_view(x[:199], N) if N else \
        np.zeros((200, 0), dtype=np.int64)
    np.testing.assert_allclose(lp, np.log(m.predict_proba(win)[np.arange(len(lp)),
                                                             x[N:200]]), atol=1e-12)


def test_kneser_ney_approaches_the_entropy_rate():
    src = MarkovSource(4, 2, 0.5, seed=0)
    m = NGramLM(4, 2).fit(src.sample(100_000, seed=1))
    ce = m.cross_entropy(src.sample(20_000, seed=2))
    assert abs(ce - src.entropy_rate()) < 0.02


def test_ngram_errors():
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(3, 1, smoothing="witten-bell")
    with pytest.raises(ValueError, match="vocab_size"):
        NGramLM(1, 1)
    with pytest.raises(ValueError, match="context_size"):
        NGramLM(3, -1)
    with pytest.raises(TypeError, match="integers"):
        NGramLM(3.5, 1)
    with pytest.raises(ValueError, match="int64"):
        NGramLM(100, 10)
    with pytest.raises(ValueError, match="k must be positive"):
        NGramLM(3, 1, smoothing="add-k", k=0)
    with pytest.raises(ValueError, match="discount"):
        NGramLM(3, 1, discount=1.5)
    m = NGramLM(3, 2)
    with pytest.raises(ValueError, match="fit"):
        m.predict_proba(np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="at least 3 ids"):
        m.fit(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        m.fit(np.array([0, 1, 3]))
    m.fit(TINY)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        m.predict_proba(np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="1-D integer"):
        m.log_prob(np.zeros(5))


def test_quantize_totals_and_floors():
    f = quantize(np.array([1.0, 0.0, 0.0]), 8)
    assert f.sum() == 256 and f.min() == 1 and f[0] == 254
    p = np.random.default_rng(0).dirichlet(np.full(90, 0.1))
    f = quantize(p)
    assert f.sum() == 2**16 and f.min() >= 1
    np.testing.assert_array_equal(f, quantize(p.copy()))


def _markov_model(src):
    K, k = src.n_symbols, src.order
    weights = K ** np.arange(k - 1, -1, -1)

    def next_probs(history):
        if len(history) < k:
            return np.full(K, 1.0 / K)
        return src.table[int(history[-k:] @ weights)]
    return next_probs


@pytest.mark.parametrize("precision", [32, 24])
def test_round_trip_and_code_length(precision):
    src = MarkovSource(5, 2, 0.4, seed=3)
    x = src.sample(4000, seed=4)
    model = _markov_model(src)
    data, n_bits, tables = arithmetic_encode(x, model, precision=precision,
                                             return_tables=True)
    assert len(data) == math.ceil(n_bits / 8)
    np.testing.assert_array_equal(arithmetic_decode(data, len(x), model,
                                                    precision=precision), x)
    ideal = ideal_code_length(tables, x)
    # two bits of termination, and the interval's rounding: 2**(16 + 2 - precision) per symbol
    assert ideal <= n_bits <= ideal + 2 + len(x) * 2.0 ** (18 - precision)
    # the quantised tables cost little against the model's own probabilities
    exact = float(-np.log2([model(x[:t])[x[t]] for t in range(len(x))]).sum())
    assert ideal - exact < 1e-3 * exact


def test_round_trip_edge_cases():
    certain = lambda h: np.array([1.0, 0.0])  # noqa: E731
    x = np.zeros(500, dtype=np.int64)
    data, n_bits = arithmetic_encode(x, certain)
    assert n_bits < 10
    np.testing.assert_array_equal(arithmetic_decode(data, 500, certain), x)
    # a symbol the model calls impossible still codes (frequency 1), at about 16 bits
    x[250] = 1
    data, n_bits = arithmetic_encode(x, certain)
    assert 15 <= n_bits <= 25
    np.testing.assert_array_equal(arithmetic_decode(data, 500, certain), x)
    data, n_bits = arithmetic_encode(np.zeros(0, dtype=np.int64), certain)
    assert arithmetic_decode(data, 0, certain).shape == (0,)


def test_coding_errors():
    uniform = lambda h: np.full(4, 0.25)  # noqa: E731
    with pytest.raises(ValueError, match="1-D integer"):
        arithmetic_encode(np.zeros(3), uniform)
    with pytest.raises(ValueError, match="outside"):
        arithmetic_encode(np.array([0, 4]), uniform)
    with pytest.raises(ValueError, match="sum to 1"):
        arithmetic_encode(np.array([0]), lambda h: np.full(4, 0.3))
    with pytest.raises(ValueError, match="non-negative"):
        quantize(np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match="1-D"):
        quantize(np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="do not fit"):
        quantize(np.full(300, 1 / 300), 8)
    with pytest.raises(ValueError, match="precision"):
        arithmetic_encode(np.array([0]), uniform, precision=70)
    with pytest.raises(ValueError, match="freq_bits"):
        arithmetic_decode(b"", 1, uniform, precision=20, freq_bits=19)
    with pytest.raises(TypeError, match="bytes"):
        arithmetic_decode("abc", 1, uniform)
    with pytest.raises(ValueError, match="n_symbols"):
        arithmetic_decode(b"", -1, uniform)
    changing = iter([np.full(4, 0.25), np.full(3, 1 / 3)])
    with pytest.raises(ValueError, match="expected 4"):
        arithmetic_encode(np.array([0, 1]), lambda h: next(changing))
