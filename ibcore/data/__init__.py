"""Datasets and tasks. Every function returns NumPy arrays and is seeded; nothing downloads.

One submodule per family, re-exported here so chapters write ``ibcore.data.digits()``:

- `classic`: `xor`, `digits` (scikit-learn's 8x8 digits with a fixed stratified split).
- `text`: `char_corpus` (the standard library's ``pydoc_data.topics``), `Vocab`,
  `context_windows`, `sequence_batch`.
- `markov`: `MarkovSource` (order-k sources with exact entropy rates).
- `sequence`: `delayed_recall`.
"""

from .classic import Split, digits, xor
from .markov import MarkovSource
from .sequence import delayed_recall
from .text import CharCorpus, Vocab, char_corpus, context_windows, sequence_batch

__all__ = ["xor", "digits", "Split"]
__all__ += ["char_corpus", "CharCorpus", "Vocab", "context_windows", "sequence_batch",
            "MarkovSource", "delayed_recall"]
