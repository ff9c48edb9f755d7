"""F.lgamma and F.logsumexp (for the Gamma, Beta and mixture heads): torch parity, finite diffs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fdcheck import central_diff

import ibcore as ib
from ibcore import functional as special

RNG = np.random.default_rng(5)


def test_lgamma_matches_torch_value_and_gradient():
    x = RNG.uniform(0.05, 20, (4, 5))
    up = RNG.standard_normal((4, 5))  # a random upstream gradient, not ones
    t = ib.Tensor(x, requires_grad=True)
    out = special.lgamma(t)
    (out * ib.Tensor(up)).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    ref = torch.lgamma(tt)
    (ref * torch.from_numpy(up)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10)


def test_lgamma_finite_differences_and_dtype():
    x = RNG.uniform(0.2, 8, (6,))
    t = ib.Tensor(x, requires_grad=True)
    special.lgamma(t).sum().backward()
    fd = central_diff(lambda v: float(special.lgamma(ib.Tensor(v)).data.sum()), x)
    np.testing.assert_allclose(t.grad, fd, rtol=1e-7, atol=1e-9)
    assert special.lgamma(ib.Tensor(np.float32([1.5, 2.5]))).dtype == np.float32


def test_lgamma_refuses_non_positive_arguments():
    with pytest.raises(ValueError, match=r"lgamma.*positive.*\[-1.0\].*\(1,\)"):
        special.lgamma(ib.Tensor(np.array([2.0, -1.0])))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_matches_torch(dim, keepdim):
    x = RNG.standard_normal((3, 4)) * 3
    t = ib.Tensor(x, requires_grad=True)
    out = special.logsumexp(t, dim=dim, keepdim=keepdim)
    up = RNG.standard_normal(out.shape)
    (out * ib.Tensor(up)).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    ref = torch.logsumexp(tt, dim=dim, keepdim=keepdim)
    (ref * torch.from_numpy(up)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_logsumexp_finite_differences_and_extremes():
    x = RNG.standard_normal((2, 5))
    t = ib.Tensor(x, requires_grad=True)
    special.logsumexp(t, dim=1).sum().backward()
    fd = central_diff(lambda v: float(special.logsumexp(ib.Tensor(v), dim=1).data.sum()), x)
    np.testing.assert_allclose(t.grad, fd, rtol=1e-7, atol=1e-9)
    big = special.logsumexp(ib.Tensor(np.array([[1e3, 1e3], [-1e3, -1e3]])), dim=1).data
    np.testing.assert_allclose(big, [1e3 + np.log(2), -1e3 + np.log(2)])
    with pytest.raises(ValueError, match="logsumexp: dim 2 out of range"):
        special.logsumexp(ib.Tensor(x), dim=2)
