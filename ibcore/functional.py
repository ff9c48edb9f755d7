"""Every differentiable operation, each one a forward pass and a backward function.

Notation used in every docstring below: ``g`` is the upstream gradient ``dL/d(out)`` (same shape
as ``out``); each backward returns ``dL/d(input)`` for every input. Gradients may come back in the
broadcast shape: the engine (`ibcore.tensor.sum_to_shape`) sums them down to each input's shape.

Composite operations (`softmax`, `log_softmax`, `cross_entropy`,
`binary_cross_entropy_with_logits`, `linear`) have fused backward passes: one node in the graph,
numerically stable forward (log-sum-exp with the maximum subtracted), and the closed-form gradient.

Names and signatures follow ``torch`` and ``torch.nn.functional`` (``dim``, ``keepdim``,
``reduction``), so code written against ibcore reads like PyTorch.
"""

from __future__ import annotations

import builtins

import numpy as np
from scipy.special import expit as _expit

from .tensor import Tensor, make_result

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "linear",
    "sum", "mean", "max", "exp", "log", "tanh", "sigmoid", "relu", "softplus", "logsigmoid",
    "reshape", "transpose", "permute", "index", "gather", "cat", "stack", "where", "astype",
    "softmax", "log_softmax", "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
    # attention and normalisation (Posts 6 and 7)
    "scaled_dot_product_attention", "layer_norm",
]


# --------------------------------------------------------------------------- helpers
def _t(x, like: Tensor | None = None) -> Tensor:
    """Coerce ``x`` to a Tensor; Python scalars take ``like``'s float dtype (weak scalars)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, np.number)) and like.dtype.kind == "f":
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def _pair(a, b) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, _t(b, a)
    b = _t(b)
    return _t(a, b), b


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    if a.data.shape == b.data.shape:
        return
    try:
        np.broadcast_shapes(a.data.shape, b.data.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.data.shape} and {b.data.shape} cannot be broadcast together"
        ) from None


def _axes(dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise ValueError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# --------------------------------------------------------------------------- arithmetic
def add(a, b) -> Tensor:
    """``a + b`` with broadcasting. Backward: ``(g, g)``."""
    a, b = _pair(a, b)
    _broadcast_check("add", a, b)
    return make_result(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a, b) -> Tensor:
    """``a - b`` with broadcasting. Backward: ``(g, -g)``."""
    a, b = _pair(a, b)
    _broadcast_check("sub", a, b)
    return make_result(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a, b) -> Tensor:
    """``a * b`` elementwise with broadcasting. Backward: ``(g * b, g * a)``."""
    a, b = _pair(a, b)
    _broadcast_check("mul", a, b)
    A, B = a.data, b.data

    def backward(g):
        return (g * B if a.requires_grad else None, g * A if b.requires_grad else None)

    return make_result(A * B, (a, b), backward, "mul")


def div(a, b) -> Tensor:
    """``a / b`` elementwise. Backward: ``(g / b, -g * a / b**2)``."""
    a, b = _pair(a, b)
    _broadcast_check("div", a, b)
    A, B = a.data, b.data
    out = A / B

    def backward(g):
        return (g / B if a.requires_grad else None,
                -g * out / B if b.requires_grad else None)

    return make_result(out, (a, b), backward, "div")


def pow(a, b) -> Tensor:
    """``a ** b``. Backward: ``g * b * a**(b-1)`` for ``a``; ``g * out * log(a)`` for ``b``."""
    a, b = _pair(a, b)
    _broadcast_check("pow", a, b)
    A, B = a.data, b.data
    out = A**B

    def backward(g):
        ga = g * B * A ** (B - 1) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.where(A > 0, np.log(np.where(A > 0, A, 1)), 0)
        return ga, gb

    return make_result(out, (a, b), backward, "pow")


def neg(a) -> Tensor:
    """``-a``. Backward: ``-g``."""
    a = _t(a)
    return make_result(-a.data, (a,), lambda g: (-g,), "neg")


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
    out = X @ W.T
    if bias is not None:
        if bias.data.shape != (W.shape[0],):
            raise ValueError(f"linear: bias of shape {bias.data.shape} does not match weight of "
                             f"shape {W.shape}")
        out += bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ W) if x.requires_grad else None
        gw = g2.T @ X.reshape(-1, X.shape[-1]) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if bias.requires_grad else None)

    return make_result(out, parents, backward, "linear")


# --------------------------------------------------------------------------- reductions
def _expand_back(g, shape, axes, keepdim):
    if not keepdim:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


def sum(x, dim=None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (int, tuple, or None for all). Backward: ``g`` broadcast back."""
    x = _t(x)
    axes = _axes(dim, x.ndim)
    out = np.sum(x.data, axis=axes, keepdims=keepdim)
    shape = x.data.shape
    return make_result(np.asarray(out), (x,),
                       lambda g: (_expand_back(g, shape, axes, keepdim),), "sum")


