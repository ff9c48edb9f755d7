"""Datasets and tasks. Every function returns NumPy arrays and is seeded; nothing downloads.

One submodule per family, re-exported here so chapters write ``ibcore.data.digits()``:

- `classic`: `xor`, `digits` (scikit-learn's 8x8 digits with a fixed stratified split).
- `regression`: `count_data` (Poisson counts, rate `count_rate`), `heteroscedastic_data` (noise
  scale `hetero_scale` growing with |x|, mean `hetero_mean`).
- `pointer`: `pointer`, `pointer_khop`, `pointer_tokens` (the pointer task of Posts 6 and 7).
"""

from .classic import Split, digits, xor
from .pointer import PointerTask, pointer, pointer_khop, pointer_tokens
from .regression import (
    count_data,
    count_rate,
    hetero_mean,
    hetero_scale,
    heteroscedastic_data,
)

__all__ = [
    "xor", "digits", "Split",
    "count_data", "count_rate", "heteroscedastic_data", "hetero_mean", "hetero_scale",
    "PointerTask", "pointer", "pointer_khop", "pointer_tokens",
]
