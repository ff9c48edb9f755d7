"""Bad input is refused, never answered silently (issue 10).

Each test here failed on the engine before issue 10: it either accepted the input and gave a
wrong or meaningless answer, or refused it with a message that named the wrong thing. Messages
must name the layer or op, the argument, the shape or value passed and what was expected; a call
that raises changes nothing.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import functional as F
from ibcore import nn, optim


def raises(exc, *fragments: str):
    """``pytest.raises(exc)`` whose message must contain every fragment (literally)."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _unchanged(model, snap):
    return all(np.array_equal(v, snap[k]) for k, v in model.state_dict().items())


# --------------------------------------------------------------------------- LSTM states
@pytest.mark.parametrize("shape", [(1, 3, 4), (3, 4), (4, 3, 1), (2, 4, 3)])
def test_lstm_refuses_a_state_of_the_wrong_shape(shape):
    """LSTM(4, 3) on batch 4: h0/c0 must be (1, 4, 3) (or (4, 3)); (1, 3, 4) and (3, 4) have the
    right number of elements and used to be reshaped into a scrambled state."""
    lstm = nn.LSTM(4, 3)
    x = np.zeros((4, 5, 4), dtype=np.float32)
    good = np.zeros((1, 4, 3), dtype=np.float32)
    bad = np.zeros(shape, dtype=np.float32)
    with raises(ValueError, "LSTM", "h0", str(shape), "(1, 4, 3)"):
        lstm(x, (bad, good))
    with raises(ValueError, "LSTM", "c0", str(shape), "(1, 4, 3)"):
        lstm(x, (good, bad))
    with torch.no_grad():  # torch refuses the same states
        tl = torch.nn.LSTM(4, 3, batch_first=True)
        with pytest.raises(RuntimeError):
            tl(torch.zeros(4, 5, 4), (torch.zeros(shape), torch.zeros(1, 4, 3)))


def test_lstm_accepts_torch_shaped_and_batch_hidden_states_alike():
    lstm = nn.LSTM(4, 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 4)).astype(np.float32)
    h, c = (rng.standard_normal((1, 4, 3)).astype(np.float32) for _ in range(2))
    out3, (h3, c3) = lstm(x, (h, c))
    out2, (h2, c2) = lstm(x, (h[0], c[0]))
    np.testing.assert_array_equal(out3.data, out2.data)
    assert h3.shape == c3.shape == (1, 4, 3)


def test_lstm_hx_must_be_a_pair():
    lstm = nn.LSTM(4, 3)
    with raises(TypeError, "LSTM", "hx", "pair"):
        lstm(np.zeros((4, 5, 4), dtype=np.float32), np.zeros((1, 4, 3), dtype=np.float32))


@pytest.mark.parametrize("cls, make_hx", [
    (nn.LSTMCell, lambda s: (np.zeros(s, np.float32), np.zeros((4, 3), np.float32))),
    (nn.LSTMCell, lambda s: (np.zeros((4, 3), np.float32), np.zeros(s, np.float32))),
    (nn.RNNCell, lambda s: np.zeros(s, np.float32)),
    (nn.GRUCell, lambda s: np.zeros(s, np.float32)),
])
@pytest.mark.parametrize("shape", [(3, 4), (1, 4, 3)])
def test_cells_refuse_a_state_of_the_wrong_shape(cls, make_hx, shape):
    cell = cls(4, 3)
    with raises(ValueError, cls.__name__, "hx", str(shape), "(4, 3)"):
        cell(np.zeros((4, 4), dtype=np.float32), make_hx(shape))