def mean(x, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim``. Backward: ``g / n`` broadcast back, ``n`` the number averaged."""
    x = _t(x)
    if x.dtype.kind != "f":
        raise ValueError(f"mean: needs a floating-point tensor, got {x.dtype}")
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.data.shape[i] for i in axes])) if axes else 1
    out = np.mean(x.data, axis=axes, keepdims=keepdim)
    shape = x.data.shape
    return make_result(np.asarray(out), (x,),
                       lambda g: (_expand_back(g / n, shape, axes, keepdim),), "mean")


def max(x, dim=None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (values only, like ``torch.amax``).

    Backward: the gradient goes to the arguments of the maximum; where several entries tie, it is
    split evenly between them (as ``torch.amax`` does), so the total is preserved.
    """
    x = _t(x)
    if x.data.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    axes = _axes(dim, x.ndim)
    X = x.data
    out_k = np.max(X, axis=axes, keepdims=True)
    out = out_k if keepdim else np.squeeze(out_k, axis=axes)

    def backward(g):
        mask = X == out_k
        count = mask.sum(axis=axes, keepdims=True)
        gk = g if keepdim else np.expand_dims(g, axes)
        return (mask * (gk / count),)

    return make_result(np.asarray(out), (x,), backward, "max")


# --------------------------------------------------------------------------- elementwise
def exp(x) -> Tensor:
    """``exp(x)``. Backward: ``g * exp(x)``."""
    x = _t(x)
    out = np.exp(x.data)
    return make_result(out, (x,), lambda g: (g * out,), "exp")


def log(x) -> Tensor:
    """Natural log. Backward: ``g / x``."""
    x = _t(x)
    X = x.data
    return make_result(np.log(X), (x,), lambda g: (g / X,), "log")


def tanh(x) -> Tensor:
    """``tanh(x)``. Backward: ``g * (1 - tanh(x)**2)``."""
    x = _t(x)
    out = np.tanh(x.data)
    return make_result(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def sigmoid(x) -> Tensor:
    """Logistic ``1 / (1 + exp(-x))``, evaluated stably. Backward: ``g * s * (1 - s)``."""
    x = _t(x)
    out = _expit(x.data)
    return make_result(out, (x,), lambda g: (g * out * (1 - out),), "sigmoid")


def relu(x) -> Tensor:
    """``max(x, 0)``. Backward: ``g * (x > 0)`` (subgradient 0 at 0, as in torch)."""
    x = _t(x)
    X = x.data
    return make_result(np.maximum(X, 0), (x,), lambda g: (g * (X > 0),), "relu")


def softplus(x) -> Tensor:
    """``log(1 + exp(x))`` computed as ``logaddexp(0, x)`` (stable). Backward: ``g*sigmoid(x)``."""
    x = _t(x)
    X = x.data
    return make_result(np.logaddexp(0, X), (x,), lambda g: (g * _expit(X),), "softplus")


def logsigmoid(x) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable at +-1e3. Backward: ``g * sigmoid(-x)``."""
    x = _t(x)
    X = x.data
    return make_result(-np.logaddexp(0, -X), (x,), lambda g: (g * _expit(-X),), "logsigmoid")


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b``. Backward: ``g`` masked to each branch."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = _pair(a, b)
    cond = cond.astype(bool)

    def backward(g):
        return np.where(cond, g, 0), np.where(cond, 0, g)

    return make_result(np.where(cond, a.data, b.data), (a, b), backward, "where")


def astype(x, dtype) -> Tensor:
    """Cast to ``dtype``. Backward: ``g`` cast back."""
    x = _t(x)
    src = x.dtype
    return make_result(x.data.astype(dtype), (x,), lambda g: (g.astype(src),), "astype")


# --------------------------------------------------------------------------- shapes
def reshape(x, shape) -> Tensor:
    """Reshape (one entry may be -1). Backward: ``g`` reshaped to the input shape.

    Raises:
        ValueError: if the element counts differ, naming both shapes.
    """
    x = _t(x)
    shape = tuple(int(s) for s in shape)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.data.size} elements) into shape {shape}") from None
    in_shape = x.data.shape
    return make_result(out, (x,), lambda g: (g.reshape(in_shape),), "reshape")


def transpose(x, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dimensions. Backward: swap them back."""
    x = _t(x)
    _axes((dim0, dim1), x.ndim)
    out = np.swapaxes(x.data, dim0, dim1)
    return make_result(out, (x,), lambda g: (np.swapaxes(g, dim0, dim1),), "transpose")


def permute(x, dims) -> Tensor:
    """Reorder dimensions (``torch.permute``). Backward: the inverse permutation."""
    x = _t(x)
    dims = tuple(int(d) % builtins.max(x.ndim, 1) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dimensions of a "
                         f"tensor of shape {x.shape}")
    inv = tuple(np.argsort(dims))
    return make_result(np.transpose(x.data, dims), (x,),
                       lambda g: (np.transpose(g, inv),), "permute")


def _clean_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return builtins.any(isinstance(i, (np.ndarray, list)) for i in items)


def index(x, idx) -> Tensor:
    """``x[idx]`` with NumPy indexing (slices, integers, integer or boolean arrays).

    Backward: a zero array of the input's shape with ``g`` scattered back into the indexed
    positions. For integer-array ("gather") indices the scatter uses ``np.add.at``, so an index
    that appears several times receives the sum of its gradients.

    Raises:
        IndexError: for out-of-range indices (NumPy's message, prefixed with the op and shape).
    """
    x = _t(x)
    idx = _clean_index(idx)
    try:
        out = x.data[idx]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {x.shape})") from None
    shape, dtype = x.data.shape, x.data.dtype
    advanced = _is_advanced(idx)

    def backward(g):
        z = np.zeros(shape, dtype=dtype)
        if advanced:
            np.add.at(z, idx, g)
        else:
            z[idx] += g
        return (z,)

    return make_result(np.asarray(out), (x,), backward, "index")


def gather(x, dim: int, index) -> Tensor:
    """``torch.gather``: ``out[i][j] = x[index[i][j]][j]`` for ``dim=0`` (and so on).

    Shapes: ``index`` has as many dimensions as ``x``; the output has ``index``'s shape.
    Backward: scatter-add of ``g`` into the gathered positions (repeated indices accumulate).

    Raises:
        ValueError: if ``index`` has a different number of dimensions or is not integer.
        IndexError: if an index is out of range.
    """
    x = _t(x)
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    if ind.ndim != x.ndim or ind.dtype.kind not in "iu":
        raise ValueError(f"gather: index must be an integer array with {x.ndim} dimensions, got "
                         f"shape {ind.shape} and dtype {ind.dtype}")
    dim = dim % x.ndim
    size = x.shape[dim]
    if ind.size and (ind.min() < -size or ind.max() >= size):
        raise IndexError(f"gather: index out of range for dimension {dim} of size {size}")
    out = np.take_along_axis(x.data, ind, axis=dim)
    shape, dtype = x.data.shape, x.data.dtype

    def backward(g):
        z = np.zeros(shape, dtype=dtype)
        grids = list(np.indices(ind.shape, sparse=True))
        grids[dim] = ind
        np.add.at(z, tuple(grids), g)
        return (z,)

    return make_result(out, (x,), backward, "gather")


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension. Backward: ``g`` split back into the pieces.

    Raises:
        ValueError: if the list is empty or the shapes differ outside ``dim`` (shapes named).
    """
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("cat: expected a non-empty list of tensors")
    try:
        out = np.concatenate([t.data for t in ts], axis=dim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise ValueError(f"cat: cannot concatenate shapes {[t.shape for t in ts]} along dim "
                         f"{dim}: {e}") from None
    sizes = np.cumsum([t.shape[dim] for t in ts])[:-1]

    def backward(g):
        return tuple(np.split(g, sizes, axis=dim))

    return make_result(out, ts, backward, "cat")


def stack(tensors, dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new dimension. Backward: ``g`` unstacked.

    Raises:
        ValueError: if the list is empty or the shapes differ (shapes named).
    """
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got "
                         f"{[t.shape for t in ts]}")
    out = np.stack([t.data for t in ts], axis=dim)
    d = dim % out.ndim

    def backward(g):
        return tuple(np.take(g, i, axis=d) for i in range(len(ts)))

    return make_result(out, ts, backward, "stack")


# --------------------------------------------------------------------------- fused composites
def _log_softmax_np(X, dim):
    m = np.max(X, axis=dim, keepdims=True)
    shifted = X - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


def softmax(x, dim: int = -1) -> Tensor:
    """Softmax along ``dim``: ``exp(x - max) / sum(exp(x - max))`` (shift-invariant, stable).

    Backward: ``s * (g - sum(g * s, dim))``, the Jacobian-vector product of the softmax.
    """
    x = _t(x)
    _axes(dim, x.ndim)
    s = np.exp(_log_softmax_np(x.data, dim))

    def backward(g):
        return (s * (g - np.sum(g * s, axis=dim, keepdims=True)),)

    return make_result(s, (x,), backward, "softmax")


