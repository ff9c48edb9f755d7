"""Fused recurrent kernels (Posts 4 and 5, Chapter 6): one graph node per time step (`rnn_cell`,
`lstm_cell`, `gru_cell`) or one node for a whole sequence (`rnn`, `lstm`, `gru`, whose backward is
backpropagation through time written out), so that the Python overhead of the graph does not
dominate small recurrent nets.

Notation: batch ``B``, sequence length ``T``, hidden size ``H``; ``x_t (B, input_size)`` the
input at step ``t``, ``h_t (B, H)`` the hidden state (``h_0`` given), ``a_t`` the
pre-activation, ``phi`` the nonlinearity; weights in ``torch.nn.RNN``/``LSTM``'s layout
(``W_ih (G H, input_size)``, ``W_hh (G H, H)``, ``G = 1`` for the RNN, 4 for the LSTM's gates
``[i, f, g, o]`` and 3 for the GRU's ``[r, z, n]``). ``g = dL/d(out)``. Sequences are batch
first: ``(B, T, features)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit as _expit

from ..tensor import Tensor, make_result
from ._base import _t

__all__ = ["rnn_cell", "rnn", "lstm_cell", "lstm", "gru_cell", "gru"]


_RNN_NONLINEARITIES = ("tanh", "relu", "identity")


def _act_forward(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0)
    return a


def _act_backward(gh: np.ndarray, h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """``dL/da`` from ``dL/dh`` for ``h = phi(a)``, using only ``h``: ``tanh' = 1 - h^2``,
    ``relu' = [h > 0]``, ``identity' = 1``."""
    if nonlinearity == "tanh":
        return gh * (1 - h * h)
    if nonlinearity == "relu":
        return gh * (h > 0)
    return gh


def _check_cell(op: str, x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih, b_hh,
                gates: int, nonlinearity: str | None = None) -> int:
    """Validate the shapes of a recurrent step; return the hidden size."""
    if nonlinearity is not None and nonlinearity not in _RNN_NONLINEARITIES:
        raise ValueError(f"{op}: nonlinearity must be one of {_RNN_NONLINEARITIES}, got "
                         f"{nonlinearity!r}")
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{op}: weight_hh must have shape ({gates} * hidden, hidden), got "
                         f"{w_hh.shape}")
    H = w_hh.shape[1]
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * H:
        raise ValueError(f"{op}: weight_ih must have shape ({gates * H}, input_size) to match "
                         f"weight_hh {w_hh.shape}, got {w_ih.shape}")
    if x.ndim != 2 or x.shape[1] != w_ih.shape[1]:
        raise ValueError(f"{op}: input must have shape (batch, {w_ih.shape[1]}), got {x.shape}")
    if h.shape != (x.shape[0], H):
        raise ValueError(f"{op}: hidden state must have shape ({x.shape[0]}, {H}), got "
                         f"{h.shape}")
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (gates * H,):
            raise ValueError(f"{op}: {name} must have shape ({gates * H},), got {b.shape}")
    return H


def _check_features(op: str, x: Tensor, w_ih: Tensor) -> None:
    """A sequence input's feature size against ``weight_ih``, naming the whole input shape."""
    if w_ih.ndim == 2 and x.shape[2] != w_ih.shape[1]:
        raise ValueError(f"{op}: input must have shape (batch, seq, {w_ih.shape[1]}) to match "
                         f"weight_ih of shape {w_ih.shape}, got {x.shape}")


def _opt(t):
    return None if t is None else _t(t)


