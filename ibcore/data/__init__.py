"""Datasets and tasks. Every function returns NumPy arrays and is seeded; nothing downloads.

One submodule per family, re-exported here so chapters write ``ibcore.data.digits()``:

- `classic`: `xor`, `digits` (scikit-learn's 8x8 digits with a fixed stratified split).
- `pointer`: `pointer`, `pointer_khop`, `pointer_tokens` (the pointer task of Posts 6 and 7).
"""

from .classic import Split, digits, xor
from .pointer import PointerTask, pointer, pointer_khop, pointer_tokens

__all__ = ["xor", "digits", "Split", "PointerTask", "pointer", "pointer_khop", "pointer_tokens"]