def test_rnn_names_the_whole_input_shape():
    """RNN(3, 2) given (4, 5, 2) used to report the shape of one time step, (4, 2)."""
    rnn = nn.RNN(3, 2)
    with raises(ValueError, "RNN", "input", "(4, 5, 2)", "(batch, seq, 3)"):
        rnn(np.zeros((4, 5, 2), dtype=np.float32))
    with raises(ValueError, "rnn", "input", "(4, 5, 2)", "(batch, seq, 3)"):
        F.rnn(np.zeros((4, 5, 2)), np.zeros((4, 2)), np.zeros((2, 3)), np.zeros((2, 2)))
    with raises(ValueError, "lstm", "input", "(4, 5, 2)", "(batch, seq, 3)"):
        F.lstm(np.zeros((4, 5, 2)), np.zeros((4, 2)), np.zeros((4, 2)), np.zeros((8, 3)),
               np.zeros((8, 2)))


def test_gru_refuses_bad_shapes_naming_them():
    """The GRU (Chapter 6) refuses as the RNN and LSTM do: the layer or op, the argument, the
    shape passed and the shape expected; a swapped h0 is refused, never reshaped."""
    gru = nn.GRU(3, 2)
    with raises(ValueError, "GRU", "input", "(4, 5, 2)", "(batch, seq, 3)"):
        gru(np.zeros((4, 5, 2), dtype=np.float32))
    with raises(ValueError, "GRU", "h0", "(1, 2, 4)", "(1, 4, 2)"):
        gru(np.zeros((4, 5, 3), dtype=np.float32), np.zeros((1, 2, 4), dtype=np.float32))
    with raises(ValueError, "gru", "input", "(4, 5, 2)", "(batch, seq, 3)"):
        F.gru(np.zeros((4, 5, 2)), np.zeros((4, 2)), np.zeros((6, 3)), np.zeros((6, 2)))
    with raises(ValueError, "gru", "seq >= 1", "(4, 0, 3)"):
        F.gru(np.zeros((4, 0, 3)), np.zeros((4, 2)), np.zeros((6, 3)), np.zeros((6, 2)))
    with raises(ValueError, "gru_cell", "weight_hh", "(3 * hidden, hidden)", "(8, 2)"):
        F.gru_cell(np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((6, 3)), np.zeros((8, 2)))
    with raises(ValueError, "gru_cell", "weight_ih", "(6, input_size)", "(8, 3)"):
        F.gru_cell(np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((8, 3)), np.zeros((6, 2)))
    with raises(ValueError, "gru_cell", "bias_hh", "(6,)", "(8,)"):
        F.gru_cell(np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((6, 3)), np.zeros((6, 2)),
                   np.zeros(6), np.zeros(8))
    with raises(ValueError, "GRU", "batch_first"):
        nn.GRU(3, 2, batch_first=False)
    with raises(TypeError, "GRU", "hidden_size"):
        nn.GRU(3, 2.5)
    with raises(ValueError, "GRUCell", "sizes"):
        nn.GRUCell(0, 2)
    with torch.no_grad():  # torch refuses the same h0
        with pytest.raises(RuntimeError):
            torch.nn.GRU(3, 2, batch_first=True)(torch.zeros(4, 5, 3), torch.zeros(1, 2, 4))


def test_rnn_refuses_a_swapped_h0():
    rnn = nn.RNN(3, 2)
    with raises(ValueError, "RNN", "h0", "(1, 2, 4)", "(1, 4, 2)"):
        rnn(np.zeros((4, 5, 3), dtype=np.float32), np.zeros((1, 2, 4), dtype=np.float32))


