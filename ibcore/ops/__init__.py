"""Every differentiable operation of ibcore, one module per family.

=================  ==========================================================================
`pointwise`        ``+ - * / **``, negation, ``exp``, ``log``, the elementwise nonlinearities,
                   ``where``, ``astype``
`linear`           ``matmul`` and the fused affine map ``linear``
`reduce`           ``sum``, ``mean``, ``max``, ``softmax``, ``log_softmax``
`shape`            ``reshape``, ``transpose``, ``permute``, indexing, ``gather``, ``cat``,
                   ``stack``
`loss`             ``cross_entropy``, ``binary_cross_entropy_with_logits``, ``mse_loss``
`attention`        ``scaled_dot_product_attention``
`norm`             ``layer_norm``
`conv`             ``conv2d``, ``max_pool2d``, ``avg_pool2d``
`recurrent`        ``rnn_cell``, ``rnn``, ``lstm_cell``, ``lstm``, ``gru_cell``, ``gru``
`graph`            ``index_select``, ``index_add``, ``segment_sum``, ``segment_mean``,
                   ``segment_max``, ``segment_softmax``
=================  ==========================================================================

Each module opens with its notation. The public namespace is `ibcore.functional` (``ibcore.F``),
which re-exports these; import from there.

The boundary with the engine is one-way: the op modules import `Tensor` and `make_result` from
`ibcore.tensor`, and `ibcore.tensor` imports nothing from here. The Python operators and the
torch-named methods of `Tensor` (``a + b``, ``x.sum()``, ``x[i]``, ...) are bound to these
functions in `ibcore.ops.methods`, which is imported here.
"""

from . import (
    attention,
    conv,
    graph,
    linear,
    loss,
    methods,
    norm,
    pointwise,
    recurrent,
    reduce,
    shape,
)

__all__ = ["pointwise", "linear", "reduce", "shape", "loss", "attention", "norm", "conv",
           "recurrent", "graph", "methods"]
