"""Language models: Bengio et al.'s (2003) window model, a character RNN, and sampling.

`NeuralLM` makes the Markov assumption architectural: it sees exactly the last ``context_size``
tokens. `CharRNN` carries a hidden state instead, so its context is unbounded in principle.
`sample` draws text from either, with a temperature.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng, no_grad
from .embedding import Embedding
from .modules import Linear, Module, _size, _sizes
from .recurrent import GRU, LSTM, RNN

__all__ = ["NeuralLM", "CharRNN", "sample"]


class NeuralLM(Module):
    """The neural probabilistic language model of Bengio et al. (2003), section 3.

    For a window of the previous ``N = context_size`` tokens: look each one up in a shared
    embedding table ``C`` (``Embedding(vocab_size, embedding_dim)``), concatenate the ``N``
    vectors into ``x`` of size ``N * embedding_dim`` (position ``j`` of the window owns columns
    ``j*d:(j+1)*d`` of the hidden weight: the head is position-specific), then
    ``logits = b + W x + U tanh(d + H x)``; the direct connection ``W x`` is optional
    (``direct=True``), as in the paper.

    Shapes: ``input (batch, context_size)`` integer ids, oldest first -> logits
    ``(batch, vocab_size)`` for the next token (read through the softmax).

    Raises:
        TypeError: if a size is not an integer.
        ValueError: for non-positive sizes, or input that is not ``(batch, context_size)``.
    """

    def __init__(self, vocab_size: int, context_size: int, embedding_dim: int,
                 hidden_size: int, direct: bool = False,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        _sizes("NeuralLM", vocab_size=vocab_size, context_size=context_size,
               embedding_dim=embedding_dim, hidden_size=hidden_size)
        self.vocab_size, self.context_size = int(vocab_size), int(context_size)
        self.embedding = Embedding(vocab_size, embedding_dim, rng=rng, dtype=dtype)
        self.hidden = Linear(context_size * embedding_dim, hidden_size, rng=rng, dtype=dtype)
        self.output = Linear(hidden_size, vocab_size, rng=rng, dtype=dtype)
        self.direct = (Linear(context_size * embedding_dim, vocab_size, bias=False, rng=rng,
                              dtype=dtype) if direct else None)

    def forward(self, input) -> Tensor:
        ids = input.data if isinstance(input, Tensor) else np.asarray(input)
        if ids.ndim != 2 or ids.shape[1] != self.context_size:
            raise ValueError(f"NeuralLM: input must have shape (batch, {self.context_size}), "
                             f"got {ids.shape}")
        x = self.embedding(ids).reshape(ids.shape[0], -1)  # (batch, N * d): concatenation
        logits = self.output(F.tanh(self.hidden(x)))
        if self.direct is not None:
            logits = logits + self.direct(x)
        return logits

    def extra_repr(self) -> str:
        return f"context_size={self.context_size}"


class CharRNN(Module):
    """Embedding, one recurrent layer (``cell="rnn"`` Elman tanh, ``"lstm"`` or ``"gru"``), and a
    linear read-out at every step: ``logits_t = h_t V^T + c``, predicting token ``t + 1``.

    Shapes: ``input (batch, seq)`` integer ids -> logits ``(batch, seq, vocab_size)``.

    Raises:
        TypeError: if a size is not an integer (named by the layer that checks it).
        ValueError: for sizes below 1 or an unknown ``cell``.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int,
                 cell: str = "rnn", rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        if cell not in ("rnn", "lstm", "gru"):
            raise ValueError(f"CharRNN: cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
        self.vocab_size = _size("CharRNN", "vocab_size", vocab_size)
        self.embedding = Embedding(vocab_size, embedding_dim, rng=rng, dtype=dtype)
        layer = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell]
        self.rnn = layer(embedding_dim, hidden_size, rng=rng, dtype=dtype)
        self.output = Linear(hidden_size, vocab_size, rng=rng, dtype=dtype)

    def forward(self, input) -> Tensor:
        ids = input.data if isinstance(input, Tensor) else np.asarray(input)
        if ids.ndim != 2:
            raise ValueError(f"CharRNN: input must have shape (batch, seq), got {ids.shape}")
        out, _ = self.rnn(self.embedding(ids))
        return self.output(out)

    def init_state(self, batch: int):
        return self.rnn.init_state(batch)

    def step(self, ids, state):
        """Feed one token per sequence: ``ids (batch,)`` -> ``(logits (batch, vocab), state)``."""
        state = self.rnn.step(self.embedding(np.asarray(ids)), state)
        return self.output(self.rnn.state_h(state)), state


def sample(model, prompt, length: int, temperature: float = 1.0,
           rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw ``length`` tokens from a language model, one at a time, after ``prompt``.

    At each step the next token is drawn from ``softmax(logits / temperature)``: temperature 1
    samples the model's own distribution, below 1 sharpens it towards the most likely token,
    above 1 flattens it towards uniform.

    Works with a window model (anything with ``context_size``, e.g. `NeuralLM`: it sees the last
    ``context_size`` tokens, and the prompt must have at least that many) and with a recurrent
    one (anything with ``init_state`` and ``step``, e.g. `CharRNN`: the prompt is fed first).

    Returns:
        int64 array ``(length,)`` of the generated ids (the prompt not included).

    Raises:
        ValueError: if ``temperature`` is not positive, ``length`` is negative, or the prompt is
            shorter than the window.
        TypeError: for a model that is neither kind.
    """
    if not temperature > 0:
        raise ValueError(f"sample: temperature must be positive, got {temperature}")
    if length < 0:
        raise ValueError(f"sample: length must be non-negative, got {length}")
    rng = rng if rng is not None else get_rng()
    ids = [int(i) for i in np.asarray(prompt).reshape(-1)]
    out = []

    def draw(logits):
        z = logits.astype(np.float64) / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        return int(rng.choice(len(p), p=p))

    with no_grad():
        if hasattr(model, "context_size"):
            n = model.context_size
            if len(ids) < n:
                raise ValueError(f"sample: the prompt has {len(ids)} tokens but the model's "
                                 f"window is {n}")
            for _ in range(length):
                logits = model(np.array([ids[-n:]], dtype=np.int64)).data[0]
                ids.append(draw(logits))
                out.append(ids[-1])
        elif hasattr(model, "init_state") and hasattr(model, "step"):
            if not ids:
                raise ValueError("sample: a recurrent model needs a prompt of at least one token")
            state = model.init_state(1)
            for t in ids:
                logits, state = model.step(np.array([t]), state)
            for _ in range(length):
                out.append(draw(logits.data[0]))
                logits, state = model.step(np.array([out[-1]]), state)
        else:
            raise TypeError(f"sample: {type(model).__name__} has neither context_size nor "
                            f"init_state/step")
    return np.array(out, dtype=np.int64)
