"""ibcore: the from-scratch engine and models of *Inductive Biases in Neural Networks*.

A reverse-mode autograd `Tensor` over NumPy (`ibcore.tensor`), differentiable operations
(`ibcore.functional`, also `ibcore.F`), layers (`ibcore.nn`), output heads as distributions
(`ibcore.heads`), optimizers (`ibcore.optim`), datasets and tasks (`ibcore.data`), a fit loop
(`ibcore.train`), environments and policy-gradient losses (`ibcore.envs`, `ibcore.rl`), probes
that read trained models back out (`ibcore.probes`), the seeded and cached trainer Posts 6
and 7 share (`ibcore.pretrained`), count-based n-gram language models (`ibcore.ngram`), an
arithmetic coder driven by a model (`ibcore.coding`) and the interactive-figure helper
(`ibcore.widgets`).
"""

from . import (
    coding,
    data,
    envs,
    functional,
    heads,
    ngram,
    nn,
    notebook,
    optim,
    pretrained,
    probes,
    rl,
    train,
    viz,
)
from . import functional as F
from .functional import cat, stack, where
from .tensor import Tensor, enable_grad, get_rng, is_grad_enabled, manual_seed, no_grad, tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed", "get_rng",
    "cat", "stack", "where", "F", "functional", "nn", "heads", "optim", "data", "train", "viz",
    "notebook", "probes", "envs", "rl", "pretrained", "ngram", "coding",
]
