"""Probes: reading trained models back out (gradient norms through time, attention maps,
ablations, activation patching). One submodule per kind of probe, re-exported here."""

__all__: list[str] = []
