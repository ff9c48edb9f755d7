"""The `Tensor` and the reverse-mode automatic differentiation engine.

A `Tensor` wraps a NumPy array (``.data``). When an operation is applied to tensors of which at
least one has ``requires_grad=True`` (and gradient recording is enabled, see `no_grad`), the result
remembers its parents and a *backward function*: a closure mapping the upstream gradient
``dL/d(out)`` to one gradient per parent, ``dL/d(parent)``. `Tensor.backward` walks this graph in
reverse topological order (found iteratively, so a 10,000-deep graph is fine) and accumulates
gradients with ``+=``, which is the multivariable chain rule: a value used twice receives the sum of
both contributions.

Broadcasting is undone in exactly one place, `sum_to_shape`, which the engine applies to every
gradient before it reaches a parent: if ``x`` of shape ``(3, 1)`` was broadcast to ``(2, 3, 4)``,
its gradient is the upstream gradient summed over the broadcast axes.

The operations themselves live in `ibcore.ops` (public as `ibcore.functional`). This module
defines the class and the graph machinery and imports no operation: the dependency is one-way,
ops -> tensor. The Python operators (``+ - * / ** @``, indexing) and the torch-named methods
that are operations (``sum``, ``mean``, ``reshape``, ``exp``, ``float``, ...) are bound onto
`Tensor` by `ibcore.ops.methods` when ``ibcore`` is imported.

Reference: the reverse mode of Rumelhart, Hinton and Williams (1986); Baydin et al. (2018),
"Automatic differentiation in machine learning: a survey", section 3.2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "Tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "tensor",
    "sum_to_shape",
    "manual_seed",
    "get_rng",
]

_GRAD_ENABLED = True
_RNG = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset ibcore's global random generator (used for weight init and sampling); returns it."""
    global _RNG
    _RNG = np.random.default_rng(seed)
    return _RNG


def get_rng() -> np.random.Generator:
    """The global `numpy.random.Generator` that `manual_seed` resets."""
    return _RNG


class _SetGradEnabled(contextlib.ContextDecorator):
    """Set gradient recording on entry and restore the previous state on exit.

    The previous states are kept on a stack, so one instance may be entered again while active:
    a decorated function that recurses, or ``with ng: with ng:``.
    """

    _mode = True

    def __init__(self):
        self._prev: list[bool] = []

    def __enter__(self):
        global _GRAD_ENABLED
        self._prev.append(_GRAD_ENABLED)
        _GRAD_ENABLED = self._mode
        return self

    def __exit__(self, *exc):
        global _GRAD_ENABLED
        _GRAD_ENABLED = self._prev.pop()
        return False


class no_grad(_SetGradEnabled):
    """Context manager (or decorator) inside which no graph is recorded, like `torch.no_grad`.

    Results computed inside have ``requires_grad=False``; use it for evaluation and for optimizer
    updates. Nesting is allowed; the previous state is restored on exit.
    """

    _mode = False


