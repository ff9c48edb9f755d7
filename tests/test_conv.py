"""Convolution and pooling layers: parity with torch.nn on whole models, weight sharing in the
backward, exact translation equivariance and invariance, and bad shapes refused by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ibcore as ib
from ibcore import F, nn


def _raises(*fragments):
    return pytest.raises(ValueError,
                         match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def _torch_cnn(model):
    T = torch.nn
    tm = T.Sequential(T.Conv2d(1, 4, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                      T.Conv2d(4, 6, 3, padding=1), T.ReLU(), T.AdaptiveAvgPool2d(1),
                      T.Flatten(), T.Linear(6, 10)).double()
    own = [p for p in model.parameters()]
    with torch.no_grad():
        for p, tp in zip(own, tm.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.data))
    return tm


def _cnn(rng):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1, rng=rng), nn.ReLU(), nn.GlobalAvgPool2d(),
                         nn.Linear(6, 10, rng=rng)).double()


def test_cnn_training_matches_torch_float64():
    """Same weights, same batches, same Adam: the loss curves of a small CNN agree."""
    rng = np.random.default_rng(0)
    model = _cnn(rng)
    tm = _torch_cnn(model)
    opt = ib.optim.Adam(model.parameters(), lr=0.01)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    d = ib.data.digits()
    X = d.images_train[:, None].astype(np.float64)
    for step in range(15):
        idx = rng.choice(len(X), 32, replace=False)
        opt.zero_grad()
        loss = F.cross_entropy(model(ib.Tensor(X[idx])), d.y_train[idx])
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = TF.cross_entropy(tm(torch.from_numpy(X[idx])), torch.from_numpy(d.y_train[idx]))
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-10, step
    for p, tp in zip(model.parameters(), tm.parameters(), strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-11)


def test_weight_gradient_is_the_sum_over_positions():
    """dL/dW of a convolution equals the sum over output positions of each position's own
    gradient (weight sharing in the backward), computed here position by position."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((2, 4, 3, 3))
    W = ib.Tensor(w, requires_grad=True)
    F.conv2d(ib.Tensor(x), W).backward(g)
    total = np.zeros_like(w)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                patch = x[n, :, i:i + 3, j:j + 3]  # what the window at (i, j) reads
                total += g[n, :, i, j][:, None, None, None] * patch[None]
    np.testing.assert_allclose(W.grad, total, rtol=1e-12, atol=1e-12)


def _shift(img, dy, dx):
    return np.roll(img, (dy, dx), axis=(-2, -1))


def test_convolution_is_translation_equivariant():
    rng = np.random.default_rng(2)
    x = np.zeros((1, 1, 16, 16))
    x[..., 5:11, 5:11] = rng.random((6, 6))  # content away from the borders
    conv = nn.Conv2d(1, 5, 3, padding=1, rng=rng).double()
    with ib.no_grad():
        a = conv(ib.Tensor(_shift(x, 2, -3))).data
        b = _shift(conv(ib.Tensor(x)).data, 2, -3)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_global_pooling_makes_the_cnn_invariant():
    rng = np.random.default_rng(3)
    x = np.zeros((1, 1, 24, 24))  # content, and everything it influences, away from borders
    x[..., 8:14, 8:14] = rng.random((6, 6))
    model = _cnn(rng)
    with ib.no_grad():
        ref = model(ib.Tensor(x)).data
        for dy, dx in [(2, 0), (0, -2), (2, 4)]:  # multiples of the pooling stride
            np.testing.assert_allclose(model(ib.Tensor(_shift(x, dy, dx))).data, ref,
                                       atol=1e-12)


def test_modules_shapes_and_parameter_counts():
    conv = nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2))
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    assert conv.num_parameters() == 8 * 3 * 3 * 5 + 8
    out = conv(ib.Tensor(np.zeros((2, 3, 9, 9), np.float32)))
    assert out.shape == (2, 8, 5, 5) and out.dtype == np.float32
    assert nn.MaxPool2d(2)(out).shape == (2, 8, 2, 2)
    assert nn.AvgPool2d(3, 1, 1)(out).shape == (2, 8, 5, 5)
    assert nn.GlobalAvgPool2d()(out).shape == (2, 8)
    assert nn.Flatten()(out).shape == (2, 200)
    assert nn.Flatten(0, 1)(out).shape == (16, 5, 5)
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    assert "kernel_size=(3, 5)" in repr(conv)


