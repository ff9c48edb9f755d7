"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1) as one fused node.

Notation: query ``Q (..., L, E)``, key ``K (..., S, E)``, value ``V (..., S, Ev)``; ``L`` query
positions, ``S`` key (source) positions; scores ``S = c Q K^T + M`` with ``c = 1/sqrt(E)`` and
``M`` the additive mask (0 where a key takes part, ``-inf`` where it does not); weights
``P = softmax(S)`` along the keys; ``out = P V``; ``g = dL/d(out)``.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from ._base import _sum_last, _t

__all__ = ["scaled_dot_product_attention"]


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
    P /= _sum_last(P)
    out = P @ V

    def backward(g):
        gq = gk = gv = None
        if v.requires_grad:
            gv = np.swapaxes(P, -1, -2) @ g
        if q.requires_grad or k.requires_grad:
            dP = g @ np.swapaxes(V, -1, -2)
            dS = P * (dP - _sum_last(dP * P))
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
