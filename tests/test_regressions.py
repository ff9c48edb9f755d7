"""Regression cases that every autograd engine gets wrong once.

A tensor used twice, backward called twice, a 10,000-deep graph, repeated indices in a gather,
softmax and friends at logits of +-1e3, the dtype/shape contract of every op, `no_grad` and
`detach`, and the default dtypes.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from test_ops import OPS, OpCase, make_inputs

import ibcore as ib
from ibcore import functional as F


def leaf(x, dtype=np.float64):
    return ib.Tensor(np.asarray(x, dtype=dtype), requires_grad=True)


# --------------------------------------------------------------------------- fan-out, accumulation
def test_tensor_added_to_itself():
    a = leaf([1.0, -2.0, 3.0])
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])


def test_tensor_multiplied_by_itself():
    a = leaf([1.0, -2.0, 3.0])
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, 2 * a.data)


def test_tensor_used_in_several_branches():
    """y = a*b + exp(a) - a/b + sum(a): every path into ``a`` and ``b`` contributes."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    a, b = leaf(A), leaf(B)
    h = a * b  # an intermediate used twice as well
    y = (h + h.exp() - a / b + a.sum() * h).sum()
    y.backward()
    ta = torch.tensor(A, requires_grad=True)
    tb = torch.tensor(B, requires_grad=True)
    th = ta * tb
    (th + th.exp() - ta / tb + ta.sum() * th).sum().backward()
    np.testing.assert_allclose(y.data, (th + th.exp() - ta / tb + ta.sum() * th).sum().item())
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-13)


def test_backward_twice_accumulates():
    a = leaf([0.5, -1.0])
    y = (a * a * 3.0).sum()
    y.backward()
    first = a.grad.copy()
    np.testing.assert_allclose(first, 6 * a.data)
    y.backward()  # the graph is kept: the same gradient is added again
    np.testing.assert_allclose(a.grad, 2 * first)
    a.grad = None
    y.backward()
    np.testing.assert_allclose(a.grad, first)


