"""Neural-network building blocks with PyTorch's names: `Module`, `Linear`, `Sequential`, `MLP`,
activation modules, and `functional` re-exported for convenience."""

from .. import functional
from .attention import MultiHeadAttention
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
from .transformer import (
    LayerNorm,
    LearnedPositionalEncoding,
    ReadoutTransformer,
    SinusoidalPositionalEncoding,
    TransformerBlock,
)
from .utils import clip_grad_norm_

__all__ = [
    "Module", "Parameter", "Linear", "Sequential", "MLP", "Identity", "Tanh", "ReLU", "Sigmoid",
    "Softplus", "functional", "clip_grad_norm_",
    "MultiHeadAttention", "LayerNorm", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
    "TransformerBlock", "ReadoutTransformer",
]