# --------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_refuses_a_single_parameter(cls):
    """SGD(w, lr) iterated w row by row and never changed w."""
    w = nn.Parameter(np.ones((3, 2), dtype=np.float32))
    with raises(TypeError, cls.__name__, "iterable", "Parameter"):
        cls(w, lr=0.1)
    with pytest.raises(TypeError):  # as torch
        getattr(torch.optim, cls.__name__)(torch.nn.Parameter(torch.ones(3, 2)), lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_refuses_a_non_leaf(cls):
    """SGD([w * 2]) was accepted and never updated anything."""
    w = nn.Parameter(np.ones(3, dtype=np.float32))
    with raises(ValueError, cls.__name__, "can't optimize a non-leaf Tensor", "mul"):
        cls([w * 2], lr=0.1)
    tw = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        getattr(torch.optim, cls.__name__)([tw * 2], lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_warns_on_a_duplicate_and_updates_it_once(cls):
    w = nn.Parameter(np.ones(3, dtype=np.float32))
    with pytest.warns(UserWarning, match="duplicate"):
        opt = cls([w, w], lr=0.1)
    assert len(opt.params) == 1
    w.grad = np.ones(3, dtype=np.float32)
    opt.step()
    ref = nn.Parameter(np.ones(3, dtype=np.float32))
    ref_opt = cls([ref], lr=0.1)
    ref.grad = np.ones(3, dtype=np.float32)
    ref_opt.step()
    np.testing.assert_array_equal(w.data, ref.data)  # one update, not two


def test_optimizer_refuses_non_tensors():
    with raises(TypeError, "SGD", "parameter 1", "ndarray"):
        optim.SGD([nn.Parameter(np.ones(2)), np.ones(2)], lr=0.1)
    with raises(TypeError, "Adam", "iterable", "float"):
        optim.Adam(0.5, lr=0.1)


def test_optimizer_with_unique_parameters_does_not_warn():
    model = nn.MLP([2, 3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optim.Adam(model.parameters(), lr=1e-2)


# --------------------------------------------------------------------------- integer sizes
@pytest.mark.parametrize("make, layer, value", [
    (lambda: nn.Linear(2.5, 3), "Linear", "2.5"),
    (lambda: nn.Linear(2, 3.0), "Linear", "3.0"),
    (lambda: nn.Conv2d(3, 4.0, 3), "Conv2d", "4.0"),
    (lambda: nn.Embedding(2.5, 3), "Embedding", "2.5"),
    (lambda: nn.LSTM(2.5, 3), "LSTM", "2.5"),
    (lambda: nn.RNN(3, 2.5), "RNN", "2.5"),
    (lambda: nn.RNNCell(3, 2.5), "RNNCell", "2.5"),
    (lambda: nn.LSTMCell(3.5, 2), "LSTMCell", "3.5"),
    (lambda: nn.MLP([2, 2.5, 1]), "MLP", "2.5"),
    (lambda: nn.MultiHeadAttention(8.0, 2), "MultiHeadAttention", "8.0"),
    (lambda: nn.MultiHeadAttention(8, 2.0), "MultiHeadAttention", "2.0"),
    (lambda: nn.LayerNorm(4.0), "LayerNorm", "4.0"),
    (lambda: nn.LayerNorm((2, 4.5)), "LayerNorm", "4.5"),
    (lambda: nn.TransformerBlock(8, 2, d_ff=16.0), "TransformerBlock", "16.0"),
    (lambda: nn.LearnedPositionalEncoding(5.0, 4), "LearnedPositionalEncoding", "5.0"),
    (lambda: nn.SinusoidalPositionalEncoding(5, 4.0), "SinusoidalPositionalEncoding", "4.0"),
    (lambda: nn.NeuralLM(10, 2.0, 4, 8), "NeuralLM", "2.0"),
    (lambda: nn.CharRNN(10.0, 4, 8), "CharRNN", "10.0"),
    (lambda: nn.ReadoutTransformer(10, 4.0), "ReadoutTransformer", "4.0"),
    (lambda: nn.Flatten(1.0), "Flatten", "1.0"),
])
def test_float_sizes_are_refused_naming_layer_and_value(make, layer, value):
    """These failed with NumPy's bare "'float' object cannot be interpreted as an integer" (or
    were accepted), naming no layer."""
    with raises(TypeError, layer, value, "integer"):
        make()


def test_numpy_integer_sizes_are_accepted():
    layer = nn.Linear(np.int64(3), np.int32(2))
    assert layer.weight.shape == (2, 3) and isinstance(layer.in_features, int)


# --------------------------------------------------------------------------- losses
def test_bce_with_an_infinite_logit_and_target_zero_is_inf_like_torch():
    """x * y was inf * 0 = NaN."""
    x = np.array([np.inf, 0.3])
    y = np.array([0.0, 1.0])
    ours = F.binary_cross_entropy_with_logits(x, y, reduction="none").data
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(x), torch.from_numpy(y), reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs)
    assert np.isposinf(ours[0])
    assert np.isposinf(F.binary_cross_entropy_with_logits(x, y).item())
    # the other limits are the limits (torch gives NaN for these)
    lim = F.binary_cross_entropy_with_logits(np.array([np.inf, -np.inf, -np.inf]),
                                             np.array([1.0, 0.0, 1.0]), reduction="none").data
    np.testing.assert_array_equal(lim, [0.0, 0.0, np.inf])


@pytest.mark.parametrize("labels", [np.array([0.0, 2.0, 1.0]),
                                    np.array([0, 2, 1], dtype=np.float32)])
def test_cross_entropy_refuses_float_labels(labels):
    """Whole-number float labels used to be accepted; torch refuses float class indices."""
    logits = np.zeros((3, 4), dtype=np.float32)
    with raises(ValueError, "cross_entropy", "integer labels", str(labels.dtype)):
        F.cross_entropy(logits, labels)
    with pytest.raises(RuntimeError):
        torch.nn.functional.cross_entropy(torch.zeros(3, 4), torch.from_numpy(labels).float())
    assert np.isfinite(F.cross_entropy(logits, labels.astype(np.int64)).item())


# --------------------------------------------------------------------------- the dtype rule
def _models():
    rng = np.random.default_rng(0)
    return [
        (nn.Linear(3, 2, rng=rng), (4, 3)),
        (nn.MLP([3, 5, 2], rng=rng), (4, 3)),
        (nn.Conv2d(2, 3, 3, padding=1, rng=rng), (2, 2, 5, 5)),
        (nn.RNN(3, 4, rng=rng), (2, 5, 3)),
        (nn.LSTM(3, 4, rng=rng), (2, 5, 3)),
        (nn.RNNCell(3, 4, rng=rng), (2, 3)),
        (nn.LSTMCell(3, 4, rng=rng), (2, 3)),
        (nn.GRU(3, 4, rng=rng), (2, 5, 3)),
        (nn.GRUCell(3, 4, rng=rng), (2, 3)),
        (nn.MultiHeadAttention(4, 2, rng=rng), (2, 5, 4)),
        (nn.LayerNorm(4), (2, 5, 4)),
        (nn.TransformerBlock(4, 2, rng=rng), (2, 5, 4)),
    ]


def _first(out):
    while isinstance(out, tuple):
        out = out[0]
    return out


@pytest.mark.parametrize("model, shape", _models(), ids=[type(m).__name__ for m, _ in _models()])
def test_a_float64_batch_into_a_float32_model_computes_in_float32(model, shape):
    """The documented rule: a layer computes in its parameters' dtype and casts floating input
    to it. A float64 batch used to run the whole model silently in float64."""
    x64 = ib.Tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert x64.dtype == np.float64
    out = _first(model(x64))
    assert out.dtype == np.float32
    ref = _first(model(ib.Tensor(x64.data.astype(np.float32))))
    np.testing.assert_array_equal(out.data, ref.data)
    out.sum().backward()
    assert x64.grad.dtype == np.float64 and x64.grad.shape == shape  # grad in the input's dtype
    for p in model.parameters():
        assert p.grad is None or p.grad.dtype == np.float32


def test_a_float32_batch_into_a_float64_model_computes_in_float64():
    model = nn.Linear(3, 2).double()
    out = model(np.ones((4, 3), dtype=np.float32))
    assert out.dtype == np.float64


# --------------------------------------------------------------------------- attention
def _mha_pair(E=8, H=2, seed=0):
    rng = np.random.default_rng(seed)
    ours = nn.MultiHeadAttention(E, H, rng=rng, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            dict(theirs.named_parameters())[name].copy_(torch.from_numpy(p.data))
    return ours, theirs


def test_mha_value_length_different_from_key_is_named():
    """It used to fail inside a reshape."""
    mha = nn.MultiHeadAttention(8, 2)
    q = np.zeros((2, 3, 8), dtype=np.float32)
    k = np.zeros((2, 5, 8), dtype=np.float32)
    v = np.zeros((2, 4, 8), dtype=np.float32)
    with raises(ValueError, "MultiHeadAttention", "value", "(2, 4, 8)", "key", "(2, 5, 8)"):
        mha(q, k, v)
    with raises(ValueError, "MultiHeadAttention", "query", "(3, 3, 8)", "key", "(2, 5, 8)"):
        mha(np.zeros((3, 3, 8), dtype=np.float32), k, k)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("with_attn_mask", [False, True])
def test_mha_key_padding_mask_matches_torch(kind, with_attn_mask):
    ours, theirs = _mha_pair()
    rng = np.random.default_rng(3)
    B, L, S, E = 3, 4, 6, 8
    q = rng.standard_normal((B, L, E))
    kv = rng.standard_normal((B, S, E))
    lengths = np.array([6, 4, 2])  # example b has lengths[b] real keys, then padding
    pad = np.arange(S)[None, :] >= lengths[:, None]  # True = padding
    kpm = pad if kind == "bool" else np.where(pad, -np.inf, rng.uniform(-1, 0, (B, S)))
    am = (np.triu(np.ones((L, S), dtype=bool), k=3) if with_attn_mask else None)
    if am is not None and kind == "float":  # torch wants both masks of one kind
        am = np.where(am, -np.inf, 0.0)
    qt = ib.Tensor(q, requires_grad=True)
    kt = ib.Tensor(kv, requires_grad=True)
    out, w = ours(qt, kt, kt, attn_mask=am, key_padding_mask=kpm)
    tq = torch.tensor(q, requires_grad=True)
    tk = torch.tensor(kv, requires_grad=True)
    tout, tw = theirs(tq, tk, tk, attn_mask=None if am is None else torch.from_numpy(am),
                      key_padding_mask=torch.from_numpy(kpm))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert np.all(w[pad[:, None, :].repeat(L, 1)] == 0)  # no weight on padding
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(qt.grad, tq.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(kt.grad, tk.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_mha_key_padding_mask_with_is_causal():
    ours, theirs = _mha_pair()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 8))
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    out, w = ours(x, key_padding_mask=pad, is_causal=True)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    tx = torch.from_numpy(x)
    tout, tw = theirs(tx, tx, tx, attn_mask=causal, key_padding_mask=torch.from_numpy(pad))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_mha_key_padding_mask_errors_change_nothing():
    mha = nn.MultiHeadAttention(8, 2)
    x = np.zeros((2, 5, 8), dtype=np.float32)
    snap = _snapshot(mha)
    with raises(ValueError, "MultiHeadAttention", "key_padding_mask", "(2, 5)", "(5, 2)"):
        mha(x, key_padding_mask=np.zeros((5, 2), dtype=bool))
    with raises(ValueError, "key_padding_mask", "int64"):
        mha(x, key_padding_mask=np.zeros((2, 5), dtype=np.int64))
    with raises(ValueError, "no key to attend to"):  # every key of an example is padding
        mha(x, key_padding_mask=np.ones((2, 5), dtype=bool))
    assert mha.last_attn_weights is None and _unchanged(mha, snap)


# --------------------------------------------------------------------------- nothing mutated
def test_refused_calls_change_nothing():
    lstm = nn.LSTM(4, 3)
    snap = _snapshot(lstm)
    x = np.zeros((4, 5, 4), dtype=np.float32)
    s = np.zeros((1, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError):
        lstm(x, (s, s))
    assert _unchanged(lstm, snap)
    assert all(p.grad is None for p in lstm.parameters())
    w = nn.Parameter(np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError):
        optim.SGD([w, w * 2], lr=0.1)
    assert w.grad is None and np.array_equal(w.data, np.ones(3))
