"""Output heads are distributions: their NLL equals torch.distributions' ``-log_prob``, their mean
is the inverse link, their samples have the right shape and moments, the canonical link makes the
gradient the residual, and impossible targets are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import distributions as D

import ibcore as ib
from ibcore import heads

RNG = np.random.default_rng(7)
N = 12
ETA_1D = RNG.standard_normal(N) * 2
ETA_2D = RNG.standard_normal((N, 4)) * 2
Y_BERN = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0], dtype=np.float64)
Y_BERN_SOFT = RNG.uniform(0, 1, N)  # soft targets: the NLL is the cross-entropy
Y_CAT = RNG.integers(0, 4, N)
Y_GAUSS = RNG.standard_normal(N) * 3
Y_POIS = RNG.poisson(3.0, N).astype(np.float64)


def _tensor_ref(dist, y):
    return -dist.log_prob(torch.from_numpy(np.asarray(y))).numpy()


CASES = {
    "bernoulli": (heads.Bernoulli(), ETA_1D, Y_BERN,
                  lambda e: D.Bernoulli(logits=torch.from_numpy(e))),
    "bernoulli_2d": (heads.Bernoulli(), ETA_2D, (ETA_2D > 0).astype(np.float64),
                     lambda e: D.Bernoulli(logits=torch.from_numpy(e))),
    "categorical": (heads.Categorical(), ETA_2D, Y_CAT,
                    lambda e: D.Categorical(logits=torch.from_numpy(e))),
    "gaussian": (heads.Gaussian(), ETA_1D, Y_GAUSS,
                 lambda e: D.Normal(torch.from_numpy(e), 1.0)),
    "gaussian_sigma": (heads.Gaussian(sigma=2.5), ETA_1D, Y_GAUSS,
                       lambda e: D.Normal(torch.from_numpy(e), 2.5)),
    "poisson": (heads.Poisson(), ETA_1D, Y_POIS,
                lambda e: D.Poisson(rate=torch.from_numpy(np.exp(e)))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_nll_matches_torch_distributions(name):
    head, eta, y, dist = CASES[name]
    ref = _tensor_ref(dist(eta), y)
    per = head.nll(ib.Tensor(eta), y, reduction="none")
    assert per.shape == ref.shape
    assert per.dtype == np.float64
    np.testing.assert_allclose(per.data, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(head.nll(ib.Tensor(eta), y, reduction="sum").data, ref.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(head.nll(ib.Tensor(eta), y).data, ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(head(ib.Tensor(eta), y, "mean").data, ref.mean(), rtol=1e-12)


def test_bernoulli_soft_targets_match_cross_entropy():
    eta, y = ETA_1D, Y_BERN_SOFT
    p = 1 / (1 + np.exp(-eta))
    ref = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    per = heads.Bernoulli().nll(ib.Tensor(eta), y, reduction="none")
    np.testing.assert_allclose(per.data, ref, rtol=1e-10)


def test_float32_eta_gives_float32_nll():
    for name in CASES:
        head, eta, y, _ = CASES[name]
        assert head.nll(ib.Tensor(eta.astype(np.float32)), y).dtype == np.float32, name


@pytest.mark.parametrize("name", list(CASES))
def test_mean_is_the_inverse_link(name):
    head, eta, _, dist = CASES[name]
    ref = dist(eta)
    mean = head.mean(eta)
    if isinstance(ref, D.Categorical):
        np.testing.assert_allclose(mean, ref.probs.numpy(), rtol=1e-12)
        np.testing.assert_allclose(mean.sum(-1), 1.0, rtol=1e-12)
    else:
        np.testing.assert_allclose(mean, ref.mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(head.mean(ib.Tensor(eta)), mean)  # tensors work too


def test_mean_at_extreme_eta_is_finite():
    eta = np.array([[1e3, -1e3, 0.0]])
    assert np.all(np.isfinite(heads.Categorical().mean(eta)))
    np.testing.assert_allclose(heads.Bernoulli().mean(eta), [[1.0, 0.0, 0.5]])


def test_gaussian_mean_is_a_copy():
    eta = np.zeros(3)
    m = heads.Gaussian().mean(eta)
    m += 1
    np.testing.assert_array_equal(eta, 0)


# --------------------------------------------------------------------------- sampling
def test_bernoulli_samples():
    eta = np.array([-2.0, 0.0, 1.5])
    s = heads.Bernoulli().sample(np.tile(eta, (20000, 1)), np.random.default_rng(0))
    assert s.shape == (20000, 3)
    assert set(np.unique(s)) <= {0, 1}
    np.testing.assert_allclose(s.mean(0), 1 / (1 + np.exp(-eta)), atol=0.015)


def test_categorical_samples():
    eta = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    s = heads.Categorical().sample(np.tile(eta, (20000, 1)), np.random.default_rng(0))
    assert s.shape == (20000,)
    assert s.min() >= 0 and s.max() <= 3
    np.testing.assert_allclose(np.bincount(s, minlength=4) / 20000, [0.1, 0.2, 0.3, 0.4],
                               atol=0.015)


def test_categorical_samples_batch_shape():
    s = heads.Categorical().sample(np.zeros((5, 7, 3)), np.random.default_rng(1))
    assert s.shape == (5, 7)


def test_gaussian_samples():
    eta = np.full(20000, 1.5)
    s = heads.Gaussian(sigma=2.0).sample(eta, np.random.default_rng(0))
    assert s.shape == (20000,)
    assert abs(s.mean() - 1.5) < 0.06
    assert abs(s.std() - 2.0) < 0.05


def test_poisson_samples():
    rate = 3.7
    s = heads.Poisson().sample(np.full(20000, np.log(rate)), np.random.default_rng(0))
    assert s.shape == (20000,)
    assert np.all(s >= 0) and np.all(s == np.round(s))
    assert abs(s.mean() - rate) < 0.06
    assert abs(s.var() - rate) < 0.2  # a Poisson's variance equals its mean


def test_sampling_is_seeded():
    eta = np.zeros(50)
    for head in (heads.Bernoulli(), heads.Gaussian(), heads.Poisson()):
        a = head.sample(eta, np.random.default_rng(3))
        b = head.sample(eta, np.random.default_rng(3))
        np.testing.assert_array_equal(a, b)
    ib.manual_seed(5)
    a = heads.Poisson().sample(eta)
    ib.manual_seed(5)
    np.testing.assert_array_equal(a, heads.Poisson().sample(eta))


# --------------------------------------------------------------------------- canonical link
@pytest.mark.parametrize("name", list(CASES))
def test_canonical_link_gradient_is_the_residual(name):
    """d(sum NLL)/d(eta) = mean(eta) - y (divided by sigma^2 for the Gaussian)."""
    head, eta, y, _ = CASES[name]
    e = ib.Tensor(eta, requires_grad=True)
    head.nll(e, y, reduction="sum").backward()
    mean = head.mean(eta)
    if isinstance(head, heads.Categorical):
        target = np.eye(eta.shape[1])[y]
    else:
        target = y
    residual = mean - target
    if isinstance(head, heads.Gaussian):
        residual = residual / head.sigma**2
    np.testing.assert_allclose(e.grad, residual, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- impossible targets
def _raises(*fragments):
    import re

    return pytest.raises(ValueError,
                         match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def test_poisson_rejects_negative_and_non_integer_counts():
    eta = ib.Tensor(np.zeros(5))
    with _raises("Poisson", "[-1.0]", "[3]"):
        heads.Poisson().nll(eta, np.array([0.0, 2.0, 1.0, -1.0, 4.0]))
    with _raises("Poisson", "[2.5]", "[1]"):
        heads.Poisson().nll(eta, np.array([0.0, 2.5, 1.0, 1.0, 4.0]))
    with _raises("Poisson", "-2"):
        heads.Poisson().nll(eta, np.array([0, -2, 1, 1, 4]))
    with _raises("Poisson", "nan"):
        heads.Poisson().nll(eta, np.array([0.0, np.nan, 1.0, 1.0, 4.0]))
    with _raises("Poisson", "(5,)", "(4,)"):
        heads.Poisson().nll(eta, np.array([0, 1, 1, 4]))


def test_categorical_rejects_out_of_range_and_non_integer_labels():
    eta = ib.Tensor(np.zeros((4, 3)))
    with _raises("Categorical", "[0, 3)", "[3]", "[2]"):
        heads.Categorical().nll(eta, np.array([0, 1, 3, 2]))
    with _raises("Categorical", "[-1]", "[0]"):
        heads.Categorical().nll(eta, np.array([-1, 1, 2, 2]))
    with _raises("Categorical", "integers", "[1.5]", "[1]"):
        heads.Categorical().nll(eta, np.array([0.0, 1.5, 2.0, 2.0]))


def test_categorical_accepts_integral_floats():
    eta = ib.Tensor(np.zeros((2, 3)))
    np.testing.assert_allclose(heads.Categorical().nll(eta, np.array([0.0, 2.0])).data,
                               np.log(3))


def test_bernoulli_rejects_targets_outside_unit_interval():
    eta = ib.Tensor(np.zeros(4))
    with _raises("Bernoulli", "[1.5]", "[2]"):
        heads.Bernoulli().nll(eta, np.array([0.0, 1.0, 1.5, 0.0]))
    with _raises("Bernoulli", "-0.5", "nan"):
        heads.Bernoulli().nll(eta, np.array([-0.5, np.nan, 1.0, 0.0]))


def test_gaussian_rejects_non_finite_targets():
    eta = ib.Tensor(np.zeros(4))
    with _raises("Gaussian", "inf", "[1]"):
        heads.Gaussian().nll(eta, np.array([0.0, np.inf, 1.0, 0.0]))
    with _raises("Gaussian", "nan", "[3]"):
        heads.Gaussian().nll(eta, np.array([0.0, 0.0, 1.0, np.nan]))
    with _raises("Gaussian", "sigma", "0"):
        heads.Gaussian(sigma=0.0)


def test_positions_in_2d_targets_are_named_as_tuples():
    eta = ib.Tensor(np.zeros((2, 3)))
    with _raises("Bernoulli", "(1, 2)"):
        heads.Bernoulli().nll(eta, np.array([[0, 1, 0], [1, 0, 3]]))


def test_many_offenders_are_summarised():
    eta = ib.Tensor(np.zeros(10))
    with _raises("Poisson", "and 5 more"):
        heads.Poisson().nll(eta, -np.ones(10))
