"""Probes: reading trained models back out (gradient norms through time, attention maps,
ablations, activation patching). One submodule per kind of probe, re-exported here.

- `gradients`: `hidden_grads`, `hidden_grad_norms` (gradient norms through time, Post 5).
- `attention`: `attention_maps`, `predict`, `uniform_attention_accuracy`, `flip_test`,
  `attention_rollout`, `value_weighted_attention`, `grad_times_input` (Post 7).
- `patching`: `causal_trace` (activation patching, Post 7).
- `curvature`: `flat_grad`, `hessian_vector_product`, `hessian_top_eigenvalue` (sharpness),
  `layer_grad_norms` (per-layer gradient norms; monograph chapter 3).
- `convolution`: `effective_receptive_field`, `erf_std`, `offset_tied_fraction`,
  `window_fraction` (monograph chapter 4).
"""

from .attention import (
    attention_maps,
    attention_rollout,
    flip_test,
    grad_times_input,
    predict,
    uniform_attention_accuracy,
    value_weighted_attention,
)
from .convolution import (
    effective_receptive_field,
    erf_std,
    offset_tied_fraction,
    window_fraction,
)
from .curvature import (
    flat_grad,
    hessian_top_eigenvalue,
    hessian_vector_product,
    layer_grad_norms,
)
from .gradients import hidden_grad_norms, hidden_grads
from .patching import causal_trace

__all__: list[str] = [
    "attention_maps", "predict", "uniform_attention_accuracy", "flip_test", "attention_rollout",
    "value_weighted_attention", "grad_times_input", "causal_trace", "hidden_grads",
    "hidden_grad_norms", "flat_grad", "hessian_vector_product", "hessian_top_eigenvalue",
    "layer_grad_norms", "effective_receptive_field", "erf_std", "offset_tied_fraction",
    "window_fraction",
]