def log_softmax(x, dim: int = -1) -> Tensor:
    """``x - logsumexp(x, dim)``, with the maximum subtracted first so it never overflows.

    Backward: ``g - softmax(x) * sum(g, dim)``.
    """
    x = _t(x)
    _axes(dim, x.ndim)
    out = _log_softmax_np(x.data, dim)

    def backward(g):
        return (g - np.exp(out) * np.sum(g, axis=dim, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax")


def _reduce(op, losses, reduction):
    if reduction == "mean":  # sum / n is what np.mean computes, with less call overhead
        return np.asarray(losses.sum() / losses.size), 1.0 / losses.size
    if reduction == "sum":
        return np.asarray(losses.sum()), 1.0
    return losses, None


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy ``-log softmax(logits)[target]`` in nats, fused and stable.

    Args:
        logits: ``(batch, classes)`` unnormalised log-probabilities.
        target: ``(batch,)`` integer class labels in ``[0, classes)``.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'`` (per-example ``(batch,)``).

    Backward: ``(softmax(logits) - onehot(target)) * g`` (divided by ``batch`` for the mean): the
    gradient of the negative log-likelihood of a Categorical with respect to its natural
    parameters is prediction minus target.

    Raises:
        ValueError: on wrong shapes, non-integer labels, or labels out of range (the first
            offending positions and values are named).
    """
    logits = _t(logits)
    _check_reduction("cross_entropy", reduction)
    T = target.data if isinstance(target, Tensor) else np.asarray(target)
    X = logits.data
    if X.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (batch, classes), got {X.shape}")
    if T.shape != (X.shape[0],):
        raise ValueError(f"cross_entropy: target must have shape ({X.shape[0]},) to match logits "
                         f"{X.shape}, got {T.shape}")
    if T.dtype.kind not in "iu":
        if T.dtype.kind == "f" and np.all(np.mod(T, 1) == 0):
            T = T.astype(np.int64)
        else:
            raise ValueError(f"cross_entropy: target must hold integer class labels, got dtype "
                             f"{T.dtype}")
    C = X.shape[1]
    bad = np.flatnonzero((T < 0) | (T >= C))
    if bad.size:
        raise ValueError(f"cross_entropy: labels must be in [0, {C}); got {T[bad[:5]].tolist()} "
                         f"at positions {bad[:5].tolist()}")
    ls = _log_softmax_np(X, 1)
    rows = np.arange(X.shape[0])
    losses = -ls[rows, T]
    out, scale = _reduce("cross_entropy", losses, reduction)

    def backward(g):
        grad = np.exp(ls)
        grad[rows, T] -= 1
        if scale is None:
            return (grad * g[:, None],)
        return (grad * (g * scale),)

    return make_result(out, (logits,), backward, "cross_entropy")


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Bernoulli negative log-likelihood on logits, in nats, fused and stable.

    ``loss = softplus(x) - y x = max(x, 0) - x y + log(1 + exp(-|x|))`` for logit ``x`` and target
    ``y`` in [0, 1]; finite for logits of +-1e3.

    Backward: ``(sigmoid(x) - y) * g`` for the logits (prediction minus target) and ``-x * g``
    for the target, each divided by the count for ``reduction='mean'``.

    Raises:
        ValueError: if the shapes differ (no silent broadcasting), naming both.
    """
    x, y = _pair(logits, target)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if x.shape != y.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits of shape {x.shape} and target "
                         f"of shape {y.shape} must have the same shape")
    X, Y = x.data, y.data
    losses = np.maximum(X, 0) - X * Y + np.log1p(np.exp(-np.abs(X)))
    out, scale = _reduce("bce", losses, reduction)

    def backward(g):
        g = g * scale if scale is not None else g
        gx = (_expit(X) - Y) * g if x.requires_grad else None
        gy = -X * g if y.requires_grad else None
        return gx, gy

    return make_result(out, (x, y), backward, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)**2`` (the Gaussian NLL up to scale and constant).

    Backward: ``2 (input - target) g`` for the input and its negative for the target, divided by
    the count for ``reduction='mean'``.

    Raises:
        ValueError: if the shapes differ (no silent broadcasting), naming both.
    """
    x, y = _pair(input, target)
    _check_reduction("mse_loss", reduction)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input of shape {x.shape} and target of shape {y.shape} must "
                         f"have the same shape")
    d = x.data - y.data
    out, scale = _reduce("mse", d * d, reduction)

    def backward(g):
        g = g * scale if scale is not None else g
        gd = 2 * d * g
        return (gd if x.requires_grad else None, -gd if y.requires_grad else None)

    return make_result(out, (x, y), backward, "mse_loss")


# --------------------------------------------------------------------------- attention, layer norm
def _attention_mask(op: str, attn_mask, is_causal: bool, L: int, S: int, dtype):
    """The additive mask (0 where a key takes part, -inf where it does not), or None.

    torch's semantics: a boolean mask is True where the query may attend to the key; a float mask
    is added to the scores; ``is_causal`` keeps keys ``j <= i`` (and excludes ``attn_mask``).
    """
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both")
        return np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.ndim < 2 or m.shape[-2:] not in ((L, S), (1, S), (L, 1), (1, 1)):
        raise ValueError(f"{op}: attn_mask of shape {m.shape} cannot be broadcast to the scores "
                         f"(..., {L}, {S})")
    if m.dtype == bool:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    if m.dtype.kind != "f":
        raise ValueError(f"{op}: attn_mask must be boolean (True = take part) or floating "
                         f"(added to the scores), got dtype {m.dtype}")
    return m.astype(dtype, copy=False)


def _attention(q, k, v, attn_mask=None, is_causal: bool = False, scale=None,
               weights_override=None, op: str = "scaled_dot_product_attention"):
    """Fused attention; returns ``(output Tensor, attention weights ndarray)``.

    ``weights_override``: an array broadcastable to the weights ``(..., L, S)`` used instead of
    ``softmax(scores)`` (for ablations: the output is ``override @ v`` and no gradient flows to
    ``q`` or ``k``). See `scaled_dot_product_attention` for the rest.
    """
    q, k, v = _t(q), _t(k), _t(v)
    Q, K, V = q.data, k.data, v.data
    if Q.ndim < 2 or K.ndim < 2 or V.ndim < 2:
        raise ValueError(f"{op}: query, key and value need at least 2 dimensions (..., seq, dim), "
                         f"got shapes {Q.shape}, {K.shape}, {V.shape}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"{op}: query {Q.shape} and key {K.shape} must have the same last "
                         f"dimension")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"{op}: key {K.shape} and value {V.shape} must have the same sequence "
                         f"length (dimension -2)")
    try:
        np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: batch dimensions of query {Q.shape}, key {K.shape} and value "
                         f"{V.shape} cannot be broadcast together") from None
    L, S, E = Q.shape[-2], K.shape[-2], Q.shape[-1]
    c = 1.0 / np.sqrt(E) if scale is None else float(scale)
    dt = np.result_type(Q.dtype, K.dtype, V.dtype)
    if weights_override is not None:
        P = np.broadcast_to(np.asarray(weights_override, dtype=dt),
                            np.broadcast_shapes(Q.shape[:-2], K.shape[:-2]) + (L, S))
        out = P @ V

        def backward_fixed(g):
            return None, None, np.swapaxes(P, -1, -2) @ g

        return make_result(out, (q, k, v), backward_fixed, "attention"), P
    scores = (Q @ np.swapaxes(K, -1, -2)) * np.asarray(c, dtype=dt)
    mask = _attention_mask(op, attn_mask, is_causal, L, S, dt)
    if mask is not None:
        scores = scores + mask
    row_max = np.max(scores, axis=-1, keepdims=True)
    if np.any(np.isneginf(row_max)):
        raise ValueError(f"{op}: the mask leaves a query row with no key to attend to (every "
                         f"score is -inf); its softmax is undefined")
    P = np.exp(scores - row_max)
    P /= P.sum(axis=-1, keepdims=True)
    out = P @ V

    def backward(g):
        gq = gk = gv = None
        if v.requires_grad:
            gv = np.swapaxes(P, -1, -2) @ g
        if q.requires_grad or k.requires_grad:
            dP = g @ np.swapaxes(V, -1, -2)
            dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
            dS *= c
            if q.requires_grad:
                gq = dS @ K
            if k.requires_grad:
                gk = np.swapaxes(dS, -1, -2) @ Q
        return gq, gk, gv

    return make_result(out, (q, k, v), backward, "scaled_dot_product_attention"), P


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """Attention ``softmax(Q K^T / sqrt(E) + mask) V`` as one fused node (Vaswani et al. 2017,
    eq. 1), with ``torch.nn.functional.scaled_dot_product_attention``'s signature and masks.

    Shapes: ``query (..., L, E)``, ``key (..., S, E)``, ``value (..., S, Ev)`` with broadcastable
    batch dimensions ``...``; output ``(..., L, Ev)``.

    Args:
        attn_mask: broadcastable to ``(..., L, S)``. Boolean: True where the query *takes part*
            with (may attend to) the key, False where it may not (torch's convention). Floating:
            added to the scores (use ``-inf`` to exclude).
        is_causal: keep only keys ``j <= i`` (a lower-triangular boolean mask); not together
            with ``attn_mask``.
        scale: the factor on the scores, default ``1 / sqrt(E)``.

    Forward: scores ``S = c Q K^T + M``; ``P = softmax(S)`` along the keys (the row maximum
    subtracted first, so large scores never overflow); ``out = P V``.

    Backward (``g = dL/d(out)``, shape ``(..., L, Ev)``):

    - ``dL/dV = P^T g`` (``out`` is linear in ``V``);
    - ``dL/dP = g V^T``;
    - through the softmax, row by row, ``dL/dS = P * (dL/dP - sum_j P_j (dL/dP)_j)`` (the
      softmax Jacobian ``diag(P) - P P^T`` applied to ``dL/dP``, never formed as a matrix);
      masked entries have ``P = 0`` and receive zero gradient;
    - ``dL/dQ = c (dL/dS) K`` and ``dL/dK = c (dL/dS)^T Q``.

    Fusing the three steps into one node keeps ``P`` from the forward pass and never
    exponentiates an unshifted score.

    Raises:
        ValueError: mismatched shapes (query/key last dimension, key/value length, batch
            dimensions), a mask that cannot broadcast to ``(..., L, S)`` or is neither boolean nor
            floating, both ``attn_mask`` and ``is_causal``, or a query row whose keys are all
            masked (torch returns NaN there; ibcore refuses).
    """
    out, _ = _attention(query, key, value, attn_mask, is_causal, scale)
    return out


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation (Ba, Kiros and Hinton 2016) over the trailing ``normalized_shape``
    dimensions, as ``torch.nn.functional.layer_norm``, one fused node.

    Forward, over the ``n`` normalised entries of each row: ``mu = mean(x)``,
    ``var = mean((x - mu)^2)`` (biased), ``xhat = (x - mu) / sqrt(var + eps)``,
    ``out = xhat * weight + bias``.

    Backward (``g = dL/d(out)``, ``r = 1 / sqrt(var + eps)``): ``dL/dbias = sum g`` and
    ``dL/dweight = sum g * xhat`` over the leading (batch) dimensions; with ``h = g * weight``,
    ``dL/dx = r (h - mean(h) - xhat * mean(h * xhat))``, the means over the normalised entries.
    (Differentiate ``xhat_i = (x_i - mu) r``: ``dmu/dx_j = 1/n`` and
    ``dr/dx_j = -r^3 (x_j - mu) / n``, so
    ``dxhat_i/dx_j = r (delta_ij - 1/n - xhat_i xhat_j / n)``.)

    Shapes: ``x (..., *normalized_shape)``; ``weight`` and ``bias`` ``normalized_shape``.

    Raises:
        ValueError: if ``x``'s trailing dimensions are not ``normalized_shape``, or ``weight`` /
            ``bias`` do not have that shape, or ``eps`` is negative.
    """
    x = _t(x)
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(n) for n in normalized_shape)
    X = x.data
    if len(ns) == 0 or X.ndim < len(ns) or X.shape[X.ndim - len(ns):] != ns:
        raise ValueError(f"layer_norm: input of shape {X.shape} does not end in "
                         f"normalized_shape {ns}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.data.shape != ns:
            raise ValueError(f"layer_norm: {name} of shape {p.data.shape} must have "
                             f"normalized_shape {ns}")
    if not eps >= 0:
        raise ValueError(f"layer_norm: eps must be non-negative, got {eps}")
    axes = tuple(range(X.ndim - len(ns), X.ndim))
    batch_axes = tuple(range(X.ndim - len(ns)))
    mu = X.mean(axis=axes, keepdims=True)
    xc = X - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    r = 1.0 / np.sqrt(var + np.asarray(eps, dtype=X.dtype))
    xhat = xc * r
    out = xhat
    if weight is not None:
        out = out * weight.data
    if bias is not None:
        out = out + bias.data
    parents = [x]
    if weight is not None:
        parents.append(weight)
    if bias is not None:
        parents.append(bias)

    def backward(g):
        grads = []
        h = g * weight.data if weight is not None else g
        if x.requires_grad:
            grads.append(r * (h - h.mean(axis=axes, keepdims=True)
                              - xhat * (h * xhat).mean(axis=axes, keepdims=True)))
        else:
            grads.append(None)
        if weight is not None:
            grads.append((g * xhat).sum(axis=batch_axes) if weight.requires_grad else None)
        if bias is not None:
            grads.append(g.sum(axis=batch_axes) if bias.requires_grad else None)
        return tuple(grads)

    return make_result(out, tuple(parents), backward, "layer_norm")
# --------------------------------------------------------------------------- convolution, pooling
# Images are NCHW, as in torch: ``x`` of shape ``(batch, channels, height, width)``.
__all__ += ["conv2d", "max_pool2d", "avg_pool2d"]

from numpy.lib.stride_tricks import sliding_window_view as _sliding_window_view  # noqa: E402


def _pair_int(op: str, name: str, v, minimum: int) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3)`` kept; anything else or below ``minimum`` raises ValueError."""
    vals = (v, v) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(
        v, (tuple, list)) else None
    if (vals is None or len(vals) != 2
            or not builtins.all(isinstance(a, (int, np.integer)) for a in vals)
            or builtins.any(a < minimum for a in vals)):
        raise ValueError(f"{op}: {name} must be an integer >= {minimum} or a pair of them, "
                         f"got {v!r}")
    return int(vals[0]), int(vals[1])


def _check_nchw(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must have shape (batch, channels, height, width), got "
                         f"{x.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: input must be floating point, got {x.dtype}")


def _out_size(op: str, x_shape, kernel, stride, padding) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    H, W = x_shape[2] + 2 * ph, x_shape[3] + 2 * pw
    if kh > H or kw > W:
        raise ValueError(f"{op}: kernel {kernel} is larger than the padded input "
                         f"({H}, {W}) (input shape {tuple(x_shape)}, padding {padding})")
    return (H - kh) // sh + 1, (W - kw) // sw + 1


def _slices(xp: np.ndarray, kernel, stride, out_hw):
    """For each kernel offset ``(a, b)``: the strided view ``xp[..., a : a + s_h Ho : s_h,
    b : b + s_w Wo : s_w]`` of the pixels that the ``Ho x Wo`` windows read at that offset (the
    last two axes of ``xp`` are height and width). No copies."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    return [((a, b), xp[..., a : a + sh * (Ho - 1) + 1 : sh, b : b + sw * (Wo - 1) + 1 : sw])
            for a in range(kh) for b in range(kw)]


