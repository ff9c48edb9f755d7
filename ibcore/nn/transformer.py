"""Layer normalisation, positional encodings, the pre-norm transformer block, and a small encoder
that reads its answer off one position (Posts 6 and 7).

The encoder is written so that it can be read back out: `ReadoutTransformer.run` returns the
residual stream at every layer and every position and the attention weights of every head, and it
can *patch* the stream (replace one position's activation at one layer) or override a layer's
attention weights, which is what `ibcore.probes` builds on.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng
from .attention import MultiHeadAttention
from .modules import Linear, Module, Parameter, _input, _size

__all__ = ["LayerNorm", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
           "TransformerBlock", "ReadoutTransformer", "sinusoidal_table"]


class LayerNorm(Module):
    """``torch.nn.LayerNorm(normalized_shape)``: normalise each row over its trailing
    ``normalized_shape`` entries to mean 0 and variance 1, then scale by ``weight`` (init 1) and
    shift by ``bias`` (init 0) (Ba, Kiros and Hinton 2016). The backward is the fused one derived
    in `ibcore.functional.layer_norm`.

    Shapes: input ``(..., *normalized_shape)``, output the same.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)):
            ns = tuple(_size("LayerNorm", f"normalized_shape[{i}]", n)
                       for i, n in enumerate(normalized_shape))
        else:
            ns = (_size("LayerNorm", "normalized_shape", normalized_shape),)
        if not ns:
            raise ValueError(f"LayerNorm: normalized_shape must be positive, got {ns}")
        self.normalized_shape, self.eps = ns, float(eps)
        self.weight = Parameter(np.ones(ns, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(ns, dtype=dtype)) if elementwise_affine else None

    def forward(self, x):
        dtype = self.weight.dtype if self.weight is not None else None
        if dtype is not None:
            x = _input("LayerNorm", x, dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """The fixed encodings of Vaswani et al. (2017, section 3.5), ``(max_len, d_model)``:
    ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``."""
    pos = np.arange(max_len)[:, None]
    i = np.arange(0, d_model, 2)[None, :]
    ang = pos / np.power(10000.0, i / d_model)
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(ang)
    pe[:, 1::2] = np.cos(ang[:, : d_model // 2])
    return pe


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal encoding to ``x (batch, seq, d_model)``; no parameters.

    ``scale`` multiplies the table (each entry has magnitude at most 1, the row norm is
    ``sqrt(d_model / 2)``).
    """

    def __init__(self, max_len: int, d_model: int, scale: float = 1.0, dtype=np.float32):
        super().__init__()
        max_len = _size("SinusoidalPositionalEncoding", "max_len", max_len)
        d_model = _size("SinusoidalPositionalEncoding", "d_model", d_model)
        self.max_len, self.d_model = max_len, d_model
        object.__setattr__(self, "table", (scale * sinusoidal_table(max_len, d_model))
                           .astype(dtype))

    def forward(self, x):
        L = x.shape[1]
        if L > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding: sequence of length {L} is longer "
                             f"than max_len={self.max_len}")
        return x + Tensor(self.table[:L].astype(x.dtype))


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position, ``weight (max_len, d_model)``, initialised
    ``N(0, scale^2)``; input ``(batch, seq, d_model)``."""

    def __init__(self, max_len: int, d_model: int, scale: float = 1.0,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        max_len = _size("LearnedPositionalEncoding", "max_len", max_len)
        d_model = _size("LearnedPositionalEncoding", "d_model", d_model)
        rng = rng if rng is not None else get_rng()
        self.max_len, self.d_model = max_len, d_model
        self.weight = Parameter((scale * rng.standard_normal((max_len, d_model))).astype(dtype))

    def forward(self, x):
        L = x.shape[1]
        if L > self.max_len:
            raise ValueError(f"LearnedPositionalEncoding: sequence of length {L} is longer than "
                             f"max_len={self.max_len}")
        return _input("LearnedPositionalEncoding", x, self.weight.dtype) + self.weight[:L]


class TransformerBlock(Module):
    """Pre-norm transformer block (Xiong et al. 2020):

    ``x <- x + MHA(LN1(x))``, then ``x <- x + W2 relu(W1 LN2(x) + b1) + b2``.

    The residual stream is never normalised in place; each sub-layer reads a normalised copy and
    adds its result back, so the gradient reaches every layer through the identity path.

    Shapes: ``(batch, seq, d_model)`` in and out.

    Args:
        d_model, num_heads: width and number of attention heads.
        d_ff: hidden width of the MLP (default ``4 * d_model``).

    Raises:
        TypeError: if a size is not an integer.
        ValueError: if a size is below 1, or (as `MultiHeadAttention`) ``num_heads`` does not
            divide ``d_model``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        d_model = _size("TransformerBlock", "d_model", d_model)
        d_ff = 4 * d_model if d_ff is None else _size("TransformerBlock", "d_ff", d_ff)
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.attn = MultiHeadAttention(d_model, num_heads, rng=rng, dtype=dtype)
        self.ln2 = LayerNorm(d_model, dtype=dtype)
        self.ff1 = Linear(d_model, d_ff, rng=rng, dtype=dtype)
        self.ff2 = Linear(d_ff, d_model, rng=rng, dtype=dtype)

    def forward(self, x, attn_mask=None):
        x = _input("TransformerBlock", x, self.ff1.weight.dtype)  # the dtype rule of Linear
        h, _ = self.attn(self.ln1(x), attn_mask=attn_mask, need_weights=False)
        x = x + h
        return x + self.ff2(F.relu(self.ff1(self.ln2(x))))


class ReadoutTransformer(Module):
    """A small transformer encoder that reads a classification off one position.

    tokens ``(batch, seq)`` (integers in ``[0, vocab_size)``) -> token embedding (entries
    ``N(0, embed_scale^2)``) plus a positional encoding -> ``num_layers`` pre-norm transformer
    blocks -> final `LayerNorm` -> a linear head on the ``readout`` position -> logits
    ``(batch, num_classes)``.

    Args:
        vocab_size, seq_len: token vocabulary and (maximum) sequence length.
        d_model, num_heads, num_layers, d_ff: sizes.
        num_classes: number of output logits.
        pos: ``"learned"`` (default) or ``"sinusoidal"``.
        embed_scale, pos_scale: initial scales of the token embedding (entries ``N(0, 1)`` times
            ``embed_scale``) and of the positional encoding.
        readout: the position whose final state is classified (default -1, the last).

    Raises:
        TypeError: if a size is not an integer.
        ValueError: for non-positive sizes or an unknown ``pos``.
    """

    def __init__(self, vocab_size: int, seq_len: int, d_model: int = 32, num_heads: int = 1,
                 num_layers: int = 2, num_classes: int = 2, d_ff: int | None = None,
                 pos: str = "learned", embed_scale: float = 1.0, pos_scale: float = 1.0,
                 readout: int = -1, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("seq_len", seq_len), ("d_model", d_model),
                        ("num_heads", num_heads), ("num_classes", num_classes),
                        ("num_layers", num_layers)):
            _size("ReadoutTransformer", name, v, minimum=-2**62)  # integers; ranges below
        if min(vocab_size, seq_len, d_model, num_heads, num_classes) < 1 or num_layers < 0:
            raise ValueError("ReadoutTransformer: sizes must be positive (num_layers >= 0)")
        if pos not in ("learned", "sinusoidal"):
            raise ValueError(f"ReadoutTransformer: pos must be 'learned' or 'sinusoidal', got "
                             f"{pos!r}")
        rng = rng if rng is not None else get_rng()
        self.vocab_size, self.seq_len, self.d_model = vocab_size, seq_len, d_model
        self.num_layers, self.num_classes = num_layers, num_classes
        self.readout = readout
        self.embed_weight = Parameter((embed_scale * rng.standard_normal((vocab_size, d_model)))
                                      .astype(dtype))
        self.pos = (LearnedPositionalEncoding(seq_len, d_model, pos_scale, rng, dtype)
                    if pos == "learned"
                    else SinusoidalPositionalEncoding(seq_len, d_model, pos_scale, dtype))
        for i in range(num_layers):
            setattr(self, f"block{i}", TransformerBlock(d_model, num_heads, d_ff, rng, dtype))
        self.ln_f = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, num_classes, rng=rng, dtype=dtype)

    @property
    def blocks(self) -> list[TransformerBlock]:
        return [getattr(self, f"block{i}") for i in range(self.num_layers)]

    def _tokens(self, tokens) -> np.ndarray:
        t = tokens.data if isinstance(tokens, Tensor) else np.asarray(tokens)
        if t.ndim != 2 or t.dtype.kind not in "iu":
            raise ValueError(f"ReadoutTransformer: tokens must be an integer array (batch, seq), "
                             f"got shape {t.shape} and dtype {t.dtype}")
        if t.shape[1] > self.seq_len:
            raise ValueError(f"ReadoutTransformer: sequence length {t.shape[1]} exceeds seq_len="
                             f"{self.seq_len}")
        if t.size and (t.min() < 0 or t.max() >= self.vocab_size):
            raise ValueError(f"ReadoutTransformer: tokens must be in [0, {self.vocab_size}), got "
                             f"values in [{t.min()}, {t.max()}]")
        return t.astype(np.int64, copy=False)

    def embed(self, tokens) -> Tensor:
        """Token embedding plus positional encoding, ``(batch, seq, d_model)``."""
        return self.pos(self.embed_weight[self._tokens(tokens)])

    def run(self, tokens=None, *, x0=None, patch=None, attn_override=None) -> dict:
        """The forward pass, with everything a probe needs.

        Args:
            tokens: ``(batch, seq)`` integers (or give ``x0``).
            x0: the embedded input ``(batch, seq, d_model)`` instead of tokens (e.g. a leaf
                tensor, to take gradients with respect to the input embeddings).
            patch: ``{(layer, position): array (batch, d_model)}``; the residual stream at that
                layer (0 = the embeddings, ``l`` = the output of block ``l``) and position is
                replaced by the array before the computation goes on.
            attn_override: ``{layer: weights}`` (layer 1-based) with weights broadcastable to
                ``(batch, heads, seq, seq)``, used instead of that block's softmax weights.

        Returns:
            dict with ``"logits"`` ``(batch, num_classes)`` (a Tensor), ``"resid"``: a list of
            ``num_layers + 1`` Tensors ``(batch, seq, d_model)`` (the stream after the embedding
            and after each block, patches applied), ``"attn"``: a list of per-layer per-head
            weights ``(batch, heads, seq, seq)`` (NumPy arrays).
        """
        x = self.embed(tokens) if x0 is None else x0
        patch = patch or {}
        attn_override = attn_override or {}

        def apply_patch(x, layer):
            todo = [(p, v) for (lay, p), v in patch.items() if lay == layer]
            if not todo:
                return x
            data = np.array(x.data, copy=True)
            keep = np.ones(data.shape, dtype=data.dtype)
            for p, v in todo:
                data[:, p] = v
                keep[:, p] = 0
            # gradient flows to the unpatched entries only
            return x * Tensor(keep) + Tensor(data * (1 - keep))

        x = apply_patch(x, 0)
        resid, attn = [x], []
        for i, block in enumerate(self.blocks, start=1):
            object.__setattr__(block.attn, "weights_override", attn_override.get(i))
            try:
                x = block(x)
            finally:
                object.__setattr__(block.attn, "weights_override", None)
            attn.append(block.attn.last_attn_weights)
            x = apply_patch(x, i)
            resid.append(x)
        h = self.ln_f(x[:, self.readout])
        return {"logits": self.head(h), "resid": resid, "attn": attn}

    def forward(self, tokens):
        """Logits ``(batch, num_classes)`` read off the ``readout`` position."""
        return self.run(tokens)["logits"]

    def extra_repr(self):
        return (f"vocab_size={self.vocab_size}, seq_len={self.seq_len}, d_model={self.d_model}, "
                f"num_layers={self.num_layers}, num_classes={self.num_classes}")


