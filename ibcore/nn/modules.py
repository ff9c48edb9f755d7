"""`Module`, the parameter container, and the layers Post 1 needs.

A `Module` finds its parameters the way PyTorch's does: any attribute that is a `Parameter` or a
`Module` is registered when assigned, so ``named_parameters()`` walks the tree and yields names
like ``"layers.0.weight"``.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng


def _size(layer: str, name: str, value, minimum: int = 1) -> int:
    """A layer's integer size argument, checked: an ``int`` (or anything ``operator.index``
    accepts, such as a NumPy integer) of at least ``minimum``.

    Raises:
        TypeError: if ``value`` is not an integer (``2.5``, ``4.0``, ``"3"``), naming the layer,
            the argument and the value.
        ValueError: if it is below ``minimum``, naming the same.
    """
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{layer}: {name} must be an integer, got {value!r} "
                        f"({type(value).__name__})") from None
    if v < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {name}={v}")
    return v


def _sizes(layer: str, what: str = "sizes", **sizes) -> list[int]:
    """A layer's integer size arguments, checked together: each an integer (`_size`'s
    TypeError), then all at least 1, or one ValueError that names every one of them."""
    checked = {name: _size(layer, name, value, minimum=-2**62) for name, value in sizes.items()}
    if min(checked.values()) < 1:
        got = ", ".join(f"{name}={value}" for name, value in checked.items())
        raise ValueError(f"{layer}: {what} must be positive, got {got}")
    return list(checked.values())


def _input(layer: str, x, dtype, name: str = "input") -> Tensor:
    """The dtype rule every layer applies to its input: a layer computes in its parameters'
    dtype, so a floating input of another dtype (a float64 batch into a float32 model, or the
    reverse) is cast to it. The cast is a graph node, so the input's gradient comes back in the
    input's own dtype. Non-floating input is left alone (the op then decides).
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.dtype.kind == "f" and x.dtype != dtype:
        return F.astype(x, dtype)
    return x


class Parameter(Tensor):
    """A `Tensor` that is a learnable parameter: a leaf with ``requires_grad=True``.

    Float data keeps its dtype (float32 by default; pass float64 arrays for gradient checks).
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Subclasses set parameters and sub-modules as attributes in ``__init__`` and define
    ``forward``; calling the module calls ``forward``.

    Conventions every ibcore layer follows: integer sizes are checked in the constructor
    (``TypeError`` for a non-integer such as ``2.5``, ``ValueError`` below the minimum, naming
    the layer, the argument and the value); and the dtype rule: a layer computes in its
    parameters' dtype, casting a floating input of another dtype to it (a float64 NumPy batch
    into a float32 model runs in float32; the input's gradient comes back in float64).
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)`` pairs, depth first, each parameter once."""
        seen: set[int] = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.data.size for p in self.parameters())

    # -------------------------------------------------------------- state
    def zero_grad(self) -> None:
        """Reset every parameter's gradient to None (as torch's default ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> OrderedDict:
        """Copies of every parameter's array, keyed by its dotted name."""
        return OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays into the parameters (in place, keeping each parameter's dtype).

        Raises:
            KeyError: with ``strict``, listing missing and unexpected keys.
            ValueError: if an array's shape differs from its parameter's, naming the key.
        Nothing is modified if any check fails.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        updates = []
        for k, p in own.items():
            if k not in state:
                continue
            arr = np.asarray(state[k].data if isinstance(state[k], Tensor) else state[k])
            if arr.shape != p.data.shape:
                raise ValueError(f"load_state_dict: {k} has shape {arr.shape} in the state dict "
                                 f"but {p.data.shape} in the model")
            if arr.dtype.kind not in "biuf":  # checked before anything is written
                raise ValueError(f"load_state_dict: {k} must hold real numbers, got dtype "
                                 f"{arr.dtype}")
            updates.append((p, arr))
        for p, arr in updates:
            p.data[...] = arr

    def double(self) -> Module:
        """Convert every parameter to float64 in place (for gradient checks)."""
        for p in self.parameters():
            p.data = p.data.astype(np.float64)
            p.grad = None
        return self

    def float(self) -> Module:
        """Convert every parameter to float32 in place."""
        for p in self.parameters():
            p.data = p.data.astype(np.float32)
            p.grad = None
        return self

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"


class Linear(Module):
    """Affine layer ``y = x W^T + b``.

    Shapes: input ``(..., in_features)``, output ``(..., out_features)``; ``weight`` is
    ``(out_features, in_features)`` and ``bias`` ``(out_features,)``, as in ``torch.nn.Linear``.

    Initialisation (torch's default): every entry uniform on ``[-1/sqrt(in), 1/sqrt(in)]``, drawn
    from ibcore's global generator (`ibcore.manual_seed`) or ``rng`` if given.

    Dtype rule (every ibcore layer): the layer computes in its parameters' dtype (float32 unless
    ``dtype`` or `Module.double` says otherwise); a floating input of another dtype, such as a
    float64 NumPy batch, is cast to it, and its gradient comes back in the input's dtype.

    Raises:
        TypeError: if a size is not an integer (``Linear(2.5, 3)``).
        ValueError: if a size is below 1; in ``forward``, if the input's last dimension is not
            ``in_features`` (see `ibcore.functional.linear`).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        in_features, out_features = _sizes("Linear", in_features=in_features,
                                           out_features=out_features)
        rng = rng if rng is not None else get_rng()
        bound = 1.0 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(
            rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        self.bias = (Parameter(rng.uniform(-bound, bound, out_features).astype(dtype))
                     if bias else None)

    def forward(self, x):
        return F.linear(_input("Linear", x, self.weight.dtype), self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    def forward(self, x):
        return x


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softplus(Module):
    def forward(self, x):
        return F.softplus(x)


_ACTIVATIONS = {"tanh": Tanh, "relu": ReLU, "sigmoid": Sigmoid, "softplus": Softplus,
                "identity": Identity}


class Sequential(Module):
    """Apply modules in order; they are registered as ``"0"``, ``"1"``, ... as in torch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)


class MLP(Sequential):
    """Multilayer perceptron: ``Linear`` layers with an activation between them.

    ``MLP([2, 8, 1])`` is ``Linear(2, 8) -> tanh -> Linear(8, 1)``; the last layer has no
    activation, so the output is a logit / natural parameter for a head.

    Args:
        sizes: layer widths ``[in, hidden..., out]``, at least two entries.
        activation: ``"tanh"`` (default), ``"relu"``, ``"sigmoid"``, ``"softplus"``, ``"identity"``.
        rng, dtype: passed to each `Linear`.

    Raises:
        TypeError: for a size that is not an integer.
        ValueError: for fewer than two sizes, a non-positive size, or an unknown activation.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "tanh",
                 rng: np.random.Generator | None = None, dtype=np.float32):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: need at least [in, out] sizes, got {sizes}")
        for i, v in enumerate(sizes):
            try:
                _size("MLP", f"sizes[{i}]", v)
            except ValueError:
                raise ValueError(f"MLP: sizes must be positive integers, got {sizes}") from None
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose from "
                             f"{sorted(_ACTIVATIONS)}")
        layers: list[Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Linear(a, b, rng=rng, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
        super().__init__(*layers)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activation", activation)

    def hidden(self, x, layer: int = 1):
        """The representation after the ``layer``-th activation (1 = first hidden layer)."""
        n = 0
        for m in self._modules.values():
            x = m(x)
            if not isinstance(m, Linear):
                n += 1
                if n == layer:
                    return x
        raise ValueError(f"MLP.hidden: the network has only {n} hidden layers, asked for {layer}")
