"""`F.batch_norm`, `nn.BatchNorm1d`, `F.dropout` and `nn.Dropout` against torch, and the fused
batch-norm backward against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fdcheck import central_diff

import ibcore as ib
from ibcore import F, nn


@pytest.mark.parametrize("shape", [(7, 4), (5, 3, 6)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(shape, training):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape) * 3 + 1
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    G = rng.standard_normal(shape)
    x, wt, bt = (ib.Tensor(a.copy(), requires_grad=True) for a in (X, w, b))
    rm_i, rv_i = rm.copy(), rv.copy()
    out = F.batch_norm(x, rm_i, rv_i, wt, bt, training=training, momentum=0.3, eps=1e-4)
    (out * ib.Tensor(G)).sum().backward()
    xt, wtt, btt = (torch.tensor(a.copy(), requires_grad=True) for a in (X, w, b))
    rm_t, rv_t = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    ot = torch.nn.functional.batch_norm(xt, rm_t, rv_t, wtt, btt, training=training,
                                        momentum=0.3, eps=1e-4)
    (ot * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(out.data, ot.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm_i, rm_t.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv_i, rv_t.numpy(), rtol=1e-12, atol=1e-12)
    for a, t in ((x, xt), (wt, wtt), (bt, btt)):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward_matches_finite_differences(training):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    G = rng.standard_normal((6, 3))
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)

    def loss(X, w, b):
        return float((F.batch_norm(ib.Tensor(X), None if training else rm,
                                   None if training else rv, ib.Tensor(w), ib.Tensor(b),
                                   training=training).data * G).sum())

    fd = (central_diff(lambda v: loss(v, w, b), X), central_diff(lambda v: loss(X, v, b), w),
          central_diff(lambda v: loss(X, w, v), b))

    x, wt, bt = (ib.Tensor(a, requires_grad=True) for a in (X, w, b))
    (F.batch_norm(x, None if training else rm, None if training else rv, wt, bt,
                  training=training) * ib.Tensor(G)).sum().backward()
    for t, g in zip((x, wt, bt), fd, strict=True):
        np.testing.assert_allclose(t.grad, g, rtol=1e-6, atol=1e-8)


def test_batch_norm_errors():
    x = ib.Tensor(np.ones((1, 3)))
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError, match="evaluation mode needs"):
        F.batch_norm(ib.Tensor(np.ones((4, 3))), None, None, training=False)
    with pytest.raises(ValueError, match="shape"):
        F.batch_norm(ib.Tensor(np.ones((4, 3))), np.zeros(2), np.ones(2), training=True)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.batch_norm(ib.Tensor(np.ones(4)), None, None, training=True)
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm(ib.Tensor(np.ones((4, 3))), None, None, training=True, momentum=2)
    with pytest.raises(TypeError, match="updated in"):
        F.batch_norm(ib.Tensor(np.ones((4, 3))), [0, 0, 0], np.ones(3), training=True)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm1d_module_tracks_running_stats_like_torch(momentum):
    rng = np.random.default_rng(2)
    m = nn.BatchNorm1d(5, momentum=momentum, dtype=np.float64)
    tm = torch.nn.BatchNorm1d(5, momentum=momentum, dtype=torch.float64)
    rng_w = rng.standard_normal(5)
    m.weight.data[...] = rng_w
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(rng_w))
    for _ in range(4):
        X = rng.standard_normal((8, 5)) * 2 + 3
        np.testing.assert_allclose(m(ib.Tensor(X)).data, tm(torch.tensor(X)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.running_mean, tm.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.running_var, tm.running_var.numpy(), rtol=1e-12)
    assert m.num_batches_tracked == int(tm.num_batches_tracked) == 4
    m.eval()
    tm.eval()
    X = rng.standard_normal((3, 5))
    np.testing.assert_allclose(m(ib.Tensor(X)).data, tm(torch.tensor(X)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    # evaluation mode: a row's output does not depend on the rest of the batch
    np.testing.assert_allclose(m(ib.Tensor(X[:1])).data, m(ib.Tensor(X)).data[:1], rtol=1e-12)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]


def test_batchnorm1d_without_running_stats_uses_batch_stats_in_eval():
    m = nn.BatchNorm1d(2, track_running_stats=False, dtype=np.float64).eval()
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(m(ib.Tensor(X)).data, [[-1, -1], [1, 1]], atol=1e-4)


def test_dropout_scaling_mask_and_eval():
    ib.manual_seed(0)
    x = ib.Tensor(np.ones((200, 50)), requires_grad=True)
    out = F.dropout(x, 0.3, training=True)
    kept = out.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out.data[kept], 1 / 0.7)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7)  # the same mask scales the gradient
    assert F.dropout(x, 0.3, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0)
    with pytest.raises(ValueError, match="p must be"):
        F.dropout(x, 1.5)


def test_dropout_module_train_eval_and_seeding():
    d = nn.Dropout(0.5, rng=np.random.default_rng(3))
    x = ib.Tensor(np.ones((4, 6)))
    a = d(x).data
    b = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 2.0}
    d.eval()
    np.testing.assert_array_equal(d(x).data, x.data)
    # torch's dropout has the same first two moments
    t = torch.nn.functional.dropout(torch.ones(100000), 0.25, training=True).numpy()
    o = F.dropout(ib.Tensor(np.ones(100000)), 0.25, training=True).data
    assert abs(t.mean() - o.mean()) < 0.02 and abs(t.var() - o.var()) < 0.03
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)
