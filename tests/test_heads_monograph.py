"""The heads added for monograph chapter 2: Gamma, Beta and the mixture density network.

Each NLL against torch.distributions' log_prob, gradients against torch and float64 finite
differences, the stated gradient identities, means, samples, intervals, and error paths."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from fdcheck import central_diff
from scipy import stats
from torch import distributions as D

import ibcore as ib
from ibcore import heads

RNG = np.random.default_rng(21)
N = 7


def _raises(*fragments):
    return pytest.raises(ValueError,
                         match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def _sp(r):
    return np.logaddexp(0, r)


def _check_grad(head, eta, y, torch_nll):
    """ibcore's gradient equals torch's and float64 finite differences of ibcore's NLL."""
    e = ib.Tensor(eta, requires_grad=True)
    head.nll(e, y, "sum").backward()
    te = torch.tensor(eta, requires_grad=True)
    torch_nll(te).sum().backward()
    np.testing.assert_allclose(e.grad, te.grad.numpy(), rtol=1e-9, atol=1e-11)
    fd = central_diff(lambda v: float(head.nll(ib.Tensor(v), y, "sum").data), eta)
    np.testing.assert_allclose(e.grad, fd, rtol=1e-6, atol=1e-8)
    return e.grad


# ------------------------------------------------------------------------------------- Gamma
ETA_G = RNG.standard_normal((N, 2))
Y_G = RNG.gamma(2.0, 1.5, N)


def _torch_gamma(te):
    mu, k = torch.exp(te[:, 0]), torch.nn.functional.softplus(te[:, 1])
    return -D.Gamma(k, k / mu).log_prob(torch.from_numpy(Y_G))


def test_gamma_learned_shape_nll_matches_torch_and_scipy():
    head = heads.Gamma(concentration=None)
    got = head.nll(ib.Tensor(ETA_G), Y_G, "none").data
    np.testing.assert_allclose(got, _torch_gamma(torch.from_numpy(ETA_G)).numpy(), rtol=1e-12)
    mu, k = np.exp(ETA_G[:, 0]), _sp(ETA_G[:, 1])
    np.testing.assert_allclose(got, -stats.gamma.logpdf(Y_G, k, scale=mu / k), rtol=1e-10)
    assert head.outputs == 2
    np.testing.assert_allclose(head.nll(ib.Tensor(ETA_G), Y_G).data, got.mean(), rtol=1e-12)


def test_gamma_gradients_and_the_relative_residual():
    head = heads.Gamma(concentration=None)
    g = _check_grad(head, ETA_G, Y_G, _torch_gamma)
    mu, k = np.exp(ETA_G[:, 0]), _sp(ETA_G[:, 1])
    np.testing.assert_allclose(g[:, 0], k * (mu - Y_G) / mu, rtol=1e-10)


def test_gamma_fixed_shape():
    head = heads.Gamma(concentration=3.0)
    eta = ETA_G[:, 0]
    ref = -stats.gamma.logpdf(Y_G, 3.0, scale=np.exp(eta) / 3.0)
    np.testing.assert_allclose(head.nll(ib.Tensor(eta), Y_G, "none").data, ref, rtol=1e-10)
    g = _check_grad(head, eta, Y_G,
                    lambda te: -D.Gamma(3.0, 3.0 / torch.exp(te)).log_prob(torch.from_numpy(Y_G)))
    np.testing.assert_allclose(g, 3.0 * (np.exp(eta) - Y_G) / np.exp(eta), rtol=1e-10)
    assert head.outputs == 1


def test_gamma_mean_scale_samples_interval():
    head = heads.Gamma(concentration=None)
    eta = np.tile([[np.log(2.0), 1.0]], (40000, 1))
    k = _sp(1.0)
    np.testing.assert_allclose(head.mean(eta), 2.0)
    np.testing.assert_allclose(head.scale(eta), 2.0 / np.sqrt(k))
    np.testing.assert_allclose(head.shape_parameter(eta), k)
    s = head.sample(eta, np.random.default_rng(0))
    assert abs(s.mean() - 2.0) < 0.03 and s.min() > 0
    lo, hi = head.predictive_interval(eta[:1], 0.8)
    assert 0 < lo[0] < 2.0 < hi[0]
    assert abs(np.mean((s > lo[0]) & (s < hi[0])) - 0.8) < 0.01
    np.testing.assert_allclose(head.link_function(head.mean(eta[:3])), np.log(2.0))