class enable_grad(_SetGradEnabled):
    """Re-enable graph recording inside a `no_grad` block."""

    _mode = True


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph."""
    return _GRAD_ENABLED


def _to_array(data, dtype=None) -> np.ndarray:
    """Convert ``data`` to a NumPy array with ibcore's dtype rules.

    Python floats (and lists of them) become float32, the default dtype; NumPy arrays keep their
    floating dtype (so float64 arrays stay float64, as in ``torch.from_numpy``); integers become
    int64 and booleans stay bool (both are used for indices and masks, never differentiated).

    Raises:
        ValueError: if ``data`` is ragged (nested lists of unequal lengths) or not numeric.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            return np.array(data, dtype=dtype)
        except (ValueError, TypeError) as e:
            raise ValueError(f"Tensor: cannot convert input to an array of {dtype}: {e}") from None
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        arr = np.array(data)
    except ValueError as e:
        raise ValueError(
            "Tensor: input is ragged (nested sequences of unequal lengths); every row must have "
            f"the same length. NumPy said: {e}"
        ) from None
    if arr.dtype == object:
        raise ValueError("Tensor: input is ragged or not numeric (NumPy made an object array)")
    if arr.dtype.kind in "US":
        raise ValueError(f"Tensor: input must be numeric, got strings (dtype {arr.dtype})")
    if arr.dtype.kind == "f":
        if not from_numpy:
            arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "c":
        raise ValueError("Tensor: complex numbers are not supported")
    return arr


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` down to ``shape``.

    If an input of shape ``shape`` was broadcast to ``grad.shape`` in the forward pass, each of its
    entries was used once per copy, so its gradient is the sum over the copies: over the leading
    axes that broadcasting prepended, and over every axis where ``shape`` has size 1. This is the
    single place in ibcore where broadcasting is undone.
    """
    if grad.shape == shape:
        return grad
    ndim_extra = grad.ndim - len(shape)
    if ndim_extra > 0:
        grad = grad.sum(axis=tuple(range(ndim_extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Args:
        data: array-like. Python floats become float32 (the default dtype), NumPy float arrays
            keep their dtype (use float64 for gradient checks), integers become int64.
        requires_grad: if True, `backward` will fill ``.grad`` on this tensor (a leaf).
        dtype: optional NumPy dtype to convert to.

    Attributes:
        data (np.ndarray): the values.
        grad (np.ndarray | None): on leaves with ``requires_grad``, the accumulated gradient
            of the last scalar ``backward`` was called on, same shape and dtype as ``data``.
        requires_grad (bool): whether gradients flow to or through this tensor.

    Raises:
        ValueError: for ragged or non-numeric input, or ``requires_grad`` on integer data.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "__weakref__")
    __array_priority__ = 1000  # so that ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise ValueError(
                f"Tensor: only floating-point tensors can require gradients, got {self.data.dtype}"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable | None = None
        self._op = ""

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an operation."""
        return self._backward is None

    def size(self, dim: int | None = None):
        """The shape, or its entry at ``dim`` (as in torch)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy, as in torch)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return make_result(self.data, (), None, "detach")

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise ValueError("requires_grad_: only floating-point tensors can require gradients")
        self.requires_grad = flag
        return self

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.data.dtype != np.float32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"tensor({body}{extra})"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError("bool: the truth value of a tensor with more than one element is "
                             "ambiguous")
        return bool(self.data)

    def __hash__(self):
        return id(self)

    # ------------------------------------------------------------------ the engine
    def backward(self, grad=None) -> None:
        """Backpropagate from this tensor, accumulating ``.grad`` on every leaf that needs it.

        Args:
            grad: ``dL/d(self)``, same shape as ``self``. May be omitted only for a one-element
                tensor (then it is 1).

        Gradients accumulate (``+=``) across calls, as in torch: call ``zero_grad()`` between
        steps. The graph is kept, so calling ``backward`` twice adds the gradient twice.

        Raises:
            RuntimeError: if this tensor does not require grad, or if it has more than one
                element and ``grad`` is not given.
            ValueError: if ``grad`` does not have this tensor's shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph (was it computed "
                "under no_grad(), or from inputs none of which has requires_grad=True?)"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for one-element outputs; "
                    f"this tensor has shape {self.shape}. Reduce it to a scalar (e.g. .sum()) "
                    f"or pass grad=... of the same shape."
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad,
                              dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}"
                )

        order = _topological_order(self)
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in order:  # from the output back to the leaves
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf
                if node.grad is None:
                    node.grad = np.array(g, dtype=node.data.dtype, copy=True)
                else:
                    node.grad += g
                continue
            parent_grads = node._backward(g)
            for parent, pg in zip(node._parents, parent_grads, strict=True):
                if pg is None or not parent.requires_grad:
                    continue
                pg = sum_to_shape(pg, parent.data.shape)
                key = id(parent)
                if key in grads:
                    grads[key] = grads[key] + pg
                else:
                    grads[key] = pg

    # ------------------------------------------------------------------ comparisons
    # The arithmetic operators and the methods that are operations (sum, reshape, exp, ...) are
    # bound by ibcore.ops.methods; comparisons give plain boolean tensors (no gradient).

    def _cmp(self, other, fn):
        o = other.data if isinstance(other, Tensor) else other
        return Tensor(fn(self.data, o))

    def __lt__(self, other):
        return self._cmp(other, np.less)

    def __le__(self, other):
        return self._cmp(other, np.less_equal)

    def __gt__(self, other):
        return self._cmp(other, np.greater)

    def __ge__(self, other):
        return self._cmp(other, np.greater_equal)

    def __eq__(self, other):  # noqa: D105  (elementwise, as in torch)
        return self._cmp(other, np.equal)

    def __ne__(self, other):
        return self._cmp(other, np.not_equal)

    def argmax(self, dim=None, keepdim=False):
        """Indices of the maxima (no gradient), as an int64 tensor."""
        out = np.argmax(self.data, axis=dim)
        if keepdim and dim is not None:
            out = np.expand_dims(out, dim)
        return Tensor(out)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from ``root`` through ``requires_grad`` edges, output first.

    An iterative depth-first post-order (no recursion, so graph depth is unbounded), reversed.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p.requires_grad and id(p) not in visited:
                stack.append((p, False))
    order.reverse()
    return order


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Construct a `Tensor` (the analogue of ``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def make_result(data: np.ndarray, parents: Sequence[Tensor], backward: Callable, op: str) -> Tensor:
    """Wrap an op's output, recording the graph edge if any parent needs gradients.

    ``backward(g)`` must return one gradient (or None) per parent, in order; gradients may have
    the broadcast shape, the engine sums them down with `sum_to_shape`.
    """
    out = Tensor.__new__(Tensor)
    # NumPy returns scalars, not 0-d arrays, from some 0-d results (np.exp of a 0-d array, a 1-D
    # @ 1-D product); `.data` is always an ndarray.
    out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
    out.grad = None
    out._op = op
    if _GRAD_ENABLED and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = tuple(parents)
        out._backward = backward
    else:
        out.requires_grad = False
        out._parents = ()
        out._backward = None
    return out
