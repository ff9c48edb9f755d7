"""Activation patching (causal tracing, Meng et al. 2022; Vig et al. 2020) for a
`ReadoutTransformer`.

Run the model on a *clean* input and on a *corrupted* one whose answer differs. Then run the
corrupted input again, but restore the clean activation at one layer and one position (the
residual stream there), and measure how much of the clean answer comes back. Doing this for every
layer and position gives a layer-by-position map of where the information that decides the
answer sits. It is an intervention, so it measures a causal effect, not a correlation.
"""

from __future__ import annotations

import numpy as np

from ..functional import softmax
from ..tensor import no_grad

__all__ = ["causal_trace"]


def causal_trace(model, clean, corrupt, target=None) -> dict:
    """Layer-by-position causal trace.

    Args:
        clean, corrupt: token arrays ``(batch, seq)`` of the same shape.
        target: ``(batch,)`` the clean answers whose probability is tracked (default: the
            model's clean predictions).

    Returns:
        dict with ``"recovered"`` ``(layers + 1, seq)``: for layer ``l`` (0 = the embeddings,
        ``l`` = after block ``l``) and position ``p``, the fraction of the clean probability
        restored, ``(P_patched - P_corrupt) / (P_clean - P_corrupt)``, where each ``P`` is the
        probability of ``target`` averaged over the batch (1 = fully restored, 0 = nothing);
        also ``"p_clean"``, ``"p_corrupt"`` (floats) and ``"p_patched"`` ``(layers + 1, seq)``.

    Raises:
        ValueError: if the shapes differ or the corruption does not change the probability
            (there is nothing to recover).
    """
    clean, corrupt = np.asarray(clean), np.asarray(corrupt)
    if clean.shape != corrupt.shape or clean.ndim != 2:
        raise ValueError(f"causal_trace: clean {clean.shape} and corrupt {corrupt.shape} must be "
                         f"equal (batch, seq) shapes")
    with no_grad():
        run_clean = model.run(clean)
        rows = np.arange(len(clean))
        if target is None:
            target = run_clean["logits"].data.argmax(-1)
        target = np.asarray(target)

        def prob(logits):
            return float(softmax(logits, -1).data[rows, target].mean())

        p_clean = prob(run_clean["logits"])
        p_corrupt = prob(model.run(corrupt)["logits"])
        if abs(p_clean - p_corrupt) < 1e-6:
            raise ValueError("causal_trace: the corruption does not change the probability of "
                             "the target; nothing to recover")
        L, S = model.num_layers + 1, clean.shape[1]
        patched = np.zeros((L, S))
        for layer in range(L):
            stream = run_clean["resid"][layer].data
            for p in range(S):
                out = model.run(corrupt, patch={(layer, p): stream[:, p]})
                patched[layer, p] = prob(out["logits"])
    return {"recovered": (patched - p_corrupt) / (p_clean - p_corrupt), "p_clean": p_clean,
            "p_corrupt": p_corrupt, "p_patched": patched}