def _pad(X: np.ndarray, padding, value=0.0) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return X
    return np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d(input, weight, bias=None, stride=1, padding=0) -> Tensor:
    """2-D cross-correlation (``torch.nn.functional.conv2d``), via im2col and one matmul.

    Shapes: ``input (N, C, H, W)``, ``weight (O, C, kh, kw)``, ``bias (O,)`` ->
    ``out (N, O, Ho, Wo)`` with ``Ho = (H + 2 p_h - kh) // s_h + 1`` (and the same for widths).
    ``stride`` and ``padding`` are an int or a pair; padding is with zeros.

    Forward. Write ``x`` for the zero-padded input. Output pixel ``(n, o, i, j)`` is

        out[n, o, i, j] = b[o] + sum_{c, a, b'} W[o, c, a, b'] x[n, c, s_h i + a, s_w j + b']

    im2col gathers, for every output position ``(n, i, j)``, the ``C kh kw`` input values its
    window reads into one row of a matrix ``X_col`` of shape ``(N Ho Wo, kh kw C)`` (a strided
    view of ``x``, made contiguous once); the convolution is then the matrix product
    ``out_col = X_col W_col^T + b`` with ``W_col`` the weight flattened in the same
    ``(a, b', c)`` order: the same affine map as a `linear` layer, applied at every position with
    the *same* weights.

    Backward (``g = dL/d(out)``, rearranged to ``g_col`` of shape ``(N Ho Wo, O)``). The forward
    is `linear` applied to the rows of ``X_col``, so its three gradients are those of `linear`:

    - ``dL/dW_col = g_col^T X_col``, i.e. ``dL/dW[o, c, a, b'] = sum_{n, i, j} g[n, o, i, j]
      x[n, c, s_h i + a, s_w j + b']``. The matmul's inner dimension runs over *every output
      position of every example*: this sum over positions is what weight sharing looks like in
      the backward. One weight was used at all ``N Ho Wo`` positions, so it receives the sum of all
      their gradients (the chain rule for a value used many times).
    - ``dL/db[o] = sum_{n, i, j} g[n, o, i, j]``, again a sum over positions.
    - ``dL/dX_col = g_col W_col``, one gradient per (window, offset). col2im scatters each back
      to the input pixel it was read from and *adds* where windows overlap:
      ``dL/dx[n, c, h, w] = sum over (i, j, a, b') with s_h i + a = h, s_w j + b' = w of
      dX_col[(n, i, j), (a, b', c)]``; the padding's gradient is dropped. The scatter-add loops
      over the ``kh kw`` kernel offsets, never over positions: for a fixed offset ``(a, b')`` the
      pixels read by the ``Ho x Wo`` windows form one strided slice
      ``[a : a + s_h Ho : s_h, b' : b' + s_w Wo : s_w]`` in which no pixel repeats, so ``+=`` on
      that slice is an exact scatter-add (the same result as ``np.add.at`` with the flat indices).

    Internally the columns are laid out channels-last (``N H W C``), so that the im2col copy and
    the col2im additions read and write contiguous runs of channels.

    Cost: the forward matmul, two backward matmuls of the same size, one im2col copy (``kh kw``
    times the input) and ``kh kw`` strided additions.

    Reference: the convolutional layers of LeCun et al. (1989, 1998); im2col as in Chellapilla,
    Puri and Simard (2006), "High performance convolutional neural networks for document
    processing".

    Raises:
        ValueError: if ``input`` is not 4-D, ``weight`` not ``(O, C, kh, kw)`` with ``C`` equal to
            the input's channels, the bias not ``(O,)``, stride/padding invalid, or the kernel
            larger than the padded input (the message names the shapes).
    """
    x = _t(input)
    w = _t(weight)
    _check_nchw("conv2d", x)
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (out_channels, in_channels, kh, kw), "
                         f"got {w.shape}")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels but weight "
                         f"of shape {w.shape} expects {w.shape[1]}")
    O, C, kh, kw = w.shape
    if bias is not None:
        bias = _t(bias)
        if bias.shape != (O,):
            raise ValueError(f"conv2d: bias of shape {bias.shape} does not match weight of shape "
                             f"{w.shape} (expected ({O},))")
    stride = _pair_int("conv2d", "stride", stride, 1)
    padding = _pair_int("conv2d", "padding", padding, 0)
    Ho, Wo = _out_size("conv2d", x.shape, (kh, kw), stride, padding)
    (sh, sw), (ph, pw) = stride, padding
    N, _, H, W_in = x.shape
    xh = x.data.transpose(0, 2, 3, 1)  # channels last (a view)
    if ph or pw:
        xh = np.pad(xh, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    Hp, Wp = xh.shape[1], xh.shape[2]
    # im2col: the (N, Ho, Wo, C, kh, kw) window view -> (N, Ho, Wo, kh, kw, C) -> one copy
    win = _sliding_window_view(xh, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :Ho, :Wo]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    Wc = w.data.transpose(0, 2, 3, 1).reshape(O, kh * kw * C)
    out_col = cols @ Wc.T  # (N Ho Wo, O)
    if bias is not None:
        out_col += bias.data
    out = out_col.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)  # NCHW view of NHWC memory
    parents = (x, w) if bias is None else (x, w, bias)

    def backward(g):
        g_col = g.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, O)
        gx = gw = None
        if x.requires_grad:  # col2im: scatter-add, one strided slice per kernel offset
            # dX_col = g_col W_col, computed offset by offset as (kh kw, N Ho Wo, C) so that each
            # offset's block is contiguous: the additions below then run over long rows.
            Wk = Wc.reshape(O, kh * kw, C).transpose(1, 0, 2)
            dcols = np.matmul(g_col[None], Wk)
            dxh = np.zeros((N, Hp, Wp, C), dtype=dcols.dtype)
            for a in range(kh):
                for b in range(kw):
                    dxh[:, a : a + sh * (Ho - 1) + 1 : sh,
                        b : b + sw * (Wo - 1) + 1 : sw] += dcols[a * kw + b].reshape(N, Ho, Wo, C)
            gx = dxh[:, ph : ph + H, pw : pw + W_in].transpose(0, 3, 1, 2)
        if w.requires_grad:  # the sum over positions: inner dimension N Ho Wo
            gw = (g_col.T @ cols).reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
        if bias is None:
            return gx, gw
        # the bias gradient, a sum over positions, as a matrix-vector product (BLAS is much
        # faster than NumPy's reduction over the long first axis of a narrow matrix)
        gb = np.ones(N * Ho * Wo, dtype=g_col.dtype) @ g_col if bias.requires_grad else None
        return gx, gw, gb

    return make_result(out, parents, backward, "conv2d")


