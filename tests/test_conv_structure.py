"""Chapter 4's tools: the offset-tied dense layer equals conv2d (forward and backward, against
torch and finite differences), the theoretical and effective receptive fields, the dense-layer
structure measures, and the image transforms (shifts, augmentation, power spectrum)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from fdcheck import central_diff

import ibcore as ib
from ibcore import F, nn
from ibcore.data import canvas, power_spectrum, shift, shifted_copies
from ibcore.probes import (
    effective_receptive_field,
    erf_std,
    offset_tied_fraction,
    window_fraction,
)


@pytest.mark.parametrize("C,O,k,hw,p", [(1, 1, 3, (5, 5), 0), (2, 3, 3, (6, 5), 1),
                                        (1, 2, (2, 3), (4, 6), (1, 0))])
def test_offset_tied_linear_equals_conv2d_and_torch(C, O, k, hw, p):
    rng = np.random.default_rng(0)
    layer = nn.OffsetTiedLinear(C, O, k, hw, padding=p, rng=rng, dtype=np.float64)
    x = rng.standard_normal((3, C, *hw))
    xt = ib.Tensor(x, requires_grad=True)
    out = layer(xt)
    ref = F.conv2d(ib.Tensor(x), layer.weight.data, layer.bias.data, padding=p).data
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data, requires_grad=True)
    tb = torch.tensor(layer.bias.data, requires_grad=True)
    tout = TF.conv2d(tx, tw, tb, padding=p)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.weight.grad, tw.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-10)


def test_offset_tied_linear_kernel_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    layer = nn.OffsetTiedLinear(2, 2, 3, (4, 4), padding=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 4, 4))
    g = rng.standard_normal((2, 2, 4, 4))

    def loss(w):
        old = layer.weight.data.copy()
        layer.weight.data[...] = w
        with ib.no_grad():
            v = float((layer(ib.Tensor(x)).data * g).sum())
        layer.weight.data[...] = old
        return v

    layer.zero_grad()
    layer(ib.Tensor(x)).backward(g)
    np.testing.assert_allclose(layer.weight.grad, central_diff(loss, layer.weight.data.copy()),
                               atol=1e-7)


def test_offset_index_structure_and_errors():
    idx = nn.offset_index(1, 1, 3, (5, 5), padding=1)
    assert idx.shape == (25, 25)
    # every row of a 3x3 same-padded map reads at most 9 kernel weights, the centre one 9
    assert (idx != 9).sum(axis=1).max() == 9 and (idx[12] != 9).sum() == 9
    # the full-offset kernel ties every pair: no entry is the fixed zero
    assert (nn.offset_index(1, 1, 9, (5, 5), padding=4) != 81).all()
    with pytest.raises(ValueError, match="offset_index: kernel"):
        nn.offset_index(1, 1, 7, (5, 5))
    with pytest.raises(ValueError, match="out_channels"):
        nn.offset_index(1, 0, 3, (5, 5))
    layer = nn.OffsetTiedLinear(1, 1, 3, (5, 5))
    with pytest.raises(ValueError, match=r"OffsetTiedLinear: input .*\(N, 1, 5, 5\)"):
        layer(np.zeros((2, 1, 6, 5), dtype=np.float32))


def test_receptive_field_formula():
    assert nn.receptive_field([nn.Conv2d(1, 1, 3)] * 4) == 9
    stack = [nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 5)]
    assert nn.receptive_field(stack) == 1 + 2 + 1 + 2 * 2 + 4 * 2  # 16
    assert nn.receptive_field([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)]) == 7
    with pytest.raises(ValueError, match="square"):
        nn.receptive_field([nn.Conv2d(1, 1, (3, 1))])


def test_effective_receptive_field_of_uniform_linear_stack_is_binomial():
    L = 3
    convs = [nn.Conv2d(1, 1, 3, padding=1, dtype=np.float64) for _ in range(L)]
    for c in convs:
        c.weight.data[...] = 1.0
        c.bias.data[...] = 0.0
    erf = effective_receptive_field(nn.Sequential(*convs), (1, 15, 15), n_samples=2)
    row = np.array([1.0])
    for _ in range(L):
        row = np.convolve(row, [1.0, 1.0, 1.0])
    expected = np.zeros((15, 15))
    expected[7 - L : 8 + L, 7 - L : 8 + L] = np.outer(row, row)
    np.testing.assert_allclose(erf, expected)
    assert erf_std(erf) == pytest.approx(np.sqrt(L * 2 / 3))
    assert (erf > 0).sum() == nn.receptive_field(convs) ** 2
    with pytest.raises(ValueError, match="input_shape"):
        effective_receptive_field(nn.Sequential(*convs), (15, 15))
    with pytest.raises(ValueError, match="erf_std"):
        erf_std(-erf)


def test_dense_structure_measures():
    size = (5, 5)
    conv_w = nn.OffsetTiedLinear(1, 1, 3, size, padding=1, dtype=np.float64).dense_weight().data
    assert offset_tied_fraction(conv_w, size) == pytest.approx(1.0)
    assert window_fraction(conv_w, size, radius=1) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    free = rng.standard_normal((25, 25))
    assert offset_tied_fraction(free, size) < 0.2
    assert window_fraction(free, size, radius=1) < 0.4
    with pytest.raises(ValueError, match="weight matrix of shape"):
        offset_tied_fraction(free, (4, 4))


def test_shift_canvas_and_copies():
    img = np.arange(16.0).reshape(4, 4)
    assert canvas(img[None], 2).shape == (1, 8, 8)
    s = shift(img, 1, -1)
    np.testing.assert_array_equal(s[1:, :3], img[:3, 1:])
    assert (s[0] == 0).all() and (s[:, 3] == 0).all()
    np.testing.assert_array_equal(shift(img, 1, 2, circular=True), np.roll(img, (1, 2), (0, 1)))
    assert (shift(img, 4, 0) == 0).all()
    X, y = shifted_copies(canvas(img[None], 1), np.array([3]), 3, 1, np.random.default_rng(0))
    assert X.shape == (4, 6, 6) and (y == 3).all()
    np.testing.assert_array_equal(X[0], canvas(img, 1))
    assert all(X[i].sum() == img.sum() for i in range(4))  # a 1-pixel margin keeps every pixel
    with pytest.raises(ValueError, match="shifted_copies"):
        shifted_copies(X, y[:2], 1, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="canvas"):
        canvas(img, -1)


def test_power_spectrum_invariant_to_circular_shift():
    rng = np.random.default_rng(0)
    x = rng.random((3, 8, 8))
    ps = power_spectrum(x)
    assert ps.shape == (3, 8, 5)
    np.testing.assert_allclose(power_spectrum(shift(x, 3, -2, circular=True)), ps, rtol=1e-10)
    assert np.abs(power_spectrum(shift(x, 1, 0)) - ps).max() > 1e-3  # zero-fill shift is not
    np.testing.assert_allclose(ps[:, 0, 0], x.sum(axis=(1, 2)) ** 2)  # the DC term