def test_gamma_errors():
    head = heads.Gamma(concentration=None)
    with _raises("Gamma head", "positive", "0.0", "[1]"):
        head.nll(ib.Tensor(ETA_G[:3]), np.array([1.0, 0.0, 2.0]))
    with _raises("Gamma head", "-2.0"):
        heads.Gamma(2.0).validate(np.array([-2.0, 1.0]))
    with _raises("Gamma head", "(..., 2)", "(7, 3)"):
        head.nll(ib.Tensor(RNG.standard_normal((N, 3))), Y_G)
    with _raises("Gamma head", "(5,)", "(7, 2)"):
        head.nll(ib.Tensor(ETA_G), Y_G[:5])
    with _raises("Gamma head", "concentration must be positive"):
        heads.Gamma(0.0)
    with _raises("Gamma head", "same shape"):
        heads.Gamma(2.0).nll(ib.Tensor(ETA_G[:, 0]), Y_G[:3])
    with _raises("Gamma head", "reduction"):
        head.nll(ib.Tensor(ETA_G), Y_G, "max")


# -------------------------------------------------------------------------------------- Beta
ETA_B = RNG.standard_normal((N, 2)) * 1.5
Y_B = RNG.beta(2.0, 3.0, N)


def _torch_beta(te):
    mu, phi = torch.sigmoid(te[:, 0]), torch.nn.functional.softplus(te[:, 1])
    return -D.Beta(mu * phi, (1 - mu) * phi).log_prob(torch.from_numpy(Y_B))


def test_beta_nll_matches_torch_and_scipy():
    head = heads.Beta()
    got = head.nll(ib.Tensor(ETA_B), Y_B, "none").data
    np.testing.assert_allclose(got, _torch_beta(torch.from_numpy(ETA_B)).numpy(), rtol=1e-10)
    mu, phi = 1 / (1 + np.exp(-ETA_B[:, 0])), _sp(ETA_B[:, 1])
    np.testing.assert_allclose(got, -stats.beta.logpdf(Y_B, mu * phi, (1 - mu) * phi),
                               rtol=1e-9)
    assert head.outputs == 2 and heads.Beta(5.0).outputs == 1


def test_beta_gradients_and_the_logit_residual():
    from scipy.special import digamma, logit

    head = heads.Beta()
    g = _check_grad(head, ETA_B, Y_B, _torch_beta)
    mu, phi = 1 / (1 + np.exp(-ETA_B[:, 0])), _sp(ETA_B[:, 1])
    e_logit = digamma(mu * phi) - digamma((1 - mu) * phi)
    np.testing.assert_allclose(g[:, 0], phi * mu * (1 - mu) * (e_logit - logit(Y_B)), rtol=1e-9)


def test_beta_fixed_precision():
    head = heads.Beta(precision=4.0)
    z = ETA_B[:, 0]
    _check_grad(head, z, Y_B, lambda te: -D.Beta(torch.sigmoid(te) * 4.0,
                                                 torch.sigmoid(-te) * 4.0).log_prob(
        torch.from_numpy(Y_B)))


def test_beta_mean_scale_samples_interval():
    head = heads.Beta()
    eta = np.tile([[0.5, 2.0]], (40000, 1))
    mu, phi = 1 / (1 + np.exp(-0.5)), _sp(2.0)
    np.testing.assert_allclose(head.mean(eta), mu)
    np.testing.assert_allclose(head.precision_parameter(eta), phi)
    np.testing.assert_allclose(head.scale(eta), np.sqrt(mu * (1 - mu) / (1 + phi)))
    s = head.sample(eta, np.random.default_rng(1))
    assert 0 < s.min() and s.max() < 1 and abs(s.mean() - mu) < 0.005
    lo, hi = head.predictive_interval(eta[:1], 0.9)
    assert 0 < lo[0] < mu < hi[0] < 1
    assert abs(np.mean((s > lo[0]) & (s < hi[0])) - 0.9) < 0.01
    np.testing.assert_allclose(head.link_function(head.mean(eta[:2])), 0.5)


def test_beta_errors():
    head = heads.Beta()
    with _raises("Beta head", "strictly inside (0, 1)", "1.0", "[2]"):
        head.nll(ib.Tensor(ETA_B[:3]), np.array([0.5, 0.2, 1.0]))
    with _raises("Beta head", "0.0"):
        head.validate(np.array([0.0]))
    with _raises("Beta head", "(..., 2)"):
        head.nll(ib.Tensor(ETA_B[:, 0]), Y_B)
    with _raises("Beta head", "precision must be positive"):
        heads.Beta(-1.0)
    with _raises("Beta head", "same shape"):
        heads.Beta(2.0).nll(ib.Tensor(ETA_B[:, 0]), Y_B[:2])


