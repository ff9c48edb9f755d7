"""Matrix products: `matmul` and the fused affine map `linear`.

Notation: ``g = dL/d(out)``; for ``out = A B`` the two gradients are ``g B^T`` and ``A^T g``
(transposing the last two dimensions), the rule every layer in the book reduces to. Batch
dimensions that were broadcast are summed by the engine (`ibcore.tensor.sum_to_shape`).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _pair, _t

__all__ = ["matmul", "linear"]


def matmul(a, b) -> Tensor:
    """Matrix product ``a @ b`` with NumPy/torch semantics, batched with broadcasting.

    Shapes: ``(..., n, k) @ (..., k, m) -> (..., n, m)``; a 1-D operand is treated as a row
    (left) or column (right) vector and that dimension is removed from the result.

    Backward: ``dL/da = g @ b^T``, ``dL/db = a^T @ g`` (transposing the last two dimensions); batch
    dimensions that were broadcast are summed by the engine.

    Raises:
        ValueError: on a 0-d operand or mismatched inner dimensions, naming both shapes.
    """
    a, b = _pair(a, b)
    A, B = a.data, b.data
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{A.shape} and {B.shape}")
    k_b = B.shape[0] if B.ndim == 1 else B.shape[-2]
    if A.shape[-1] != k_b:
        raise ValueError(f"matmul: shapes {A.shape} and {B.shape} are not aligned "
                         f"(inner dimensions {A.shape[-1]} != {k_b})")
    try:
        out = A @ B
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {A.shape} and {B.shape} cannot be "
                         f"broadcast together") from None

    def backward(g):
        A2 = A if A.ndim > 1 else A[None, :]
        B2 = B if B.ndim > 1 else B[:, None]
        if B.ndim == 1:  # restore the removed column dimension first: for 1-D @ 1-D, g is 0-d
            g = np.expand_dims(g, -1)
        if A.ndim == 1:
            g = np.expand_dims(g, -2)
        ga = gb = None
        if a.requires_grad:
            ga = g @ np.swapaxes(B2, -1, -2)
            if A.ndim == 1:
                ga = ga[..., 0, :]
        if b.requires_grad:
            gb = np.swapaxes(A2, -1, -2) @ g
            if B.ndim == 1:
                gb = gb[..., 0]
        return ga, gb

    return make_result(out, (a, b), backward, "matmul")


def linear(x, weight, bias=None) -> Tensor:
    """Affine map ``x @ weight.T + bias`` (``torch.nn.functional.linear``), one fused node.

    Shapes: ``x (..., in_features)``, ``weight (out_features, in_features)``,
    ``bias (out_features,)`` -> ``(..., out_features)``.

    Backward: ``dL/dx = g @ W``, ``dL/dW = sum over batch of g^T x``, ``dL/db = sum over batch of
    g``.

    Raises:
        ValueError: if ``x``'s last dimension is not ``in_features`` or the bias has the wrong size.
    """
    x = _t(x)
    X, W = x.data, weight.data
    if W.ndim != 2 or X.ndim < 1 or X.shape[-1] != W.shape[1]:
        raise ValueError(f"linear: input of shape {X.shape} does not match weight of shape "
                         f"{W.shape} (expected input (..., {W.shape[-1]}))")
    # One 2-D product over all leading dimensions: NumPy's batched matmul on a 3-D input loops
    # over the batch in small products, about twice as slow for the transformer's (batch, seq, d).
    X2 = X.reshape(-1, X.shape[-1])
    out = (X2 @ W.T).reshape(X.shape[:-1] + (W.shape[0],))
    if bias is not None:
        if bias.data.shape != (W.shape[0],):
            raise ValueError(f"linear: bias of shape {bias.data.shape} does not match weight of "
                             f"shape {W.shape}")
        out += bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g2 = np.ascontiguousarray(g.reshape(-1, g.shape[-1]))  # BLAS needs strided rows
        gx = (g2 @ W).reshape(X.shape) if x.requires_grad else None
        gw = g2.T @ X2 if weight.requires_grad else None
        if bias is None:
            return gx, gw
        # the bias was broadcast over the rows, so its gradient is the column sum G^T 1, taken
        # as a product (one BLAS call, faster than NumPy's sum over axis 0)
        gb = np.ones(len(g2), dtype=g2.dtype) @ g2 if bias.requires_grad else None
        return gx, gw, gb

    return make_result(out, parents, backward, "linear")
