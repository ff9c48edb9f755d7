"""`nn.DeepMLP` and `nn.init_linear_` (chapter 3), and the curvature probes: the
finite-difference Hessian-vector product against torch's exact one, power iteration against the
eigenvalues of an explicit Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import F, nn, probes


def _mse(out, y):
    return F.mse_loss(out, ib.Tensor(y))


def test_init_schemes_have_the_stated_variance():
    rng = np.random.default_rng(0)
    for scheme, var in [("he", 2 / 400), ("lecun", 1 / 400), ("glorot", 2 / 700),
                        ("default", 1 / 1200)]:
        lin = nn.init_linear_(nn.Linear(400, 300, dtype=np.float64), scheme, rng=rng)
        assert abs(lin.weight.data.var() / var - 1) < 0.02, scheme
    lin = nn.init_linear_(nn.Linear(400, 300, dtype=np.float64), "he", scale=0.5, rng=rng)
    assert abs(lin.weight.data.var() / (0.25 * 2 / 400) - 1) < 0.02
    np.testing.assert_array_equal(lin.bias.data, 0)
    with pytest.raises(ValueError, match="unknown scheme"):
        nn.init_linear_(lin, "xavier")


@pytest.mark.parametrize("kw", [dict(), dict(residual=True), dict(norm="batch"),
                                dict(residual=True, norm="layer"),
                                dict(residual=True, norm="layer", norm_position="post"),
                                dict(residual=True, norm="batch", activation="tanh")])
def test_deep_mlp_forms_and_gradients(kw):
    rng = np.random.default_rng(1)
    m = nn.DeepMLP(5, 6, 3, 2, rng=rng, dtype=np.float64, **kw)
    assert len(m.linears()) == 5
    X = rng.standard_normal((8, 5))
    out, hidden = m(ib.Tensor(X), return_hidden=True)
    assert out.shape == (8, 2) and len(hidden) == 4
    # the whole network against float64 central differences for one weight entry
    y = rng.standard_normal((8, 2))
    m.zero_grad()
    _mse(m(ib.Tensor(X)), y).backward()
    W = m.linears()[2].weight
    old = W.data[1, 2]
    vals = []
    for s in (1, -1):
        W.data[1, 2] = old + s * 1e-6
        vals.append(float(_mse(m(ib.Tensor(X)), y).data))
    W.data[1, 2] = old
    assert abs((vals[0] - vals[1]) / 2e-6 - W.grad[1, 2]) < 1e-6


def test_deep_mlp_block_forms():
    rng = np.random.default_rng(2)
    m = nn.DeepMLP(3, 4, 1, 2, residual=True, rng=rng, dtype=np.float64)
    X = rng.standard_normal((5, 3))
    _, (h0, h1) = m(ib.Tensor(X), return_hidden=True)
    lin = m.linears()[1]
    np.testing.assert_allclose(h1.data, h0.data + np.maximum(h0.data, 0) @ lin.weight.data.T
                               + lin.bias.data)
    m = nn.DeepMLP(3, 4, 1, 2, residual=True, norm="layer", norm_position="post", rng=rng,
                   dtype=np.float64)
    _, (h0, h1) = m(ib.Tensor(X), return_hidden=True)
    lin = m.linears()[1]
    pre = h0.data + np.maximum(h0.data, 0) @ lin.weight.data.T + lin.bias.data
    mu, sd = pre.mean(1, keepdims=True), np.sqrt(pre.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(h1.data, (pre - mu) / sd, rtol=1e-10)
    with pytest.raises(ValueError, match="norm"):
        nn.DeepMLP(3, 4, 1, 2, norm="group")
    with pytest.raises(ValueError, match="depth"):
        nn.DeepMLP(3, 4, 0, 2)


def _torch_hvp(m, X, y, v):
    params = [torch.tensor(p.data.astype(np.float64), requires_grad=True)
              for p in m.parameters()]
    W1, b1, W2, b2 = params

    def loss(W1, b1, W2, b2):
        out = torch.tanh(torch.tensor(X) @ W1.T + b1) @ W2.T + b2
        return ((out - torch.tensor(y)) ** 2).mean()

    vs = []
    i = 0
    for p in params:
        vs.append(torch.tensor(v[i:i + p.numel()]).reshape(p.shape))
        i += p.numel()
    _, hv = torch.autograd.functional.hvp(loss, tuple(params), tuple(vs))
    return np.concatenate([h.numpy().ravel() for h in hv])


def test_finite_difference_hvp_matches_torch():
    rng = np.random.default_rng(3)
    m = nn.MLP([4, 5, 2], rng=rng)  # float32 model: the probe works in float64 copies
    X, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 2))
    n = m.num_parameters()
    v = rng.standard_normal(n)
    before = [p.data.copy() for p in m.parameters()]
    hv = probes.hessian_vector_product(m, _mse, X, y, v)
    exact = _torch_hvp(m, X, y, v)
    np.testing.assert_allclose(hv, exact, rtol=1e-5, atol=1e-7)
    for p, b in zip(m.parameters(), before, strict=True):
        assert p.data.dtype == np.float32
        np.testing.assert_array_equal(p.data, b)


def test_power_iteration_finds_the_top_eigenvalue():
    rng = np.random.default_rng(4)
    m = nn.MLP([3, 4, 1], rng=rng)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal((12, 1))
    n = m.num_parameters()
    H = np.stack([_torch_hvp(m, X, y, e) for e in np.eye(n)])
    eig = np.linalg.eigvalsh((H + H.T) / 2)
    top = eig[np.argmax(np.abs(eig))]
    lam, vec = probes.hessian_top_eigenvalue(m, _mse, X, y, iters=500, tol=1e-10)
    assert abs(lam - top) < 1e-4 * abs(top)
    assert abs(np.linalg.norm(vec) - 1) < 1e-12


def test_layer_grad_norms_and_flat_grad():
    rng = np.random.default_rng(5)
    m = nn.DeepMLP(4, 6, 3, 2, rng=rng, dtype=np.float64)
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 2, 7)
    norms = probes.layer_grad_norms(m, F.cross_entropy, X, y)
    assert norms.shape == (5,)
    np.testing.assert_allclose(norms, [np.linalg.norm(lin.weight.grad) for lin in m.linears()])
    loss, g = probes.flat_grad(m, F.cross_entropy, X, y)
    assert g.size == m.num_parameters() and np.isfinite(loss)
    with pytest.raises(ValueError, match="entries"):
        probes.hessian_vector_product(m, F.cross_entropy, X, y, np.ones(3))
