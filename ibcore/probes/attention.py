"""Reading a `ReadoutTransformer` back out through its attention (Post 7).

Attention maps per layer and head; uniform-attention ablations; flip tests (change one input
token, see whether the prediction changes); and three attribution scores that are often read as
"what the model used": raw attention, attention rollout (Abnar and Zuidema 2020), attention
weighted by the norm of the transformed value vectors (Kobayashi et al. 2020) and gradient times
input (Shrikumar et al. 2017). Whether any of them agrees with the causal ground truth is an
empirical question; `ibcore.probes.patching` gives the ground truth by intervention.

All functions take integer tokens ``(batch, seq)`` and return NumPy arrays; none changes the
model's weights.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad

__all__ = ["attention_maps", "predict", "uniform_attention_accuracy", "flip_test",
           "attention_rollout", "value_weighted_attention", "grad_times_input"]


def _check_layer(model, layer: int) -> int:
    if not 1 <= layer <= model.num_layers:
        raise ValueError(f"layer must be in [1, {model.num_layers}] (1-based), got {layer}")
    return layer


def attention_maps(model, tokens) -> np.ndarray:
    """Attention weights ``(layers, batch, heads, seq, seq)``: entry ``[l, b, h, i, j]`` is how
    much position ``i`` attends to position ``j`` in head ``h`` of block ``l + 1``."""
    with no_grad():
        return np.stack(model.run(tokens)["attn"])


def predict(model, tokens, **run_kwargs) -> np.ndarray:
    """Predicted classes ``(batch,)`` (the arg-max logit); ``run_kwargs`` go to ``model.run``."""
    with no_grad():
        return model.run(tokens, **run_kwargs)["logits"].data.argmax(-1)


def uniform_attention_accuracy(model, tokens, y, layer: int) -> float:
    """Accuracy when block ``layer`` (1-based) attends uniformly: every query averages the values
    of all positions (an ablation that keeps the values but removes *where* the layer looks).

    Raises:
        ValueError: if ``layer`` is not in ``[1, num_layers]``.
    """
    _check_layer(model, layer)
    S = np.asarray(tokens).shape[1]
    uniform = np.full((1, 1, S, S), 1.0 / S)
    return float(np.mean(predict(model, tokens, attn_override={layer: uniform}) == np.asarray(y)))


def flip_test(model, tokens, position: int | np.ndarray, flip) -> np.ndarray:
    """Whether the prediction changes when the token at ``position`` is replaced.

    Args:
        tokens: ``(batch, seq)``.
        position: one position, or ``(batch,)`` positions (one per example).
        flip: ``flip(old_tokens) -> new_tokens`` applied to the tokens at those positions (for
            bits, ``lambda t: 1 - t``).

    Returns:
        ``(batch,)`` booleans: True where the predicted class changed.
    """
    tokens = np.asarray(tokens)
    rows = np.arange(len(tokens))
    pos = np.broadcast_to(np.asarray(position), rows.shape)
    flipped = tokens.copy()
    flipped[rows, pos] = flip(tokens[rows, pos])
    return predict(model, tokens) != predict(model, flipped)


def attention_rollout(maps: np.ndarray, residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar and Zuidema 2020): ``(batch, seq, seq)`` estimated attention from
    each final position to each input position.

    Heads are averaged; with ``residual`` each layer's map becomes ``0.5 A + 0.5 I`` (the
    residual connection), rows renormalised; the layers' maps are multiplied, first layer last:
    ``R = A_L ... A_2 A_1``.

    Args:
        maps: ``(layers, batch, heads, seq, seq)`` from `attention_maps`.
    """
    maps = np.asarray(maps)
    A = maps.mean(axis=2)  # (layers, batch, seq, seq)
    if residual:
        eye = np.eye(A.shape[-1])
        A = 0.5 * A + 0.5 * eye
        A = A / A.sum(-1, keepdims=True)
    R = A[0]
    for layer in A[1:]:
        R = layer @ R
    return R


def value_weighted_attention(model, tokens, layer: int | None = None) -> np.ndarray:
    """Attention weighted by the norm of what each position contributes (Kobayashi et al. 2020):
    ``||alpha_ij f(x_j)||`` with ``f(x_j) = W_O,h (W_V,h LN(x_j) + b_V,h)``, summed over heads.

    Returns ``(batch, seq, seq)`` for block ``layer`` (1-based; default the last).
    """
    layer = model.num_layers if layer is None else _check_layer(model, layer)
    block = model.blocks[layer - 1]
    attn = block.attn
    with no_grad():
        out = model.run(tokens)
        x = out["resid"][layer - 1]
        h = block.ln1(x).data
        P = out["attn"][layer - 1]  # (batch, heads, seq, seq)
    E, H, dh = attn.embed_dim, attn.num_heads, attn.head_dim
    Wv = attn.in_proj_weight.data[2 * E:]
    bv = 0 if attn.in_proj_bias is None else attn.in_proj_bias.data[2 * E:]
    v = h @ Wv.T + bv  # (batch, seq, E)
    Wo = attn.out_proj.weight.data  # (E, E)
    total = np.zeros(P.shape[:1] + P.shape[2:])
    for i in range(H):
        fv = v[..., i * dh:(i + 1) * dh] @ Wo[:, i * dh:(i + 1) * dh].T  # (batch, seq, E)
        total += P[:, i] * np.linalg.norm(fv, axis=-1)[:, None, :]
    return total


def grad_times_input(model, tokens, target=None) -> np.ndarray:
    """Gradient times input (Shrikumar et al. 2017) at the embedded input, ``(batch, seq)``:
    ``sum_d x0[b, j, d] * d(score_b)/d x0[b, j, d]`` where ``x0`` is token plus positional
    embedding and ``score_b`` is the logit of ``target[b]`` minus the mean logit (default target:
    the predicted class)."""
    tokens = np.asarray(tokens)
    with no_grad():
        x0 = model.embed(tokens).data
    leaf = Tensor(x0, requires_grad=True)
    logits = model.run(x0=leaf)["logits"]
    if target is None:
        target = logits.data.argmax(-1)
    C = logits.shape[-1]
    g = -np.full(logits.shape, 1.0 / C, dtype=logits.dtype)
    g[np.arange(len(tokens)), np.asarray(target)] += 1.0
    logits.backward(g)
    return np.sum(leaf.grad * x0, axis=-1)
