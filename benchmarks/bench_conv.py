"""Per-step time of ibcore against PyTorch on the models of Posts 2 and 3 (``make bench``).

Measured exactly as ``bench_steps.py`` measures (its helpers are imported): the same initial
weights in both libraries, float32, Adam, the same batches built outside the timed region, the
same thread count, the median of runs in blocks alternating between the two libraries.

Models:

- Post 2: a 1-32-1 tanh MLP with a Poisson head (counts), and a 1-32-2 tanh MLP with the
  learned-scale Gaussian head (heteroscedastic data), full batch.
- Post 3: the digits CNN (``Conv2d(1, 8, 3, padding=1)``, ReLU, ``MaxPool2d(2)``,
  ``Conv2d(8, 16, 3, padding=1)``, ReLU, ``MaxPool2d(2)``, ``Flatten``, ``Linear(144, 10)``) on
  the 12 x 12 canvas, minibatch 128 and full batch (1437).

Usage::

    python benchmarks/bench_conv.py [--repeat 9] [--min-run 0.1] [--threads N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_steps import (  # noqa: E402
    Result,
    bench_parser,
    set_threads,
    settings_line,
    time_pair,
    train_step,
)

import ibcore as ib  # noqa: E402
from ibcore import F, heads, nn  # noqa: E402


def _copy_weights(ib_model, torch_model):
    with torch.no_grad():
        for p, tp in zip(ib_model.parameters(), torch_model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.data.copy()))


def cnn_case(batch: int, seed: int = 0):
    T = torch.nn
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(144, 10, rng=rng))
    tmodel = T.Sequential(T.Conv2d(1, 8, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                          T.Conv2d(8, 16, 3, padding=1), T.ReLU(), T.MaxPool2d(2), T.Flatten(),
                          T.Linear(144, 10))
    _copy_weights(model, tmodel)
    d = ib.data.digits()
    X = np.pad(d.images_train, ((0, 0), (2, 2), (2, 2)))[:, None].astype(np.float32)
    y = d.y_train
    batches = []
    for _ in range(max(1, min(20, len(X) // batch))):
        idx = rng.permutation(len(X))[:batch] if batch < len(X) else np.arange(len(X))
        batches.append((X[idx], y[idx]))
    ib_b = [(ib.Tensor(x), t) for x, t in batches]
    th_b = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in batches]
    return ("digits CNN (Post 3), CE", batch, model, tmodel, ib_b, th_b, F.cross_entropy,
            torch.nn.functional.cross_entropy)


def head_case(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "poisson":
        x, y = ib.data.count_data(400, seed=0)
        out, name = 1, "1-32-1 tanh, Poisson (Post 2)"
        head = heads.Poisson()

        def ib_loss(o, t):
            return head.nll(o.reshape(-1), t)

        def th_loss(o, t):
            return torch.nn.functional.poisson_nll_loss(o.reshape(-1), t, log_input=True,
                                                        full=False)
        yb = y.astype(np.float32)
    else:
        x, y = ib.data.heteroscedastic_data(2000, seed=0)
        out, name = 2, "1-32-2 tanh, learned-scale Gaussian (Post 2)"
        head = heads.Gaussian(sigma=None)

        def ib_loss(o, t):
            return head.nll(o, t)

        def th_loss(o, t):
            s = torch.nn.functional.softplus(o[:, 1])
            return torch.nn.functional.gaussian_nll_loss(o[:, 0], t, s * s, full=True)
        yb = y
    model = nn.MLP([1, 32, out], rng=rng)
    T = torch.nn
    tmodel = T.Sequential(T.Linear(1, 32), T.Tanh(), T.Linear(32, out))
    _copy_weights(model, tmodel)
    ib_b = [(ib.Tensor(x), yb)]
    th_b = [(torch.from_numpy(x), torch.from_numpy(yb))]
    return name, len(x), model, tmodel, ib_b, th_b, ib_loss, th_loss


def make_steps(case):
    name, batch, model, tmodel, ib_b, th_b, ib_loss, th_loss = case
    opt = ib.optim.Adam(model.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)
    l0 = float(ib_loss(model(ib_b[0][0]), ib_b[0][1]).data)
    with torch.no_grad():
        t0 = float(th_loss(tmodel(th_b[0][0]), th_b[0][1]))
    return (name, batch, train_step(model, opt, ib_b, ib_loss),
            train_step(tmodel, topt, th_b, th_loss), l0, t0)


def main(argv=None) -> int:
    args = bench_parser(__doc__, min_run=0.1).parse_args(argv)
    set_threads(args.threads)
    print(settings_line(args.repeat))
    cases = [head_case("poisson"), head_case("gaussian"), cnn_case(128), cnn_case(1437)]
    results = []
    for case in cases:
        name, batch, ib_step, th_step, l0, t0 = make_steps(case)
        # Poisson: torch's poisson_nll_loss omits log(y!), a constant; compare only the others
        if "Poisson" not in name and not np.isclose(l0, t0, rtol=1e-4):
            print(f"{name}: initial losses differ: ibcore {l0} vs torch {t0}", file=sys.stderr)
            return 1
        ib_s, th_s = time_pair(ib_step, th_step, args.repeat, args.min_run)
        results.append(Result(name, batch, ib_s * 1e6, th_s * 1e6))
    header = f"{'model':<46}{'batch':>7}{'ibcore us/step':>16}{'torch us/step':>15}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.model:<46}{r.batch:>7}{r.ibcore_us:>16.1f}{r.torch_us:>15.1f}{r.ratio:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