# ----------------------------------------------------------------------- mixture density network
K = 3
ETA_M = RNG.standard_normal((N, 3 * K))
Y_M = RNG.standard_normal(N) * 2


def _torch_mdn(te):
    mix = D.Categorical(logits=te[:, :K])
    comp = D.Normal(te[:, K:2 * K], torch.nn.functional.softplus(te[:, 2 * K:]))
    return -D.MixtureSameFamily(mix, comp).log_prob(torch.from_numpy(Y_M))


def test_mdn_nll_matches_torch_mixture():
    head = heads.MixtureDensity(K)
    got = head.nll(ib.Tensor(ETA_M), Y_M, "none").data
    np.testing.assert_allclose(got, _torch_mdn(torch.from_numpy(ETA_M)).numpy(), rtol=1e-11)
    np.testing.assert_allclose(head.density(ETA_M, Y_M), np.exp(-got), rtol=1e-10)
    assert head.outputs == 9 and "3" in repr(head)


def test_mdn_gradients_and_responsibilities():
    head = heads.MixtureDensity(K)
    g = _check_grad(head, ETA_M, Y_M, _torch_mdn)
    pi, mu, s = head.parameters_of(ETA_M)
    joint = pi * stats.norm.pdf(Y_M[:, None], mu, s)
    r = joint / joint.sum(1, keepdims=True)
    np.testing.assert_allclose(g[:, K:2 * K], r * (mu - Y_M[:, None]) / s**2, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(g[:, :K], pi - r, rtol=1e-9, atol=1e-12)


def test_mdn_with_one_component_is_the_learned_scale_gaussian():
    eta = RNG.standard_normal((N, 3))
    one = heads.MixtureDensity(1).nll(ib.Tensor(eta), Y_M, "none").data
    gauss = heads.Gaussian(sigma=None).nll(ib.Tensor(eta[:, 1:]), Y_M, "none").data
    np.testing.assert_allclose(one, gauss, rtol=1e-12)


def test_mdn_mean_scale_samples_interval():
    head = heads.MixtureDensity(2)
    row = np.array([0.0, np.log(3.0), -2.0, 2.0, -1.0, 0.0])  # weights 1/4, 3/4
    eta = np.tile(row, (60000, 1))
    s_k = _sp(np.array([-1.0, 0.0]))
    np.testing.assert_allclose(head.mean(eta[:1]), [0.25 * -2 + 0.75 * 2])
    var = 0.25 * (s_k[0] ** 2 + 4) + 0.75 * (s_k[1] ** 2 + 4) - 1.0
    np.testing.assert_allclose(head.scale(eta[:1]), [np.sqrt(var)])
    s = head.sample(eta, np.random.default_rng(2))
    assert abs(s.mean() - 1.0) < 0.03 and abs(s.std() - np.sqrt(var)) < 0.03
    lo, hi = head.predictive_interval(eta[:1], 0.9)
    assert abs(np.mean((s > lo[0]) & (s < hi[0])) - 0.9) < 0.006
    with pytest.raises(NotImplementedError, match="no single link"):
        head.link_function(0.0)


def test_mdn_errors():
    head = heads.MixtureDensity(K)
    with _raises("MixtureDensity head", "(..., 9)", "(7, 6)"):
        head.nll(ib.Tensor(ETA_M[:, :6]), Y_M)
    with _raises("MixtureDensity head", "(3,)", "(7, 9)"):
        head.nll(ib.Tensor(ETA_M), Y_M[:3])
    with _raises("MixtureDensity head", "finite", "nan"):
        head.nll(ib.Tensor(ETA_M[:2]), np.array([0.0, np.nan]))
    with _raises("MixtureDensity head", "positive integer"):
        heads.MixtureDensity(0)
    with _raises("MixtureDensity", "level"):
        head.predictive_interval(ETA_M, 1.5)


def test_new_heads_train_in_float32():
    """A float32 network output gives a float32 loss and float32 gradients for every new head."""
    cases = [(heads.Gamma(None), 2, Y_G), (heads.Beta(), 2, Y_B), (heads.MixtureDensity(2), 6, Y_M)]
    for head, out, y in cases:
        e = ib.Tensor(RNG.standard_normal((N, out)).astype(np.float32), requires_grad=True)
        loss = head.nll(e, y.astype(np.float32))
        loss.backward()
        assert loss.dtype == np.float32 and e.grad.dtype == np.float32, head
