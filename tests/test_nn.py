"""Modules register their parameters as torch's do, and a model trained in ibcore follows the
same loss curve as the same model trained in torch: same float64 initial weights, same batches,
same optimizer, agreement to 1e-8 at every step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import functional as F
from ibcore import nn, optim


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    """The torch references here are tiny; with several threads every op pays for waking the
    OpenMP workers (tens of ms per step when another process holds a core)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- registration
def test_mlp_parameter_names_follow_torch():
    model = nn.MLP([2, 8, 1])
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    assert names == [n for n, _ in tmodel.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(8, 2), (8,), (1, 8), (1,)]


def test_parameter_count():
    model = nn.MLP([64, 32, 10])
    assert model.num_parameters() == 64 * 32 + 32 + 32 * 10 + 10
    assert len(list(model.parameters())) == 4
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_custom_module_registration_nested_shared_and_removed():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.MLP([3, 4, 2])
            self.scale = nn.Parameter(np.ones(1))
            self.tied = self.enc[0].weight  # the same parameter twice: yielded once
            self.note = "not a parameter"

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                           torch.nn.Linear(4, 2))
            self.scale = torch.nn.Parameter(torch.ones(1))
            self.tied = self.enc[0].weight
            self.note = "not a parameter"

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [n for n, _ in TorchNet().named_parameters()]
    assert len(names) == 5 and "enc.0.weight" not in names  # found first as "tied"
    net.scale = None  # reassigning to a non-parameter unregisters it
    assert "scale" not in dict(net.named_parameters())
    del net.enc
    assert [n for n, _ in net.named_parameters()] == ["tied"]
    assert [n for n, _ in net.named_modules()] == [""]


def test_sequential_indexing_and_len():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3
    assert isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "2"]
    assert len(list(seq.children())) == 3


def test_zero_grad_clears_every_parameter():
    model = nn.MLP([2, 4, 1], dtype=np.float64)
    model(ib.Tensor(np.ones((3, 2)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_eval_flags_propagate():
    model = nn.Sequential(nn.MLP([2, 3, 1]), nn.Tanh())
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_state_dict_round_trip():
    ib.manual_seed(0)
    a = nn.MLP([3, 5, 2], dtype=np.float64)
    b = nn.MLP([3, 5, 2], dtype=np.float64)
    x = ib.Tensor(np.random.default_rng(0).standard_normal((4, 3)))
    assert not np.allclose(a(x).data, b(x).data)
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    b.load_state_dict(state)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state["0.weight"][...] = 0  # the state dict holds copies
    assert not np.all(a.state_dict()["0.weight"] == 0)
    b_weight = b.state_dict()["0.weight"]
    a.load_state_dict({k: ib.Tensor(v) for k, v in b.state_dict().items()})  # tensors work too
    np.testing.assert_array_equal(a.state_dict()["0.weight"], b_weight)


def test_load_state_dict_keeps_parameter_dtype_and_identity():
    model = nn.Linear(2, 2)  # float32
    w = model.weight
    model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})  # float64 arrays
    assert model.weight is w and w.dtype == np.float32
    np.testing.assert_array_equal(w.data, 1)


def test_linear_init_bounds_and_reproducibility():
    ib.manual_seed(123)
    lin = nn.Linear(50, 40)
    bound = 1 / math.sqrt(50)
    for p in (lin.weight, lin.bias):
        assert p.dtype == np.float32
        assert np.all(np.abs(p.data) <= bound)
    assert lin.weight.data.max() > 0.9 * bound and lin.weight.data.min() < -0.9 * bound
    assert abs(lin.weight.data.mean()) < 0.1 * bound
    ib.manual_seed(123)
    np.testing.assert_array_equal(nn.Linear(50, 40).weight.data, lin.weight.data)
    r1 = nn.Linear(3, 2, rng=np.random.default_rng(9), dtype=np.float64)
    r2 = nn.Linear(3, 2, rng=np.random.default_rng(9), dtype=np.float64)
    np.testing.assert_array_equal(r1.weight.data, r2.weight.data)
    assert r1.weight.dtype == np.float64
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_forward_matches_torch_linear():
    lin = nn.Linear(4, 3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 4))
    tl = torch.nn.Linear(4, 3).double()
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in lin.state_dict().items()})
    np.testing.assert_allclose(lin(ib.Tensor(x)).data, tl(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-13)


def test_mlp_hidden_representation():
    model = nn.MLP([2, 3, 4, 1], activation="relu", dtype=np.float64)
    x = ib.Tensor(np.random.default_rng(0).standard_normal((5, 2)))
    h1 = model.hidden(x, 1)
    np.testing.assert_allclose(h1.data, np.maximum(model[0](x).data, 0))
    assert model.hidden(x, 2).shape == (5, 4)


def test_double_and_float_convert_parameters():
    model = nn.MLP([2, 3, 1])
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_repr_names_layers():
    text = repr(nn.MLP([2, 8, 1]))
    assert "Linear(in_features=2, out_features=8, bias=True)" in text
    assert "(1): Tanh()" in text


def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)) * 5, rng.standard_normal(4)]
    ps = [ib.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ps, ts, grads, strict=True):
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = nn.clip_grad_norm_(ps, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, 1.0)
    np.testing.assert_allclose(total, ttotal.item(), rtol=1e-12)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    assert nn.clip_grad_norm_(ps, 100.0) == pytest.approx(1.0, rel=1e-6)  # under: unchanged


