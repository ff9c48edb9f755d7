"""The row and column sums the ops take as BLAS products (`ibcore.ops._base`), against NumPy's."""

import numpy as np
import pytest

import ibcore as ib
from ibcore import F
from ibcore.ops._base import _sum_last, _sum_leading


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 4), (2, 0, 3), (3, 1)])
def test_sum_last_and_leading_match_numpy(shape):
    a = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(_sum_last(a), a.sum(axis=-1, keepdims=True), atol=1e-12)
    for k in range(1, len(shape) + 1):
        lead = tuple(range(len(shape) - k))
        np.testing.assert_allclose(_sum_leading(a, k), a.sum(axis=lead), atol=1e-12)


def test_sums_of_strided_and_broadcast_arrays():
    a = np.random.default_rng(1).standard_normal((4, 6, 5)).transpose(2, 0, 1)[:, ::2]
    np.testing.assert_allclose(_sum_last(a), a.sum(-1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(_sum_leading(a, 1), a.sum((0, 1)), atol=1e-12)
    b = np.broadcast_to(np.arange(3.0), (4, 3))
    np.testing.assert_allclose(_sum_leading(b, 1), [0, 4, 8])


def test_linear_backward_with_a_broadcast_upstream_gradient():
    """`sum()`'s backward hands `linear` a zero-stride gradient; the result is still exact."""
    rng = np.random.default_rng(2)
    x = ib.Tensor(rng.standard_normal((7, 3, 4)), requires_grad=True)
    w = ib.Tensor(rng.standard_normal((5, 4)), requires_grad=True)
    b = ib.Tensor(rng.standard_normal(5), requires_grad=True)
    F.linear(x, w, b).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(w.data.sum(0), x.shape))
    np.testing.assert_allclose(w.grad, np.broadcast_to(x.data.reshape(-1, 4).sum(0), (5, 4)))
    np.testing.assert_allclose(b.grad, np.full(5, 21.0))


def test_layer_norm_of_an_integer_input_is_float():
    out = F.layer_norm(np.arange(12).reshape(3, 4), 4)
    assert out.dtype.kind == "f"
    np.testing.assert_allclose(out.data.mean(-1), 0, atol=1e-12)