def _pool_args(op, x, kernel_size, stride, padding):
    _check_nchw(op, x)
    kernel = _pair_int(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair_int(op, "stride", stride, 1)
    padding = _pair_int(op, "padding", padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel}")
    return kernel, stride, padding, _out_size(op, x.shape, kernel, stride, padding)


def max_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling (``torch.nn.functional.max_pool2d``): the largest value in each window.

    Shapes: ``(N, C, H, W) -> (N, C, Ho, Wo)``, ``Ho = (H + 2 p - k) // s + 1``; ``stride``
    defaults to ``kernel_size``; padding is with ``-inf`` (never selected) and at most half the
    kernel, as in torch.

    Forward: the running maximum over the ``k_h k_w`` strided slices, one per window offset (see
    `conv2d`), so no window is ever copied.

    Backward: ``dL/dx`` is zero except at each window's arg-max, which receives that window's
    ``g``; a pixel that is the maximum of several overlapping windows receives the sum. Ties go to
    the first maximum in row-major window order, as in torch: the offsets are visited in that
    order and each window's gradient is handed to the first offset that attains its maximum.

    Raises:
        ValueError: for a non-4-D input, invalid kernel/stride/padding, or a window larger than
            the padded input.
    """
    x = _t(input)
    kernel, stride, padding, out_hw = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, padding, value=-np.inf)
    sl = _slices(xp, kernel, stride, out_hw)
    out = sl[0][1].copy(order="K")  # keep the input's memory layout (channels-last after conv2d)
    for _, v in sl[1:]:
        np.maximum(out, v, out=out)
    ph, pw = padding
    H, W = x.shape[2], x.shape[3]

    def backward(g):
        dxp = np.zeros_like(xp, dtype=g.dtype)  # same memory layout as the input
        free = np.ones_like(out, dtype=bool)  # windows whose gradient is not yet placed
        for (a, b), v in _slices(xp, kernel, stride, out_hw):
            hit = (v == out) & free
            free &= ~hit
            dxp[..., a : a + stride[0] * (out_hw[0] - 1) + 1 : stride[0],
                b : b + stride[1] * (out_hw[1] - 1) + 1 : stride[1]] += g * hit
        return (dxp[:, :, ph : ph + H, pw : pw + W],)

    return make_result(out, (x,), backward, "max_pool2d")


def avg_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling (``torch.nn.functional.avg_pool2d`` with ``count_include_pad=True``).

    Shapes as `max_pool2d`; every window's mean over its ``k_h k_w`` entries (zero padding counts).

    Backward: each input pixel receives ``g / (k_h k_w)`` from every window that contains it
    (summed where windows overlap), one strided addition per window offset.

    Raises:
        ValueError: as `max_pool2d`.
    """
    x = _t(input)
    kernel, stride, padding, out_hw = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, padding)
    n = kernel[0] * kernel[1]
    sl = _slices(xp, kernel, stride, out_hw)
    out = sl[0][1].copy(order="K")
    for _, v in sl[1:]:
        out += v
    out /= np.asarray(n, dtype=out.dtype)
    ph, pw = padding
    H, W = x.shape[2], x.shape[3]

    def backward(g):
        dxp = np.zeros_like(xp, dtype=g.dtype)
        gn = g / np.asarray(n, dtype=g.dtype)
        for (a, b), _ in sl:
            dxp[..., a : a + stride[0] * (out_hw[0] - 1) + 1 : stride[0],
                b : b + stride[1] * (out_hw[1] - 1) + 1 : stride[1]] += gn
        return (dxp[:, :, ph : ph + H, pw : pw + W],)

    return make_result(out, (x,), backward, "avg_pool2d")
