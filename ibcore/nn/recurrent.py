"""Recurrent layers: `RNNCell`, `RNN` (Elman 1990), `LSTMCell` and `LSTM` (Hochreiter and
Schmidhuber 1997), `GRUCell` and `GRU` (Cho et al. 2014), with PyTorch's parameter names and
layouts so weights copy across.

One cell is applied at every time step with the same weights: recurrence is weight sharing across
time. `RNN` runs the whole sequence as one fused op (`ibcore.functional.rnn`, whose backward is
backpropagation through time); the cells and `step` methods run one step at a time, which is what
`ibcore.probes.hidden_grad_norms` needs to read the gradient at every hidden state.

All sequence layers here are **batch first**: inputs ``(batch, seq, features)``. This is
``torch.nn.RNN(..., batch_first=True)``; torch's default is ``batch_first=False``.

Given states are checked exactly, never reshaped to fit: ``h0``/``c0`` of a sequence layer are
``(1, batch, hidden)`` as torch's, or ``(batch, hidden)``; a cell's ``hx`` is ``(batch, hidden)``.
Inputs and states follow the dtype rule of every layer (`ibcore.nn.Module`): cast to the weights'
dtype.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng
from .modules import Module, Parameter, _input, _sizes

__all__ = ["RNNCell", "RNN", "LSTMCell", "LSTM", "GRUCell", "GRU"]


def _uniform(rng, bound, shape, dtype):
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))


class _RecurrentBase(Module):
    """Shared construction: torch's init, every weight uniform on ``[-1/sqrt(H), 1/sqrt(H)]``."""

    gates = 1
    suffix = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        input_size, hidden_size = _sizes(name, input_size=input_size, hidden_size=hidden_size)
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

    def _input(self, input, ndim: int) -> Tensor:
        """The input, checked to be ``(batch, input_size)`` (``ndim=2``) or ``(batch, seq,
        input_size)`` (``ndim=3``), cast to the weights' dtype (the dtype rule of `Linear`)."""
        name = type(self).__name__
        x = _input(name, input, self._weights()[1].dtype)
        if x.ndim != ndim or x.shape[-1] != self.input_size:
            want = "(batch, seq, " if ndim == 3 else "(batch, "
            raise ValueError(f"{name}: input must have shape {want}{self.input_size}), got "
                             f"{x.shape}")
        return x

    def _state(self, s, arg: str, batch: int, layered: bool) -> Tensor:
        """A given state (``h0``, ``c0``, ``hx``), checked to be exactly ``(batch, hidden)`` or,
        with ``layered``, ``(1, batch, hidden)`` as torch's sequence layers take it; returned as
        ``(batch, hidden)`` in the weights' dtype. Never reshaped: a state of the right size but
        the wrong shape (batch and hidden swapped) is refused, not scrambled."""
        name, H = type(self).__name__, self.hidden_size
        s = _input(name, s, self._weights()[1].dtype, arg)
        if layered and s.shape == (1, batch, H):
            return s.reshape(batch, H)
        if s.shape == (batch, H):
            return s
        want = f"(1, {batch}, {H}) or ({batch}, {H})" if layered else f"({batch}, {H})"
        raise ValueError(f"{name}: {arg} must have shape {want} (batch {batch}, hidden_size "
                         f"{H}), got {s.shape}")

    def _pair(self, hx, arg: str):
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{type(self).__name__}: {arg} must be a pair (h, c) of tensors, got "
                            f"{type(hx).__name__}")
        return hx

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def _only_batch_first(layer: str, batch_first) -> None:
    if not batch_first:
        raise ValueError(f"{layer}: only batch_first=True is supported; transpose the input to "
                         "(batch, seq, features)")


class _SequenceLayer(_RecurrentBase):
    """Shared construction of the layers over a whole sequence (`LSTM`, `GRU`): batch first
    only, and torch's parameter names for layer 0 (``weight_ih_l0``, ...)."""

    suffix = "_l0"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = True, rng: np.random.Generator | None = None,
                 dtype=np.float32):
        _only_batch_first(type(self).__name__, batch_first)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.batch_first = True


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
        TypeError: if ``input_size`` or ``hidden_size`` is not an integer (``RNNCell(2.5, 3)``).
        ValueError: for sizes below 1, an unknown nonlinearity; in ``forward``, an input that is
            not ``(batch, input_size)`` or an ``hx`` that is not exactly ``(batch, hidden_size)``
            (the message names the argument, the shape passed and the shape expected).
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
        x = self._input(input, 2)
        h = self._zeros(x.shape[0]) if hx is None else self._state(hx, "hx", x.shape[0], False)
        return F.rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)


