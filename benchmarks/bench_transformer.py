"""Per-training-step time of the pointer-task transformer (Posts 6 and 7), ibcore against torch.

The model is `ibcore.nn.ReadoutTransformer` (token embedding + learned positions, pre-norm blocks,
final LayerNorm, linear head on the READ position); torch gets the same architecture built from
``torch.nn.TransformerEncoderLayer(norm_first=True, dropout=0)`` with the same initial weights
copied in, the same batches of the pointer task, float32 and Adam. Timing follows
``bench_steps.py`` (its `time_pair`: timeit-style, median of runs in alternating blocks, the same
thread count for torch and NumPy's BLAS).

Usage::

    python benchmarks/bench_transformer.py [--threads N] [--repeat 9] [--min-run 0.1]
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_steps import (  # noqa: E402
    bench_parser,
    set_threads,
    settings_line,
    time_pair,
    train_step,
)

import ibcore as ib  # noqa: E402
from ibcore import F  # noqa: E402


class TorchReadout(torch.nn.Module):
    def __init__(self, m: ib.nn.ReadoutTransformer, heads: int, d_ff: int):
        super().__init__()
        d = m.d_model
        self.embed = torch.nn.Parameter(torch.from_numpy(m.embed_weight.data.copy()))
        self.pos = torch.nn.Parameter(torch.from_numpy(m.pos.weight.data.copy()))
        self.blocks = torch.nn.ModuleList()
        for b in m.blocks:
            tb = torch.nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, batch_first=True,
                                                  norm_first=True)
            sd = {"self_attn.in_proj_weight": b.attn.in_proj_weight.data,
                  "self_attn.in_proj_bias": b.attn.in_proj_bias.data,
                  "self_attn.out_proj.weight": b.attn.out_proj.weight.data,
                  "self_attn.out_proj.bias": b.attn.out_proj.bias.data,
                  "linear1.weight": b.ff1.weight.data, "linear1.bias": b.ff1.bias.data,
                  "linear2.weight": b.ff2.weight.data, "linear2.bias": b.ff2.bias.data,
                  "norm1.weight": b.ln1.weight.data, "norm1.bias": b.ln1.bias.data,
                  "norm2.weight": b.ln2.weight.data, "norm2.bias": b.ln2.bias.data}
            tb.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
            self.blocks.append(tb)
        self.ln_f = torch.nn.LayerNorm(d)
        self.ln_f.load_state_dict({"weight": torch.from_numpy(m.ln_f.weight.data.copy()),
                                   "bias": torch.from_numpy(m.ln_f.bias.data.copy())})
        self.head = torch.nn.Linear(d, m.num_classes)
        self.head.load_state_dict({"weight": torch.from_numpy(m.head.weight.data.copy()),
                                   "bias": torch.from_numpy(m.head.bias.data.copy())})

    def forward(self, tokens):
        x = self.embed[tokens] + self.pos[: tokens.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x[:, -1]))


def make_steps(layers: int, batch: int, d_model: int = 32, heads: int = 1, d_ff: int = 64):
    task = ib.data.pointer(8)
    m = ib.nn.ReadoutTransformer(task.vocab_size, task.seq_len, d_model, heads, layers,
                                 task.num_classes, d_ff, rng=np.random.default_rng(0))
    tm = TorchReadout(m, heads, d_ff)
    opt, topt = ib.optim.Adam(m.parameters(), lr=3e-3), torch.optim.Adam(tm.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    batches = [rng.permutation(len(task.y_train))[:batch] for _ in range(20)]
    ib_b = [(task.tokens_train[i], task.y_train[i]) for i in batches]
    th_b = [(torch.from_numpy(t), torch.from_numpy(y)) for t, y in ib_b]
    with torch.no_grad():
        l0 = float(torch.nn.functional.cross_entropy(tm(th_b[0][0]), th_b[0][1]))
    with ib.no_grad():
        l0_ib = F.cross_entropy(m(ib_b[0][0]), ib_b[0][1]).item()
    if not np.isclose(l0, l0_ib, rtol=1e-4):
        raise SystemExit(f"initial losses differ: ibcore {l0_ib}, torch {l0}")
    return (train_step(m, opt, ib_b, F.cross_entropy),
            train_step(tm, topt, th_b, torch.nn.functional.cross_entropy))


def main(argv=None) -> int:
    args = bench_parser(__doc__, min_run=0.1).parse_args(argv)
    set_threads(args.threads)
    print(settings_line(args.repeat))
    header = f"{'model':<34}{'batch':>7}{'ibcore us/step':>16}{'torch us/step':>15}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for layers, batch in ((1, 128), (2, 128), (2, 512)):
        a, b = make_steps(layers, batch)
        ib_s, th_s = time_pair(a, b, args.repeat, args.min_run)
        name = f"pointer transformer, {layers} layer{'s' if layers > 1 else ''}"
        print(f"{name:<34}{batch:>7}{ib_s * 1e6:>16.1f}{th_s * 1e6:>15.1f}{ib_s / th_s:>8.2f}")
    print("(ratio = ibcore / torch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
