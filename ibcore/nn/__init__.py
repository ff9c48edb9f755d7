"""Neural-network building blocks with PyTorch's names: `Module`, `Linear`, `Sequential`, `MLP`,
activation modules, `Conv2d` and pooling (`nn.conv`), `Embedding`, recurrent layers and
the language models of Posts 4 and 5 (`nn.embedding`, `nn.recurrent`, `nn.language`),
`MultiHeadAttention` and the transformer pieces (`nn.attention`, `nn.transformer`),
`BatchNorm1d` and `Dropout` (`nn.norm`), the plain and residual `DeepMLP` (`nn.residual`), the
set and graph layers of Chapter 7 (`nn.graph`), and `functional` re-exported for convenience."""

from .. import functional
from .attention import MultiHeadAttention
from .conv import (
    AvgPool2d,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    MaxPool2d,
    OffsetTiedLinear,
    offset_index,
    receptive_field,
)
from .embedding import Embedding
from .graph import (
    DeepSets,
    GATConv,
    GCNConv,
    Graph,
    GraphBatch,
    MessagePassing,
    add_self_loops,
    batch_graphs,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)
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
from .norm import BatchNorm1d, Dropout
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .residual import DeepMLP, init_linear_
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
    "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "OffsetTiedLinear",
    "offset_index", "receptive_field",
    "MultiHeadAttention", "LayerNorm", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
    "TransformerBlock", "ReadoutTransformer",
    "BatchNorm1d", "Dropout", "DeepMLP", "init_linear_",
    "Embedding", "RNNCell", "RNN", "LSTMCell", "LSTM", "GRUCell", "GRU",
    "NeuralLM", "CharRNN", "sample",
    "DeepSets", "GCNConv", "GATConv", "MessagePassing", "Graph", "GraphBatch", "batch_graphs",
    "add_self_loops", "global_add_pool", "global_mean_pool", "global_max_pool",
]
