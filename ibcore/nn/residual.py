"""Deep MLPs for the depth experiments of monograph chapter 3: plain or residual, with or
without normalisation, and the variance-preserving initialisations.

A `DeepMLP` is ``h_0 = Linear(in, width)(x)``, then ``depth`` blocks acting on the width-``width``
stream ``h``, then ``Linear(width, out)(phi(h_depth))``. With ``phi`` the activation, ``W``, ``b``
the block's `Linear` and ``N`` its normalisation layer, one block maps ``h`` to

======================  ============================  ========================================
``residual``, ``norm``  block                         name
======================  ============================  ========================================
False, None             ``W phi(h) + b``              plain (an ordinary MLP)
False, "batch"/...      ``W phi(N(h)) + b``           plain, normalised before the activation
True, None              ``h + W phi(h) + b``          residual (pre-activation, He et al. 2016)
True, ..., "pre"        ``h + W phi(N(h)) + b``       pre-norm residual
True, ..., "post"       ``N(h + W phi(h) + b)``       post-norm residual
======================  ============================  ========================================

so plain and residual networks of the same depth have the same parameters and differ only in the
identity path.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import get_rng
from .modules import _ACTIVATIONS, Linear, Module, Sequential
from .norm import BatchNorm1d
from .transformer import LayerNorm

__all__ = ["DeepMLP", "init_linear_", "INIT_SCHEMES"]

#: weight variance of each scheme as a function of (fan_in, fan_out); "default" is torch's
#: uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)], whose variance is 1 / (3 fan_in).
INIT_SCHEMES = {
    "default": lambda fan_in, fan_out: 1.0 / (3.0 * fan_in),
    "lecun": lambda fan_in, fan_out: 1.0 / fan_in,
    "glorot": lambda fan_in, fan_out: 2.0 / (fan_in + fan_out),
    "he": lambda fan_in, fan_out: 2.0 / fan_in,
}


def init_linear_(layer: Linear, scheme: str = "he", scale: float = 1.0,
                 rng: np.random.Generator | None = None) -> Linear:
    """Re-initialise a `Linear` layer in place and return it.

    The weight is drawn with variance ``scale**2 * INIT_SCHEMES[scheme](fan_in, fan_out)``:
    Gaussian for "lecun" (LeCun et al. 1998), "glorot" (Glorot and Bengio 2010) and "he"
    (He et al. 2015), uniform for "default" (torch's), and the bias is set to zero (for "default"
    it is uniform on the same interval, as torch's). Variance propagation (chapter 3): with
    ``z = W h``, ``Var z = fan_in Var W E[h^2]``, and ``E[phi(z)^2]`` is ``Var z / 2`` for ReLU
    and about ``Var z`` for tanh near 0, so ``Var W = 2 / fan_in`` keeps a ReLU network's
    second moment constant through depth and ``1 / fan_in`` a tanh network's; the backward pass
    multiplies the gradient's variance by ``fan_out Var W E[phi'^2]``, and Glorot's
    ``2 / (fan_in + fan_out)`` compromises between the two conditions.

    Raises:
        ValueError: for an unknown scheme or a negative scale.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init_linear_: unknown scheme {scheme!r}; choose from "
                         f"{sorted(INIT_SCHEMES)}")
    if not scale >= 0:
        raise ValueError(f"init_linear_: scale must be non-negative, got {scale}")
    rng = rng if rng is not None else get_rng()
    W = layer.weight.data
    fan_out, fan_in = W.shape
    var = scale * scale * INIT_SCHEMES[scheme](fan_in, fan_out)
    if scheme == "default":
        bound = math.sqrt(3.0 * var)
        W[...] = rng.uniform(-bound, bound, W.shape)
        if layer.bias is not None:
            b0 = 1.0 / math.sqrt(fan_in)
            layer.bias.data[...] = rng.uniform(-b0, b0, layer.bias.data.shape)
    else:
        W[...] = rng.normal(0.0, math.sqrt(var), W.shape)
        if layer.bias is not None:
            layer.bias.data[...] = 0
    return layer


def _norm_layer(kind: str, width: int, dtype):
    if kind == "batch":
        return BatchNorm1d(width, dtype=dtype)
    if kind == "layer":
        return LayerNorm(width, dtype=dtype)
    raise ValueError(f"DeepMLP: norm must be None, 'batch' or 'layer', got {kind!r}")