class _HiddenState:
    """The state of a layer whose whole state is its hidden state ``h`` (RNN, GRU; not LSTM)."""

    def init_state(self, batch: int) -> Tensor:
        """The zero initial state ``(batch, hidden)``."""
        return self._zeros(batch)

    @staticmethod
    def state_h(state) -> Tensor:
        """The hidden state ``h`` inside a state (here the state itself)."""
        return state

    @staticmethod
    def with_h(state, h):
        return h


class RNN(_HiddenState, _RecurrentBase):
    """Single-layer Elman RNN over a sequence, batch first (``torch.nn.RNN(input_size,
    hidden_size, batch_first=True)`` with ``num_layers=1``).

    ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` for ``t = 1..T``, the same weights
    at every step.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (1, batch, hidden)`` or ``(batch, hidden)``
    (zeros if None) -> ``(output, h_n)`` with ``output (batch, seq, hidden)`` holding every
    ``h_t`` and ``h_n (1, batch, hidden)`` the last one, as torch returns them. Parameters are
    named as torch's: ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``.

    Raises:
        TypeError: if ``input_size`` or ``hidden_size`` is not an integer (``RNN(3, 2.5)``).
        ValueError: for sizes below 1, ``batch_first=False``, an unknown nonlinearity; in
            ``forward``, an input that is not ``(batch, seq, input_size)`` (its whole shape is
            named) or an ``h0`` that is not exactly ``(1, batch, hidden)`` or ``(batch,
            hidden)``.
    """

    suffix = "_l0"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", batch_first: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        _only_batch_first("RNN", batch_first)
        if nonlinearity not in ("tanh", "relu", "identity"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh', 'relu' or 'identity', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity
        self.batch_first = True

    def forward(self, input, h0=None) -> tuple[Tensor, Tensor]:
        x = self._input(input, 3)
        B = x.shape[0]
        h = self._zeros(B) if h0 is None else self._state(h0, "h0", B, True)
        out = F.rnn(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return out, out[:, -1].reshape(1, B, self.hidden_size)

    def step(self, x_t, h) -> Tensor:
        """One time step, ``(batch, input_size), (batch, hidden) -> (batch, hidden)``."""
        return F.rnn_cell(x_t, h, *self._weights(), nonlinearity=self.nonlinearity)


class LSTMCell(_RecurrentBase):
    """LSTM cell with ``torch.nn.LSTMCell``'s layout: gates ``[i, f, g, o]`` stacked in
    ``weight_ih (4 hidden, input)``, ``weight_hh (4 hidden, hidden)``, ``bias_ih``, ``bias_hh
    (4 hidden,)``.

    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')`` (Hochreiter and
    Schmidhuber 1997; the forget gate is Gers, Schmidhuber and Cummins 2000).

    Shapes: ``input (batch, input_size)``, ``hx = (h, c)`` each ``(batch, hidden)`` (zeros if
    None) -> ``(h', c')``.

    Raises:
        TypeError: if a size is not an integer, or ``hx`` is not a pair ``(h, c)``.
        ValueError: for sizes below 1; in ``forward``, an input that is not ``(batch,
            input_size)`` or an ``h`` or ``c`` that is not exactly ``(batch, hidden_size)`` (never
            reshaped to fit).
    """

    gates = 4

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        x = self._input(input, 2)
        B = x.shape[0]
        if hx is None:
            h, c = self._zeros(B), self._zeros(B)
        else:
            h, c = self._pair(hx, "hx")
            h, c = self._state(h, "hx[0] (h)", B, False), self._state(c, "hx[1] (c)", B, False)
        out = F.lstm_cell(x, h, c, *self._weights())
        return out[0], out[1]


class LSTM(_SequenceLayer):
    """Single-layer LSTM over a sequence, batch first (``torch.nn.LSTM(input_size, hidden_size,
    batch_first=True)``), as one fused op (`ibcore.functional.lstm`); `step` runs one
    `ibcore.functional.lstm_cell`.

    Shapes: ``input (batch, seq, input_size)`` -> ``(output, (h_n, c_n))`` with ``output
    (batch, seq, hidden)`` and ``h_n, c_n (1, batch, hidden)``. Parameters ``weight_ih_l0``,
    ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` as torch's.

    ``hx = (h0, c0)``, each exactly ``(1, batch, hidden)`` as in torch, or ``(batch,
    hidden)``; zeros if None. A state of the right size but another shape (batch and hidden
    swapped) is refused, never reshaped.

    Raises:
        TypeError: if a size is not an integer (``LSTM(2.5, 3)``), or ``hx`` is not a pair.
        ValueError: for sizes below 1, ``batch_first=False``; in ``forward``, an input that is
            not ``(batch, seq, input_size)`` or an ``h0``/``c0`` of another shape (the message
            names the argument, the shape passed and the shape expected).
    """

    gates = 4

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
        x = self._input(input, 3)
        B, T, _ = x.shape
        H = self.hidden_size
        if hx is None:
            h0, c0 = self.init_state(B)
        else:
            h0, c0 = self._pair(hx, "hx")
            h0, c0 = self._state(h0, "h0", B, True), self._state(c0, "c0", B, True)
        both = F.lstm(x, h0, c0, *self._weights())  # (B, T, 2H): h_t then c_t
        out = both[:, :, :H]
        last = both[:, -1]
        return out, (last[:, :H].reshape(1, B, H), last[:, H:].reshape(1, B, H))


class GRUCell(_RecurrentBase):
    """Gated recurrent unit cell (Cho et al. 2014) with ``torch.nn.GRUCell``'s equations and
    layout: gates ``[r, z, n]`` stacked in ``weight_ih (3 hidden, input)``, ``weight_hh
    (3 hidden, hidden)``, ``bias_ih``, ``bias_hh (3 hidden,)``.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z = sigmoid(W_iz x + b_iz + W_hz h +
    b_hz)``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``
    (`ibcore.functional.gru_cell`).

    Shapes: ``input (batch, input_size)``, ``hx (batch, hidden_size)`` (zeros if None) ->
    ``(batch, hidden_size)``.

    Raises:
        TypeError: if a size is not an integer (``GRUCell(2.5, 3)``).
        ValueError: for sizes below 1; in ``forward``, an input that is not ``(batch,
            input_size)`` or an ``hx`` that is not exactly ``(batch, hidden_size)`` (the
            message names the argument, the shape passed and the shape expected).
    """

    gates = 3

    def forward(self, input, hx=None) -> Tensor:
        x = self._input(input, 2)
        h = self._zeros(x.shape[0]) if hx is None else self._state(hx, "hx", x.shape[0], False)
        return F.gru_cell(x, h, *self._weights())


class GRU(_HiddenState, _SequenceLayer):
    """Single-layer GRU over a sequence, batch first (``torch.nn.GRU(input_size, hidden_size,
    batch_first=True)``), as one fused op (`ibcore.functional.gru`); `step` runs one
    `ibcore.functional.gru_cell`. Equations as `GRUCell`, the same weights at every step.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (1, batch, hidden)`` or ``(batch,
    hidden)`` (zeros if None) -> ``(output, h_n)`` with ``output (batch, seq, hidden)`` and
    ``h_n (1, batch, hidden)``, as torch returns them. Parameters ``weight_ih_l0 (3 hidden,
    input)``, ``weight_hh_l0 (3 hidden, hidden)``, ``bias_ih_l0``, ``bias_hh_l0 (3 hidden,)``
    as torch's.

    Raises:
        TypeError: if a size is not an integer (``GRU(3, 2.5)``).
        ValueError: for sizes below 1, ``batch_first=False``; in ``forward``, an input that is
            not ``(batch, seq, input_size)`` (its whole shape is named) or an ``h0`` that is not
            exactly ``(1, batch, hidden)`` or ``(batch, hidden)``.
    """

    gates = 3

    def forward(self, input, h0=None) -> tuple[Tensor, Tensor]:
        x = self._input(input, 3)
        B = x.shape[0]
        h = self._zeros(B) if h0 is None else self._state(h0, "h0", B, True)
        out = F.gru(x, h, *self._weights())
        return out, out[:, -1].reshape(1, B, self.hidden_size)

    def step(self, x_t, h) -> Tensor:
        """One time step, ``(batch, input_size), (batch, hidden) -> (batch, hidden)``."""
        return F.gru_cell(x_t, h, *self._weights())

