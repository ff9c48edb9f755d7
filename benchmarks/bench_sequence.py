"""Per-training-step time of ibcore against PyTorch on Posts 4 and 5's sequence models.

Measured as in `bench_steps.py` (same helpers): same float32 weights, same batches, Adam, the same
thread count, median of alternating timed runs. Models: the window language model (Bengio et al.
2003) with N = 8 on the character corpus, and the character RNN (Elman) on 32 x 48 chunks.

Usage::

    python benchmarks/bench_sequence.py [--threads 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_steps import (  # noqa: E402
    bench_parser,
    set_threads,
    settings_line,
    time_pair,
    train_step,
)

import ibcore as ib  # noqa: E402
from ibcore import F, nn  # noqa: E402


class TorchLM(torch.nn.Module):
    def __init__(self, V, N, E, H):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.hidden = torch.nn.Linear(N * E, H)
        self.output = torch.nn.Linear(H, V)

    def forward(self, ids):
        x = self.embedding(ids).reshape(ids.shape[0], -1)
        return self.output(torch.tanh(self.hidden(x)))


class TorchCharRNN(torch.nn.Module):
    def __init__(self, V, E, H):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = torch.nn.RNN(E, H, batch_first=True)
        self.output = torch.nn.Linear(H, V)

    def forward(self, ids):
        out, _ = self.rnn(self.embedding(ids))
        return self.output(out)


def _steps(model, tmodel, batches, V):
    tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    opt = ib.optim.Adam(model.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    tb = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def ib_loss(out, y):
        return F.cross_entropy(out.reshape(-1, V), y.reshape(-1))

    def torch_loss(out, y):
        return torch.nn.functional.cross_entropy(out.reshape(-1, V), y.reshape(-1))

    return train_step(model, opt, batches, ib_loss), train_step(tmodel, topt, tb, torch_loss)


def main(argv=None) -> int:
    args = bench_parser(__doc__, min_run=0.2).parse_args(argv)
    set_threads(args.threads)
    corpus = ib.data.char_corpus()
    V = len(corpus.vocab)
    rng = np.random.default_rng(0)
    X, y = ib.data.context_windows(corpus.train, 8)
    lm_batches = []
    for _ in range(20):
        idx = rng.integers(0, len(y), 128)
        lm_batches.append((np.ascontiguousarray(X[idx]), y[idx]))
    rnn_batches = [ib.data.sequence_batch(corpus.train, 32, 48, rng) for _ in range(20)]
    cases = [
        ("window LM N=8, E=16, H=128", 128,
         *_steps(nn.NeuralLM(V, 8, 16, 128, rng=np.random.default_rng(0)),
                 TorchLM(V, 8, 16, 128), lm_batches, V)),
        ("char RNN E=16, H=96, T=48", 32,
         *_steps(nn.CharRNN(V, 16, 96, rng=np.random.default_rng(0)),
                 TorchCharRNN(V, 16, 96), rnn_batches, V)),
    ]
    print(settings_line(args.repeat))
    header = f"{'model':<30}{'batch':>7}{'ibcore us/step':>16}{'torch us/step':>15}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, batch, ib_step, th_step in cases:
        a, b = time_pair(ib_step, th_step, args.repeat, args.min_run)
        print(f"{name:<30}{batch:>7}{a * 1e6:>16.1f}{b * 1e6:>15.1f}{a / b:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
