"""Recurrent layers: `RNNCell`, `RNN` (Elman 1990), `LSTMCell` and `LSTM` (Hochreiter and
Schmidhuber 1997), with PyTorch's parameter names and layouts so weights copy across.

One cell is applied at every time step with the same weights: recurrence is weight sharing across
time. `RNN` runs the whole sequence as one fused op (`ibcore.functional.rnn`, whose backward is
backpropagation through time); the cells and `step` methods run one step at a time, which is what
`ibcore.probes.hidden_grad_norms` needs to read the gradient at every hidden state.

All sequence layers here are **batch first**: inputs ``(batch, seq, features)``. This is
``torch.nn.RNN(..., batch_first=True)``; torch's default is ``batch_first=False``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng
from .modules import Module, Parameter

__all__ = ["RNNCell", "RNN", "LSTMCell", "LSTM"]


def _uniform(rng, bound, shape, dtype):
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))


def _check_sizes(name: str, input_size: int, hidden_size: int) -> None:
    if input_size < 1 or hidden_size < 1:
        raise ValueError(f"{name}: sizes must be positive, got input_size={input_size}, "
                         f"hidden_size={hidden_size}")


class _RecurrentBase(Module):
    """Shared construction: torch's init, every weight uniform on ``[-1/sqrt(H), 1/sqrt(H)]``."""

    gates = 1
    suffix = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        rng = rng if rng is not None else get_rng()
        k = 1.0 / math.sqrt(hidden_size)
        G, s = self.gates * hidden_size, self.suffix
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        setattr(self, "weight_ih" + s, _uniform(rng, k, (G, input_size), dtype))
        setattr(self, "weight_hh" + s, _uniform(rng, k, (G, hidden_size), dtype))
        if bias:
            setattr(self, "bias_ih" + s, _uniform(rng, k, (G,), dtype))
            setattr(self, "bias_hh" + s, _uniform(rng, k, (G,), dtype))
        else:
            object.__setattr__(self, "bias_ih" + s, None)
            object.__setattr__(self, "bias_hh" + s, None)

    def _weights(self):
        s = self.suffix
        return (getattr(self, "weight_ih" + s), getattr(self, "weight_hh" + s),
                getattr(self, "bias_ih" + s), getattr(self, "bias_hh" + s))

    def _zeros(self, batch: int) -> Tensor:
        return Tensor(np.zeros((batch, self.hidden_size), dtype=self._weights()[1].dtype))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_RecurrentBase):
    """Elman cell ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``torch.nn.RNNCell``).

    Args:
        input_size, hidden_size: feature sizes. bias: include ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` (default), ``"relu"``, or ``"identity"`` (a linear RNN; not in
            torch).

    Shapes: ``input (batch, input_size)``, ``hx (batch, hidden_size)`` (zeros if None) ->
    ``(batch, hidden_size)``. Parameters ``weight_ih (hidden, input)``, ``weight_hh (hidden,
    hidden)``, ``bias_ih``, ``bias_hh (hidden,)``.

    Raises:
        ValueError: for bad sizes, an unknown nonlinearity, or inputs of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu", "identity"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh', 'relu' or 'identity', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(input)
        h = self._zeros(x.shape[0]) if hx is None else hx
        return F.rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)


class RNN(_RecurrentBase):
    """Single-layer Elman RNN over a sequence, batch first (``torch.nn.RNN(input_size,
    hidden_size, batch_first=True)`` with ``num_layers=1``).

    ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` for ``t = 1..T``, the same weights
    at every step.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (1, batch, hidden)`` or ``(batch, hidden)``
    (zeros if None) -> ``(output, h_n)`` with ``output (batch, seq, hidden)`` holding every
    ``h_t`` and ``h_n (1, batch, hidden)`` the last one, as torch returns them. Parameters are
    named as torch's: ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``.

    Raises:
        ValueError: for bad sizes, ``batch_first=False``, an unknown nonlinearity, or inputs of
            the wrong shape.
    """

    suffix = "_l0"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", batch_first: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        if not batch_first:
            raise ValueError("RNN: only batch_first=True is supported; transpose the input to "
                             "(batch, seq, features)")
        if nonlinearity not in ("tanh", "relu", "identity"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh', 'relu' or 'identity', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity
        self.batch_first = True

    def _h0(self, x: Tensor, h0):
        if h0 is None:
            return self._zeros(x.shape[0])
        h0 = h0 if isinstance(h0, Tensor) else Tensor(h0)
        return h0.reshape(h0.shape[-2], h0.shape[-1]) if h0.ndim == 3 else h0

    def forward(self, input, h0=None) -> tuple[Tensor, Tensor]:
        x = input if isinstance(input, Tensor) else Tensor(input)
        if x.ndim != 3:
            raise ValueError(f"RNN: input must have shape (batch, seq, {self.input_size}), got "
                             f"{x.shape}")
        out = F.rnn(x, self._h0(x, h0), *self._weights(), nonlinearity=self.nonlinearity)
        return out, out[:, -1].reshape(1, x.shape[0], self.hidden_size)

    def step(self, x_t, h) -> Tensor:
        """One time step, ``(batch, input_size), (batch, hidden) -> (batch, hidden)``."""
        return F.rnn_cell(x_t, h, *self._weights(), nonlinearity=self.nonlinearity)

    def init_state(self, batch: int) -> Tensor:
        """The zero initial state ``(batch, hidden)``."""
        return self._zeros(batch)

    @staticmethod
    def state_h(state) -> Tensor:
        """The hidden state ``h`` inside a state (for an RNN, the state itself)."""
        return state

    @staticmethod
    def with_h(state, h):
        return h


class LSTMCell(_RecurrentBase):
    """LSTM cell with ``torch.nn.LSTMCell``'s layout: gates ``[i, f, g, o]`` stacked in
    ``weight_ih (4 hidden, input)``, ``weight_hh (4 hidden, hidden)``, ``bias_ih``, ``bias_hh
    (4 hidden,)``.

    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')`` (Hochreiter and
    Schmidhuber 1997; the forget gate is Gers, Schmidhuber and Cummins 2000).

    Shapes: ``input (batch, input_size)``, ``hx = (h, c)`` each ``(batch, hidden)`` (zeros if
    None) -> ``(h', c')``.

    Raises:
        ValueError: for bad sizes or inputs of the wrong shape.
    """

    gates = 4

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        x = input if isinstance(input, Tensor) else Tensor(input)
        if hx is None:
            hx = (self._zeros(x.shape[0]), self._zeros(x.shape[0]))
        out = F.lstm_cell(x, hx[0], hx[1], *self._weights())
        return out[0], out[1]


class LSTM(_RecurrentBase):
    """Single-layer LSTM over a sequence, batch first (``torch.nn.LSTM(input_size, hidden_size,
    batch_first=True)``), as one fused op (`ibcore.functional.lstm`); `step` runs one
    `ibcore.functional.lstm_cell`.

    Shapes: ``input (batch, seq, input_size)`` -> ``(output, (h_n, c_n))`` with ``output
    (batch, seq, hidden)`` and ``h_n, c_n (1, batch, hidden)``. Parameters ``weight_ih_l0``,
    ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` as torch's.

    Raises:
        ValueError: for bad sizes, ``batch_first=False``, or inputs of the wrong shape.
    """

    gates = 4
    suffix = "_l0"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = True, rng: np.random.Generator | None = None,
                 dtype=np.float32):
        if not batch_first:
            raise ValueError("LSTM: only batch_first=True is supported; transpose the input to "
                             "(batch, seq, features)")
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.batch_first = True

    def step(self, x_t, state):
        """One time step: ``(batch, input), (h, c) -> (h', c')``."""
        out = F.lstm_cell(x_t, state[0], state[1], *self._weights())
        return out[0], out[1]

    def init_state(self, batch: int):
        return self._zeros(batch), self._zeros(batch)

    @staticmethod
    def state_h(state) -> Tensor:
        return state[0]

    @staticmethod
    def with_h(state, h):
        return h, state[1]

    def forward(self, input, hx=None):
        x = input if isinstance(input, Tensor) else Tensor(input)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"LSTM: input must have shape (batch, seq, {self.input_size}), got "
                             f"{x.shape}")
        B, T, _ = x.shape
        H = self.hidden_size
        h0, c0 = self.init_state(B) if hx is None else tuple(s.reshape(B, H) for s in hx)
        both = F.lstm(x, h0, c0, *self._weights())  # (B, T, 2H): h_t then c_t
        out = both[:, :, :H]
        last = both[:, -1]
        return out, (last[:, :H].reshape(1, B, H), last[:, H:].reshape(1, B, H))
