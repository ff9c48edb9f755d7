"""Neural-network building blocks with PyTorch's names: `Module`, `Linear`, `Sequential`, `MLP`,
activation modules, and `functional` re-exported for convenience."""

from .. import functional
from .embedding import Embedding
from .language import CharRNN, NeuralLM, sample
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
from .recurrent import LSTM, RNN, LSTMCell, RNNCell
from .utils import clip_grad_norm_

__all__ = [
    "Module", "Parameter", "Linear", "Sequential", "MLP", "Identity", "Tanh", "ReLU", "Sigmoid",
    "Softplus", "functional", "clip_grad_norm_",
]
__all__ += ["Embedding", "RNNCell", "RNN", "LSTMCell", "LSTM", "NeuralLM", "CharRNN", "sample"]