# --------------------------------------------------------------------------- recurrent cells
# Fused recurrent steps (Posts 4 and 5). One graph node per time step (`rnn_cell`, `lstm_cell`)
# or one node for a whole sequence (`rnn`, whose backward is backpropagation through time
# written out), so that the Python overhead of the graph does not dominate small recurrent nets.
__all__ += ["rnn_cell", "rnn", "lstm_cell"]

_RNN_NONLINEARITIES = ("tanh", "relu", "identity")


def _act_forward(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0)
    return a


def _act_backward(gh: np.ndarray, h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """``dL/da`` from ``dL/dh`` for ``h = phi(a)``, using only ``h``: ``tanh' = 1 - h^2``,
    ``relu' = [h > 0]``, ``identity' = 1``."""
    if nonlinearity == "tanh":
        return gh * (1 - h * h)
    if nonlinearity == "relu":
        return gh * (h > 0)
    return gh


def _check_cell(op: str, x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih, b_hh,
                gates: int, nonlinearity: str | None = None) -> int:
    """Validate the shapes of a recurrent step; return the hidden size."""
    if nonlinearity is not None and nonlinearity not in _RNN_NONLINEARITIES:
        raise ValueError(f"{op}: nonlinearity must be one of {_RNN_NONLINEARITIES}, got "
                         f"{nonlinearity!r}")
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{op}: weight_hh must have shape ({gates} * hidden, hidden), got "
                         f"{w_hh.shape}")
    H = w_hh.shape[1]
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * H:
        raise ValueError(f"{op}: weight_ih must have shape ({gates * H}, input_size) to match "
                         f"weight_hh {w_hh.shape}, got {w_ih.shape}")
    if x.ndim != 2 or x.shape[1] != w_ih.shape[1]:
        raise ValueError(f"{op}: input must have shape (batch, {w_ih.shape[1]}), got {x.shape}")
    if h.shape != (x.shape[0], H):
        raise ValueError(f"{op}: hidden state must have shape ({x.shape[0]}, {H}), got "
                         f"{h.shape}")
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (gates * H,):
            raise ValueError(f"{op}: {name} must have shape ({gates * H},), got {b.shape}")
    return H


def _opt(t):
    return None if t is None else _t(t)


def rnn_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
             nonlinearity: str = "tanh") -> Tensor:
    """One step of the Elman recurrent cell (Elman 1990), fused into one graph node.

    ``h' = phi(a)``, ``a = x W_ih^T + b_ih + h W_hh^T + b_hh``, as ``torch.nn.RNNCell``
    (``phi`` = tanh by default; ``"relu"``, or ``"identity"`` for a linear RNN).

    Shapes: ``input (batch, input_size)``, ``hx (batch, hidden)``,
    ``weight_ih (hidden, input_size)``, ``weight_hh (hidden, hidden)``, biases ``(hidden,)``
    -> ``(batch, hidden)``.

    Backward: with ``g = dL/dh'``, first ``dL/da = g * phi'(a)`` (``1 - h'^2`` for tanh), then as
    for two linear maps: ``dL/dx = (dL/da) W_ih``, ``dL/dh = (dL/da) W_hh``,
    ``dL/dW_ih = (dL/da)^T x``, ``dL/dW_hh = (dL/da)^T h``, ``dL/db_ih = dL/db_hh = sum over the
    batch of dL/da``.

    Raises:
        ValueError: on shapes that do not fit together (naming them) or an unknown nonlinearity.
    """
    x, h, wi, wh = _t(input), _t(hx), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    _check_cell("rnn_cell", x, h, wi, wh, bi, bh, 1, nonlinearity)
    X, Hp, Wi, Wh = x.data, h.data, wi.data, wh.data
    a = X @ Wi.T + Hp @ Wh.T
    if bi is not None:
        a += bi.data
    if bh is not None:
        a += bh.data
    out = _act_forward(a, nonlinearity)
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        ga = _act_backward(g, out, nonlinearity)
        grads = [ga @ Wi if x.requires_grad else None,
                 ga @ Wh if h.requires_grad else None,
                 ga.T @ X if wi.requires_grad else None,
                 ga.T @ Hp if wh.requires_grad else None]
        gb = ga.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "rnn_cell")


