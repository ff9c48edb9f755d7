"""Per-training-step time of ibcore against PyTorch on the book's own models (``make bench``).

One step is what a training loop does: zero the gradients, forward, loss, backward, optimizer
step. Both libraries get the same shapes, float32, the same initial weights, the same batches
(built once, outside the timed region) and the same optimizer (Adam), on the CPU with the same
number of threads (``torch.set_num_threads`` is set to the CPUs this process may use, which is
what NumPy's BLAS uses by default; both counts are printed).

Timing is timeit-style: a warm-up, then ``repeat`` runs of ``number`` steps each, ``number``
chosen so one run lasts at least ``--min-run`` seconds; the reported time is the median run
divided by ``number``. The runs come in blocks that alternate between ibcore and torch, so that a
slow phase of a shared machine does not bias the ratio.

Usage::

    python benchmarks/bench_steps.py                 # the table
    python benchmarks/bench_steps.py --json out.json # also write the results
    python benchmarks/bench_steps.py --profile       # also cProfile ibcore's step per model
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

import ibcore as ib
from ibcore import functional as F


@dataclass
class Result:
    model: str
    batch: int
    ibcore_us: float
    torch_us: float

    @property
    def ratio(self) -> float:
        return self.ibcore_us / self.torch_us


@dataclass
class Case:
    """A model, its loss and its batches, built identically in both libraries."""

    name: str
    sizes: list[int]
    batch: int
    ib_step: Callable[[], object]
    torch_step: Callable[[], object]
    ib_loss0: float
    torch_loss0: float


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return "unknown"
    info = {f"{d['internal_api']}={d['num_threads']}" for d in threadpool_info()
            if d.get("user_api") == "blas"}
    return ", ".join(sorted(info)) or "unknown"


def bench_parser(doc: str, min_run: float = 0.1) -> argparse.ArgumentParser:
    """The options every ``benchmarks/bench_*.py`` shares: ``--repeat``, ``--min-run``,
    ``--threads``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per measurement")
    parser.add_argument("--min-run", type=float, default=min_run,
                        help="minimum seconds per timed run (and of warm-up)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both torch and NumPy's BLAS (default: the CPUs this "
                             "process may use, which is NumPy's default)")
    return parser


def set_threads(threads: int | None) -> None:
    """Give torch and NumPy's BLAS the same number of threads (default: every usable CPU, which is
    what NumPy's BLAS uses unless told otherwise), and set the C allocator as the chapters run
    (`ibcore.notebook.keep_freed_memory`, in this process so for torch too)."""
    global _clock
    from ibcore.notebook import keep_freed_memory

    keep_freed_memory()
    _clock = time.process_time if threads == 1 else time.perf_counter
    torch.set_num_threads(threads or _cpu_count())
    if threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover
            print("threadpoolctl is not installed: NumPy's BLAS threads are left as they are",
                  file=sys.stderr)
        else:
            threadpool_limits(threads, user_api="blas")


def _torch_mlp(sizes: list[int], state: dict) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return model


def _cycle(items):
    """An endless iterator over a fixed list (the same batch order in both libraries)."""
    while True:
        yield from items


def train_step(model, opt, batches, loss_fn) -> Callable[[], object]:
    """One optimizer step on the next of ``batches`` (cycled), returning the loss: the same
    four calls in ibcore and in torch, which share the names."""
    it = _cycle(batches)

    def step():
        xb, yb = next(it)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    return step


