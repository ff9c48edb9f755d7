"""Errors are part of the API: each user error raises the documented type, and its message names
the operation and the offending shapes or values, so the reader can fix the call from the message
alone."""

from __future__ import annotations

import ast
import pathlib
import re

import numpy as np
import pytest

import ibcore as ib
from ibcore import functional as F
from ibcore import nn, optim
from ibcore.train import fit


def raises(exc, *fragments: str):
    """``pytest.raises(exc)`` whose message must contain every fragment (literally)."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def t(shape, requires_grad=False):
    return ib.Tensor(np.ones(shape), requires_grad=requires_grad)


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("op, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a**b),
])
def test_broadcast_mismatch_names_op_and_both_shapes(op, fn):
    with raises(ValueError, op, "(2, 3)", "(4,)"):
        fn(t((2, 3)), t((4,)))
    with raises(ValueError, op, "(5, 1, 3)", "(2, 4)"):
        fn(t((5, 1, 3)), t((2, 4)))


def test_broadcast_mismatch_with_numpy_operand():
    with raises(ValueError, "add", "(2, 3)", "(4,)"):
        t((2, 3)) + np.ones(4)


def test_matmul_inner_dimension_mismatch():
    with raises(ValueError, "matmul", "(2, 3)", "(4, 5)"):
        t((2, 3)) @ t((4, 5))
    with raises(ValueError, "matmul", "(3,)", "(4,)"):
        t((3,)) @ t((4,))
    with raises(ValueError, "matmul", "(2, 3, 4)", "(3, 4, 5)"):
        t((2, 3, 4)) @ t((3, 4, 5))  # batch dimensions 2 and 3
    with raises(ValueError, "matmul", "()"):
        F.matmul(t(()), t((3,)))


def test_linear_shape_mismatch():
    w = ib.Tensor(np.ones((3, 4)), requires_grad=True)
    with raises(ValueError, "linear", "(5, 2)", "(3, 4)"):
        F.linear(t((5, 2)), w)
    with raises(ValueError, "linear", "bias", "(4,)", "(3, 4)"):
        F.linear(t((5, 4)), w, t((4,)))


def test_reshape_element_count_mismatch():
    with raises(ValueError, "reshape", "(2, 3)", "(4,)", "6"):
        t((2, 3)).reshape(4)


@pytest.mark.parametrize("fn, fragments", [
    (lambda: ib.cat([t((2, 3)), t((2, 4))], dim=0), ("cat", "(2, 3)", "(2, 4)")),
    (lambda: ib.cat([], dim=0), ("cat", "empty")),
    (lambda: ib.stack([t((2, 3)), t((3, 2))]), ("stack", "(2, 3)", "(3, 2)")),
    (lambda: t((2, 3)).permute(0, 0), ("permute", "(2, 3)")),
    (lambda: t((2, 3)).sum(dim=2), ("dim 2", "2 dimensions")),
    (lambda: t((2, 3)).softmax(dim=-3), ("dim -3",)),
    (lambda: F.gather(t((2, 3)), 1, np.zeros((2,), dtype=np.int64)), ("gather", "(2,)")),
    (lambda: F.gather(t((2, 3)), 1, np.zeros((2, 3))), ("gather", "float64")),
    (lambda: t((2, 3)).item(), ("item", "(2, 3)")),
    (lambda: bool(t((2, 3))), ("ambiguous",)),
    (lambda: F.binary_cross_entropy_with_logits(t((3, 1)), t((3,))),
     ("binary_cross_entropy_with_logits", "(3, 1)", "(3,)")),
    (lambda: F.mse_loss(t((3, 1)), t((3,))), ("mse_loss", "(3, 1)", "(3,)")),
    (lambda: F.cross_entropy(t((4,)), np.zeros(4, dtype=np.int64)), ("cross_entropy", "(4,)")),
    (lambda: F.cross_entropy(t((4, 3)), np.zeros(3, dtype=np.int64)),
     ("cross_entropy", "(4,)", "(3,)")),
    (lambda: F.cross_entropy(t((2, 3)), np.array([0.5, 1.0])), ("cross_entropy", "integer")),
])
def test_other_shape_and_argument_errors(fn, fragments):
    with raises(ValueError, *fragments):
        fn()


def test_index_out_of_range():
    with raises(IndexError, "index", "(2, 3)"):
        t((2, 3))[5]
    with raises(IndexError, "gather"):
        F.gather(t((2, 3)), 1, np.full((2, 3), 3))


# --------------------------------------------------------------------------- construction
@pytest.mark.parametrize("data", [[[1, 2], [3]], [[1.0], [2.0, 3.0], [4.0]]])
def test_ragged_input(data):
    with raises(ValueError, "ragged"):
        ib.Tensor(data)


def test_non_numeric_input():
    with raises(ValueError, "numeric"):
        ib.Tensor(["a", "b"])
    with raises(ValueError, "complex"):
        ib.Tensor(np.array([1 + 2j]))


def test_requires_grad_on_integer_tensor():
    with raises(ValueError, "floating", "int64"):
        ib.Tensor([1, 2, 3], requires_grad=True)
    with raises(ValueError, "floating"):
        ib.Tensor([1, 2]).requires_grad_()
    with raises(ValueError, "floating", "bool"):
        ib.Tensor(np.array([True]), requires_grad=True)


# --------------------------------------------------------------------------- backward
def test_backward_on_non_scalar_without_grad():
    y = t((2, 3), requires_grad=True) * 2
    with raises(RuntimeError, "backward", "(2, 3)", "grad"):
        y.backward()


def test_backward_with_wrong_shaped_grad():
    y = t((2, 3), requires_grad=True) * 2
    with raises(ValueError, "backward", "(3, 2)", "(2, 3)"):
        y.backward(np.ones((3, 2)))
    with raises(ValueError, "backward", "(6,)"):
        y.backward(np.ones(6))


def test_backward_on_tensor_not_requiring_grad():
    with raises(RuntimeError, "backward", "does not require grad"):
        (t((2,)) * 2).sum().backward()
    a = t((2,), requires_grad=True)
    with ib.no_grad():
        b = (a * 2).sum()
    with raises(RuntimeError, "no_grad"):
        b.backward()


# --------------------------------------------------------------------------- losses
def test_cross_entropy_labels_out_of_range_name_values_and_positions():
    logits = t((5, 3))
    with raises(ValueError, "cross_entropy", "[0, 3)", "[3, -1]", "[1, 4]"):
        F.cross_entropy(logits, np.array([0, 3, 2, 1, -1]))


@pytest.mark.parametrize("fn", [
    lambda r: F.cross_entropy(t((2, 3)), np.array([0, 1]), reduction=r),
    lambda r: F.binary_cross_entropy_with_logits(t((2,)), t((2,)), reduction=r),
    lambda r: F.mse_loss(t((2,)), t((2,)), reduction=r),
])
def test_bad_reduction_string(fn):
    with raises(ValueError, "reduction", "'average'"):
        fn("average")


# --------------------------------------------------------------------------- modules
@pytest.mark.parametrize("args", [(0, 3), (3, 0), (-1, 2)])
def test_linear_bad_sizes(args):
    with raises(ValueError, "Linear", str(args[0]), str(args[1])):
        nn.Linear(*args)


@pytest.mark.parametrize("sizes", [[3], [], [2, 0, 1], [2, -4, 1]])
def test_mlp_bad_sizes(sizes):
    with raises(ValueError, "MLP", str(sizes)):
        nn.MLP(sizes)


def test_mlp_unknown_activation():
    with raises(ValueError, "MLP", "'gelu'", "tanh"):
        nn.MLP([2, 3, 1], activation="gelu")


def test_module_setattr_before_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with raises(RuntimeError, "Bad", "super().__init__()"):
        Bad()


def test_sequential_rejects_non_modules():
    with raises(TypeError, "Sequential", "argument 1"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


def test_mlp_hidden_layer_out_of_range():
    with raises(ValueError, "MLP.hidden", "1 hidden"):
        nn.MLP([2, 3, 1]).hidden(ib.Tensor(np.ones((1, 2))), layer=2)


# --------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_empty_params(cls):
    with raises(ValueError, cls.__name__, "empty"):
        cls([], lr=0.1)
    with raises(ValueError, cls.__name__, "empty"):
        cls(nn.Sequential().parameters(), lr=0.1)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan")])
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_bad_lr(cls, lr):
    with raises(ValueError, cls.__name__, "lr", str(lr)):
        cls(nn.Linear(2, 1).parameters(), lr=lr)


def test_optimizer_bad_hyperparameters():
    params = list(nn.Linear(2, 1).parameters())
    with raises(ValueError, "SGD", "momentum", "1.5"):
        optim.SGD(params, lr=0.1, momentum=1.5)
    with raises(ValueError, "Adam", "betas"):
        optim.Adam(params, betas=(0.9, 1.0))
    with raises(ValueError, "Adam", "eps"):
        optim.Adam(params, eps=-1.0)
    with raises(ValueError, "SGD", "parameter 0", "does not require grad"):
        optim.SGD([ib.Tensor(np.ones(2))], lr=0.1)


# --------------------------------------------------------------------------- state dicts
def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_load_state_dict_wrong_shape_leaves_model_unchanged():
    model = nn.MLP([2, 4, 1], dtype=np.float64)
    before = _snapshot(model)
    state = {k: np.zeros_like(v) for k, v in before.items()}
    state["2.weight"] = np.zeros((2, 4))  # the last key is wrong: nothing may be written
    with raises(ValueError, "load_state_dict", "2.weight", "(2, 4)", "(1, 4)"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_bad_values_leave_model_unchanged():
    model = nn.MLP([2, 4, 1], dtype=np.float64)
    before = _snapshot(model)
    state = {k: np.zeros_like(v) for k, v in before.items()}
    state["2.bias"] = np.array(["not a number"])
    with raises(ValueError, "load_state_dict", "2.bias"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_missing_and_unexpected_keys():
    model = nn.MLP([2, 4, 1])
    before = _snapshot(model)
    state = dict(before)
    del state["0.bias"]
    state["3.weight"] = np.zeros(1)
    with raises(KeyError, "0.bias", "3.weight"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    state.pop("3.weight")
    state["0.weight"] = np.zeros((4, 2))
    model.load_state_dict(state, strict=False)  # non-strict: load what is there
    np.testing.assert_array_equal(model.state_dict()["0.weight"], 0)
    np.testing.assert_array_equal(model.state_dict()["0.bias"], before["0.bias"])


# --------------------------------------------------------------------------- training
def test_fit_mismatched_lengths():
    model = nn.MLP([2, 3, 1])
    opt = optim.SGD(model.parameters(), lr=0.1)
    with raises(ValueError, "fit", "4 rows", "3"):
        fit(model, opt, F.mse_loss, np.zeros((4, 2)), np.zeros(3), steps=1, progress=False)
    with raises(ValueError, "fit", "steps"):
        fit(model, opt, F.mse_loss, np.zeros((4, 2)), np.zeros(4), steps=0, progress=False)
    with raises(ValueError, "fit", "batch_size", "5"):
        fit(model, opt, F.mse_loss, np.zeros((4, 2)), np.zeros(4), steps=1, batch_size=5,
            progress=False)


# --------------------------------------------------------------------------- the rule itself
def test_no_bare_assert_in_ibcore():
    """User errors raise typed exceptions; ``assert`` vanishes under ``python -O``."""
    root = pathlib.Path(ib.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
