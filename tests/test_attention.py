"""Attention, LayerNorm, the pre-norm block and the readout transformer against torch (copied
weights, float64, random upstream gradients), their error paths, and the pointer-task data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import F, nn

torch.set_num_threads(1)
T = torch.from_numpy


def _copy_mha(m: nn.MultiHeadAttention, tm: torch.nn.MultiheadAttention) -> None:
    with torch.no_grad():
        tm.in_proj_weight.copy_(T(m.in_proj_weight.data))
        tm.in_proj_bias.copy_(T(m.in_proj_bias.data))
        tm.out_proj.weight.copy_(T(m.out_proj.weight.data))
        tm.out_proj.bias.copy_(T(m.out_proj.bias.data))


def _randomise(module, rng):
    """Non-trivial values everywhere (torch-style init leaves biases at 0 and LN weight at 1)."""
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5


def _agrees_with_torch(m, tm, x, rng, atol_out, atol_grad, params):
    """``m(x)`` against ``tm(x)`` in float64: the output (rtol 1e-10), then, under a random
    upstream gradient, the input's gradient and each ``(ibcore, torch)`` parameter pair's
    (rtol 1e-9)."""
    xi, xt = ib.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xi), tm(xt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=atol_out)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(T(g))
    for mine, theirs in [(xi, xt), *params]:
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=atol_grad)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal", "bool3d"])
@pytest.mark.parametrize("heads", [1, 2])
def test_multihead_attention_matches_torch(mask_kind, heads):
    rng = np.random.default_rng(heads * 10 + len(mask_kind))
    E, B, L = 8, 3, 5
    m = nn.MultiHeadAttention(E, heads, rng=rng, dtype=np.float64)
    _randomise(m, rng)
    tm = torch.nn.MultiheadAttention(E, heads, batch_first=True).double()
    _copy_mha(m, tm)
    x = rng.standard_normal((B, L, E))
    kw, tkw = {}, {}
    if mask_kind == "bool":  # torch MHA convention: True = NOT allowed
        mask = rng.random((L, L)) < 0.4
        mask[:, 0] = False
        kw, tkw = {"attn_mask": mask}, {"attn_mask": T(mask)}
    elif mask_kind == "float":
        mask = rng.standard_normal((L, L))
        kw, tkw = {"attn_mask": mask}, {"attn_mask": T(mask)}
    elif mask_kind == "bool3d":
        mask = rng.random((B * heads, L, L)) < 0.4
        mask[..., 1] = False
        kw, tkw = {"attn_mask": mask}, {"attn_mask": T(mask)}
    elif mask_kind == "causal":
        mask = np.triu(np.ones((L, L), dtype=bool), 1)
        kw, tkw = {"is_causal": True}, {"attn_mask": T(mask), "is_causal": True}
    xi = ib.Tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, w = m(xi, **kw, average_attn_weights=False)
    tout, tw = tm(xt, xt, xt, **tkw, average_attn_weights=False)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert w.shape == (B, heads, L, L)
    np.testing.assert_allclose(m.last_attn_weights, w)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(T(g))
    np.testing.assert_allclose(xi.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(m.in_proj_weight.grad, tm.in_proj_weight.grad.numpy(), rtol=1e-9,
                               atol=1e-11)
    np.testing.assert_allclose(m.in_proj_bias.grad, tm.in_proj_bias.grad.numpy(), rtol=1e-9,
                               atol=1e-11)
    np.testing.assert_allclose(m.out_proj.weight.grad, tm.out_proj.weight.grad.numpy(),
                               rtol=1e-9, atol=1e-11)


def test_multihead_attention_cross_attention_and_averaged_weights():
    rng = np.random.default_rng(3)
    m = nn.MultiHeadAttention(6, 2, rng=rng, dtype=np.float64)
    _randomise(m, rng)
    tm = torch.nn.MultiheadAttention(6, 2, batch_first=True).double()
    _copy_mha(m, tm)
    q, kv = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 7, 6))
    out, w = m(ib.Tensor(q), ib.Tensor(kv), ib.Tensor(kv))
    tout, tw = tm(T(q), T(kv), T(kv))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert m(ib.Tensor(q), need_weights=False)[1] is None


def test_layernorm_module_matches_torch():
    rng = np.random.default_rng(0)
    ln = nn.LayerNorm(6, dtype=np.float64)
    _randomise(ln, rng)
    tln = torch.nn.LayerNorm(6).double()
    with torch.no_grad():
        tln.weight.copy_(T(ln.weight.data))
        tln.bias.copy_(T(ln.bias.data))
    x = rng.standard_normal((2, 4, 6)) * 3 + 1
    _agrees_with_torch(ln, tln, x, rng, 1e-12, 1e-11,
                       [(ln.weight, tln.weight), (ln.bias, tln.bias)])


def test_layer_norm_of_a_constant_row_is_finite():
    out = F.layer_norm(ib.Tensor(np.full((2, 5), 3.0), requires_grad=True), 5)
    out.backward(np.ones((2, 5)))
    assert np.all(np.isfinite(out.data)) and np.allclose(out.data, 0)


def _torch_block(block: nn.TransformerBlock, d_model, heads, d_ff):
    tb = torch.nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, activation="relu",
                                          batch_first=True, norm_first=True).double()
    _copy_mha(block.attn, tb.self_attn)
    with torch.no_grad():
        for mine, theirs in ((block.ln1, tb.norm1), (block.ln2, tb.norm2),
                             (block.ff1, tb.linear1), (block.ff2, tb.linear2)):
            theirs.weight.copy_(T(mine.weight.data))
            theirs.bias.copy_(T(mine.bias.data))
    return tb


@pytest.mark.parametrize("heads", [1, 2])
def test_transformer_block_matches_torch_pre_norm_layer(heads):
    rng = np.random.default_rng(heads)
    d, d_ff = 8, 16
    block = nn.TransformerBlock(d, heads, d_ff, rng=rng, dtype=np.float64)
    _randomise(block, rng)
    tb = _torch_block(block, d, heads, d_ff)
    x = rng.standard_normal((3, 5, d))
    _agrees_with_torch(block, tb, x, rng, 1e-11, 1e-10,
                       [(block.ff1.weight, tb.linear1.weight),
                        (block.attn.in_proj_weight, tb.self_attn.in_proj_weight),
                        (block.ln1.weight, tb.norm1.weight)])


def test_transformer_block_finite_differences():
    rng = np.random.default_rng(5)
    block = nn.TransformerBlock(4, 2, 6, rng=rng, dtype=np.float64)
    _randomise(block, rng)
    x = rng.standard_normal((2, 3, 4))
    R = rng.standard_normal((2, 3, 4))
    xi = ib.Tensor(x.copy(), requires_grad=True)
    block(xi).backward(R)
    w = block.attn.in_proj_weight
    for arr, grad in ((x, xi.grad), (w.data, w.grad)):
        flat, num = arr.reshape(-1), np.zeros(arr.size)
        for j in range(arr.size):
            old = flat[j]
            flat[j] = old + 1e-6
            with ib.no_grad():
                up = float(np.sum(block(ib.Tensor(x)).data * R))
            flat[j] = old - 1e-6
            with ib.no_grad():
                down = float(np.sum(block(ib.Tensor(x)).data * R))
            flat[j] = old
            num[j] = (up - down) / 2e-6
        np.testing.assert_allclose(grad.reshape(-1), num, rtol=1e-5, atol=1e-7)


def test_sinusoidal_table_matches_the_formula():
    pe = nn.transformer.sinusoidal_table(6, 4)
    p, i = 5, 1
    assert np.isclose(pe[p, 2 * i], np.sin(p / 10000 ** (2 * i / 4)))
    assert np.isclose(pe[p, 2 * i + 1], np.cos(p / 10000 ** (2 * i / 4)))


def test_readout_transformer_shapes_patch_and_override():
    rng = np.random.default_rng(0)
    m = nn.ReadoutTransformer(5, 6, d_model=8, num_heads=2, num_layers=2, num_classes=3, rng=rng)
    tokens = rng.integers(0, 5, (4, 6))
    out = m.run(tokens)
    assert out["logits"].shape == (4, 3)
    assert len(out["resid"]) == 3 and out["resid"][1].shape == (4, 6, 8)
    assert len(out["attn"]) == 2 and out["attn"][0].shape == (4, 2, 6, 6)
    np.testing.assert_allclose(out["attn"][1].sum(-1), 1, rtol=1e-5)
    # patching a position with its own value changes nothing
    same = m.run(tokens, patch={(1, 2): out["resid"][1].data[:, 2]})
    np.testing.assert_allclose(same["logits"].data, out["logits"].data, rtol=1e-6)
    # patching the readout's final state with another input's gives that input's logits
    other = m.run(tokens[::-1])
    swapped = m.run(tokens, patch={(2, 5): other["resid"][2].data[:, 5]})
    np.testing.assert_allclose(swapped["logits"].data, other["logits"].data, rtol=1e-5)
    uni = np.full((1, 1, 6, 6), 1 / 6)
    abl = m.run(tokens, attn_override={1: uni})
    np.testing.assert_allclose(abl["attn"][0], np.broadcast_to(uni, (4, 2, 6, 6)))
    assert m.blocks[0].attn.weights_override is None  # restored after the call


# --------------------------------------------------------------------------- error paths
def test_sdpa_errors():
    q = ib.Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="same last dimension"):
        F.scaled_dot_product_attention(q, ib.Tensor(np.zeros((2, 3, 5))), q)
    with pytest.raises(ValueError, match="sequence length"):
        F.scaled_dot_product_attention(q, q, ib.Tensor(np.zeros((2, 4, 4))))
    with pytest.raises(ValueError, match="cannot be broadcast to the scores"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 3, 7), dtype=bool))
    with pytest.raises(ValueError, match="no key to attend to"):
        mask = np.ones((3, 3), dtype=bool)
        mask[1] = False
        F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ValueError, match="boolean"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.scaled_dot_product_attention(ib.Tensor(np.zeros(4)), q, q)


def test_layer_norm_and_module_errors():
    x = ib.Tensor(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="does not end in normalized_shape"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match="weight of shape"):
        F.layer_norm(x, 5, weight=ib.Tensor(np.ones(4)))
    with pytest.raises(ValueError, match="divide embed_dim"):
        nn.MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match="batch_first"):
        nn.MultiHeadAttention(6, 2, batch_first=False)
    m = nn.MultiHeadAttention(6, 2)
    with pytest.raises(ValueError, match=r"\(batch, seq, 6\)"):
        m(ib.Tensor(np.zeros((2, 3, 5))))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        m(ib.Tensor(np.zeros((2, 3, 6))), attn_mask=np.zeros((4, 4), dtype=bool))
    r = nn.ReadoutTransformer(4, 5, d_model=8)
    with pytest.raises(ValueError, match=r"tokens must be in \[0, 4\)"):
        r(np.full((1, 5), 4))
    with pytest.raises(ValueError, match="exceeds seq_len"):
        r(np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="integer array"):
        r(np.zeros((1, 5)))


# --------------------------------------------------------------------------- data
def test_pointer_task_labels_splits_and_seed():
    t = ib.data.pointer(8, n_test=512, seed=0)
    assert t.X_train.shape == (2048 - 512, 11) and t.X_test.shape == (512, 11)
    for X, y, a in ((t.X_train, t.y_train, t.address_train), (t.X_test, t.y_test, t.address_test)):
        addr = X[:, 8] * 4 + X[:, 9] * 2 + X[:, 10]
        np.testing.assert_array_equal(addr, a)
        np.testing.assert_array_equal(X[np.arange(len(X)), addr], y)
    rows = {r.tobytes() for r in t.X_train}
    assert not any(r.tobytes() in rows for r in t.X_test)  # test inputs never seen in training
    tok = t.tokens_test
    assert tok.shape == (512, 10) and np.all(tok[:, 9] == 10) and np.all(tok[:, 8] == 2 + a)
    np.testing.assert_array_equal(ib.data.pointer(8, seed=0).X_test, t.X_test)
    assert not np.array_equal(ib.data.pointer(8, seed=1).X_test, t.X_test)
    with pytest.raises(ValueError, match="power of two"):
        ib.data.pointer(6)
    with pytest.raises(ValueError, match="distinct inputs"):
        ib.data.pointer(4, n_test=60, n_train=10)


def test_khop_task_follows_k_pointers():
    t = ib.data.pointer_khop(8, 3, n_train=50, n_test=20, seed=1)
    for X, y in ((t.X_train, t.y_train), (t.X_test, t.y_test)):
        for row, label in zip(X, y, strict=True):
            v = row[8]
            for _ in range(3):
                v = row[v]
            assert v == label
    assert t.num_classes == 8 and t.vocab_size == 17
    assert np.all(t.tokens_train[:, 8] == 8 + t.address_train)
    with pytest.raises(ValueError, match="k must be"):
        ib.data.pointer_khop(8, 0)


def test_pointer_tokens_rejects_bad_input():
    with pytest.raises(ValueError, match="bits"):
        ib.data.pointer_tokens(np.full((2, 11), 2), 8)


# --------------------------------------------------------------------------- cached training
def test_train_pointer_transformer_is_seeded_and_cached(tmp_path, monkeypatch):
    from ibcore import pretrained

    monkeypatch.setenv("IBCORE_CACHE", str(tmp_path))
    pretrained.clear_memory_cache()
    cfg = dict(steps=3, d_model=8, d_ff=8, batch_size=16)
    a = pretrained.train_pointer_transformer(**cfg)
    assert a.from_cache == "no" and list(tmp_path.glob("pointer-*.npz"))
    assert pretrained.train_pointer_transformer(**cfg).from_cache == "memory"
    pretrained.clear_memory_cache()
    b = pretrained.train_pointer_transformer(**cfg)
    assert b.from_cache == "file"
    for (k, v), (k2, v2) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                strict=True):
        assert k == k2 and np.array_equal(v, v2)
    assert a.history.loss == b.history.loss and a.test_accuracy == b.test_accuracy
    pretrained.clear_memory_cache()
    c = pretrained.train_pointer_transformer(**cfg, file_cache=False)  # retrains identically
    assert c.from_cache == "no" and c.history.loss == a.history.loss
    # a corrupt cache file is ignored
    for f in tmp_path.glob("pointer-*.npz"):
        f.write_bytes(b"not an npz")
    pretrained.clear_memory_cache()
    d = pretrained.train_pointer_transformer(**cfg)
    assert d.from_cache == "no" and d.history.loss == a.history.loss
    with pytest.raises(TypeError, match="unknown config"):
        pretrained.train_pointer_transformer(layers=3)
    with pytest.raises(ValueError, match="kind"):
        pretrained.train_pointer_transformer(kind="bits", k=2, file_cache=False)
    pretrained.clear_memory_cache()
