"""ibcore.perceptron (Rosenblatt's rule, Novikoff's bound, cycles) and ibcore.shallow (1-H-1 LM)."""

from __future__ import annotations

import numpy as np
import pytest

from ibcore import perceptron, shallow


def _separable(seed=0, n=60, margin=0.1):
    rng = np.random.default_rng(seed)
    u = np.array([1.0, -0.5, 0.3])
    u /= np.linalg.norm(u)
    X = rng.uniform(-1, 1, (10 * n, 2))
    m = perceptron.augment(X) @ u
    keep = np.abs(m) >= margin
    return X[keep][:n], np.where(m[keep][:n] > 0, 1, -1), u


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perceptron_converges_within_novikoff_bound(seed):
    X, y, u = _separable(seed)
    run = perceptron.train(X, y)
    assert run.converged and run.cycle is None
    assert np.all(y * (perceptron.augment(X) @ run.w) > 0)
    assert run.updates <= perceptron.novikoff_bound(X, y, u)
    assert run.history.shape == (run.updates + 1, 3)


def test_perceptron_rule_is_the_update():
    X = np.array([[1.0, 0.0]])
    run = perceptron.train(X, np.array([1]), max_epochs=1)
    np.testing.assert_array_equal(run.history[1], [1.0, 0.0, 1.0])  # w + y x~


def test_perceptron_cycles_on_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    run = perceptron.train(X, np.array([-1, 1, 1, -1]))
    assert not run.converged
    assert run.cycle == (0, 1)
    np.testing.assert_array_equal(run.history[0], run.history[-1])


def test_perceptron_errors():
    with pytest.raises(ValueError, match="labels must be"):
        perceptron.train(np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="need X"):
        perceptron.train(np.zeros(3), np.array([1, 1, 1]))
    X, y, u = _separable()
    with pytest.raises(ValueError, match="does not separate"):
        perceptron.novikoff_bound(X, y, -u)
    with pytest.raises(ValueError, match="u must have shape"):
        perceptron.novikoff_bound(X, y, u[:2])


def test_shallow_jacobian_matches_finite_differences():
    theta = shallow.init(5, -2.0, 2.0, seed=3)
    x = np.random.default_rng(0).uniform(-2, 2, 9)
    J = shallow.jacobian(theta, x)
    h = 1e-6
    J_fd = np.stack([(shallow.predict(theta + h * e, x) - shallow.predict(theta - h * e, x))
                     / (2 * h) for e in np.eye(theta.size)], axis=1)
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-8)


def test_shallow_fit_reduces_error_and_recovers_a_network():
    x = np.linspace(-np.pi, np.pi, 100)
    fit = shallow.fit(x, np.sin(x), 3, seed=0, iters=200)
    assert fit.H == 3 and fit.rmse[-1] < fit.rmse[0]
    assert all(b <= a for a, b in zip(fit.rmse, fit.rmse[1:], strict=False))  # monotone
    # a target that is itself a 1-3-1 network is recovered from a nearby start
    true = shallow.init(3, -np.pi, np.pi, seed=1)
    y = shallow.predict(true, x)
    start = true + 0.05 * np.random.default_rng(0).normal(size=true.size)
    fit = shallow.fit(x, y, 3, theta0=start, iters=300)
    assert fit.rmse[-1] < 1e-3 < fit.rmse[0], fit.rmse[::50]


def test_shallow_errors():
    with pytest.raises(ValueError, match="3H \\+ 1"):
        shallow.predict(np.zeros(5), np.zeros(3))
    with pytest.raises(ValueError, match="H >= 1"):
        shallow.init(0, 0.0, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        shallow.fit(np.zeros(3), np.zeros(4), 2)
