"""Probes of Post 7 on small models: shapes, invariants that hold for any weights, errors."""

from __future__ import annotations

import numpy as np
import pytest

import ibcore as ib
from ibcore import nn, probes


@pytest.fixture(scope="module")
def setup():
    task = ib.data.pointer(8, seed=0)
    m = nn.ReadoutTransformer(task.vocab_size, task.seq_len, d_model=8, num_heads=2,
                              num_layers=2, d_ff=8, rng=np.random.default_rng(0))
    return m, task.tokens_test[:40], task.y_test[:40], task.address_test[:40]


def test_attention_maps_and_rollout(setup):
    m, tok, _, _ = setup
    maps = probes.attention_maps(m, tok)
    assert maps.shape == (2, 40, 2, 10, 10)
    np.testing.assert_allclose(maps.sum(-1), 1, rtol=1e-5)
    R = probes.attention_rollout(maps)
    assert R.shape == (40, 10, 10)
    np.testing.assert_allclose(R.sum(-1), 1, rtol=1e-5)  # a product of stochastic matrices
    A = maps.mean(2)
    np.testing.assert_allclose(probes.attention_rollout(maps, residual=False), A[1] @ A[0],
                               rtol=1e-5)


def test_uniform_ablation_and_flip_test(setup):
    m, tok, y, a = setup
    acc = probes.uniform_attention_accuracy(m, tok, y, 1)
    assert 0 <= acc <= 1
    with pytest.raises(ValueError, match="layer must be in"):
        probes.uniform_attention_accuracy(m, tok, y, 3)
    same = probes.flip_test(m, tok, a, lambda t: t)  # replacing a token by itself changes nothing
    assert same.shape == (40,) and not same.any()


def test_value_weighted_attention_equals_weight_times_norm(setup):
    m, tok, _, _ = setup
    vw = probes.value_weighted_attention(m, tok, layer=1)
    assert vw.shape == (40, 10, 10) and np.all(vw >= 0)


def test_grad_times_input_matches_finite_differences_along_the_input():
    rng = np.random.default_rng(1)
    m = nn.ReadoutTransformer(5, 4, d_model=4, num_heads=1, num_layers=1, d_ff=4, rng=rng,
                              dtype=np.float64)
    tok = rng.integers(0, 5, (3, 4))
    gi = probes.grad_times_input(m, tok, target=np.zeros(3, dtype=int))
    x0 = m.embed(tok).data
    j, eps = 2, 1e-6

    def score(x):
        with ib.no_grad():
            lg = m.run(x0=ib.Tensor(x))["logits"].data
        return lg[:, 0] - lg.mean(1)

    up, down = x0.copy(), x0.copy()
    up[:, j] *= 1 + eps
    down[:, j] *= 1 - eps
    # d/dt score(x with position j scaled by t) at t = 1 is x_j . grad_j
    np.testing.assert_allclose(gi[:, j], (score(up) - score(down)) / (2 * eps), rtol=1e-5,
                               atol=1e-8)


def test_causal_trace_invariants(setup):
    m, tok, _, a = setup
    corrupt = tok.copy()
    corrupt[np.arange(len(a)), a] = 1 - corrupt[np.arange(len(a)), a]
    out = probes.causal_trace(m, tok, corrupt)
    rec = out["recovered"]
    assert rec.shape == (3, 10)
    np.testing.assert_allclose(rec[-1, -1], 1, rtol=1e-5)  # restoring READ's final state
    # positions that are identical in clean and corrupt, at the embedding: nothing to restore
    same = [p for p in range(10) if np.array_equal(tok[:, p], corrupt[:, p])]
    np.testing.assert_allclose(rec[0, same], 0, atol=1e-5)
    with pytest.raises(ValueError, match="nothing to recover"):
        probes.causal_trace(m, tok, tok)
    with pytest.raises(ValueError, match="equal"):
        probes.causal_trace(m, tok, tok[:3])