def rnn(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
        nonlinearity: str = "tanh") -> Tensor:
    """A whole Elman RNN layer over a sequence, one graph node (batch first).

    Forward, for ``t = 1..T``: ``h_t = phi(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``: one
    Python loop over time with batched NumPy inside. The input projection ``x_t W_ih^T`` of all
    time steps is one matrix product before the loop.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (batch, hidden)`` -> every hidden state
    ``(batch, seq, hidden)`` (``out[:, -1]`` is ``h_T``).

    Backward is backpropagation through time (Werbos 1990). Going back from ``t = T`` to 1 with
    ``g_t = dL/dh_t`` (the upstream gradient at ``t`` plus what flows back from ``t + 1``):
    ``d_t = g_t * phi'(a_t)``, then ``dL/dh_{t-1} += d_t W_hh`` and the *shared* weights
    accumulate one term per step: ``dL/dW_hh += d_t^T h_{t-1}``, ``dL/dW_ih += d_t^T x_t``,
    ``dL/db += sum_batch d_t``. The ``+=`` over time is the weight sharing (the code computes
    each of these sums over time and batch as one matrix product after the loop).

    Raises:
        ValueError: on shapes that do not fit together (naming them) or an unknown nonlinearity.
    """
    x, h, wi, wh = _t(input), _t(h0), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    if x.ndim != 3:
        raise ValueError(f"rnn: input must have shape (batch, seq, input_size), got {x.shape}")
    B, T, _ = x.shape
    if T < 1:
        raise ValueError(f"rnn: the sequence must have at least one step, got shape {x.shape}")
    _check_cell("rnn", Tensor(x.data[:, 0]), h, wi, wh, bi, bh, 1, nonlinearity)
    X, Wi, Wh = x.data, wi.data, wh.data
    # time-major inside (each step reads and writes one contiguous (batch, hidden) block)
    pre = np.swapaxes(X, 0, 1) @ Wi.T  # (T, B, H): every input projection at once
    if bi is not None:
        pre += bi.data
    if bh is not None:
        pre += bh.data
    Hs = np.empty((T + 1,) + h.data.shape, dtype=pre.dtype)  # Hs[0] = h0, Hs[t] = h_t
    Hs[0] = h.data
    WhT = np.ascontiguousarray(Wh.T)
    for t in range(T):
        a = pre[t]
        a += Hs[t] @ WhT
        Hs[t + 1] = _act_forward(a, nonlinearity)
    out = np.ascontiguousarray(np.swapaxes(Hs[1:], 0, 1))  # (B, T, H)
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        G = np.swapaxes(g, 0, 1)  # (T, B, H)
        D = np.empty(G.shape, dtype=Hs.dtype)  # D[t] = dL/da_t
        carry = np.zeros(h.data.shape, dtype=Hs.dtype)  # dL/dh_t from step t + 1
        for t in range(T - 1, -1, -1):
            d = _act_backward(G[t] + carry, Hs[t + 1], nonlinearity)
            D[t] = d
            carry = d @ Wh
        # The shared weights collect one term per step, dL/dW_hh = sum_t d_t^T h_{t-1}; the sum
        # over time and batch is one matrix product over the flattened (T * B) axis.
        D2 = D.reshape(-1, D.shape[-1])
        grads = [np.swapaxes(D @ Wi, 0, 1) if x.requires_grad else None,
                 carry if h.requires_grad else None,
                 D2.T @ np.swapaxes(X, 0, 1).reshape(-1, X.shape[-1])
                 if wi.requires_grad else None,
                 D2.T @ Hs[:-1].reshape(-1, Hs.shape[-1]) if wh.requires_grad else None]
        gb = D2.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "rnn")


def lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One step of the LSTM (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al.
    2000), fused into one graph node, with ``torch.nn.LSTMCell``'s layout.

    ``[i, f, g, o] = split(x W_ih^T + b_ih + h W_hh^T + b_hh)`` into four blocks of ``hidden``;
    ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``.

    Shapes: ``input (batch, input_size)``, ``hx, cx (batch, hidden)``,
    ``weight_ih (4 hidden, input_size)``, ``weight_hh (4 hidden, hidden)``, biases
    ``(4 hidden,)`` -> ``(2, batch, hidden)``: ``out[0]`` is ``h'`` and ``out[1]`` is ``c'``.

    Backward, with ``g_h = g[0]``, ``g_c = g[1]`` and ``s`` the gate values after their
    nonlinearities: the cell receives ``e = g_c + g_h * o * (1 - tanh(c')^2)``; then
    ``dL/dc = e * f``, and through the gates' derivatives ``da_i = e g i (1 - i)``,
    ``da_f = e c f (1 - f)``, ``da_g = e i (1 - g^2)``, ``da_o = g_h tanh(c') o (1 - o)``; the
    weights, input and ``h`` then get the two linear maps' gradients as in `rnn_cell`.

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, c = _t(input), _t(hx), _t(cx)
    wi, wh = _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    H = _check_cell("lstm_cell", x, h, wi, wh, bi, bh, 4)
    if c.shape != h.shape:
        raise ValueError(f"lstm_cell: cell state must have shape {h.shape}, got {c.shape}")
    X, Hp, C, Wi, Wh = x.data, h.data, c.data, wi.data, wh.data
    a = X @ Wi.T + Hp @ Wh.T
    if bi is not None:
        a += bi.data
    if bh is not None:
        a += bh.data
    i = _expit(a[:, :H])
    f = _expit(a[:, H:2 * H])
    gg = np.tanh(a[:, 2 * H:3 * H])
    o = _expit(a[:, 3 * H:])
    c_new = f * C + i * gg
    tc = np.tanh(c_new)
    h_new = o * tc
    out = np.stack([h_new, c_new])
    parents = [x, h, c, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        gh, gc = g[0], g[1]
        e = gc + gh * o * (1 - tc * tc)
        da = np.concatenate([e * gg * i * (1 - i), e * C * f * (1 - f),
                             e * i * (1 - gg * gg), gh * tc * o * (1 - o)], axis=1)
        grads = [da @ Wi if x.requires_grad else None,
                 da @ Wh if h.requires_grad else None,
                 e * f if c.requires_grad else None,
                 da.T @ X if wi.requires_grad else None,
                 da.T @ Hp if wh.requires_grad else None]
        gb = da.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "lstm_cell")


__all__ += ["lstm"]


def lstm(input, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """A whole LSTM layer over a sequence, one graph node (batch first): `lstm_cell` applied for
    ``t = 1..T`` with the same weights, in one Python loop over time.

    Shapes: ``input (batch, seq, input_size)``, ``h0, c0 (batch, hidden)`` -> ``(batch, seq,
    2 * hidden)``: ``out[..., :hidden]`` holds every ``h_t`` and ``out[..., hidden:]`` every
    ``c_t``.

    Backward is backpropagation through time. Going back from ``t = T``, the gradients reaching
    ``h_t`` and ``c_t`` (upstream plus what flows back from ``t + 1``) go through the step's
    backward as in `lstm_cell`, giving ``da_t`` (the four gates' pre-activations); the shared
    weights collect ``dL/dW_hh = sum_t da_t^T h_{t-1}``, ``dL/dW_ih = sum_t da_t^T x_t`` and
    ``dL/db = sum_t sum_batch da_t`` (computed as one matrix product over time and batch after
    the loop); ``dL/dc_{t-1} = e_t * f_t`` and ``dL/dh_{t-1} = da_t W_hh`` flow on.

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, c = _t(input), _t(h0), _t(c0)
    wi, wh = _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"lstm: input must have shape (batch, seq >= 1, input_size), got "
                         f"{x.shape}")
    H = _check_cell("lstm", Tensor(x.data[:, 0]), h, wi, wh, bi, bh, 4)
    if c.shape != h.shape:
        raise ValueError(f"lstm: cell state must have shape {h.shape}, got {c.shape}")
    X, Wi, Wh = x.data, wi.data, wh.data
    B, T, _ = X.shape
    pre = np.swapaxes(X, 0, 1) @ Wi.T  # (T, B, 4H)
    if bi is not None:
        pre += bi.data
    if bh is not None:
        pre += bh.data
    dt = pre.dtype
    Hs = np.empty((T + 1, B, H), dtype=dt)
    Cs = np.empty((T + 1, B, H), dtype=dt)
    gates = np.empty((T, B, 4 * H), dtype=dt)  # i, f, g, o after their nonlinearities
    Hs[0], Cs[0] = h.data, c.data
    WhT = np.ascontiguousarray(Wh.T)
    for t in range(T):
        a = pre[t]
        a += Hs[t] @ WhT
        s = gates[t]
        s[:, :2 * H] = _expit(a[:, :2 * H])
        s[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        s[:, 3 * H:] = _expit(a[:, 3 * H:])
        Cs[t + 1] = s[:, H:2 * H] * Cs[t] + s[:, :H] * s[:, 2 * H:3 * H]
        Hs[t + 1] = s[:, 3 * H:] * np.tanh(Cs[t + 1])
    out = np.concatenate([np.swapaxes(Hs[1:], 0, 1), np.swapaxes(Cs[1:], 0, 1)], axis=2)
    parents = [x, h, c, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        G = np.swapaxes(g, 0, 1)  # (T, B, 2H)
        DA = np.empty((T, B, 4 * H), dtype=dt)
        gh_next = np.zeros((B, H), dtype=dt)
        gc_next = np.zeros((B, H), dtype=dt)
        for t in range(T - 1, -1, -1):
            s = gates[t]
            i, f, gg, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
            tc = np.tanh(Cs[t + 1])
            gh = G[t, :, :H] + gh_next
            e = G[t, :, H:] + gc_next + gh * o * (1 - tc * tc)
            da = DA[t]
            da[:, :H] = e * gg * i * (1 - i)
            da[:, H:2 * H] = e * Cs[t] * f * (1 - f)
            da[:, 2 * H:3 * H] = e * i * (1 - gg * gg)
            da[:, 3 * H:] = gh * tc * o * (1 - o)
            gc_next = e * f
            gh_next = da @ Wh
        D2 = DA.reshape(-1, 4 * H)
        grads = [np.swapaxes(DA @ Wi, 0, 1) if x.requires_grad else None,
                 gh_next if h.requires_grad else None,
                 gc_next if c.requires_grad else None,
                 D2.T @ np.swapaxes(X, 0, 1).reshape(-1, X.shape[-1])
                 if wi.requires_grad else None,
                 D2.T @ Hs[:-1].reshape(-1, H) if wh.requires_grad else None]
        gb = D2.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "lstm")


# --------------------------------------------------------------------------- batch norm, dropout
# Monograph chapter 3. Self-contained on purpose (only `Tensor` and `make_result`), so that the
# two ops can move into `ibcore/ops/` unchanged.
__all__ += ["batch_norm", "dropout"]


def _as_array(name: str, v):
    """The ndarray behind a Tensor / array running statistic (updated in place), or None."""
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"batch_norm: {name} must be a Tensor or an ndarray (it is updated in "
                        f"place), got {type(v).__name__}")
    return arr


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation (Ioffe and Szegedy 2015), as ``torch.nn.functional.batch_norm``; one
    fused node.

    Shapes: ``input (N, C)`` or ``(N, C, L)``; the statistics are per channel ``C``, taken over
    the ``m = N`` (or ``N * L``) entries of that channel. ``running_mean``, ``running_var``,
    ``weight`` and ``bias`` have shape ``(C,)``.

    Forward, training mode (or no running statistics): per channel
    ``mu = mean(x)``, ``var = mean((x - mu)^2)`` (biased), ``r = 1 / sqrt(var + eps)``,
    ``xhat = (x - mu) r``, ``out = weight * xhat + bias``. The running statistics, when given,
    are updated in place as torch does: ``running_mean <- (1 - momentum) running_mean +
    momentum mu`` and ``running_var <- (1 - momentum) running_var + momentum var * m / (m - 1)``
    (the unbiased variance). Evaluation mode uses ``running_mean`` and ``running_var`` in place
    of ``mu`` and ``var``, so the output of a row no longer depends on the rest of the batch.

    Backward, training mode (``g = dL/d(out)``, ``h = g * weight``, means over the ``m`` entries
    of a channel): ``dL/dbias = sum g``, ``dL/dweight = sum g * xhat`` and
    ``dL/dx = r (h - mean(h) - xhat mean(h * xhat))``. Derivation: ``dmu/dx_j = 1/m`` and
    ``dvar/dx_j = 2 (x_j - mu) / m`` give ``dr/dx_j = -r^3 (x_j - mu) / m``, so
    ``dxhat_i/dx_j = r (delta_ij - 1/m - xhat_i xhat_j / m)``; contracting with ``h_i`` gives the
    formula. The batch statistics are differentiated through, which couples the rows of a batch.
    Evaluation mode is an affine map per channel: ``dL/dx = g * weight * r`` with the running
    ``r``, and ``dL/dweight = sum g * xhat`` as before.

    Raises:
        ValueError: input not 2-D or 3-D; a statistic or parameter not of shape ``(C,)``;
            training with a single value per channel (``m = 1``, as torch refuses); evaluation
            mode without running statistics; ``eps`` negative or ``momentum`` outside [0, 1].
        TypeError: a running statistic that is neither a Tensor nor an ndarray.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    X = x.data
    if X.ndim not in (2, 3):
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, L), got shape {X.shape}")
    C = X.shape[1]
    rm = _as_array("running_mean", running_mean)
    rv = _as_array("running_var", running_var)
    for name, v in (("running_mean", rm), ("running_var", rv),
                    ("weight", None if weight is None else weight.data),
                    ("bias", None if bias is None else bias.data)):
        if v is not None and v.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},), got {v.shape}")
    if not eps >= 0:
        raise ValueError(f"batch_norm: eps must be non-negative, got {eps}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    axes = (0,) if X.ndim == 2 else (0, 2)
    shape = (1, C) if X.ndim == 2 else (1, C, 1)
    m = X.shape[0] * (1 if X.ndim == 2 else X.shape[2])
    use_batch = training or rm is None or rv is None
    if use_batch:
        if m < 2 and training:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {X.shape}")
        if not training:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        mu = X.mean(axis=axes)
        xc = X - mu.reshape(shape)
        var = (xc * xc).mean(axis=axes)
        if rm is not None:
            rm *= 1 - momentum
            rm += (momentum * mu).astype(rm.dtype)
        if rv is not None:
            rv *= 1 - momentum
            rv += (momentum * var * (m / (m - 1))).astype(rv.dtype)
    else:
        mu, var = rm.astype(X.dtype), rv.astype(X.dtype)
        xc = X - mu.reshape(shape)
    r = (1.0 / np.sqrt(var + np.asarray(eps, dtype=X.dtype))).reshape(shape).astype(X.dtype)
    xhat = xc * r
    w = None if weight is None else weight.data.reshape(shape)
    out = xhat if w is None else xhat * w
    if bias is not None:
        out = out + bias.data.reshape(shape)
    parents = [x] + [p for p in (weight, bias) if p is not None]

    def backward(g):
        h = g if w is None else g * w
        if not x.requires_grad:
            gx = None
        elif use_batch:
            gx = r * (h - h.mean(axis=axes, keepdims=True)
                      - xhat * (h * xhat).mean(axis=axes, keepdims=True))
        else:
            gx = h * r
        grads = [gx]
        if weight is not None:
            grads.append((g * xhat).sum(axis=axes) if weight.requires_grad else None)
        if bias is not None:
            grads.append(g.sum(axis=axes) if bias.requires_grad else None)
        return tuple(grads)

    return make_result(out, tuple(parents), backward, "batch_norm")


def dropout(input, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014), as ``torch.nn.functional.dropout``.

    In training mode every entry is kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)``: ``out = x * mask / (1 - p)``, ``mask ~ Bernoulli(1 - p)``, so that
    ``E[out] = x`` and evaluation mode (``training=False``) is the identity, with nothing to
    rescale at test time. ``p = 1`` returns zeros. Backward: ``g * mask / (1 - p)``.

    The mask is drawn from ibcore's global generator (`ibcore.manual_seed`) unless ``rng`` (a
    ``numpy.random.Generator``) is given.

    Raises:
        ValueError: if ``p`` is not in [0, 1].
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    X = x.data
    if p == 1:
        scale = np.zeros(X.shape, dtype=X.dtype)
    else:
        from .tensor import get_rng

        gen = rng if rng is not None else get_rng()
        keep = gen.random(X.shape) >= p
        scale = keep.astype(X.dtype) / np.asarray(1 - p, dtype=X.dtype)
    return make_result(X * scale, (x,), lambda g: (g * scale,), "dropout")