def make_case(name: str, sizes: list[int], X: np.ndarray, y: np.ndarray, batch: int,
              binary: bool, lr: float = 1e-2, seed: int = 0) -> Case:
    """Build the ibcore and the torch step for one model on one batch size."""
    model = ib.nn.MLP(sizes, rng=np.random.default_rng(seed), dtype=np.float32)
    tmodel = _torch_mlp(sizes, model.state_dict())
    opt = ib.optim.Adam(model.parameters(), lr=lr)
    topt = torch.optim.Adam(tmodel.parameters(), lr=lr)

    rng = np.random.default_rng(seed)
    n = len(X)
    batches = []
    for _ in range(max(1, min(50, n // batch))):
        idx = rng.permutation(n)[:batch] if batch < n else np.arange(n)
        xb = X[idx].astype(np.float32)
        yb = y[idx].astype(np.float32)[:, None] if binary else y[idx].astype(np.int64)
        batches.append((xb, yb))
    ib_batches = [(ib.Tensor(xb), ib.Tensor(yb) if binary else yb) for xb, yb in batches]
    th_batches = [(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in batches]
    ib_loss_fn = F.binary_cross_entropy_with_logits if binary else F.cross_entropy
    th_loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits if binary
                  else torch.nn.functional.cross_entropy)

    ib_loss0 = float(ib_loss_fn(model(ib_batches[0][0]), ib_batches[0][1]).data)
    with torch.no_grad():
        torch_loss0 = float(th_loss_fn(tmodel(th_batches[0][0]), th_batches[0][1]))

    return Case(name, sizes, batch, train_step(model, opt, ib_batches, ib_loss_fn),
                train_step(tmodel, topt, th_batches, th_loss_fn), ib_loss0, torch_loss0)


def _warm(step: Callable[[], object], seconds: float) -> None:
    """Call ``step`` for ``seconds`` (at least 3 times): caches, allocator, worker threads."""
    t_end = time.perf_counter() + seconds
    calls = 0
    while time.perf_counter() < t_end or calls < 3:
        step()
        calls += 1


# The clock of `_run`: wall time, or the process's CPU time once `set_threads(1)` has made every
# computation single-threaded (then CPU time is the step's cost, and a shared machine, whose other
# processes take the core away for a while, does not inflate it).
_clock = time.perf_counter


def clock_name() -> str:
    """What `_run` measures, for the benchmarks' header line."""
    return "process CPU time" if _clock is time.process_time else "wall time"


def settings_line(repeat: int) -> str:
    """The header every benchmark prints: threads, dtype, optimizer, runs and clock."""
    return (f"CPU threads: torch {torch.get_num_threads()}, NumPy BLAS {_blas_threads()}; "
            f"float32; Adam; median of {repeat} runs, {clock_name()}")


def _run(step: Callable[[], object], number: int) -> float:
    """Seconds per call over ``number`` back-to-back calls, on `_clock`."""
    t0 = _clock()
    for _ in range(number):
        step()
    return (_clock() - t0) / number


def _calibrate(step: Callable[[], object], min_run: float) -> int:
    """How many back-to-back calls fill ``min_run`` seconds (doubling from 1)."""
    _warm(step, min_run)
    number = 1
    while _run(step, number) * number < min_run:
        number *= 2
    return number


def time_pair(step_a: Callable[[], object], step_b: Callable[[], object], repeat: int,
              min_run: float, rounds: int = 3) -> tuple[float, float]:
    """Median seconds per call of each step, timeit-style.

    The ``repeat`` runs of each step are split into ``rounds`` blocks that alternate between the
    two steps (a-block, b-block, a-block, ...), so a slow phase of a shared machine hits both
    alike. Within a block the runs are back to back after a warm-up, as in a training loop:
    alternating single runs would measure each library with the other's worker threads (OpenMP,
    OpenBLAS) still spinning, or with its own gone to sleep.
    """
    na, nb = _calibrate(step_a, min_run), _calibrate(step_b, min_run)
    runs_a: list[float] = []
    runs_b: list[float] = []
    per_block = -(-repeat // rounds)
    for _ in range(rounds):
        for step, number, runs in ((step_a, na, runs_a), (step_b, nb, runs_b)):
            _warm(step, min_run)
            runs.extend(_run(step, number) for _ in range(per_block))
    return statistics.median(runs_a), statistics.median(runs_b)


def build_cases() -> list[Case]:
    X_xor, y_xor = ib.data.xor()
    split = ib.data.digits()
    X_dig, y_dig = split.X_train, split.y_train
    return [
        make_case("xor 2-8-1 tanh, BCE", [2, 8, 1], X_xor, y_xor, 4, binary=True),
        make_case("digits 64-32-10 tanh, CE", [64, 32, 10], X_dig, y_dig, 64, binary=False),
        make_case("digits 64-32-10 tanh, CE", [64, 32, 10], X_dig, y_dig, len(X_dig),
                  binary=False),
    ]


def profile_case(case: Case, steps: int = 2000, top: int = 18) -> str:
    """cProfile of ``steps`` ibcore steps, sorted by own time."""
    for _ in range(20):
        case.ib_step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        case.ib_step()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of ibcore's step for each model")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    t_start = time.perf_counter()
    cases = build_cases()
    print(f"CPU threads: torch {torch.get_num_threads()}, NumPy BLAS {_blas_threads()} "
          f"(this process may use {_cpu_count()} CPUs); float32; Adam; median of {args.repeat} "
          f"runs, {clock_name()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")

    results = []
    for case in cases:
        if not np.isclose(case.ib_loss0, case.torch_loss0, rtol=1e-5):
            print(f"{case.name}: initial losses differ: ibcore {case.ib_loss0} vs torch "
                  f"{case.torch_loss0}", file=sys.stderr)
            return 1
        ib_s, th_s = time_pair(case.ib_step, case.torch_step, args.repeat, args.min_run)
        results.append(Result(case.name, case.batch, ib_s * 1e6, th_s * 1e6))

    header = f"{'model':<28}{'batch':>7}{'ibcore us/step':>16}{'torch us/step':>15}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.model:<28}{r.batch:>7}{r.ibcore_us:>16.1f}{r.torch_us:>15.1f}"
              f"{r.ratio:>8.2f}")
    print(f"(ratio = ibcore / torch; total {time.perf_counter() - t_start:.1f} s)")

    if args.json:
        payload = {
            "threads": {"torch": torch.get_num_threads(), "blas": _blas_threads()},
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "torch": torch.__version__},
            "repeat": args.repeat,
            "results": [asdict(r) | {"ratio": r.ratio} for r in results],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {args.json}")

    if args.profile:
        for case in cases:
            print(f"\n=== cProfile of ibcore: {case.name}, batch {case.batch} ===")
            print(profile_case(case))
    return 0


if __name__ == "__main__":
    sys.exit(main())
