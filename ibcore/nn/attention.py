"""Multi-head attention with PyTorch's parameter layout (Vaswani et al. 2017, section 3.2.2).

The weights are laid out exactly as in ``torch.nn.MultiheadAttention``: one ``in_proj_weight`` of
shape ``(3 * embed_dim, embed_dim)`` holding the query, key and value projections stacked in that
order, ``in_proj_bias`` of shape ``(3 * embed_dim,)``, and ``out_proj`` a `Linear(embed_dim,
embed_dim)`. A state dict copies one-to-one into torch's module, which is how the tests check it.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..ops.attention import _attention
from ..tensor import Tensor, get_rng
from .modules import Linear, Module, Parameter, _input, _size

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(Module):
    """Multi-head scaled dot-product attention, ``torch.nn.MultiheadAttention`` with
    ``batch_first=True``.

    For each head ``h`` (``head_dim = embed_dim / num_heads``): ``Q_h = query W_q,h^T + b_q,h``,
    and likewise ``K_h``, ``V_h``; ``A_h = softmax(Q_h K_h^T / sqrt(head_dim) + mask)``;
    ``head_h = A_h V_h``; the output is ``concat(head_1, ..., head_H) W_o^T + b_o``. The attention
    itself is the fused `ibcore.functional.scaled_dot_product_attention` node, whose backward is
    derived there; the projections are `linear` nodes.

    Args:
        embed_dim: model width ``E``.
        num_heads: number of heads ``H``; must divide ``embed_dim``.
        bias: learn the projection biases (default True).
        batch_first: must be True (inputs are ``(batch, seq, embed_dim)``), kept for torch's
            signature.
        rng, dtype: generator for the initial weights (default ibcore's global one) and dtype.

    Initialisation (torch's): ``in_proj_weight`` Xavier-uniform, biases zero, ``out_proj.weight``
    uniform on ``[-1/sqrt(E), 1/sqrt(E)]``.

    Attributes:
        last_attn_weights: the per-head weights ``(batch, H, L, S)`` of the last forward call
            (a NumPy array, for probes).
        weights_override: None, or an array broadcastable to ``(batch, H, L, S)`` used instead of
            the softmax weights (an ablation: the output is ``override @ V`` per head).

    Raises:
        TypeError: if ``embed_dim`` or ``num_heads`` is not an integer.
        ValueError: if ``num_heads`` does not divide ``embed_dim``, sizes are not positive, or
            ``batch_first`` is False.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, batch_first: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        embed_dim = _size("MultiHeadAttention", "embed_dim", embed_dim, minimum=-2**62)
        num_heads = _size("MultiHeadAttention", "num_heads", num_heads, minimum=-2**62)
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: num_heads={num_heads} must be positive and "
                             f"divide embed_dim={embed_dim}")
        if not batch_first:
            raise ValueError("MultiHeadAttention: only batch_first=True is supported; inputs are "
                             "(batch, seq, embed_dim)")
        rng = rng if rng is not None else get_rng()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.batch_first = True
        a = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))  # xavier_uniform on (3E, E)
        self.in_proj_weight = Parameter(rng.uniform(-a, a, (3 * embed_dim, embed_dim))
                                        .astype(dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.bias.data[...] = 0
        object.__setattr__(self, "last_attn_weights", None)
        object.__setattr__(self, "weights_override", None)

    def _project(self, x, i: int):
        E = self.embed_dim
        w = self.in_proj_weight[i * E:(i + 1) * E]
        b = None if self.in_proj_bias is None else self.in_proj_bias[i * E:(i + 1) * E]
        return F.linear(x, w, b)

    def _split(self, x, n: int):
        B = x.shape[0]
        return x.reshape(B, n, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, query, key=None, value=None, attn_mask=None, need_weights: bool = True,
                average_attn_weights: bool = True, is_causal: bool = False,
                key_padding_mask=None):
        """Attend from ``query`` to ``key``/``value`` (self-attention when they are omitted).

        Shapes: ``query (batch, L, E)``, ``key`` and ``value (batch, S, E)``.

        Args:
            attn_mask: ``(L, S)`` or ``(batch * H, L, S)``, **torch.nn.MultiheadAttention's
                convention**: boolean True means the position is *not* allowed to attend
                (the opposite of `scaled_dot_product_attention`), a float mask is added.
            need_weights: return the attention weights as the second result.
            average_attn_weights: average the weights over heads ``(batch, L, S)`` (torch's
                default); False gives per-head weights ``(batch, H, L, S)``.
            is_causal: mask keys after each query position.
            key_padding_mask: ``(batch, S)``, torch's meaning: boolean True marks a key (a
                padding position) that no query of that example may attend to; a float mask is
                added to every query's scores for that key. Combined with ``attn_mask`` or
                ``is_causal`` by adding the two.

        Returns:
            ``(output (batch, L, E), weights)``; weights is None when ``need_weights`` is False.
            The weights are a plain NumPy array (no gradient), and are also kept, per head, in
            ``last_attn_weights``.

        Dtype rule: as every layer (see `ibcore.nn.Linear`), floating inputs of another dtype
        than the weights are cast to the weights' dtype.

        Raises:
            ValueError: inputs that are not 3-D with last dimension ``E``; a key and value of
                different lengths or batch sizes (or a query of another batch size), naming
                the argument and both shapes; a mask of the wrong shape or dtype; a mask that
                leaves some query with no key (torch returns NaN there).
        """
        key = query if key is None else key
        value = key if value is None else value
        dtype = self.in_proj_weight.dtype
        query, key, value = (_input("MultiHeadAttention", t, dtype, n) for t, n in
                             ((query, "query"), (key, "key"), (value, "value")))
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(f"MultiHeadAttention: {name} must have shape (batch, seq, "
                                 f"{self.embed_dim}), got {t.shape}")
        if value.shape[:2] != key.shape[:2]:
            raise ValueError(f"MultiHeadAttention: value must have the batch size and length of "
                             f"key, {key.shape[:2]}: got value of shape {value.shape} and key of "
                             f"shape {key.shape}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"MultiHeadAttention: query and key must have the same batch size: "
                             f"got query of shape {query.shape} and key of shape {key.shape}")
        B, L, _ = query.shape
        S = key.shape[1]
        mask = self._mask(attn_mask, key_padding_mask, is_causal, B, L, S, dtype)
        if key_padding_mask is not None:
            is_causal = False  # folded into the additive mask
        q = self._split(self._project(query, 0), L)
        k = self._split(self._project(key, 1), S)
        v = self._split(self._project(value, 2), S)
        out, P = _attention(q, k, v, mask, is_causal, None, self.weights_override,
                            op="MultiHeadAttention")
        object.__setattr__(self, "last_attn_weights", np.array(P))
        out = out.permute(0, 2, 1, 3).reshape(B, L, self.embed_dim)
        out = self.out_proj(out)
        if not need_weights:
            return out, None
        return out, (P.mean(axis=1) if average_attn_weights else np.array(P))

    def _mask(self, attn_mask, key_padding_mask, is_causal, B, L, S, dtype):
        """The mask for `scaled_dot_product_attention`'s convention (boolean True = may attend, or
        additive float), from torch.nn.MultiheadAttention's (boolean True = may not)."""
        mask = None
        if attn_mask is not None:
            m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
            if m.shape == (L, S):
                pass
            elif m.shape == (B * self.num_heads, L, S):
                m = m.reshape(B, self.num_heads, L, S)
            else:
                raise ValueError(f"MultiHeadAttention: attn_mask must have shape ({L}, {S}) or "
                                 f"({B * self.num_heads}, {L}, {S}), got {m.shape}")
            mask = ~m if m.dtype == bool else m  # torch MHA: True = not allowed
        if key_padding_mask is None:
            return mask
        kp = (key_padding_mask.data if isinstance(key_padding_mask, Tensor)
              else np.asarray(key_padding_mask))
        if kp.shape != (B, S):
            raise ValueError(f"MultiHeadAttention: key_padding_mask must have shape (batch, "
                             f"source_len) = ({B}, {S}), got {kp.shape}")
        if kp.dtype != bool and kp.dtype.kind != "f":
            raise ValueError(f"MultiHeadAttention: key_padding_mask must be boolean (True = "
                             f"padding, not attended to) or floating (added), got dtype "
                             f"{kp.dtype}")
        # everything as one additive mask (0 = attend, -inf = not), broadcast to (B, H, L, S)
        add = np.where(kp, -np.inf, 0.0).astype(dtype) if kp.dtype == bool else kp.astype(dtype)
        add = add[:, None, None, :]
        if is_causal:
            if attn_mask is not None:
                raise ValueError("MultiHeadAttention: give either attn_mask or is_causal=True, "
                                 "not both")
            mask = np.tril(np.ones((L, S), dtype=bool))
        if mask is not None:
            add = add + (np.where(mask, 0.0, -np.inf).astype(dtype) if mask.dtype == bool
                         else mask.astype(dtype))
        return add

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
