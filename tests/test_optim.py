"""Optimizers follow ``torch.optim``'s arithmetic exactly: identical float64 parameters and
identical gradient sequences give identical trajectories (to 1e-12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import optim

SHAPES = [(3, 4), (4,), ()]


def _run_both(make_ib, make_torch, steps=5, seed=0, skip=None):
    """Apply the same random gradients to ibcore and torch parameters; compare after each step.

    ``skip``: (step, param index) pairs whose gradient is None in both libraries.
    """
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    ps = [ib.Tensor(x.copy(), requires_grad=True) for x in init]
    ts = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    opt, topt = make_ib(ps), make_torch(ts)
    skip = skip or set()
    for step in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        for i, (p, t) in enumerate(zip(ps, ts, strict=True)):
            if (step, i) in skip:
                continue
            g = np.asarray(rng.standard_normal(p.shape) * (1 + step))
            p.grad = g.copy()
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(ps, ts, strict=True):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"after step {step + 1}")
    return ps, ts, init


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(momentum):
    _run_both(lambda p: optim.SGD(p, lr=0.05, momentum=momentum),
              lambda p: torch.optim.SGD(p, lr=0.05, momentum=momentum))


@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.01},
    {"lr": 0.003, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.1, "betas": (0.0, 0.5), "eps": 0.0},
])
def test_adam_matches_torch(kwargs):
    _run_both(lambda p: optim.Adam(p, **kwargs), lambda p: torch.optim.Adam(p, **kwargs),
              steps=6)


def test_sgd_moves_against_the_gradient():
    p = ib.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    p.grad = np.array([2.0, -4.0])
    opt.step()
    np.testing.assert_array_equal(p.data, [0.0, 0.0])


def test_adam_first_step_is_lr_times_sign():
    """With bias correction the first Adam step is ``lr * g / (|g| + eps)``, about lr * sign(g)."""
    p = ib.Tensor(np.zeros(3), requires_grad=True)
    opt = optim.Adam([p], lr=0.1, eps=0.0)
    p.grad = np.array([3.0, -1e-4, 50.0])
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1, 0.1, -0.1], rtol=1e-12)


def test_zero_grad_sets_grads_to_none():
    ps = [ib.Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    opt = optim.Adam(ps)
    (ps[0] * ps[1]).sum().backward()
    assert all(p.grad is not None for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


@pytest.mark.parametrize("which", ["sgd", "sgd_momentum", "adam"])
def test_params_with_grad_none_are_skipped(which):
    """A parameter with no gradient is left alone and keeps no state advance (as torch)."""
    make = {
        "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        "sgd_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        "adam": (lambda p: optim.Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1)),
    }[which]
    skip = {(0, 1), (1, 1), (2, 0), (3, 2)}
    ps, _, init = _run_both(*make, steps=5, skip=skip)
    # parameter 1 had no gradient in steps 0 and 1: it only moved from step 2 on
    p = ib.Tensor(init[1].copy(), requires_grad=True)
    opt = make[0]([p])
    opt.step()  # grad None: nothing happens
    np.testing.assert_array_equal(p.data, init[1])


def test_updates_are_in_place_and_build_no_graph():
    p = ib.Tensor(np.ones(3), requires_grad=True)
    data = p.data
    for opt in (optim.SGD([p], lr=0.1, momentum=0.5), optim.Adam([p], lr=0.1)):
        p.grad = np.ones(3)
        opt.step()
        assert p.data is data  # the same array, updated in place
        assert p.is_leaf and p.requires_grad


def test_float32_parameters_stay_float32():
    p = ib.Tensor(np.ones(3, np.float32), requires_grad=True)
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p], lr=0.1)):
        for _ in range(3):
            p.grad = np.full(3, 0.5, np.float32)
            opt.step()
        assert p.data.dtype == np.float32


def test_momentum_buffer_does_not_alias_the_gradient():
    p = ib.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.9)
    g = np.array([1.0, 2.0])
    p.grad = g
    opt.step()
    opt.step()  # the buffer is updated in place; the user's array must not change
    np.testing.assert_array_equal(g, [1.0, 2.0])
    np.testing.assert_allclose(p.data, -(g + (0.9 * g + g)))


def test_optimizer_accepts_a_generator_of_parameters():
    model = ib.nn.MLP([2, 3, 1])
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.params) == 4
