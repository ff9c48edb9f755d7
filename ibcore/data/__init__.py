"""Datasets and tasks. Every function returns NumPy arrays and is seeded; nothing downloads.

One submodule per family, re-exported here so chapters write ``ibcore.data.digits()``:

- `classic`: `xor`, `digits` (scikit-learn's 8x8 digits with a fixed stratified split).
"""

from .classic import Split, digits, xor

__all__ = ["xor", "digits", "Split"]
