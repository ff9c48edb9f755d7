"""`Embedding`: a lookup table of learned vectors, one row per token (Bengio et al. 2003)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng
from .modules import Module, Parameter, _sizes

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` learned vectors of size ``embedding_dim``.

    ``Embedding(num_embeddings, embedding_dim)`` as ``torch.nn.Embedding``: the input is an
    integer array of token ids of any shape ``(*)``, the output ``(*, embedding_dim)`` holds the
    rows ``weight[ids]``. ``weight`` has shape ``(num_embeddings, embedding_dim)`` and is
    initialised standard normal (torch's default).

    Backward: row ``v`` of ``dL/dweight`` is the sum of the upstream gradients of every position
    whose id is ``v`` (``np.add.at`` in `ibcore.functional.index`), so a token that occurs twice
    in a batch gets both contributions; rows of tokens that do not occur get zero. This is the
    weight sharing of the embedding: one vector per token, whatever the position.

    Raises:
        TypeError: if a size is not an integer (``Embedding(2.5, 3)``).
        ValueError: for sizes below 1; on input that is not integer or holds ids outside
            ``[0, num_embeddings)`` (the first offending values are named).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        num_embeddings, embedding_dim = _sizes("Embedding", num_embeddings=num_embeddings,
                                               embedding_dim=embedding_dim)
        rng = rng if rng is not None else get_rng()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(
            rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, input) -> Tensor:
        ids = input.data if isinstance(input, Tensor) else np.asarray(input)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"Embedding: input must hold integer token ids, got dtype "
                             f"{ids.dtype}")
        bad = (ids < 0) | (ids >= self.num_embeddings)
        if bad.any():
            raise ValueError(f"Embedding: ids must be in [0, {self.num_embeddings}), got "
                             f"{ids[bad][:5].tolist()}")
        return F.index(self.weight, ids)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