# --------------------------------------------------------------------------- ibcore vs torch
def torch_copy(model: nn.Module, activation: str = "tanh") -> torch.nn.Sequential:
    """The same MLP in torch, float64, with ibcore's weights copied in."""
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
    layers = []
    sizes = model.sizes
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    tmodel = torch.nn.Sequential(*layers).double()
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return tmodel


OPTIMIZERS = {
    "sgd_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
}


def _train_both(model, tmodel, opt_name, batches, ib_loss, torch_loss):
    make, tmake = OPTIMIZERS[opt_name]
    opt, topt = make(model.parameters()), tmake(tmodel.parameters())
    losses, tlosses = [], []
    for xb, yb in batches:
        opt.zero_grad()
        loss = ib_loss(model(ib.Tensor(xb)), yb)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch_loss(tmodel(torch.from_numpy(xb)), torch.from_numpy(yb))
        tloss.backward()
        topt.step()
        losses.append(float(loss.data))
        tlosses.append(tloss.item())
    return np.array(losses), np.array(tlosses)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_mlp_training_matches_torch(opt_name, activation):
    """MLP [4, 16, 16, 3], 50 steps of minibatch cross-entropy: the loss curves agree."""
    rng = np.random.default_rng(42)
    X = rng.standard_normal((96, 4))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] * X[:, 2] > 0.3).astype(np.int64)
    model = nn.MLP([4, 16, 16, 3], activation=activation, rng=np.random.default_rng(0),
                   dtype=np.float64)
    tmodel = torch_copy(model, activation)
    batches = []
    for _ in range(50):
        idx = rng.choice(96, 16, replace=False)
        batches.append((X[idx], y[idx]))
    losses, tlosses = _train_both(model, tmodel, opt_name, batches, F.cross_entropy,
                                  torch.nn.functional.cross_entropy)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8, atol=1e-10)
    assert losses[-5:].mean() < losses[:5].mean()  # it did learn: the comparison is not vacuous
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(v, tmodel.state_dict()[k].numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_xor_binary_training_matches_torch(opt_name):
    """MLP [2, 8, 1] on XOR with BCE-with-logits, full batch, 50 steps."""
    X, y = ib.data.xor(dtype=np.float64)
    Y = y.astype(np.float64)[:, None]
    model = nn.MLP([2, 8, 1], rng=np.random.default_rng(3), dtype=np.float64)
    tmodel = torch_copy(model)
    losses, tlosses = _train_both(
        model, tmodel, opt_name, [(X, Y)] * 50,
        lambda out, t: F.binary_cross_entropy_with_logits(out, ib.Tensor(t)),
        torch.nn.functional.binary_cross_entropy_with_logits)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8, atol=1e-10)
    assert losses[-1] < losses[0]
