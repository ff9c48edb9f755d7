"""A small fit loop with a progress bar (``tqdm.auto``) and a recorded history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .tensor import Tensor, no_grad

__all__ = ["History", "fit", "accuracy"]


@dataclass
class History:
    """What `fit` recorded: ``step`` and ``loss`` (training loss of that step's batch, nats),
    plus any metric returned by ``evaluate`` under its own key (recorded every ``eval_every``)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.loss[-1] if self.loss else float("nan")


def accuracy(model, X, y, batch_size: int = 4096) -> float:
    """Fraction of rows whose arg-max logit equals the label (for one logit: logit > 0)."""
    X = np.asarray(X)
    correct = 0
    with no_grad():
        for i in range(0, len(X), batch_size):
            out = model(Tensor(X[i:i + batch_size])).data
            pred = (out.reshape(-1) > 0).astype(np.int64) if out.shape[-1] == 1 \
                else out.argmax(-1)
            correct += int((pred == np.asarray(y)[i:i + batch_size]).sum())
    return correct / len(X)


def fit(model, optimizer, loss_fn: Callable, X, y, *, steps: int, batch_size: int | None = None,
        seed: int = 0, evaluate: Callable | None = None, eval_every: int = 0,
        callback: Callable | None = None, progress: bool = True, desc: str = "training"
        ) -> History:
    """Train ``model`` for ``steps`` optimizer steps and return the `History`.

    Args:
        model: a callable module mapping ``X`` batches ``(batch, ...)`` to outputs.
        optimizer: an `ibcore.optim` optimizer over the model's parameters.
        loss_fn: ``loss_fn(output, target) -> scalar Tensor``, e.g. ``F.cross_entropy`` or a head.
        X, y: arrays with the same first dimension.
        steps: number of optimizer steps.
        batch_size: minibatch size drawn by shuffling each epoch (seeded); None = full batch.
        evaluate: ``evaluate(model) -> dict[str, float]``, called every ``eval_every`` steps and
            after the last step, under ``no_grad``.
        callback: ``callback(step, model)`` after each step (e.g. to snapshot weights for frames).
        progress: show a ``tqdm.auto`` bar.

    Raises:
        ValueError: if ``X`` and ``y`` lengths differ, ``steps < 1`` or a bad ``batch_size``, or
            if the loss becomes non-finite (naming the step).
    """
    X, y = np.asarray(X), np.asarray(y)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"fit: X has {n} rows but y has {len(y)}")
    if steps < 1:
        raise ValueError(f"fit: steps must be at least 1, got {steps}")
    if batch_size is not None and not 1 <= batch_size <= n:
        raise ValueError(f"fit: batch_size must be in [1, {n}], got {batch_size}")
    rng = np.random.default_rng(seed)
    hist = History()
    order, pos = rng.permutation(n), 0
    Xt_full, yt_full = Tensor(X), y
    model.train()
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, leave=False)
    for step in bar:
        if batch_size is None:
            xb, yb = Xt_full, yt_full
        else:
            if pos + batch_size > n:
                order, pos = rng.permutation(n), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            xb, yb = Tensor(X[idx]), y[idx]
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        value = float(loss.data)
        if not np.isfinite(value):
            raise ValueError(f"fit: loss became {value} at step {step}; lower the learning rate")
        hist.step.append(step)
        hist.loss.append(value)
        if callback is not None:
            callback(step, model)
        if evaluate is not None and ((eval_every and step % eval_every == 0) or step == steps):
            model.eval()
            with no_grad():
                for k, v in evaluate(model).items():
                    hist.metrics.setdefault(k, []).append((step, float(v)))
            model.train()
        if progress and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4f}")
    bar.close()
    model.eval()
    return hist
