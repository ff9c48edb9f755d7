"""The public namespace of ibcore's differentiable operations (``ibcore.F``), as
``torch.nn.functional`` is torch's.

The operations live in `ibcore.ops`, one module per family (pointwise, linear, reductions, shape
and indexing, losses, attention, normalisation, dropout, convolution and pooling, recurrent
kernels, graphs), each opening with its notation and each function's docstring giving its
shapes, its backward and its derivation. This module only re-exports them, so ``F.cross_entropy`` is
`ibcore.ops.loss.cross_entropy`.

Names and signatures follow ``torch`` and ``torch.nn.functional`` (``dim``, ``keepdim``,
``reduction``), so code written against ibcore reads like PyTorch.
"""

from __future__ import annotations

from .ops.attention import scaled_dot_product_attention
from .ops.conv import avg_pool2d, conv2d, max_pool2d
from .ops.dropout import dropout
from .ops.graph import (
    index_add,
    index_select,
    segment_max,
    segment_mean,
    segment_softmax,
    segment_sum,
)
from .ops.linear import linear, matmul
from .ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from .ops.norm import batch_norm, layer_norm
from .ops.pointwise import (
    add,
    astype,
    div,
    exp,
    lgamma,
    log,
    logsigmoid,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    softplus,
    sub,
    tanh,
    where,
)
from .ops.recurrent import gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell
from .ops.reduce import log_softmax, logsumexp, max, mean, softmax, sum
from .ops.shape import cat, gather, index, permute, reshape, stack, transpose

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "linear",
    "sum", "mean", "max", "exp", "log", "tanh", "sigmoid", "relu", "softplus", "logsigmoid",
    "reshape", "transpose", "permute", "index", "gather", "cat", "stack", "where", "astype",
    "softmax", "log_softmax", "logsumexp", "lgamma",
    "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
    "scaled_dot_product_attention", "layer_norm", "batch_norm", "dropout",
    "conv2d", "max_pool2d", "avg_pool2d",
    "rnn_cell", "rnn", "lstm_cell", "lstm", "gru_cell", "gru",
    "index_select", "index_add", "segment_sum", "segment_mean", "segment_max", "segment_softmax",
]
