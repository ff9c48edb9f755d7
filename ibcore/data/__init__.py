"""Datasets and tasks. Every function returns NumPy arrays and is seeded; nothing downloads.

One submodule per family, re-exported here so chapters write ``ibcore.data.digits()``:

- `classic`: `xor`, `digits` (scikit-learn's 8x8 digits with a fixed stratified split).
- `images`: `canvas`, `shift`, `shifted_copies`, `power_spectrum` (image transforms, chapter 4).
- `regression`: `count_data` (Poisson counts, rate `count_rate`), `heteroscedastic_data` (noise
  scale `hetero_scale` growing with ``|x|``, mean `hetero_mean`).
- `text`: `char_corpus` (the standard library's ``pydoc_data.topics``), `Vocab`,
  `context_windows`, `sequence_batch`.
- `markov`: `MarkovSource` (order-k sources with exact entropy rates).
- `sequence`: `delayed_recall`.
- `pointer`: `pointer`, `pointer_khop`, `pointer_tokens` (the pointer task of Posts 6 and 7).
- `graphs`: `digit_sets` (sums of sets of digits), `karate_club`, `qm9` (molecules as graphs;
  needs ``qm9pack`` and ``rdkit``), `smiles_graphs`.
"""

from .classic import Split, digits, xor
from .graphs import (
    QM9,
    QM9_ATOM_FEATURES,
    QM9_BOND_TYPES,
    QM9_TARGETS,
    DigitSets,
    KarateClub,
    digit_sets,
    karate_club,
    qm9,
    smiles_graphs,
)
from .images import canvas, power_spectrum, shift, shifted_copies
from .markov import MarkovSource
from .pointer import PointerTask, pointer, pointer_khop, pointer_tokens
from .regression import (
    count_data,
    count_rate,
    hetero_mean,
    hetero_scale,
    heteroscedastic_data,
)
from .sequence import delayed_recall
from .text import CharCorpus, Vocab, char_corpus, context_windows, sequence_batch

__all__ = [
    "xor", "digits", "Split", "canvas", "shift", "shifted_copies", "power_spectrum",
    "count_data", "count_rate", "heteroscedastic_data", "hetero_mean", "hetero_scale",
    "char_corpus", "CharCorpus", "Vocab", "context_windows", "sequence_batch",
    "MarkovSource", "delayed_recall",
    "PointerTask", "pointer", "pointer_khop", "pointer_tokens",
    "DigitSets", "digit_sets", "KarateClub", "karate_club", "QM9", "qm9", "QM9_ATOM_FEATURES",
    "QM9_BOND_TYPES", "QM9_TARGETS", "smiles_graphs",
]
