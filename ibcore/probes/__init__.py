"""Probes: reading trained models back out (gradient norms through time, attention maps,
ablations, activation patching). One submodule per kind of probe, re-exported here."""

from .gradients import hidden_grad_norms, hidden_grads

__all__: list[str] = []
__all__ += ["hidden_grads", "hidden_grad_norms"]