def test_leaf_grad_is_not_aliased_with_upstream():
    """The first gradient stored on a leaf is a copy: accumulating into it must not modify the
    user's upstream array (or another leaf's gradient)."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = a + b
    g = np.array([1.0, 1.0])
    out.backward(g)
    a.grad += 5
    np.testing.assert_array_equal(g, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_deep_chain_graph():
    """10,000 multiplications and additions (20,000 nodes): no RecursionError, correct value."""
    x0 = leaf(1.5)
    x = x0
    for _ in range(10_000):
        x = x * 1.0001 + 0.0
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # the engine must not depend on recursion at all
    try:
        x.backward()
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(x.data, 1.5 * 1.0001**10_000, rtol=1e-10)
    np.testing.assert_allclose(x0.grad, 1.0001**10_000, rtol=1e-10)


def test_deep_graph_with_fan_out():
    """A deep chain where every step also reads the original input."""
    x0 = leaf(0.3)
    x = x0
    for _ in range(3000):
        x = x * 0.999 + x0 * 0.001
    x.backward()
    t0 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    t = t0
    for _ in range(3000):
        t = t * 0.999 + t0 * 0.001
    t.backward()
    np.testing.assert_allclose(x0.grad, t0.grad.item(), rtol=1e-12)


# --------------------------------------------------------------------------- repeated indices
def test_repeated_indices_in_fancy_index_accumulate():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 3))
    idx = np.array([0, 3, 0, 0, 2])
    G = rng.standard_normal((5, 3))
    a = leaf(X)
    a[idx].backward(G)
    expected = np.zeros_like(X)
    np.add.at(expected, idx, G)
    np.testing.assert_allclose(a.grad, expected)
    naive = np.zeros_like(X)
    naive[idx] += G  # buffered: repeated rows would be counted once
    assert not np.allclose(a.grad, naive)
    t = torch.tensor(X, requires_grad=True)
    t[torch.from_numpy(idx)].backward(torch.from_numpy(G))
    np.testing.assert_allclose(a.grad, t.grad.numpy())


def test_repeated_indices_in_gather_accumulate():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 4))
    idx = np.array([[1, 1, 1], [0, 3, 0], [2, 2, 2]])
    G = rng.standard_normal(idx.shape)
    a = leaf(X)
    a.gather(1, idx).backward(G)
    expected = np.zeros_like(X)
    rows = np.arange(3)[:, None].repeat(3, 1)
    np.add.at(expected, (rows, idx), G)
    np.testing.assert_allclose(a.grad, expected)
    np.testing.assert_allclose(a.grad[0, 1], G[0].sum())
    t = torch.tensor(X, requires_grad=True)
    t.gather(1, torch.from_numpy(idx)).backward(torch.from_numpy(G))
    np.testing.assert_allclose(a.grad, t.grad.numpy())


# --------------------------------------------------------------------------- extreme logits
EXTREME = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, 1e3], [1e3, 1e3, -1e3]])
EXTREME_TARGETS = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
STABLE = {
    "softmax": (lambda a: F.softmax(a, -1), lambda a: torch.softmax(a, -1)),
    "softmax_dim0": (lambda a: F.softmax(a, 0), lambda a: torch.softmax(a, 0)),
    "log_softmax": (lambda a: F.log_softmax(a, -1), lambda a: torch.log_softmax(a, -1)),
    "cross_entropy": (lambda a: F.cross_entropy(a, np.array([1, 0, 2]), reduction="none"),
                      lambda a: TF.cross_entropy(a, torch.tensor([1, 0, 2]), reduction="none")),
    "bce_with_logits": (
        lambda a: F.binary_cross_entropy_with_logits(a, ib.Tensor(EXTREME_TARGETS), "none"),
        lambda a: TF.binary_cross_entropy_with_logits(a, torch.from_numpy(EXTREME_TARGETS),
                                                      reduction="none")),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "softplus": (F.softplus, TF.softplus),
    "tanh": (F.tanh, torch.tanh),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(STABLE))
def test_stable_at_plus_minus_1e3(name, dtype):
    ib_fn, th_fn = STABLE[name]
    a = ib.Tensor(EXTREME.astype(dtype), requires_grad=True)
    t = torch.tensor(EXTREME.astype(dtype), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        out = ib_fn(a)
        G = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
        out.backward(G)
    ref = th_fn(t)
    ref.backward(torch.from_numpy(G))
    assert np.all(np.isfinite(out.data)), out.data
    assert np.all(np.isfinite(a.grad)), a.grad
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=tol, atol=tol)


def test_cross_entropy_at_extreme_logits_has_exact_values():
    logits = leaf([[1e3, -1e3], [-1e3, 1e3]])
    loss = F.cross_entropy(logits, np.array([0, 0]), reduction="sum")
    np.testing.assert_allclose(loss.data, 2e3)  # the first example is right, the second off by 2e3
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[0.0, 0.0], [-1.0, 1.0]], atol=1e-300)


# --------------------------------------------------------------------------- dtype/shape contract
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_grad_shape_and_dtype_match_input(case: OpCase, dtype):
    """For every op: each gradient has its input's shape and dtype, and the output has the dtype
    torch gives (float32 stays float32: no silent promotion to float64)."""
    xs = make_inputs(case, dtype=dtype)
    ts = [ib.Tensor(x, requires_grad=True) for x in xs]
    out = case.ib_fn(*ts)
    ref = case.torch(*[torch.from_numpy(x) for x in xs])
    assert out.dtype == ref.detach().numpy().dtype, (out.dtype, ref.dtype)
    assert isinstance(out.data, np.ndarray)
    out.backward(np.ones(out.shape, dtype=out.dtype) * 0.5)
    for t in ts:
        assert isinstance(t.grad, np.ndarray)
        assert t.grad.shape == t.shape
        assert t.grad.dtype == t.dtype


@pytest.mark.parametrize("case", [c for c in OPS if len(c.shapes) > 1], ids=lambda c: c.name)
def test_inputs_without_grad_get_none(case: OpCase):
    """Only inputs that require grad receive one; the others stay None."""
    xs = make_inputs(case)
    ts = [ib.Tensor(x, requires_grad=(i == 0)) for i, x in enumerate(xs)]
    case.ib_fn(*ts).backward(np.ones(case.ib_fn(*ts).shape))
    assert ts[0].grad is not None
    assert all(t.grad is None for t in ts[1:])


# --------------------------------------------------------------------------- no_grad, detach
def test_no_grad_context_builds_no_graph_and_restores():
    a = leaf([1.0, 2.0])
    assert ib.is_grad_enabled()
    with ib.no_grad():
        assert not ib.is_grad_enabled()
        b = a * 2 + 1
        assert not b.requires_grad and b.is_leaf and b._parents == ()
        with pytest.raises(RuntimeError):
            b.sum().backward()
    assert ib.is_grad_enabled()
    assert (a * 2).requires_grad


def test_no_grad_restores_state_after_exception():
    with pytest.raises(KeyError), ib.no_grad():
        {}["missing"]
    assert ib.is_grad_enabled()


def test_no_grad_nested_and_enable_grad():
    a = leaf([1.0])
    with ib.no_grad():
        with ib.no_grad():
            assert not ib.is_grad_enabled()
        assert not ib.is_grad_enabled()  # the inner exit restores the outer state, not True
        with ib.enable_grad():
            assert (a * 2).requires_grad
        assert not (a * 2).requires_grad
    assert ib.is_grad_enabled()


def test_same_no_grad_instance_nested():
    ng = ib.no_grad()
    with ng:
        with ng:
            pass
        assert not ib.is_grad_enabled()
    assert ib.is_grad_enabled()


def test_no_grad_as_decorator_including_recursion():
    a = leaf([1.0, 2.0])

    @ib.no_grad()
    def f(x, depth):
        assert not ib.is_grad_enabled()
        return f(x, depth - 1) if depth else x * 3

    out = f(a, 3)
    assert not out.requires_grad
    np.testing.assert_array_equal(out.data, [3.0, 6.0])
    assert ib.is_grad_enabled()  # restored even after the decorated function recursed
    assert (a * 3).requires_grad


def test_enable_grad_as_decorator():
    a = leaf([1.0])

    @ib.enable_grad()
    def g(x):
        return x * 2

    with ib.no_grad():
        assert g(a).requires_grad
        assert not ib.is_grad_enabled()


def test_detach_cuts_the_graph():
    a = leaf([1.0, 2.0])
    b = a * 3
    d = b.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, b.data)  # shares the values, as torch's detach
    (d * a).sum().backward()
    np.testing.assert_array_equal(a.grad, b.data)  # d is a constant: only the direct path


# --------------------------------------------------------------------------- dtypes
def test_default_dtype_for_python_data_is_float32():
    assert ib.Tensor([1.0, 2.0]).dtype == np.float32
    assert ib.Tensor([[1, 2.5], [3, 4]]).dtype == np.float32
    assert ib.Tensor(3.0).dtype == np.float32
    assert ib.tensor([0.5]).dtype == np.float32


def test_float64_numpy_arrays_keep_their_dtype():
    x = np.array([1.0, 2.0])
    t = ib.Tensor(x, requires_grad=True)
    assert t.dtype == np.float64
    assert (t * 2.0 + 1).dtype == np.float64  # python scalars do not change the dtype
    assert ib.Tensor(np.float32([1])).dtype == np.float32
    assert ib.Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_integer_and_bool_data():
    assert ib.Tensor([1, 2]).dtype == np.int64
    assert ib.Tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int64
    assert ib.Tensor([True, False]).dtype == np.bool_


def test_float32_scalar_ops_stay_float32():
    a = ib.Tensor(np.ones(3, np.float32), requires_grad=True)
    out = (a * 2 + 1.5) ** 2 / 3 - 1
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32


def test_results_of_scalar_ops_are_arrays():
    a = leaf([1.0, 2.0, 3.0])
    for out in (a @ a, (a @ a).exp(), a.sum().log(), a[1], a.max()):
        assert isinstance(out.data, np.ndarray), type(out.data)
        assert out.shape == ()


@pytest.mark.parametrize("shape, ids", [
    ((5, 3), [0, 4, 4, -1, 2, 4]), ((6, 2, 3), [[5, -6, 0], [5, 5, 1]]), ((3,), [1, 1, 2]),
    ((4, 2), np.zeros(0, dtype=np.int64)), ((4, 2), np.array(3)),
])
def test_integer_array_index_backward_sums_repeats_like_add_at(shape, ids):
    """x[ids] with one integer array (an embedding lookup) scatters by sort and reduceat; it must
    equal np.add.at, repeated and negative ids included."""
    rng = np.random.default_rng(0)
    ids = np.asarray(ids, dtype=np.int64)
    x = ib.Tensor(rng.standard_normal(shape), requires_grad=True)
    y = x[ids]
    g = rng.standard_normal(y.shape)
    y.backward(g)
    z = np.zeros(shape)
    np.add.at(z, ids, g)
    np.testing.assert_allclose(x.grad, z, rtol=1e-12, atol=1e-12)