def rnn_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
             nonlinearity: str = "tanh") -> Tensor:
    """One step of the Elman recurrent cell (Elman 1990), fused into one graph node.

    ``h' = phi(a)``, ``a = x W_ih^T + b_ih + h W_hh^T + b_hh``, as ``torch.nn.RNNCell``
    (``phi`` = tanh by default; ``"relu"``, or ``"identity"`` for a linear RNN).

    Shapes: ``input (batch, input_size)``, ``hx (batch, hidden)``,
    ``weight_ih (hidden, input_size)``, ``weight_hh (hidden, hidden)``, biases ``(hidden,)``
    -> ``(batch, hidden)``.

    Backward: with ``g = dL/dh'``, first ``dL/da = g * phi'(a)`` (``1 - h'^2`` for tanh), then as
    for two linear maps: ``dL/dx = (dL/da) W_ih``, ``dL/dh = (dL/da) W_hh``,
    ``dL/dW_ih = (dL/da)^T x``, ``dL/dW_hh = (dL/da)^T h``, ``dL/db_ih = dL/db_hh = sum over the
    batch of dL/da``.

    Raises:
        ValueError: on shapes that do not fit together (naming them) or an unknown nonlinearity.
    """
    x, h, wi, wh = _t(input), _t(hx), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    _check_cell("rnn_cell", x, h, wi, wh, bi, bh, 1, nonlinearity)
    X, Hp, Wi, Wh = x.data, h.data, wi.data, wh.data
    a = X @ Wi.T + Hp @ Wh.T
    if bi is not None:
        a += bi.data
    if bh is not None:
        a += bh.data
    out = _act_forward(a, nonlinearity)
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        ga = _act_backward(g, out, nonlinearity)
        grads = [ga @ Wi if x.requires_grad else None,
                 ga @ Wh if h.requires_grad else None,
                 ga.T @ X if wi.requires_grad else None,
                 ga.T @ Hp if wh.requires_grad else None]
        gb = ga.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "rnn_cell")


def rnn(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
        nonlinearity: str = "tanh") -> Tensor:
    """A whole Elman RNN layer over a sequence, one graph node (batch first).

    Forward, for ``t = 1..T``: ``h_t = phi(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``: one
    Python loop over time with batched NumPy inside. The input projection ``x_t W_ih^T`` of all
    time steps is one matrix product before the loop.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (batch, hidden)`` -> every hidden state
    ``(batch, seq, hidden)`` (``out[:, -1]`` is ``h_T``).

    Backward is backpropagation through time (Werbos 1990). Going back from ``t = T`` to 1 with
    ``g_t = dL/dh_t`` (the upstream gradient at ``t`` plus what flows back from ``t + 1``):
    ``d_t = g_t * phi'(a_t)``, then ``dL/dh_{t-1} += d_t W_hh`` and the *shared* weights
    accumulate one term per step: ``dL/dW_hh += d_t^T h_{t-1}``, ``dL/dW_ih += d_t^T x_t``,
    ``dL/db += sum_batch d_t``. The ``+=`` over time is the weight sharing (the code computes
    each of these sums over time and batch as one matrix product after the loop).

    Raises:
        ValueError: on shapes that do not fit together (naming them) or an unknown nonlinearity.
    """
    x, h, wi, wh = _t(input), _t(h0), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    if x.ndim != 3:
        raise ValueError(f"rnn: input must have shape (batch, seq, input_size), got {x.shape}")
    B, T, _ = x.shape
    if T < 1:
        raise ValueError(f"rnn: the sequence must have at least one step, got shape {x.shape}")
    _check_features("rnn", x, wi)
    _check_cell("rnn", Tensor(x.data[:, 0]), h, wi, wh, bi, bh, 1, nonlinearity)
    X, Wi, Wh = x.data, wi.data, wh.data
    # time-major inside (each step reads and writes one contiguous (batch, hidden) block)
    pre = np.swapaxes(X, 0, 1) @ Wi.T  # (T, B, H): every input projection at once
    if bi is not None:
        pre += bi.data
    if bh is not None:
        pre += bh.data
    Hs = np.empty((T + 1,) + h.data.shape, dtype=pre.dtype)  # Hs[0] = h0, Hs[t] = h_t
    Hs[0] = h.data
    WhT = np.ascontiguousarray(Wh.T)
    for t in range(T):
        a = pre[t]
        a += Hs[t] @ WhT
        Hs[t + 1] = _act_forward(a, nonlinearity)
    out = np.ascontiguousarray(np.swapaxes(Hs[1:], 0, 1))  # (B, T, H)
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        G = np.swapaxes(g, 0, 1)  # (T, B, H)
        D = np.empty(G.shape, dtype=Hs.dtype)  # D[t] = dL/da_t
        carry = np.zeros(h.data.shape, dtype=Hs.dtype)  # dL/dh_t from step t + 1
        for t in range(T - 1, -1, -1):
            d = _act_backward(G[t] + carry, Hs[t + 1], nonlinearity)
            D[t] = d
            carry = d @ Wh
        # The shared weights collect one term per step, dL/dW_hh = sum_t d_t^T h_{t-1}; the sum
        # over time and batch is one matrix product over the flattened (T * B) axis.
        D2 = D.reshape(-1, D.shape[-1])
        grads = [np.swapaxes(D @ Wi, 0, 1) if x.requires_grad else None,
                 carry if h.requires_grad else None,
                 D2.T @ np.swapaxes(X, 0, 1).reshape(-1, X.shape[-1])
                 if wi.requires_grad else None,
                 D2.T @ Hs[:-1].reshape(-1, Hs.shape[-1]) if wh.requires_grad else None]
        gb = D2.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "rnn")


def lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One step of the LSTM (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al.
    2000), fused into one graph node, with ``torch.nn.LSTMCell``'s layout.

    ``[i, f, g, o] = split(x W_ih^T + b_ih + h W_hh^T + b_hh)`` into four blocks of ``hidden``;
    ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``.

    Shapes: ``input (batch, input_size)``, ``hx, cx (batch, hidden)``,
    ``weight_ih (4 hidden, input_size)``, ``weight_hh (4 hidden, hidden)``, biases
    ``(4 hidden,)`` -> ``(2, batch, hidden)``: ``out[0]`` is ``h'`` and ``out[1]`` is ``c'``.

    Backward, with ``g_h = g[0]``, ``g_c = g[1]`` and ``s`` the gate values after their
    nonlinearities: the cell receives ``e = g_c + g_h * o * (1 - tanh(c')^2)``; then
    ``dL/dc = e * f``, and through the gates' derivatives ``da_i = e g i (1 - i)``,
    ``da_f = e c f (1 - f)``, ``da_g = e i (1 - g^2)``, ``da_o = g_h tanh(c') o (1 - o)``; the
    weights, input and ``h`` then get the two linear maps' gradients as in `rnn_cell`.

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, c = _t(input), _t(hx), _t(cx)
    wi, wh = _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    H = _check_cell("lstm_cell", x, h, wi, wh, bi, bh, 4)
    if c.shape != h.shape:
        raise ValueError(f"lstm_cell: cell state must have shape {h.shape}, got {c.shape}")
    X, Hp, C, Wi, Wh = x.data, h.data, c.data, wi.data, wh.data
    a = X @ Wi.T + Hp @ Wh.T
    if bi is not None:
        a += bi.data
    if bh is not None:
        a += bh.data
    i = _expit(a[:, :H])
    f = _expit(a[:, H:2 * H])
    gg = np.tanh(a[:, 2 * H:3 * H])
    o = _expit(a[:, 3 * H:])
    c_new = f * C + i * gg
    tc = np.tanh(c_new)
    h_new = o * tc
    out = np.stack([h_new, c_new])
    parents = [x, h, c, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        gh, gc = g[0], g[1]
        e = gc + gh * o * (1 - tc * tc)
        da = np.concatenate([e * gg * i * (1 - i), e * C * f * (1 - f),
                             e * i * (1 - gg * gg), gh * tc * o * (1 - o)], axis=1)
        grads = [da @ Wi if x.requires_grad else None,
                 da @ Wh if h.requires_grad else None,
                 e * f if c.requires_grad else None,
                 da.T @ X if wi.requires_grad else None,
                 da.T @ Hp if wh.requires_grad else None]
        gb = da.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "lstm_cell")


def lstm(input, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """A whole LSTM layer over a sequence, one graph node (batch first): `lstm_cell` applied for
    ``t = 1..T`` with the same weights, in one Python loop over time.

    Shapes: ``input (batch, seq, input_size)``, ``h0, c0 (batch, hidden)`` -> ``(batch, seq,
    2 * hidden)``: ``out[..., :hidden]`` holds every ``h_t`` and ``out[..., hidden:]`` every
    ``c_t``.

    Backward is backpropagation through time. Going back from ``t = T``, the gradients reaching
    ``h_t`` and ``c_t`` (upstream plus what flows back from ``t + 1``) go through the step's
    backward as in `lstm_cell`, giving ``da_t`` (the four gates' pre-activations); the shared
    weights collect ``dL/dW_hh = sum_t da_t^T h_{t-1}``, ``dL/dW_ih = sum_t da_t^T x_t`` and
    ``dL/db = sum_t sum_batch da_t`` (computed as one matrix product over time and batch after
    the loop); ``dL/dc_{t-1} = e_t * f_t`` and ``dL/dh_{t-1} = da_t W_hh`` flow on.

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, c = _t(input), _t(h0), _t(c0)
    wi, wh = _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"lstm: input must have shape (batch, seq >= 1, input_size), got "
                         f"{x.shape}")
    _check_features("lstm", x, wi)
    H = _check_cell("lstm", Tensor(x.data[:, 0]), h, wi, wh, bi, bh, 4)
    if c.shape != h.shape:
        raise ValueError(f"lstm: cell state must have shape {h.shape}, got {c.shape}")
    X, Wi, Wh = x.data, wi.data, wh.data
    B, T, _ = X.shape
    pre = np.swapaxes(X, 0, 1) @ Wi.T  # (T, B, 4H)
    if bi is not None:
        pre += bi.data
    if bh is not None:
        pre += bh.data
    dt = pre.dtype
    Hs = np.empty((T + 1, B, H), dtype=dt)
    Cs = np.empty((T + 1, B, H), dtype=dt)
    gates = np.empty((T, B, 4 * H), dtype=dt)  # i, f, g, o after their nonlinearities
    Hs[0], Cs[0] = h.data, c.data
    WhT = np.ascontiguousarray(Wh.T)
    for t in range(T):
        a = pre[t]
        a += Hs[t] @ WhT
        s = gates[t]
        s[:, :2 * H] = _expit(a[:, :2 * H])
        s[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        s[:, 3 * H:] = _expit(a[:, 3 * H:])
        Cs[t + 1] = s[:, H:2 * H] * Cs[t] + s[:, :H] * s[:, 2 * H:3 * H]
        Hs[t + 1] = s[:, 3 * H:] * np.tanh(Cs[t + 1])
    out = np.concatenate([np.swapaxes(Hs[1:], 0, 1), np.swapaxes(Cs[1:], 0, 1)], axis=2)
    parents = [x, h, c, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        G = np.swapaxes(g, 0, 1)  # (T, B, 2H)
        DA = np.empty((T, B, 4 * H), dtype=dt)
        gh_next = np.zeros((B, H), dtype=dt)
        gc_next = np.zeros((B, H), dtype=dt)
        for t in range(T - 1, -1, -1):
            s = gates[t]
            i, f, gg, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
            tc = np.tanh(Cs[t + 1])
            gh = G[t, :, :H] + gh_next
            e = G[t, :, H:] + gc_next + gh * o * (1 - tc * tc)
            da = DA[t]
            da[:, :H] = e * gg * i * (1 - i)
            da[:, H:2 * H] = e * Cs[t] * f * (1 - f)
            da[:, 2 * H:3 * H] = e * i * (1 - gg * gg)
            da[:, 3 * H:] = gh * tc * o * (1 - o)
            gc_next = e * f
            gh_next = da @ Wh
        D2 = DA.reshape(-1, 4 * H)
        grads = [np.swapaxes(DA @ Wi, 0, 1) if x.requires_grad else None,
                 gh_next if h.requires_grad else None,
                 gc_next if c.requires_grad else None,
                 D2.T @ np.swapaxes(X, 0, 1).reshape(-1, X.shape[-1])
                 if wi.requires_grad else None,
                 D2.T @ Hs[:-1].reshape(-1, H) if wh.requires_grad else None]
        gb = D2.sum(axis=0)
        grads += [gb for b in (bi, bh) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "lstm")


def _gru_gates(gi: np.ndarray, gh: np.ndarray, Hp: np.ndarray, H: int):
    """One GRU step from the two projections ``gi = x W_ih^T + b_ih`` and ``gh = h W_hh^T +
    b_hh`` (each ``(batch, 3 H)``, blocks ``[r, z, n]``): returns ``r, z, n, h'``."""
    rz = _expit(gi[:, :2 * H] + gh[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return r, z, n, n + z * (Hp - n)  # h' = (1 - z) n + z h


def _gru_step_backward(g, Hp, r, z, n, ghn):
    """``(dL/dgi, dL/dgh, dL/dh)`` of one GRU step from ``g = dL/dh'`` (see `gru_cell`)."""
    dn = g * (1 - z)
    dan = dn * (1 - n * n)
    dar = dan * ghn * r * (1 - r)
    daz = g * (Hp - n) * z * (1 - z)
    dgi = np.concatenate([dar, daz, dan], axis=1)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)
    return dgi, dgh, g * z


def gru_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One step of the gated recurrent unit (Cho et al. 2014), fused into one graph node, with
    ``torch.nn.GRUCell``'s equations and layout (gate blocks ``[r, z, n]``).

    ``r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)`` (reset gate),
    ``z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)`` (update gate),
    ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))`` (candidate),
    ``h' = (1 - z) * n + z * h``. The reset gate multiplies ``h W_hn^T + b_hn`` *after* the
    product, as in torch (Cho et al. apply it to ``h`` before it; the two differ).

    Shapes: ``input (batch, input_size)``, ``hx (batch, hidden)``,
    ``weight_ih (3 hidden, input_size)``, ``weight_hh (3 hidden, hidden)``, biases
    ``(3 hidden,)`` -> ``(batch, hidden)``.

    Backward, with ``g = dL/dh'`` and ``q = h W_hn^T + b_hn``: ``dL/dh = g z + (...) W_hh``
    where the candidate's pre-activation gets ``da_n = g (1 - z)(1 - n^2)``, the update gate
    ``da_z = g (h - n) z (1 - z)`` and the reset gate ``da_r = da_n q r (1 - r)``. The input
    projection receives ``[da_r, da_z, da_n]``, the recurrent projection ``[da_r, da_z,
    r da_n]``; the weights get these as in `rnn_cell`.

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, wi, wh = _t(input), _t(hx), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    H = _check_cell("gru_cell", x, h, wi, wh, bi, bh, 3)
    X, Hp, Wi, Wh = x.data, h.data, wi.data, wh.data
    gi = X @ Wi.T
    gh = Hp @ Wh.T
    if bi is not None:
        gi += bi.data
    if bh is not None:
        gh += bh.data
    r, z, n, out = _gru_gates(gi, gh, Hp, H)
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        dgi, dgh, dh = _gru_step_backward(g, Hp, r, z, n, gh[:, 2 * H:])
        grads = [dgi @ Wi if x.requires_grad else None,
                 dh + dgh @ Wh if h.requires_grad else None,
                 dgi.T @ X if wi.requires_grad else None,
                 dgh.T @ Hp if wh.requires_grad else None]
        grads += [d.sum(axis=0) for b, d in ((bi, dgi), (bh, dgh)) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "gru_cell")


def gru(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """A whole GRU layer over a sequence, one graph node (batch first): `gru_cell` applied for
    ``t = 1..T`` with the same weights, in one Python loop over time.

    Shapes: ``input (batch, seq, input_size)``, ``h0 (batch, hidden)`` -> every hidden state
    ``(batch, seq, hidden)``.

    Backward is backpropagation through time: going back from ``t = T`` with ``g_t`` the upstream
    gradient at ``h_t`` plus what flows back from ``t + 1``, each step's backward (as in
    `gru_cell`) gives the projections' gradients ``dgi_t``, ``dgh_t`` and passes
    ``dL/dh_{t-1} = g_t z_t + dgh_t W_hh`` on; the shared weights collect
    ``dL/dW_ih = sum_t dgi_t^T x_t`` and ``dL/dW_hh = sum_t dgh_t^T h_{t-1}`` (one matrix
    product over time and batch after the loop).

    Raises:
        ValueError: on shapes that do not fit together (naming them).
    """
    x, h, wi, wh = _t(input), _t(h0), _t(weight_ih), _t(weight_hh)
    bi, bh = _opt(bias_ih), _opt(bias_hh)
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"gru: input must have shape (batch, seq >= 1, input_size), got "
                         f"{x.shape}")
    _check_features("gru", x, wi)
    H = _check_cell("gru", Tensor(x.data[:, 0]), h, wi, wh, bi, bh, 3)
    X, Wi, Wh = x.data, wi.data, wh.data
    B, T, _ = X.shape
    GI = np.swapaxes(X, 0, 1) @ Wi.T  # (T, B, 3H): every input projection at once
    if bi is not None:
        GI += bi.data
    dt = GI.dtype
    Hs = np.empty((T + 1, B, H), dtype=dt)
    GHn = np.empty((T, B, H), dtype=dt)  # h_{t-1} W_hn^T + b_hn, needed by the reset gate
    R, Z, N = (np.empty((T, B, H), dtype=dt) for _ in range(3))
    Hs[0] = h.data
    WhT = np.ascontiguousarray(Wh.T)
    for t in range(T):
        gh = Hs[t] @ WhT
        if bh is not None:
            gh += bh.data
        R[t], Z[t], N[t], Hs[t + 1] = _gru_gates(GI[t], gh, Hs[t], H)
        GHn[t] = gh[:, 2 * H:]
    out = np.ascontiguousarray(np.swapaxes(Hs[1:], 0, 1))
    parents = [x, h, wi, wh] + [b for b in (bi, bh) if b is not None]

    def backward(g):
        G = np.swapaxes(g, 0, 1)  # (T, B, H)
        DGI = np.empty((T, B, 3 * H), dtype=dt)
        DGH = np.empty((T, B, 3 * H), dtype=dt)
        carry = np.zeros((B, H), dtype=dt)
        for t in range(T - 1, -1, -1):
            DGI[t], DGH[t], dh = _gru_step_backward(G[t] + carry, Hs[t], R[t], Z[t], N[t],
                                                    GHn[t])
            carry = dh + DGH[t] @ Wh
        DI, DH = DGI.reshape(-1, 3 * H), DGH.reshape(-1, 3 * H)
        grads = [np.swapaxes(DGI @ Wi, 0, 1) if x.requires_grad else None,
                 carry if h.requires_grad else None,
                 DI.T @ np.swapaxes(X, 0, 1).reshape(-1, X.shape[-1])
                 if wi.requires_grad else None,
                 DH.T @ Hs[:-1].reshape(-1, H) if wh.requires_grad else None]
        grads += [d.sum(axis=0) for b, d in ((bi, DI), (bh, DH)) if b is not None]
        return tuple(grads)

    return make_result(out, parents, backward, "gru")
