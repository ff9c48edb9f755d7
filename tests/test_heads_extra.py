"""The learned-scale Gaussian head, predictive intervals and links of every head."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import distributions as D

import ibcore as ib
from ibcore import heads

RNG = np.random.default_rng(11)
ETA2 = RNG.standard_normal((9, 2)) * 2
Y = RNG.standard_normal(9) * 3


def _raises(*fragments):
    return pytest.raises(ValueError,
                         match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def _softplus(r):
    return np.logaddexp(0, r)


def test_learned_scale_nll_matches_torch_normal():
    head = heads.Gaussian(sigma=None)
    ref = -D.Normal(torch.from_numpy(ETA2[:, 0]),
                    torch.nn.functional.softplus(torch.from_numpy(ETA2[:, 1]))).log_prob(
        torch.from_numpy(Y)).numpy()
    np.testing.assert_allclose(head.nll(ib.Tensor(ETA2), Y, "none").data, ref, rtol=1e-12)
    np.testing.assert_allclose(head.nll(ib.Tensor(ETA2), Y, "sum").data, ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(head.nll(ib.Tensor(ETA2), Y).data, ref.mean(), rtol=1e-12)
    assert head.outputs == 2 and heads.Gaussian().outputs == 1
    assert "softplus" in repr(head)


def test_learned_scale_gradients_match_torch_and_the_residual():
    head = heads.Gaussian(sigma=None)
    e = ib.Tensor(ETA2, requires_grad=True)
    head.nll(e, Y, "sum").backward()
    te = torch.tensor(ETA2, requires_grad=True)
    (-D.Normal(te[:, 0], torch.nn.functional.softplus(te[:, 1])).log_prob(
        torch.from_numpy(Y))).sum().backward()
    np.testing.assert_allclose(e.grad, te.grad.numpy(), rtol=1e-11, atol=1e-12)
    s = _softplus(ETA2[:, 1])
    np.testing.assert_allclose(e.grad[:, 0], (ETA2[:, 0] - Y) / s**2, rtol=1e-11)


def test_learned_scale_mean_scale_and_samples():
    head = heads.Gaussian(sigma=None)
    eta = np.tile([[1.5, 0.3]], (20000, 1))
    np.testing.assert_allclose(head.mean(eta), 1.5)
    np.testing.assert_allclose(head.scale(eta), _softplus(0.3))
    s = head.sample(eta, np.random.default_rng(0))
    assert s.shape == (20000,)
    assert abs(s.std() - _softplus(0.3)) < 0.02
    np.testing.assert_allclose(heads.Gaussian(2.0).scale(np.zeros(3)), 2.0)


def test_learned_scale_float32_stays_float32():
    out = heads.Gaussian(sigma=None).nll(ib.Tensor(ETA2.astype(np.float32)), Y)
    assert out.dtype == np.float32


def test_learned_scale_rejects_bad_shapes_and_targets():
    head = heads.Gaussian(sigma=None)
    with _raises("learned scale", "(9, 3)", "(..., 2)"):
        head.nll(ib.Tensor(np.zeros((9, 3))), Y)
    with _raises("learned scale", "(8,)", "(9, 2)"):
        head.nll(ib.Tensor(ETA2), Y[:8])
    with _raises("Gaussian", "nan", "[4]"):
        head.nll(ib.Tensor(ETA2), np.where(np.arange(9) == 4, np.nan, Y))
    with _raises("Gaussian", "reduction"):
        head.nll(ib.Tensor(ETA2), Y, "max")
    with _raises("Gaussian", "sigma", "-1"):
        heads.Gaussian(sigma=-1)


# --------------------------------------------------------------------------- intervals
def _coverage(head, eta, level, n=4000, seed=0):
    lo, hi = head.predictive_interval(eta, level)
    rng = np.random.default_rng(seed)
    draws = np.stack([head.sample(eta, rng) for _ in range(n)])
    return ((draws >= lo) & (draws <= hi)).mean(axis=0)


def test_gaussian_interval_is_mean_plus_minus_z_sigma():
    lo, hi = heads.Gaussian(2.0).predictive_interval(np.array([0.0, 1.0]), 0.95)
    np.testing.assert_allclose(hi - lo, 2 * 1.959963984540054 * 2.0)
    cov = _coverage(heads.Gaussian(sigma=None), np.array([[0.0, 0.5], [3.0, -1.0]]), 0.9)
    np.testing.assert_allclose(cov, 0.9, atol=0.02)


def test_poisson_interval_covers_at_least_level():
    eta = np.log(np.array([0.3, 2.0, 7.5, 40.0]))
    lo, hi = heads.Poisson().predictive_interval(eta, 0.8)
    assert lo.dtype.kind == "i" and np.all(lo <= hi)
    cov = _coverage(heads.Poisson(), eta, 0.8)
    assert np.all(cov >= 0.8 - 0.02), cov


def test_bernoulli_interval():
    lo, hi = heads.Bernoulli().predictive_interval(np.array([-10.0, 0.0, 10.0]), 0.9)
    np.testing.assert_array_equal(lo, [0, 0, 1])
    np.testing.assert_array_equal(hi, [0, 1, 1])


def test_categorical_prediction_set():
    eta = np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.97, 0.01, 0.01, 0.01]]))
    m = heads.Categorical().predictive_interval(eta, 0.9)
    np.testing.assert_array_equal(m, [[True, True, True, False], [True, False, False, False]])


@pytest.mark.parametrize("head", [heads.Bernoulli(), heads.Categorical(), heads.Gaussian(),
                                  heads.Poisson(), heads.Gaussian(sigma=None)], ids=repr)
def test_interval_rejects_bad_level(head):
    eta = np.zeros((2, 2))
    for level in (0, 1, 1.5, "0.9"):
        with _raises("head", "level"):
            head.predictive_interval(eta, level)


# --------------------------------------------------------------------------- links
@pytest.mark.parametrize("head,eta", [
    (heads.Bernoulli(), RNG.standard_normal(5)),
    (heads.Gaussian(), RNG.standard_normal(5)),
    (heads.Poisson(), RNG.standard_normal(5)),
])
def test_link_function_inverts_the_mean(head, eta):
    np.testing.assert_allclose(head.link_function(head.mean(eta)), eta, rtol=1e-10, atol=1e-12)


def test_categorical_link_is_log_probabilities_up_to_a_constant():
    eta = RNG.standard_normal((3, 4))
    back = heads.Categorical().link_function(heads.Categorical().mean(eta))
    d = back - eta
    np.testing.assert_allclose(d, d[:, :1] * np.ones((1, 4)), atol=1e-12)


# --------------------------------------------------------------------------- data generators
def test_count_data_is_seeded_and_valid():
    x, y = ib.data.count_data(300, seed=1)
    x2, y2 = ib.data.count_data(300, seed=1)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (300, 1) and y.shape == (300,) and y.dtype == np.int64
    assert np.all(y >= 0) and np.all(np.diff(x[:, 0]) >= 0)
    np.testing.assert_allclose(ib.data.count_rate([0.5, 1.5]), [7.0, 0.1])
    heads.Poisson().validate(y)
    with _raises("count_data", "n"):
        ib.data.count_data(0)
    with _raises("count_data", "low < high"):
        ib.data.count_data(10, low=1, high=1)


def test_heteroscedastic_data_has_the_stated_noise():
    x, y = ib.data.heteroscedastic_data(20000, seed=2)
    r = (y - ib.data.hetero_mean(x[:, 0])) / ib.data.hetero_scale(x[:, 0])
    assert abs(r.std() - 1) < 0.02 and abs(r.mean()) < 0.02
    np.testing.assert_allclose(ib.data.hetero_scale([-3, 0, 1.5]), [1.1, 0.1, 0.6])
    with _raises("heteroscedastic_data", "n"):
        ib.data.heteroscedastic_data(-5)


def test_every_head_has_a_readable_repr():
    """Head.__repr__ names the head and its link; the Gaussian adds its sigma."""
    assert repr(heads.Bernoulli()) == "Bernoulli(link='logit')"
    assert repr(heads.Poisson()) == "Poisson(link='log')"
    assert repr(heads.Gamma(2.0)) == "Gamma(link='log')"
    assert repr(heads.Gaussian(2.0)) == "Gaussian(link='identity', sigma=2.0)"
