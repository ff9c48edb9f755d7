"""Neural-network building blocks with PyTorch's names: `Module`, `Linear`, `Sequential`, `MLP`,
activation modules, and `functional` re-exported for convenience."""

from .. import functional
from .modules import (
    MLP,
    Identity,
    Linear,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softplus,
    Tanh,
)
from .utils import clip_grad_norm_

__all__ = [
    "Module", "Parameter", "Linear", "Sequential", "MLP", "Identity", "Tanh", "ReLU", "Sigmoid",
    "Softplus", "functional", "clip_grad_norm_",
]