class _Block(Module):
    """One hidden block of a `DeepMLP` (see the module docstring for the five forms)."""

    def __init__(self, width, activation, residual, norm, norm_position, dtype, rng):
        super().__init__()
        self.linear = Linear(width, width, rng=rng, dtype=dtype)
        self.act = _ACTIVATIONS[activation]()
        self.norm = None if norm is None else _norm_layer(norm, width, dtype)
        object.__setattr__(self, "residual", residual)
        object.__setattr__(self, "norm_position", norm_position)

    def forward(self, h):
        if self.norm is not None and (self.norm_position == "pre" or not self.residual):
            branch = self.linear(self.act(self.norm(h)))  # W phi(N(h)) + b
        else:
            branch = self.linear(self.act(h))  # W phi(h) + b
        if not self.residual:
            return branch
        if self.norm is not None and self.norm_position == "post":
            return self.norm(h + branch)
        return h + branch


class DeepMLP(Module):
    """A plain or residual MLP with ``depth`` hidden blocks of width ``width``.

    Shapes: input ``(batch, in_features)``, output ``(batch, out_features)`` (logits).

    Args:
        in_features, width, out_features: sizes.
        depth: number of hidden blocks (>= 1); the network has ``depth + 2`` `Linear` layers.
        residual: add the identity path ``h + F(h)``.
        activation: ``"relu"`` (default), ``"tanh"``, ... as in `ibcore.nn.MLP`.
        norm: None, ``"batch"`` (`BatchNorm1d`) or ``"layer"`` (`LayerNorm`).
        norm_position: ``"pre"`` (default) or ``"post"``, for residual blocks with a norm.
        init: weight scheme of every `Linear` (`init_linear_`), default ``"he"``.
        branch_scale: multiplies the init standard deviation of the hidden blocks' weights;
            under He init an unnormalised ReLU residual stream's second moment grows by the
            factor ``1 + branch_scale**2`` per block, so ``1 / sqrt(depth)`` bounds it by ``e``.
        rng, dtype: for the initial weights.

    ``forward(x, return_hidden=True)`` also returns the list of the ``depth + 1`` states of the
    stream (``h_0`` after the input layer, then after each block; pre-activations), for the
    probes.

    Raises:
        ValueError: bad sizes or depth, unknown activation, norm, norm_position or init.
    """

    def __init__(self, in_features: int, width: int, depth: int, out_features: int, *,
                 residual: bool = False, activation: str = "relu", norm: str | None = None,
                 norm_position: str = "pre", init: str = "he", branch_scale: float = 1.0,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        if min(in_features, width, out_features) < 1 or depth < 1:
            raise ValueError(f"DeepMLP: sizes and depth must be positive, got in={in_features},"
                             f" width={width}, depth={depth}, out={out_features}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"DeepMLP: unknown activation {activation!r}; choose from "
                             f"{sorted(_ACTIVATIONS)}")
        if norm_position not in ("pre", "post"):
            raise ValueError(f"DeepMLP: norm_position must be 'pre' or 'post', got "
                             f"{norm_position!r}")
        if norm is not None:
            _norm_layer(norm, 1, dtype)  # validates the name
        if init not in INIT_SCHEMES:
            raise ValueError(f"DeepMLP: unknown init {init!r}; choose from "
                             f"{sorted(INIT_SCHEMES)}")
        rng = rng if rng is not None else get_rng()
        self.inp = init_linear_(Linear(in_features, width, rng=rng, dtype=dtype), init, rng=rng)
        self.act_out = _ACTIVATIONS[activation]()
        blocks = []
        for _ in range(depth):
            b = _Block(width, activation, residual, norm, norm_position, dtype, rng)
            init_linear_(b.linear, init, scale=branch_scale, rng=rng)
            blocks.append(b)
        self.blocks = Sequential(*blocks)
        self.out = init_linear_(Linear(width, out_features, rng=rng, dtype=dtype), init, rng=rng)
        object.__setattr__(self, "depth", int(depth))
        object.__setattr__(self, "residual", bool(residual))

    def linears(self) -> list[Linear]:
        """The ``depth + 2`` `Linear` layers, input to output."""
        return [self.inp] + [b.linear for b in self.blocks._modules.values()] + [self.out]

    def forward(self, x, return_hidden: bool = False):
        h = self.inp(x)
        hidden = [h]
        for b in self.blocks._modules.values():
            h = b(h)
            hidden.append(h)
        out = self.out(self.act_out(h))
        return (out, hidden) if return_hidden else out

    def extra_repr(self):
        return f"depth={self.depth}, residual={self.residual}"
