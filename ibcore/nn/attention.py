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
from .modules import Linear, Module, Parameter

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
        ValueError: if ``num_heads`` does not divide ``embed_dim``, sizes are not positive, or
            ``batch_first`` is False.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, batch_first: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
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
                average_attn_weights: bool = True, is_causal: bool = False):
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

        Returns:
            ``(output (batch, L, E), weights)``; weights is None when ``need_weights`` is False.
            The weights are a plain NumPy array (no gradient), and are also kept, per head, in
            ``last_attn_weights``.

        Raises:
            ValueError: inputs that are not 3-D with last dimension ``E``, or a mask of the
                wrong shape.
        """
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(f"MultiHeadAttention: {name} must have shape (batch, seq, "
                                 f"{self.embed_dim}), got {t.shape}")
        B, L, _ = query.shape
        S = key.shape[1]
        q = self._split(self._project(query, 0), L)
        k = self._split(self._project(key, 1), S)
        v = self._split(self._project(value, 2), S)
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
        out, P = _attention(q, k, v, mask, is_causal, None, self.weights_override,
                            op="MultiHeadAttention")
        object.__setattr__(self, "last_attn_weights", np.array(P))
        out = out.permute(0, 2, 1, 3).reshape(B, L, self.embed_dim)
        out = self.out_proj(out)
        if not need_weights:
            return out, None
        return out, (P.mean(axis=1) if average_attn_weights else np.array(P))

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
