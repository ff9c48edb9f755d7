"""Gradient norms with respect to each hidden state through time (Bengio, Simard and Frasconi
1994; Pascanu, Mikolov and Bengio 2013).

The engine stores gradients only on leaves, so to read ``dL/dh_t`` the recurrence is unrolled one
step at a time and a zero leaf ``z_t`` is added to every hidden state, ``h_t <- h_t + z_t``. This
changes no value, and ``dL/dz_t = dL/dh_t``: the gradient arriving at ``h_t`` from everything
after it (through ``h_{t+1}``, ..., and through any read-out of ``h_t`` itself).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["hidden_grads", "hidden_grad_norms"]


def hidden_grads(model, x, loss_fn, state=None) -> tuple[float, np.ndarray]:
    """Unroll ``model`` over ``x`` and return the loss and ``dL/dh_t`` for every ``t``.

    Args:
        model: a recurrent layer with ``step(x_t, state)``, ``init_state(batch)``,
            ``state_h(state)`` and ``with_h(state, h)`` (`ibcore.nn.RNN`, `ibcore.nn.LSTM`).
        x: input ``(batch, seq, input_size)`` (array or Tensor).
        loss_fn: ``loss_fn(hs) -> scalar Tensor`` where ``hs`` is the list of the ``seq`` hidden
            states ``(batch, hidden)``.
        state: initial state (zeros if None).

    Returns:
        ``(loss, grads)`` with ``grads (seq, batch, hidden)``; parameter gradients accumulate on
        the model as in any backward pass (call ``zero_grad()`` before training).

    Raises:
        ValueError: if ``x`` is not 3-D or the loss is not a scalar.
    """
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.ndim != 3:
        raise ValueError(f"hidden_grads: x must have shape (batch, seq, input_size), got "
                         f"{x.shape}")
    B, T, _ = x.shape
    state = model.init_state(B) if state is None else state
    taps, hs = [], []
    for t in range(T):
        state = model.step(x[:, t], state)
        h = model.state_h(state)
        z = Tensor(np.zeros(h.shape, dtype=h.dtype), requires_grad=True)
        h = h + z
        state = model.with_h(state, h)
        taps.append(z)
        hs.append(h)
    loss = loss_fn(hs)
    if loss.data.size != 1:
        raise ValueError(f"hidden_grads: loss_fn must return a scalar, got shape {loss.shape}")
    loss.backward()
    grads = np.stack([z.grad if z.grad is not None else np.zeros(z.shape, z.dtype)
                      for z in taps])
    return float(loss.data), grads


def hidden_grad_norms(model, x, loss_fn, state=None, per_example: bool = True) -> np.ndarray:
    """``||dL/dh_t||`` for ``t = 1..seq``, shape ``(seq,)``.

    With ``per_example`` (default) the L2 norm over the hidden units is taken for each sequence of
    the batch and averaged over the batch; otherwise the norm over the whole ``(batch, hidden)``
    gradient. See `hidden_grads` for the arguments.
    """
    _, g = hidden_grads(model, x, loss_fn, state)
    g = g.astype(np.float64)
    if per_example:
        return np.linalg.norm(g, axis=2).mean(axis=1)
    return np.sqrt((g * g).sum(axis=(1, 2)))
