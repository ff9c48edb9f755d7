"""Dropout (Srivastava et al. 2014): the one operation that is random in training mode.

Notation: ``p`` is the probability of dropping an entry; ``mask`` the Bernoulli(1 - p) keep
pattern; ``g = dL/d(out)``.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, get_rng, make_result

__all__ = ["dropout"]


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
        gen = rng if rng is not None else get_rng()
        keep = gen.random(X.shape) >= p
        scale = keep.astype(X.dtype) / np.asarray(1 - p, dtype=X.dtype)
    return make_result(X * scale, (x,), lambda g: (g * scale,), "dropout")
