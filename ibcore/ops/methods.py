"""The Python operators and torch-named methods of `Tensor`, bound to the ops.

`ibcore.tensor` defines the class and the engine and imports no op; the ops import the class.
This module closes the loop once, when `ibcore.ops` is imported (which ``import ibcore`` does):
``a + b`` is `ibcore.ops.pointwise.add`, ``x.sum(dim)`` is `ibcore.ops.reduce.sum`, ``x[i]`` is
`ibcore.ops.shape.index`, and so on. Comparisons (``<``, ``==``, ...) and ``argmax`` give plain
tensors without gradient and stay in `ibcore.tensor`.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import pointwise as P
from . import reduce as R
from . import shape as S
from .linear import matmul


def _shape_args(args):
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both mean the shape ``(2, 3)``."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _reshape(self, *shape):
    return S.reshape(self, _shape_args(shape))


def _permute(self, *dims):
    return S.permute(self, _shape_args(dims))


def _T(self):
    """Reverse all dimensions (for 2-D tensors: the matrix transpose)."""
    return S.permute(self, tuple(range(self.ndim - 1, -1, -1)))


_METHODS = {
    "__add__": P.add, "__radd__": lambda self, other: P.add(other, self),
    "__sub__": P.sub, "__rsub__": lambda self, other: P.sub(other, self),
    "__mul__": P.mul, "__rmul__": lambda self, other: P.mul(other, self),
    "__truediv__": P.div, "__rtruediv__": lambda self, other: P.div(other, self),
    "__pow__": P.pow, "__rpow__": lambda self, other: P.pow(other, self),
    "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self),
    "__neg__": P.neg, "__getitem__": S.index,
    "sum": R.sum, "mean": R.mean, "max": R.max, "softmax": R.softmax,
    "log_softmax": R.log_softmax,
    "exp": P.exp, "log": P.log, "tanh": P.tanh, "sigmoid": P.sigmoid, "relu": P.relu,
    "softplus": P.softplus,
    "float": lambda self: P.astype(self, np.float32),
    "double": lambda self: P.astype(self, np.float64),
    "reshape": _reshape, "view": _reshape, "transpose": S.transpose, "permute": _permute,
    "gather": S.gather, "T": property(_T),
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