def test_flatten_and_global_pool_backward():
    x = ib.Tensor(np.random.default_rng(4).standard_normal((2, 3, 4, 4)), requires_grad=True)
    (nn.GlobalAvgPool2d()(x).sum() + nn.Flatten()(x).sum()).backward()
    np.testing.assert_allclose(x.grad, 1 + 1 / 16)


# --------------------------------------------------------------------------- errors
def test_conv2d_rejects_bad_shapes_by_name():
    x = ib.Tensor(np.zeros((2, 3, 8, 8)))
    with _raises("conv2d", "(2, 3, 8)"):
        F.conv2d(ib.Tensor(np.zeros((2, 3, 8))), ib.Tensor(np.zeros((4, 3, 3, 3))))
    with _raises("conv2d", "3 channels", "(4, 2, 3, 3)"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 2, 3, 3))))
    with _raises("conv2d", "weight", "(4, 3, 3)"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 3, 3))))
    with _raises("conv2d", "bias", "(3,)", "(4,)"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 3, 3, 3))), ib.Tensor(np.zeros(3)))
    with _raises("conv2d", "kernel", "(9, 9)", "(8, 8)"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 3, 9, 9))))
    with _raises("conv2d", "stride", "0"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 3, 3, 3))), stride=0)
    with _raises("conv2d", "padding", "-1"):
        F.conv2d(x, ib.Tensor(np.zeros((4, 3, 3, 3))), padding=-1)
    with _raises("conv2d", "floating point"):
        F.conv2d(ib.Tensor(np.zeros((2, 3, 8, 8), np.int64)), ib.Tensor(np.zeros((4, 3, 3, 3))))


def test_pooling_and_modules_reject_bad_arguments():
    x = ib.Tensor(np.zeros((1, 2, 4, 4)))
    with _raises("max_pool2d", "(2, 4, 4)"):
        F.max_pool2d(ib.Tensor(np.zeros((2, 4, 4))), 2)
    with _raises("max_pool2d", "padding", "at most half"):
        F.max_pool2d(x, 2, padding=2)
    with _raises("avg_pool2d", "kernel", "(5, 5)"):
        F.avg_pool2d(x, 5)
    with _raises("avg_pool2d", "kernel_size", "0"):
        F.avg_pool2d(x, 0)
    with _raises("Conv2d", "channel", "0"):
        nn.Conv2d(0, 3, 3)
    with _raises("Conv2d", "kernel_size"):
        nn.Conv2d(1, 3, (3, 3, 3))
    with _raises("GlobalAvgPool2d", "(2, 4)"):
        nn.GlobalAvgPool2d()(ib.Tensor(np.zeros((2, 4))))
    with _raises("Flatten", "start_dim"):
        nn.Flatten(2, 1)(x)


def test_failed_call_changes_nothing():
    w = nn.Conv2d(3, 2, 3)
    before = w.weight.data.copy()
    with pytest.raises(ValueError):
        w(ib.Tensor(np.zeros((1, 2, 5, 5), np.float32)))
    np.testing.assert_array_equal(w.weight.data, before)
    assert w.weight.grad is None


def test_interleaved_calls_get_their_own_columns():
    """conv2d keeps its columns in a reused buffer; a second call of the same shape before the
    first one's backward overwrites it, and the first backward must rebuild its own (issue 10)."""
    rng = np.random.default_rng(5)
    w = ib.Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    xs = [rng.standard_normal((4, 2, 6, 6)) for _ in range(2)]
    gs = [rng.standard_normal((4, 3, 6, 6)) for _ in range(2)]
    outs = [F.conv2d(ib.Tensor(x), w, padding=1) for x in xs]  # both forwards first
    for out, g in zip(outs, gs, strict=True):
        out.backward(g)
    tw = torch.tensor(w.data, requires_grad=True)
    for x, g in zip(xs, gs, strict=True):
        torch.nn.functional.conv2d(torch.from_numpy(x), tw, padding=1).backward(
            torch.from_numpy(g))
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-10)
