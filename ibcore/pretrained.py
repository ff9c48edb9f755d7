"""Seeded, cached training of the pointer-task transformers that Posts 6 and 7 share.

Post 7 reads back the model Post 6 trains. The book executes each notebook in its own kernel, so
`train_pointer_transformer` is deterministic (same config and seed, same weights) and caches its
result twice: in memory (within one process) and, optionally, as an ``.npz`` file under a cache
directory. The file name is a hash of the full configuration *and* of the ibcore source code that
the training depends on, so a stale file is never loaded after the code changes; a missing,
unreadable or unwritable cache is harmless (the model is simply trained again). Nothing is
committed to the repository.

The cache directory is ``$IBCORE_CACHE`` if set, else ``~/.cache/ibcore``; pass
``cache_dir=None`` with ``file_cache=False`` to use only the in-memory cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import data as _data
from . import functional as F
from . import nn, optim
from .tensor import no_grad
from .train import History, accuracy, fit

__all__ = ["PointerConfig", "TrainedPointer", "train_pointer_transformer", "cache_dir",
           "clear_memory_cache"]

_SOURCES = ("functional.py", "tensor.py", "optim.py", "train.py", "pretrained.py",
            "ops/_base.py", "ops/methods.py", "ops/pointwise.py", "ops/linear.py",
            "ops/reduce.py", "ops/shape.py", "ops/loss.py", "ops/attention.py", "ops/norm.py",
            "nn/modules.py", "nn/attention.py", "nn/transformer.py", "data/pointer.py")
_MEMORY: dict[str, TrainedPointer] = {}


@dataclass(frozen=True)
class PointerConfig:
    """Everything that determines a trained model (the cache key).

    Task: ``kind="bits"`` is the pointer task of ``M`` memory bits (`ibcore.data.pointer`, ``k``
    must be 1); ``kind="hops"`` the k-hop task of ``M`` pointer cells
    (`ibcore.data.pointer_khop`, with ``n_train``/``n_test`` examples).
    Model: a `ReadoutTransformer` with ``num_layers`` blocks. Training: Adam with learning rate
    ``lr``, ``steps`` minibatch steps of ``batch_size``, data and initial weights from ``seed``.
    """

    M: int = 8
    k: int = 1
    kind: str = "bits"
    num_layers: int = 2
    d_model: int = 32
    num_heads: int = 1
    d_ff: int = 64
    pos: str = "learned"
    embed_scale: float = 1.0
    pos_scale: float = 1.0
    steps: int = 300
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    n_train: int = 4000
    n_test: int = 1000

    def task(self) -> _data.PointerTask:
        if self.kind not in ("bits", "hops"):
            raise ValueError(f"PointerConfig: kind must be 'bits' or 'hops', got {self.kind!r}")
        if self.kind == "bits":
            if self.k != 1:
                raise ValueError(f"PointerConfig: the bits task has k = 1, got k={self.k}; "
                                 f"use kind='hops' for several hops")
            return _data.pointer(self.M, n_test=512, seed=self.seed)
        return _data.pointer_khop(self.M, self.k, self.n_train, self.n_test, seed=self.seed)


@dataclass
class TrainedPointer:
    """A trained model with its task, training curve and accuracies (fractions in [0, 1])."""

    config: PointerConfig
    model: nn.ReadoutTransformer
    task: _data.PointerTask
    history: History
    train_accuracy: float
    test_accuracy: float
    from_cache: str = field(default="no")


def cache_dir() -> Path:
    """``$IBCORE_CACHE`` or ``~/.cache/ibcore``."""
    return Path(os.environ.get("IBCORE_CACHE", Path.home() / ".cache" / "ibcore"))


def clear_memory_cache() -> None:
    """Forget the models trained in this process (the file cache is untouched)."""
    _MEMORY.clear()


def _key(cfg: PointerConfig) -> str:
    from . import __version__

    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    h.update(__version__.encode())
    root = Path(__file__).parent
    for rel in _SOURCES:
        try:
            h.update((root / rel).read_bytes())
        except OSError:  # pragma: no cover - an installed package always has its sources
            h.update(rel.encode())
    return h.hexdigest()[:20]


def _build(cfg: PointerConfig, task: _data.PointerTask) -> nn.ReadoutTransformer:
    return nn.ReadoutTransformer(
        task.vocab_size, task.seq_len, d_model=cfg.d_model, num_heads=cfg.num_heads,
        num_layers=cfg.num_layers, num_classes=task.num_classes, d_ff=cfg.d_ff, pos=cfg.pos,
        embed_scale=cfg.embed_scale, pos_scale=cfg.pos_scale,
        rng=np.random.default_rng(cfg.seed))


def _single_thread():
    """Tiny matrices: BLAS threads cost more CPU than they save (and the book's machines are
    shared). Returns a context manager limiting BLAS to one thread, or a no-op."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def train_pointer_transformer(config: PointerConfig | None = None, *, file_cache: bool = True,
                              **overrides) -> TrainedPointer:
    """Train (or fetch from the cache) a `ReadoutTransformer` on a pointer task.

    Args:
        config: a `PointerConfig`; keyword ``overrides`` replace its fields
            (``train_pointer_transformer(num_layers=1)``).
        file_cache: also look up and store an ``.npz`` under `cache_dir` (errors are ignored).

    Returns:
        `TrainedPointer`; ``from_cache`` is ``"memory"``, ``"file"`` or ``"no"``. The same model
        object is returned for repeated calls within a process: do not modify its weights (copy
        them with ``state_dict`` first).

    Raises:
        TypeError: for an unknown override name.
    """
    cfg = config or PointerConfig()
    if overrides:
        unknown = set(overrides) - set(PointerConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"train_pointer_transformer: unknown config fields {sorted(unknown)}")
        cfg = PointerConfig(**{**asdict(cfg), **overrides})
    key = _key(cfg)
    if key in _MEMORY:
        hit = _MEMORY[key]
        hit.from_cache = "memory"
        return hit
    task = cfg.task()
    model = _build(cfg, task)
    path = cache_dir() / f"pointer-{key}.npz"
    result = None
    if file_cache and path.exists():
        try:
            with np.load(path) as z:
                state = {k[6:]: z[k] for k in z.files if k.startswith("param:")}
                model.load_state_dict(state)
                hist = History(step=z["step"].tolist(), loss=z["loss"].tolist())
                result = TrainedPointer(cfg, model, task, hist, float(z["train_acc"]),
                                        float(z["test_acc"]), "file")
        except Exception:  # noqa: BLE001 - a broken cache file only means training again
            model = _build(cfg, task)
            result = None
    if result is None:
        with _single_thread():
            hist = fit(model, optim.Adam(model.parameters(), lr=cfg.lr), F.cross_entropy,
                       task.tokens_train, task.y_train, steps=cfg.steps,
                       batch_size=min(cfg.batch_size, len(task.y_train)), seed=cfg.seed,
                       progress=False)
            with no_grad():
                tr = accuracy(model, task.tokens_train, task.y_train)
                te = accuracy(model, task.tokens_test, task.y_test)
        result = TrainedPointer(cfg, model, task, hist, tr, te, "no")
        if file_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, step=np.array(hist.step), loss=np.array(hist.loss),
                         train_acc=tr, test_acc=te,
                         **{f"param:{k}": v for k, v in model.state_dict().items()})
                os.replace(tmp, path)
            except OSError:
                pass
    model.eval()
    _MEMORY[key] = result
    return result
