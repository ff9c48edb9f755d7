"""Embedding, recurrent layers, language models, text/Markov/recall data, and the gradient probe.

Parity with torch uses the same float64 weights and a random upstream gradient (never ones)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import F, nn

RNG = np.random.default_rng(20240)


def _copy_to_torch(ib_module, torch_module):
    with torch.no_grad():
        for name, p in ib_module.named_parameters():
            getattr(torch_module, name).copy_(torch.from_numpy(p.data))


def _grads_agree(ib_module, torch_module, rtol=1e-10, atol=1e-11):
    for name, p in ib_module.named_parameters():
        tg = getattr(torch_module, name).grad.numpy()
        np.testing.assert_allclose(p.grad, tg, rtol=rtol, atol=atol, err_msg=name)


def _twins(name, I, H, **kwargs):
    """ibcore's and torch's ``nn.<name>(I, H)`` sequence layer (float64, batch first), with the
    same weights."""
    layer = getattr(nn, name)(I, H, **kwargs).double()
    tlayer = getattr(torch.nn, name)(I, H, batch_first=True, **kwargs).double()
    _copy_to_torch(layer, tlayer)
    return layer, tlayer


def _layer_matches_torch(layer, tlayer, B, T, I, H):
    """An RNN-like layer (output and final hidden state, from a given h0) against torch's: same
    weights, forward and every gradient (input, h0, parameters) under a random upstream one."""
    x = RNG.standard_normal((B, T, I))
    h0 = RNG.standard_normal((1, B, H))
    xi, hi = ib.Tensor(x.copy(), requires_grad=True), ib.Tensor(h0.copy(), requires_grad=True)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out, hn = layer(xi, hi)
    tout, thn = tlayer(xt, ht)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(hn.data, thn.detach().numpy(), rtol=1e-12, atol=1e-13)
    g1, g2 = RNG.standard_normal(out.shape), RNG.standard_normal(hn.shape)
    ((out * ib.Tensor(g1)).sum() + (hn * ib.Tensor(g2)).sum()).backward()
    ((tout * torch.from_numpy(g1)).sum() + (thn * torch.from_numpy(g2)).sum()).backward()
    np.testing.assert_allclose(xi.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(hi.grad, ht.grad.numpy(), rtol=1e-10, atol=1e-11)
    _grads_agree(layer, tlayer)
    return x


def _fused(op, arrays, R, grad=True):
    """``op(x, h0, *weights)`` (a fused sequence op) on fresh leaves, projected onto ``R``."""
    ts = [ib.Tensor(a.copy(), requires_grad=grad) for a in arrays]
    return ts, (op(*ts) * ib.Tensor(R)).sum()


def _unrolled(cell, arrays, R):
    """The same sequence as ``cell`` applied step by step, projected onto ``R``."""
    ts = [ib.Tensor(a.copy(), requires_grad=True) for a in arrays]
    x, h, *w = ts
    hs = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h, *w)
        hs.append(h)
    return ts, (ib.stack(hs, dim=1) * ib.Tensor(R)).sum()


def _fused_equals_unrolled(op, cell, arrays, R):
    """Values and every gradient of the fused op against the unrolled cell; the fused leaves."""
    ts1, l1 = _fused(op, arrays, R)
    l1.backward()
    ts2, l2 = _unrolled(cell, arrays, R)
    l2.backward()
    assert abs(l1.item() - l2.item()) < 1e-12
    for a, b in zip(ts1, ts2, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-11, atol=1e-12)
    return ts1


# --------------------------------------------------------------------------- Embedding
def test_embedding_matches_torch_and_accumulates_repeats():
    emb = nn.Embedding(6, 3).double()
    temb = torch.nn.Embedding(6, 3).double()
    _copy_to_torch(emb, temb)
    ids = np.array([[1, 4, 1], [1, 0, 5]])  # id 1 three times; 2 and 3 never
    out = emb(ids)
    tout = temb(torch.from_numpy(ids))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    g = RNG.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(emb.weight.grad, temb.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(emb.weight.grad[1], g[0, 0] + g[0, 2] + g[1, 0], rtol=1e-12)
    assert not emb.weight.grad[[2, 3]].any()


@pytest.mark.parametrize("bad", [np.array([[0, 6]]), np.array([-1]), np.array([0.5])])
def test_embedding_rejects_bad_ids(bad):
    emb = nn.Embedding(6, 3)
    before = emb.weight.data.copy()
    with pytest.raises(ValueError, match="Embedding"):
        emb(bad)
    np.testing.assert_array_equal(emb.weight.data, before)


def test_embedding_rejects_bad_sizes():
    with pytest.raises(ValueError, match="Embedding: sizes"):
        nn.Embedding(0, 3)


# --------------------------------------------------------------------------- recurrent layers
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_matches_torch(nonlinearity):
    B, T, I, H = 3, 7, 4, 5
    _layer_matches_torch(*_twins("RNN", I, H, nonlinearity=nonlinearity), B, T, I, H)


def test_rnn_cell_and_lstm_cell_match_torch():
    for ib_cls, th_cls in ((nn.RNNCell, torch.nn.RNNCell), (nn.LSTMCell, torch.nn.LSTMCell)):
        cell = ib_cls(3, 4).double()
        tcell = th_cls(3, 4).double()
        _copy_to_torch(cell, tcell)
        x = RNG.standard_normal((5, 3))
        out = cell(x)
        tout = tcell(torch.from_numpy(x))
        outs = out if isinstance(out, tuple) else (out,)
        touts = tout if isinstance(tout, tuple) else (tout,)
        total, ttotal = 0, 0
        for o, to in zip(outs, touts, strict=True):
            np.testing.assert_allclose(o.data, to.detach().numpy(), rtol=1e-12, atol=1e-13)
            g = RNG.standard_normal(o.shape)
            total = total + (o * ib.Tensor(g)).sum()
            ttotal = ttotal + (to * torch.from_numpy(g)).sum()
        total.backward()
        ttotal.backward()
        _grads_agree(cell, tcell)


def test_lstm_matches_torch():
    B, T, I, H = 2, 6, 3, 4
    lstm, tlstm = _twins("LSTM", I, H)
    x = RNG.standard_normal((B, T, I))
    xi = ib.Tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, (hn, cn) = lstm(xi)
    tout, (thn, tcn) = tlstm(xt)
    for a, b in ((out, tout), (hn, thn), (cn, tcn)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-13)
    g1, g2 = RNG.standard_normal(out.shape), RNG.standard_normal(cn.shape)
    ((out * ib.Tensor(g1)).sum() + (cn * ib.Tensor(g2)).sum()).backward()
    ((tout * torch.from_numpy(g1)).sum() + (tcn * torch.from_numpy(g2)).sum()).backward()
    np.testing.assert_allclose(xi.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-11)
    _grads_agree(lstm, tlstm)


def test_gru_and_gru_cell_match_torch():
    """nn.GRU / nn.GRUCell (Chapter 6) against torch's: same float64 weights, forward and every
    gradient to float rounding, with a random upstream gradient and a given h0."""
    B, T, I, H = 3, 7, 4, 5
    gru, tgru = _twins("GRU", I, H)
    x = _layer_matches_torch(gru, tgru, B, T, I, H)
    assert [n for n, _ in gru.named_parameters()] == [n for n, _ in tgru.named_parameters()]
    for name, p in gru.named_parameters():
        assert p.shape == tuple(getattr(tgru, name).shape), name

    cell = nn.GRUCell(I, H).double()
    tcell = torch.nn.GRUCell(I, H).double()
    _copy_to_torch(cell, tcell)
    assert [n for n, _ in cell.named_parameters()] == [n for n, _ in tcell.named_parameters()]
    hx = RNG.standard_normal((B, H))
    o = cell(x[:, 0], hx)
    to = tcell(torch.from_numpy(x[:, 0]), torch.from_numpy(hx))
    np.testing.assert_allclose(o.data, to.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = RNG.standard_normal(o.shape)
    (o * ib.Tensor(g)).sum().backward()
    (to * torch.from_numpy(g)).sum().backward()
    _grads_agree(cell, tcell)


def test_gru_float32_matches_torch_float32():
    """In float32 (the book's default) the GRU agrees with torch's to float32 rounding."""
    gru = nn.GRU(3, 8, rng=np.random.default_rng(3))
    tgru = torch.nn.GRU(3, 8, batch_first=True)
    _copy_to_torch(gru, tgru)
    x = RNG.standard_normal((4, 20, 3)).astype(np.float32)
    out, _ = gru(x)
    tout, _ = tgru(torch.from_numpy(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_gru_sequence_op_equals_unrolled_cells_and_step():
    """The fused BPTT of F.gru against the same GRU cell unrolled step by step (values and every
    gradient), and GRU.step / hidden_grads agree with the fused forward."""
    B, T, I, H = 2, 5, 3, 4
    arrays = [RNG.standard_normal(s) * 0.7 for s in ((B, T, I), (B, H), (3 * H, I), (3 * H, H),
                                                      (3 * H,), (3 * H,))]
    R = RNG.standard_normal((B, T, H))
    _fused_equals_unrolled(F.gru, F.gru_cell, arrays, R)
    gru = nn.GRU(I, H).double()
    _, g = ib.probes.hidden_grads(gru, arrays[0], lambda hs: (hs[-1] * hs[-1]).sum())
    assert g.shape == (T, B, H) and np.abs(g[-1]).max() > 0


def test_rnn_sequence_op_equals_unrolled_cells_and_finite_differences():
    """The fused BPTT of F.rnn against (a) the same cell unrolled step by step, and (b) float64
    central differences of a random projection of every output."""
    B, T, I, H = 2, 4, 3, 3
    arrays = [RNG.standard_normal(s) * 0.7 for s in ((B, T, I), (B, H), (H, I), (H, H), (H,),
                                                      (H,))]
    R = RNG.standard_normal((B, T, H))
    ts1 = _fused_equals_unrolled(F.rnn, F.rnn_cell, arrays, R)
    eps = 1e-6
    for i, arr in enumerate(arrays):
        num = np.zeros_like(arr)
        for j in range(arr.size):
            flat = arr.reshape(-1)
            old = flat[j]
            flat[j] = old + eps
            up = _fused(F.rnn, arrays, R, grad=False)[1].item()
            flat[j] = old - eps
            down = _fused(F.rnn, arrays, R, grad=False)[1].item()
            flat[j] = old
            num.reshape(-1)[j] = (up - down) / (2 * eps)
        np.testing.assert_allclose(ts1[i].grad, num, rtol=1e-6, atol=1e-8)


def test_recurrent_errors():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="batch_first"):
        nn.RNN(3, 4, batch_first=False)
    with pytest.raises(ValueError, match="sizes"):
        nn.LSTMCell(0, 4)
    with pytest.raises(ValueError, match="CharRNN: cell"):
        nn.CharRNN(5, 3, 4, cell="transformer")
    rnn = nn.RNN(3, 4)
    # issue 10: the message names the layer and the whole input, not one time step's shape
    with pytest.raises(ValueError, match=r"RNN: input must have shape \(batch, seq, 3\), got "
                                         r"\(2, 5, 2\)"):
        rnn(np.zeros((2, 5, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="RNN: input"):
        rnn(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="hidden state"):
        F.rnn_cell(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((4, 3)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="weight_hh"):
        F.lstm_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((16, 3)),
                    np.zeros((4, 4)))
    with pytest.raises(ValueError, match="cell state"):
        F.lstm_cell(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((16, 3)),
                    np.zeros((16, 4)))


def test_torch_parameter_names():
    assert [n for n, _ in nn.RNN(2, 3).named_parameters()] == [
        n for n, _ in torch.nn.RNN(2, 3).named_parameters()]
    assert [n for n, _ in nn.LSTMCell(2, 3).named_parameters()] == [
        n for n, _ in torch.nn.LSTMCell(2, 3).named_parameters()]


# --------------------------------------------------------------------------- language models
def test_neural_lm_shapes_and_concatenation_order():
    ib.manual_seed(0)
    lm = nn.NeuralLM(vocab_size=7, context_size=3, embedding_dim=2, hidden_size=5).double()
    ids = np.array([[1, 2, 3], [3, 2, 1]])
    logits = lm(ids)
    assert logits.shape == (2, 7)
    # the head is position-specific: reversing the window changes the output
    assert not np.allclose(logits.data[0], logits.data[1])
    # by hand: b + U tanh(d + H [C[1]; C[2]; C[3]])
    C = lm.embedding.weight.data
    x = np.concatenate([C[1], C[2], C[3]])
    h = np.tanh(lm.hidden.weight.data @ x + lm.hidden.bias.data)
    np.testing.assert_allclose(logits.data[0], lm.output.weight.data @ h + lm.output.bias.data)
    with pytest.raises(ValueError, match=r"NeuralLM: input must have shape \(batch, 3\)"):
        lm(np.array([[1, 2]]))


def test_sampling_is_seeded_and_temperature_sharpens():
    ib.manual_seed(0)
    lm = nn.NeuralLM(5, 2, 3, 8)
    with ib.no_grad():  # make one continuation dominant
        lm.output.bias.data[:] = [3.0, 0, 0, 0, 0]
    a = nn.sample(lm, [0, 1], 200, temperature=1.0, rng=np.random.default_rng(1))
    b = nn.sample(lm, [0, 1], 200, temperature=1.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    cold = nn.sample(lm, [0, 1], 400, temperature=0.2, rng=np.random.default_rng(2))
    hot = nn.sample(lm, [0, 1], 400, temperature=5.0, rng=np.random.default_rng(2))
    assert np.mean(cold == 0) > np.mean(a == 0) > np.mean(hot == 0)
    rnn_lm = nn.CharRNN(5, 3, 6)
    s = nn.sample(rnn_lm, [1, 2], 10, rng=np.random.default_rng(0))
    assert s.shape == (10,) and s.dtype == np.int64 and s.max() < 5
    with pytest.raises(ValueError, match="temperature"):
        nn.sample(lm, [0, 1], 5, temperature=0)
    with pytest.raises(ValueError, match="window"):
        nn.sample(lm, [0], 5)
    with pytest.raises(TypeError, match="sample"):
        nn.sample(nn.Linear(2, 2), [0], 5)


def test_char_rnn_step_matches_forward():
    ib.manual_seed(1)
    for cell in ("rnn", "lstm"):
        m = nn.CharRNN(6, 3, 4, cell=cell).double()
        ids = np.array([[1, 5, 2, 0]])
        with ib.no_grad():
            full = m(ids).data[0]
            state = m.init_state(1)
            steps = []
            for t in ids[0]:
                logits, state = m.step(np.array([t]), state)
                steps.append(logits.data[0])
        np.testing.assert_allclose(full, np.array(steps), rtol=1e-12)


# --------------------------------------------------------------------------- data
def test_char_corpus_split_and_vocab():
    c = ib.data.char_corpus(max_chars=5000, valid_fraction=0.2)
    assert len(c.train) + len(c.valid) == 5000 and len(c.valid) == 1000
    assert c.vocab.decode(np.concatenate([c.train, c.valid])) == c.text
    np.testing.assert_array_equal(c.vocab.encode(c.text[:50]), c.train[:50])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        c.vocab.encode("\x00")
    with pytest.raises(ValueError, match="decode"):
        c.vocab.decode([len(c.vocab)])
    with pytest.raises(ValueError, match="valid_fraction"):
        ib.data.char_corpus(valid_fraction=1.0)
    X, y = ib.data.context_windows(c.train, 3)
    assert X.shape == (len(c.train) - 3, 3)
    np.testing.assert_array_equal(X[10], c.train[10:13])
    assert y[10] == c.train[13]
    xb, yb = ib.data.sequence_batch(c.train, 4, 8, np.random.default_rng(0))
    assert xb.shape == yb.shape == (4, 8)
    np.testing.assert_array_equal(xb[:, 1:], yb[:, :-1])


def _brute_force_conditional_entropy(src, n):
    """H(X_t | last n symbols) from an explicit dictionary of the stationary joint law."""
    K, k = src.n_symbols, src.order
    joint = {}
    for s in itertools.product(range(K), repeat=k):
        ctx = sum(v * K ** (k - 1 - i) for i, v in enumerate(s))
        for x in range(K):
            key = s[k - n:] + (x,) if n else (x,)
            joint[key] = joint.get(key, 0.0) + src.stationary[ctx] * src.table[ctx, x]
    h = 0.0
    for key, p in joint.items():
        pc = sum(q for kk, q in joint.items() if kk[:-1] == key[:-1])
        h -= p * math.log(p / pc)
    return h


def test_markov_entropy_rate_against_direct_computations():
    src = ib.data.MarkovSource(3, 2, concentration=0.7, seed=3)
    K, k = 3, 2
    np.testing.assert_allclose(src.table.sum(1), 1)
    # stationarity by power iteration of the context chain, independent of the eigen-solver
    pi = np.full(K**k, 1 / K**k)
    for _ in range(2000):
        new = np.zeros_like(pi)
        for s in range(K**k):
            for x in range(K):
                new[(s % K) * K + x] += pi[s] * src.table[s, x]
        pi = new
    np.testing.assert_allclose(src.stationary, pi, atol=1e-10)
    direct = -sum(pi[s] * src.table[s, x] * math.log(src.table[s, x])
                  for s in range(K**k) for x in range(K))
    assert abs(src.entropy_rate() - direct) < 1e-10
    for n in range(k + 2):
        want = _brute_force_conditional_entropy(src, min(n, k))
        assert abs(src.conditional_entropy(n) - want) < 1e-10, n
    hs = [src.conditional_entropy(n) for n in range(k + 1)]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(hs))
    # the empirical loss of the true model on a long sample approaches the entropy rate
    seq = src.sample(200_000, seed=1)
    assert abs(-src.log_prob(seq).mean() - src.entropy_rate()) < 0.01
    with pytest.raises(ValueError, match="concentration"):
        ib.data.MarkovSource(3, 2, concentration=0)
    with pytest.raises(ValueError, match="n must be"):
        src.conditional_entropy(-1)


def test_delayed_recall():
    X, y, V = ib.data.delayed_recall(50, delay=5, n_symbols=3, n_distractors=2, seed=0)
    assert X.shape == (50, 7) and V == 6
    np.testing.assert_array_equal(X[:, 0], y)
    assert ((X[:, 1:-1] >= 3) & (X[:, 1:-1] < 5)).all() and (X[:, -1] == 5).all()
    with pytest.raises(ValueError, match="delayed_recall"):
        ib.data.delayed_recall(5, delay=-1)


# --------------------------------------------------------------------------- probe
def test_hidden_grads_match_torch_retain_grad():
    B, T, I, H = 2, 6, 3, 4
    rnn, trnn = _twins("RNN", I, H)
    x = RNG.standard_normal((B, T, I))
    r = RNG.standard_normal((B, H))
    _, g = ib.probes.hidden_grads(rnn, x, lambda hs: (hs[-1] * ib.Tensor(r)).sum()
                                  + (hs[2] ** 2).sum())
    h = torch.zeros(B, H, dtype=torch.float64)
    hs = []
    for t in range(T):
        h = torch.rnn_tanh_cell(torch.from_numpy(x[:, t]), h, trnn.weight_ih_l0,
                                trnn.weight_hh_l0, trnn.bias_ih_l0, trnn.bias_hh_l0)
        h.retain_grad()
        hs.append(h)
    ((hs[-1] * torch.from_numpy(r)).sum() + (hs[2] ** 2).sum()).backward()
    np.testing.assert_allclose(g, np.stack([h.grad.numpy() for h in hs]), rtol=1e-11)


def test_linear_rnn_gradient_decays_as_the_spectral_radius():
    """W_hh = rho Q with Q orthogonal and no nonlinearity: ||dL/dh_t|| = rho^(T-t) ||dL/dh_T||."""
    H, T, rho = 6, 12, 0.8
    rnn = nn.RNN(2, H, nonlinearity="identity").double()
    Q, _ = np.linalg.qr(RNG.standard_normal((H, H)))
    rnn.weight_hh_l0.data[...] = rho * Q
    r = RNG.standard_normal((1, H))
    norms = ib.probes.hidden_grad_norms(rnn, RNG.standard_normal((1, T, 2)),
                                        lambda hs: (hs[-1] * ib.Tensor(r)).sum())
    np.testing.assert_allclose(norms, np.linalg.norm(r) * rho ** np.arange(T - 1, -1, -1),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="hidden_grads"):
        ib.probes.hidden_grads(rnn, np.zeros((2, 3)), lambda hs: hs[-1].sum())


def test_lstm_probe_runs():
    lstm = nn.LSTM(2, 3).double()
    norms = ib.probes.hidden_grad_norms(lstm, RNG.standard_normal((2, 5, 2)),
                                        lambda hs: hs[-1].sum(), per_example=False)
    assert norms.shape == (5,) and (norms > 0).all()


def test_char_rnn_with_a_gru_cell_steps_as_it_runs_and_samples():
    """CharRNN(cell="gru"): stepping one token at a time gives the fused forward's logits."""
    m = nn.CharRNN(6, 3, 4, cell="gru", rng=np.random.default_rng(0)).double()
    ids = np.array([[0, 1, 2, 5, 3]])
    full = m(ids).data
    state = m.init_state(1)
    for t in range(ids.shape[1]):
        logits, state = m.step(ids[:, t], state)
        np.testing.assert_allclose(logits.data, full[:, t], rtol=1e-12, atol=1e-13)
    out = nn.sample(m, [0, 1], 5, rng=np.random.default_rng(1))
    assert out.shape == (5,) and out.min() >= 0 and out.max() < 6
