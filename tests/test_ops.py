"""Every differentiable op of ibcore, generated from ONE list (`OPS`) and checked three ways.

1. torch parity: the same float64 inputs go into ibcore and torch; the forward values must agree,
   then both backpropagate the same *random* upstream gradient (never ones, which hides
   transposition and broadcasting mistakes) and every input's gradient must agree.
2. float64 central finite differences of the random projection ``sum(out * R)`` against ibcore's
   gradient (which is what ``out.backward(R)`` computes).
3. a matrix of broadcasting shapes for the binary ops (and batch broadcasting for matmul): each
   gradient must come back in its input's shape and agree with torch.

`OPS` is imported by ``test_regressions.py`` for the dtype/shape contract, so adding an op here
tests it everywhere.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ibcore as ib
from ibcore import functional as F


@dataclass(frozen=True)
class OpCase:
    """One op under test.

    ``ib_fn`` takes ibcore tensors, ``torch_fn`` torch tensors (None: the same lambda works for
    both, as it does for operators and torch-named methods). ``domains`` gives, per input, where
    its values are drawn (see `sample`). ``op`` names the `ibcore.functional` entry it exercises.
    """

    name: str
    op: str
    ib_fn: Callable
    torch_fn: Callable | None
    shapes: tuple[tuple[int, ...], ...]
    domains: tuple[str, ...] | str = "real"

    def domain(self, i: int) -> str:
        return self.domains if isinstance(self.domains, str) else self.domains[i]

    def torch(self, *args):
        return (self.torch_fn or self.ib_fn)(*args)


def sample(domain: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Inputs away from each op's kinks and singularities, so both checks are meaningful.

    real: standard normal; positive: [0.5, 2] (log, fractional powers, pow bases);
    away0: |x| in [0.3, 1.5] with random sign (relu's kink, denominators);
    distinct: values at least ~0.05 apart (max has no ties, finite differences do not flip the
    argmax); unit: [0.05, 0.95] (Bernoulli targets).
    """
    n = int(np.prod(shape))
    if domain == "real":
        x = rng.standard_normal(n)
    elif domain == "positive":
        x = rng.uniform(0.5, 2.0, n)
    elif domain == "away0":
        x = rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 1.5, n)
    elif domain == "distinct":
        x = (rng.permutation(n) - n / 2) * (4.0 / n) + rng.uniform(0, 0.01, n)
    elif domain == "unit":
        x = rng.uniform(0.05, 0.95, n)
    else:  # pragma: no cover - a typo in the table
        raise ValueError(domain)
    return x.reshape(shape)


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def make_inputs(case: OpCase, dtype=np.float64, seed: int | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(seed_of(case.name) if seed is None else seed)
    return [sample(case.domain(i), s, rng).astype(dtype) for i, s in enumerate(case.shapes)]


# --------------------------------------------------------------------------- fixed non-float data
_aux = np.random.default_rng(1234)
IDX_REPEAT = np.array([2, 0, 2, 2, 1])  # repeated rows: the gradient must accumulate
IDX_COLS = np.array([1, 1, 3])
MASK = _aux.random((4, 5)) > 0.4
MASK[0, 0], MASK[1, 1] = True, False
GATHER0 = _aux.integers(0, 4, (6, 3))  # gather along dim 0 of a (4, 3): many repeats
GATHER1 = np.array([[0, 0, 2, 2, 2], [1, 3, 3, 0, 1], [2, 2, 2, 2, 2]])  # along dim 1 of (3, 4)
COND = _aux.random((3, 4)) > 0.5
COND[0, 0], COND[0, 1] = True, False
LABELS = np.array([0, 4, 2, 2, 1, 4])  # 6 examples, 5 classes, repeats on purpose
SDPA_MASK = _aux.random((2, 4, 5)) > 0.4  # True = take part (torch's sdpa convention)
SDPA_MASK[..., 0] = True  # every query keeps at least one key
SDPA_FMASK = np.where(SDPA_MASK, _aux.standard_normal((2, 4, 5)), -np.inf)

T = torch.from_numpy

def _torch_unroll(x, h, cell):
    """Apply ``cell(x_t, h)`` along dim 1 of ``x``; the list of hidden states."""
    hs = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h)
        hs.append(h)
    return hs

def _torch_lstm_seq(x, h, c, *w):
    """torch.lstm_cell along dim 1; (batch, seq, 2 * hidden) of h_t then c_t, as F.lstm."""
    hs, cs = [], []
    for t in range(x.shape[1]):
        h, c = torch.lstm_cell(x[:, t], (h, c), *w)
        hs.append(h)
        cs.append(c)
    return torch.cat([torch.stack(hs, 1), torch.stack(cs, 1)], dim=2)


def _reduce_cases(kind: str) -> list[OpCase]:
    cases = []
    for dim in (None, 1, -1, (0, 2)):
        for keepdim in (False, True):
            name = f"{kind}[dim={dim},keepdim={keepdim}]"
            if kind == "max":
                cases.append(OpCase(
                    name, "max",
                    lambda a, d=dim, k=keepdim: a.max(dim=d, keepdim=k),
                    lambda a, d=dim, k=keepdim: torch.amax(a, dim=() if d is None else d,
                                                           keepdim=k),
                    ((2, 3, 4),), "distinct"))
            else:
                cases.append(OpCase(
                    name, kind,
                    lambda a, d=dim, k=keepdim, m=kind: getattr(a, m)(dim=d, keepdim=k),
                    None, ((2, 3, 4),)))
    return cases


OPS: list[OpCase] = [
    # arithmetic (operators: the same lambda runs on ibcore and torch)
    OpCase("add", "add", lambda a, b: a + b, None, ((3, 4), (3, 4))),
    OpCase("add_F", "add", lambda a, b: F.add(a, b), lambda a, b: torch.add(a, b),
           ((2, 3), (2, 3))),
    OpCase("add_scalar", "add", lambda a: a + 2.5, None, ((3, 4),)),
    OpCase("radd_scalar", "add", lambda a: 2.5 + a, None, ((3, 4),)),
    OpCase("sub", "sub", lambda a, b: a - b, None, ((3, 4), (3, 4))),
    OpCase("rsub_scalar", "sub", lambda a: 1.5 - a, None, ((3, 4),)),
    OpCase("mul", "mul", lambda a, b: a * b, None, ((3, 4), (3, 4))),
    OpCase("rmul_scalar", "mul", lambda a: -3.0 * a, None, ((3, 4),)),
    OpCase("div", "div", lambda a, b: a / b, None, ((3, 4), (3, 4)), ("real", "away0")),
    OpCase("rdiv_scalar", "div", lambda a: 2.0 / a, None, ((3, 4),), "away0"),
    OpCase("pow_int", "pow", lambda a: a**3, None, ((3, 4),)),
    OpCase("pow_frac", "pow", lambda a: a**2.5, None, ((3, 4),), "positive"),
    OpCase("pow_neg", "pow", lambda a: a**-1.5, None, ((3, 4),), "positive"),
    OpCase("pow_tensor", "pow", lambda a, b: a**b, None, ((3, 4), (3, 4)), ("positive", "real")),
    OpCase("rpow_scalar", "pow", lambda a: 2.0**a, None, ((3, 4),)),
    OpCase("neg", "neg", lambda a: -a, None, ((3, 4),)),
    # matmul: 2-D, batched, broadcast batches, and every 1-D combination
    OpCase("matmul_2d", "matmul", lambda a, b: a @ b, None, ((3, 4), (4, 5))),
    OpCase("matmul_batched", "matmul", lambda a, b: a @ b, None, ((2, 3, 4), (2, 4, 5))),
    OpCase("matmul_batch_bcast", "matmul", lambda a, b: a @ b, None, ((2, 1, 3, 4), (3, 4, 2))),
    OpCase("matmul_3d_2d", "matmul", lambda a, b: a @ b, None, ((2, 3, 4), (4, 5))),
    OpCase("matmul_1d_2d", "matmul", lambda a, b: a @ b, None, ((4,), (4, 5))),
    OpCase("matmul_2d_1d", "matmul", lambda a, b: a @ b, None, ((3, 4), (4,))),
    OpCase("matmul_1d_1d", "matmul", lambda a, b: a @ b, None, ((4,), (4,))),
    OpCase("matmul_1d_3d", "matmul", lambda a, b: a @ b, None, ((4,), (2, 4, 3))),
    OpCase("matmul_F", "matmul", lambda a, b: F.matmul(a, b), lambda a, b: torch.matmul(a, b),
           ((3, 4), (4, 2))),
    OpCase("linear_bias", "linear", lambda x, w, b: F.linear(x, w, b),
           lambda x, w, b: TF.linear(x, w, b), ((5, 4), (3, 4), (3,))),
    OpCase("linear_nobias", "linear", lambda x, w: F.linear(x, w),
           lambda x, w: TF.linear(x, w), ((5, 4), (3, 4))),
    OpCase("linear_3d_input", "linear", lambda x, w, b: F.linear(x, w, b),
           lambda x, w, b: TF.linear(x, w, b), ((2, 5, 4), (3, 4), (3,))),
    OpCase("linear_1d_input", "linear", lambda x, w, b: F.linear(x, w, b),
           lambda x, w, b: TF.linear(x, w, b), ((4,), (3, 4), (3,))),
    # reductions
    *_reduce_cases("sum"),
    *_reduce_cases("mean"),
    *_reduce_cases("max"),
    OpCase("sum_F_dim0", "sum", lambda a: F.sum(a, 0), lambda a: torch.sum(a, 0), ((3, 4),)),
    OpCase("mean_F_tuple", "mean", lambda a: F.mean(a, (0, 1)), lambda a: torch.mean(a, (0, 1)),
           ((3, 4, 2),)),
    # elementwise
    OpCase("exp", "exp", lambda a: a.exp(), None, ((3, 4),)),
    OpCase("log", "log", lambda a: a.log(), None, ((3, 4),), "positive"),
    OpCase("tanh", "tanh", lambda a: a.tanh(), None, ((3, 4),)),
    OpCase("sigmoid", "sigmoid", lambda a: a.sigmoid(), None, ((3, 4),)),
    OpCase("relu", "relu", lambda a: a.relu(), None, ((3, 4),), "away0"),
    OpCase("softplus", "softplus", lambda a: F.softplus(a), lambda a: TF.softplus(a), ((3, 4),)),
    OpCase("logsigmoid", "logsigmoid", lambda a: F.logsigmoid(a), lambda a: TF.logsigmoid(a),
           ((3, 4),)),
    OpCase("astype_double", "astype", lambda a: a.double(), None, ((3, 4),)),
    # shapes
    OpCase("reshape", "reshape", lambda a: a.reshape(6, 4), None, ((2, 3, 4),)),
    OpCase("reshape_minus1", "reshape", lambda a: a.reshape(-1), None, ((2, 3, 4),)),
    OpCase("reshape_tuple", "reshape", lambda a: a.reshape((4, 3, 2)), None, ((2, 3, 4),)),
    OpCase("view", "reshape", lambda a: a.view(3, 8), None, ((2, 3, 4),)),
    OpCase("transpose", "transpose", lambda a: a.transpose(0, 2), None, ((2, 3, 4),)),
    OpCase("transpose_default", "transpose", lambda a: F.transpose(a),
           lambda a: a.transpose(-2, -1), ((2, 3, 4),)),
    OpCase("permute", "permute", lambda a: a.permute(2, 0, 1), None, ((2, 3, 4),)),
    OpCase("permute_tuple", "permute", lambda a: a.permute((1, 2, 0)), None, ((2, 3, 4),)),
    OpCase("T", "permute", lambda a: a.T, None, ((3, 4),)),
    # indexing: basic and advanced
    OpCase("index_slice", "index", lambda a: a[1:3], None, ((4, 5),)),
    OpCase("index_int", "index", lambda a: a[:, 1], None, ((4, 5),)),
    OpCase("index_int_int", "index", lambda a: a[2, -1], None, ((4, 5),)),
    OpCase("index_step_ellipsis", "index", lambda a: a[..., ::2], None, ((2, 4, 5),)),
    OpCase("index_neg_slice", "index", lambda a: a[-3:, 1:-1], None, ((4, 5),)),
    OpCase("index_int_array_repeats", "index", lambda a: a[IDX_REPEAT],
           lambda a: a[T(IDX_REPEAT)], ((4, 5),)),
    OpCase("index_int_tensor_repeats", "index", lambda a: a[ib.Tensor(IDX_REPEAT)],
           lambda a: a[T(IDX_REPEAT)], ((4, 5),)),
    OpCase("index_array_and_slice", "index", lambda a: a[IDX_REPEAT, 1:4],
           lambda a: a[T(IDX_REPEAT), 1:4], ((4, 5),)),
    OpCase("index_slice_and_array", "index", lambda a: a[:, IDX_COLS],
           lambda a: a[:, T(IDX_COLS)], ((4, 5),)),
    OpCase("index_pairs_repeats", "index", lambda a: a[[0, 2, 0, 0], [1, 1, 1, 3]], None,
           ((4, 5),)),
    OpCase("index_bool_mask", "index", lambda a: a[MASK], lambda a: a[T(MASK)], ((4, 5),)),
    OpCase("index_bool_rows", "index", lambda a: a[MASK[:, 0]], lambda a: a[T(MASK[:, 0])],
           ((4, 5),)),
    OpCase("gather_dim0", "gather", lambda a: a.gather(0, GATHER0),
           lambda a: a.gather(0, T(GATHER0)), ((4, 3),)),
    OpCase("gather_dim1", "gather", lambda a: F.gather(a, 1, GATHER1),
           lambda a: torch.gather(a, 1, T(GATHER1)), ((3, 4),)),
    OpCase("gather_dim_neg", "gather", lambda a: a.gather(-1, ib.Tensor(GATHER1)),
           lambda a: a.gather(-1, T(GATHER1)), ((3, 4),)),
    # joining
    OpCase("cat_dim0", "cat", lambda a, b: ib.cat([a, b], dim=0),
           lambda a, b: torch.cat([a, b], dim=0), ((2, 3), (4, 3))),
    OpCase("cat_dim1_three", "cat", lambda a, b, c: ib.cat([a, b, c], dim=1),
           lambda a, b, c: torch.cat([a, b, c], dim=1), ((2, 1), (2, 3), (2, 2))),
    OpCase("cat_dim_neg", "cat", lambda a, b: F.cat((a, b), dim=-1),
           lambda a, b: torch.cat((a, b), dim=-1), ((2, 3, 1), (2, 3, 2))),
    OpCase("stack_dim0", "stack", lambda a, b: ib.stack([a, b]),
           lambda a, b: torch.stack([a, b]), ((3, 4), (3, 4))),
    OpCase("stack_dim1", "stack", lambda a, b, c: ib.stack([a, b, c], dim=1),
           lambda a, b, c: torch.stack([a, b, c], dim=1), ((3, 4), (3, 4), (3, 4))),
    OpCase("stack_dim_neg", "stack", lambda a, b: F.stack([a, b], dim=-1),
           lambda a, b: torch.stack([a, b], dim=-1), ((3, 4), (3, 4))),
    OpCase("where", "where", lambda a, b: ib.where(COND, a, b),
           lambda a, b: torch.where(T(COND), a, b), ((3, 4), (3, 4))),
    OpCase("where_bcast", "where", lambda a, b: F.where(ib.Tensor(COND), a, b),
           lambda a, b: torch.where(T(COND), a, b), ((3, 1), (4,))),
    # fused composites
    *[OpCase(f"softmax_dim{d}", "softmax", lambda a, d=d: a.softmax(d),
             lambda a, d=d: torch.softmax(a, d), ((2, 3, 4),)) for d in (0, 1, -1)],
    *[OpCase(f"log_softmax_dim{d}", "log_softmax", lambda a, d=d: F.log_softmax(a, d),
             lambda a, d=d: torch.log_softmax(a, d), ((2, 3, 4),)) for d in (0, 1, -1)],
    *[OpCase(f"cross_entropy_{r}", "cross_entropy",
             lambda a, r=r: F.cross_entropy(a, LABELS, reduction=r),
             lambda a, r=r: TF.cross_entropy(a, T(LABELS), reduction=r), ((6, 5),))
      for r in ("mean", "sum", "none")],
    OpCase("cross_entropy_tensor_target", "cross_entropy",
           lambda a: F.cross_entropy(a, ib.Tensor(LABELS)),
           lambda a: TF.cross_entropy(a, T(LABELS)), ((6, 5),)),
    *[OpCase(f"bce_logits_{r}", "binary_cross_entropy_with_logits",
             lambda x, y, r=r: F.binary_cross_entropy_with_logits(x, y, reduction=r),
             lambda x, y, r=r: TF.binary_cross_entropy_with_logits(x, y, reduction=r),
             ((3, 4), (3, 4)), ("real", "unit")) for r in ("mean", "sum", "none")],
    *[OpCase(f"mse_loss_{r}", "mse_loss",
             lambda x, y, r=r: F.mse_loss(x, y, reduction=r),
             lambda x, y, r=r: TF.mse_loss(x, y, reduction=r), ((3, 4), (3, 4)))
      for r in ("mean", "sum", "none")],
    # attention (fused softmax) and layer norm: masks of both kinds, causal, broadcast batches
    OpCase("sdpa", "scaled_dot_product_attention",
           lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
           lambda q, k, v: TF.scaled_dot_product_attention(q, k, v),
           ((2, 3, 4), (2, 5, 4), (2, 5, 3))),
    OpCase("sdpa_bool_mask", "scaled_dot_product_attention",
           lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=SDPA_MASK),
           lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=T(SDPA_MASK)),
           ((2, 4, 3), (2, 5, 3), (2, 5, 2))),
    OpCase("sdpa_float_mask", "scaled_dot_product_attention",
           lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=SDPA_FMASK),
           lambda q, k, v: TF.scaled_dot_product_attention(
               q, k, v, attn_mask=T(SDPA_FMASK).to(q.dtype)),
           ((2, 4, 3), (2, 5, 3), (2, 5, 2))),
    OpCase("sdpa_causal_scale", "scaled_dot_product_attention",
           lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
           lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
           ((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5))),
    OpCase("sdpa_bcast_batch", "scaled_dot_product_attention",
           lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
           lambda q, k, v: TF.scaled_dot_product_attention(q, k, v),
           ((2, 3, 4, 3), (1, 5, 3), (3, 5, 2))),
    OpCase("layer_norm", "layer_norm",
           lambda x, w, b: F.layer_norm(x, (4,), w, b),
           lambda x, w, b: TF.layer_norm(x, (4,), w, b), ((3, 5, 4), (4,), (4,))),
    OpCase("layer_norm_2d_shape", "layer_norm",
           lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3),
           lambda x, w, b: TF.layer_norm(x, (3, 4), w, b, eps=1e-3), ((2, 3, 4), (3, 4), (3, 4))),
    OpCase("layer_norm_no_affine", "layer_norm", lambda x: F.layer_norm(x, 5),
           lambda x: TF.layer_norm(x, (5,)), ((4, 5),)),
    # convolution and pooling (NCHW): several strides, paddings, channel counts, kernel shapes
    *[OpCase(f"conv2d_s{s}_p{p}_c{c}", "conv2d",
             lambda x, w, b, s=s, p=p: F.conv2d(x, w, b, stride=s, padding=p),
             lambda x, w, b, s=s, p=p: TF.conv2d(x, w, b, stride=s, padding=p),
             ((2, c, 6, 5), (3, c, 3, 3), (3,)))
      for s, p, c in [(1, 0, 1), (1, 1, 2), (2, 1, 3), (2, 0, 2), (1, 2, 1)]],
    OpCase("conv2d_nobias_rect", "conv2d",
           lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(0, 1)),
           lambda x, w: TF.conv2d(x, w, stride=(2, 1), padding=(0, 1)),
           ((2, 2, 7, 5), (4, 2, 2, 3))),
    *[OpCase(f"max_pool2d_k{k}_s{s}_p{p}", "max_pool2d",
             lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p),
             lambda x, k=k, s=s, p=p: TF.max_pool2d(x, k, s, p), ((2, 3, 6, 7),), "distinct")
      for k, s, p in [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)]],
    *[OpCase(f"avg_pool2d_k{k}_s{s}_p{p}", "avg_pool2d",
             lambda x, k=k, s=s, p=p: F.avg_pool2d(x, k, s, p),
             lambda x, k=k, s=s, p=p: TF.avg_pool2d(x, k, s, p), ((2, 3, 6, 7),))
      for k, s, p in [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)]],
    # a small composite: an MLP layer and a loss, to exercise the engine's accumulation
    OpCase("composite_mlp_layer", "linear",
           lambda x, w, b: (F.linear(x, w, b).tanh() * x.sum(1, keepdim=True)).mean(),
           lambda x, w, b: (TF.linear(x, w, b).tanh() * x.sum(1, keepdim=True)).mean(),
           ((5, 4), (4, 4), (4,))),
    # recurrent steps (fused): torch's own cell kernels as the reference
    OpCase("rnn_cell_tanh", "rnn_cell",
           lambda x, h, wi, wh, bi, bh: F.rnn_cell(x, h, wi, wh, bi, bh),
           lambda x, h, wi, wh, bi, bh: torch.rnn_tanh_cell(x, h, wi, wh, bi, bh),
           ((3, 4), (3, 5), (5, 4), (5, 5), (5,), (5,))),
    OpCase("rnn_cell_relu", "rnn_cell",
           lambda x, h, wi, wh, bi, bh: F.rnn_cell(x, h, wi, wh, bi, bh, "relu"),
           lambda x, h, wi, wh, bi, bh: torch.rnn_relu_cell(x, h, wi, wh, bi, bh),
           ((3, 4), (3, 5), (5, 4), (5, 5), (5,), (5,)), ("away0",) * 6),
    OpCase("rnn_cell_identity_nobias", "rnn_cell",
           lambda x, h, wi, wh: F.rnn_cell(x, h, wi, wh, nonlinearity="identity"),
           lambda x, h, wi, wh: x @ wi.T + h @ wh.T, ((3, 4), (3, 5), (5, 4), (5, 5))),
    OpCase("rnn_seq_tanh", "rnn",
           lambda x, h, wi, wh, bi, bh: F.rnn(x, h, wi, wh, bi, bh),
           lambda x, h, wi, wh, bi, bh: torch.stack(
               _torch_unroll(x, h, lambda xt, ht: torch.rnn_tanh_cell(xt, ht, wi, wh, bi, bh)),
               1),
           ((2, 4, 3), (2, 5), (5, 3), (5, 5), (5,), (5,))),
    OpCase("rnn_seq_identity_nobias", "rnn",
           lambda x, h, wi, wh: 0.5 * F.rnn(x, h, wi, wh, nonlinearity="identity"),
           lambda x, h, wi, wh: 0.5 * torch.stack(
               _torch_unroll(x, h, lambda xt, ht: xt @ wi.T + ht @ wh.T), 1),
           ((2, 3, 3), (2, 4), (4, 3), (4, 4))),
    OpCase("lstm_cell", "lstm_cell",
           lambda x, h, c, wi, wh, bi, bh: F.lstm_cell(x, h, c, wi, wh, bi, bh),
           lambda x, h, c, wi, wh, bi, bh: torch.stack(
               torch.lstm_cell(x, (h, c), wi, wh, bi, bh)),
           ((3, 4), (3, 2), (3, 2), (8, 4), (8, 2), (8,), (8,))),
    OpCase("lstm_cell_nobias", "lstm_cell",
           lambda x, h, c, wi, wh: F.lstm_cell(x, h, c, wi, wh),
           lambda x, h, c, wi, wh: torch.stack(torch.lstm_cell(x, (h, c), wi, wh)),
           ((2, 3), (2, 2), (2, 2), (8, 3), (8, 2))),
    OpCase("lstm_seq", "lstm",
           lambda x, h, c, wi, wh, bi, bh: F.lstm(x, h, c, wi, wh, bi, bh),
           lambda x, h, c, wi, wh, bi, bh: _torch_lstm_seq(x, h, c, wi, wh, bi, bh),
           ((2, 4, 3), (2, 2), (2, 2), (8, 3), (8, 2), (8,), (8,))),
    OpCase("lstm_seq_nobias", "lstm",
           lambda x, h, c, wi, wh: F.lstm(x, h, c, wi, wh),
           lambda x, h, c, wi, wh: _torch_lstm_seq(x, h, c, wi, wh),
           ((3, 2, 2), (3, 3), (3, 3), (12, 2), (12, 3))),
    # GRU (Chapter 6): torch's own GRU cell kernel as the reference, gate blocks [r, z, n]
    OpCase("gru_cell", "gru_cell",
           lambda x, h, wi, wh, bi, bh: F.gru_cell(x, h, wi, wh, bi, bh),
           lambda x, h, wi, wh, bi, bh: torch.gru_cell(x, h, wi, wh, bi, bh),
           ((3, 4), (3, 5), (15, 4), (15, 5), (15,), (15,))),
    OpCase("gru_cell_nobias", "gru_cell",
           lambda x, h, wi, wh: F.gru_cell(x, h, wi, wh),
           lambda x, h, wi, wh: torch.gru_cell(x, h, wi, wh),
           ((2, 3), (2, 2), (6, 3), (6, 2))),
    OpCase("gru_seq", "gru",
           lambda x, h, wi, wh, bi, bh: F.gru(x, h, wi, wh, bi, bh),
           lambda x, h, wi, wh, bi, bh: torch.stack(
               _torch_unroll(x, h, lambda xt, ht: torch.gru_cell(xt, ht, wi, wh, bi, bh)), 1),
           ((2, 5, 3), (2, 4), (12, 3), (12, 4), (12,), (12,))),
    OpCase("gru_seq_nobias", "gru",
           lambda x, h, wi, wh: F.gru(x, h, wi, wh),
           lambda x, h, wi, wh: torch.stack(
               _torch_unroll(x, h, lambda xt, ht: torch.gru_cell(xt, ht, wi, wh)), 1),
           ((3, 2, 2), (3, 3), (9, 2), (9, 3))),
]

# Monograph chapter 3 (batch_norm, dropout): more tests in tests/test_norm_dropout.py. Dropout's
# mask comes from a seeded generator, the same one for ibcore and for the torch reference.
def _dropout_mask(shape, p):
    return np.random.default_rng(7).random(shape) >= p


OPS += [
    OpCase("batch_norm_train", "batch_norm",
           lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
           ((6, 3), (3,), (3,))),
    OpCase("batch_norm_3d", "batch_norm",
           lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
           lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
           ((3, 2, 4), (2,), (2,))),
    OpCase("dropout", "dropout",
           lambda x: F.dropout(x, 0.3, training=True, rng=np.random.default_rng(7)),
           lambda x: x * torch.from_numpy(_dropout_mask(tuple(x.shape), 0.3)) / 0.7,
           ((4, 5),)),
]

OPS += [
    OpCase("lgamma", "lgamma", lambda a: F.lgamma(a), lambda a: torch.lgamma(a), ((3, 4),),
           "positive"),
    OpCase("logsumexp_dim1", "logsumexp", lambda a: F.logsumexp(a, dim=1),
           lambda a: torch.logsumexp(a, dim=1), ((3, 4),)),
    OpCase("logsumexp_keepdim", "logsumexp", lambda a: F.logsumexp(a, dim=0, keepdim=True),
           lambda a: torch.logsumexp(a, dim=0, keepdim=True), ((3, 4),)),
]

# Monograph chapter 7 (graph ops): gathers and scatter-adds by an index, segment reductions and
# the segment softmax. More tests (layers, refusals) in tests/test_graph.py.
SEG = np.array([0, 2, 0, 1, 2, 2, 0])  # 7 rows into 4 segments; segment 3 is empty
SEG_K = 4


def _t_segsum(src, idx=SEG, k=SEG_K):
    return torch.zeros((k, *src.shape[1:]), dtype=src.dtype).index_add(0, T(idx), src)


def _t_segmax(src, idx=SEG, k=SEG_K):
    ind = T(idx).reshape((-1,) + (1,) * (src.ndim - 1)).expand(src.shape)
    return torch.zeros((k, *src.shape[1:]), dtype=src.dtype).scatter_reduce(
        0, ind, src, "amax", include_self=False)


def _t_segsoftmax(src, idx=SEG, k=SEG_K):
    e = torch.exp(src - _t_segmax(src.detach(), idx, k)[T(idx)])
    return e / _t_segsum(e, idx, k)[T(idx)]


_COUNT = np.maximum(np.bincount(SEG, minlength=SEG_K), 1).astype(float)

OPS += [
    OpCase("index_select_rows_repeat", "index_select",
           lambda x: F.index_select(x, 0, IDX_REPEAT),
           lambda x: torch.index_select(x, 0, T(IDX_REPEAT)), ((4, 3),)),
    OpCase("index_select_dim1", "index_select",
           lambda x: F.index_select(x, 1, IDX_COLS),
           lambda x: torch.index_select(x, 1, T(IDX_COLS)), ((2, 4, 3),)),
    OpCase("index_add_rows", "index_add",
           lambda x, s: F.index_add(x, 0, IDX_REPEAT, s, alpha=0.5),
           lambda x, s: torch.index_add(x, 0, T(IDX_REPEAT), s, alpha=0.5), ((4, 3), (5, 3))),
    OpCase("index_add_dim1", "index_add",
           lambda x, s: F.index_add(x, 1, IDX_COLS, s),
           lambda x, s: torch.index_add(x, 1, T(IDX_COLS), s), ((2, 4, 3), (2, 3, 3))),
    OpCase("segment_sum", "segment_sum", lambda x: F.segment_sum(x, SEG, SEG_K),
           _t_segsum, ((7, 3),)),
    OpCase("segment_sum_3d", "segment_sum", lambda x: F.segment_sum(x, SEG, SEG_K),
           _t_segsum, ((7, 2, 3),)),
    OpCase("segment_mean", "segment_mean", lambda x: F.segment_mean(x, SEG, SEG_K),
           lambda x: _t_segsum(x) / T(_COUNT).to(x.dtype)[:, None], ((7, 3),)),
    OpCase("segment_max", "segment_max", lambda x: F.segment_max(x, SEG, SEG_K),
           _t_segmax, ((7, 3),), "distinct"),
    OpCase("segment_softmax_1d", "segment_softmax", lambda x: F.segment_softmax(x, SEG, SEG_K),
           _t_segsoftmax, ((7,),)),
    OpCase("segment_softmax_heads", "segment_softmax",
           lambda x: F.segment_softmax(x, SEG, SEG_K), _t_segsoftmax, ((7, 2),)),
]

OPS_BY_NAME = {c.name: c for c in OPS}
assert len(OPS_BY_NAME) == len(OPS), "duplicate OpCase names"


def test_every_functional_op_is_in_the_list():
    """Adding an op to ibcore.functional without adding it to OPS fails here."""
    covered = {c.op for c in OPS}
    missing = set(F.__all__) - covered
    assert not missing, f"ops with no OpCase: {sorted(missing)}"
    assert covered <= set(F.__all__)


# --------------------------------------------------------------------------- 1. torch parity
def run_both(case: OpCase, xs: list[np.ndarray]):
    ib_in = [ib.Tensor(x, requires_grad=True) for x in xs]
    th_in = [torch.tensor(x, requires_grad=True) for x in xs]
    return ib_in, case.ib_fn(*ib_in), th_in, case.torch(*th_in)


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_torch_parity(case: OpCase):
    xs = make_inputs(case)
    ib_in, out, th_in, ref = run_both(case, xs)
    assert isinstance(out, ib.Tensor) and isinstance(out.data, np.ndarray)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.float64
    assert out.requires_grad and not out.is_leaf
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-13)

    rng = np.random.default_rng(seed_of(case.name) + 1)
    upstream = rng.standard_normal(out.shape)  # random, never ones
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for i, (t, tt) in enumerate(zip(ib_in, th_in, strict=True)):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-11, atol=1e-12,
                                   err_msg=f"{case.name}: gradient of input {i}")


# --------------------------------------------------------------------------- 2. finite differences
def numeric_grad(f: Callable[[list[np.ndarray]], float], xs: list[np.ndarray], i: int,
                 eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f`` with respect to ``xs[i]``, entry by entry."""
    g = np.zeros_like(xs[i])
    flat = xs[i].reshape(-1)  # a view: perturbing it perturbs xs[i]
    gflat = g.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        fp = f(xs)
        flat[j] = old - eps
        fm = f(xs)
        flat[j] = old
        gflat[j] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
def test_finite_differences(case: OpCase):
    xs = make_inputs(case)
    ts = [ib.Tensor(x.copy(), requires_grad=True) for x in xs]
    out = case.ib_fn(*ts)
    R = np.random.default_rng(seed_of(case.name) + 2).standard_normal(out.shape)
    out.backward(R)  # the gradient of sum(out * R)

    def f(arrays):
        with ib.no_grad():
            return float(np.sum(case.ib_fn(*[ib.Tensor(a) for a in arrays]).data * R))

    for i, t in enumerate(ts):
        num = numeric_grad(f, xs, i)
        np.testing.assert_allclose(t.grad, num, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case.name}: input {i}")


# --------------------------------------------------------------------------- 3. broadcasting
BINARY = {
    "add": (lambda a, b: a + b, ("real", "real")),
    "sub": (lambda a, b: a - b, ("real", "real")),
    "mul": (lambda a, b: a * b, ("real", "real")),
    "div": (lambda a, b: a / b, ("real", "away0")),
    "pow": (lambda a, b: a**b, ("positive", "real")),
}
SHAPE_PAIRS = [
    ((3, 4), (4,)),
    ((2, 3, 4), (3, 1)),
    ((1, 4), (3, 1)),
    ((), (2, 3)),
    ((5, 1, 3), (4, 1)),
    ((2, 1, 4), (1, 3, 1)),
    ((3, 4), (1,)),
    ((1, 1), (2, 3)),
]
SHAPE_PAIRS = SHAPE_PAIRS + [(b, a) for a, b in SHAPE_PAIRS]
MATMUL_PAIRS = [
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (1, 4, 5)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


def _check_binary(fn, shapes, domains, seed):
    rng = np.random.default_rng(seed)
    xs = [sample(d, s, rng) for d, s in zip(domains, shapes, strict=True)]
    case = OpCase("bcast", "add", fn, None, tuple(shapes), tuple(domains))
    ib_in, out, th_in, ref = run_both(case, xs)
    assert out.shape == tuple(ref.shape) == np.broadcast_shapes(*shapes)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for t, tt, s in zip(ib_in, th_in, shapes, strict=True):
        assert t.grad.shape == s, f"gradient of an input of shape {s} came back as {t.grad.shape}"
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("op", list(BINARY))
def test_broadcasting_matrix(op, shapes):
    fn, domains = BINARY[op]
    _check_binary(fn, shapes, domains, seed_of(op + str(shapes)))


@pytest.mark.parametrize("shapes", MATMUL_PAIRS, ids=str)
def test_matmul_batch_broadcasting(shapes):
    rng = np.random.default_rng(seed_of(str(shapes)))
    xs = [rng.standard_normal(s) for s in shapes]
    case = OpCase("mm", "matmul", lambda a, b: a @ b, None, shapes)
    ib_in, out, th_in, ref = run_both(case, xs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for t, tt, s in zip(ib_in, th_in, shapes, strict=True):
        assert t.grad.shape == s
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-11, atol=1e-12)


@settings(max_examples=40, deadline=None, database=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_random_shapes(shapes, op, seed):
    """Any pair of broadcast-compatible shapes: gradients summed back to each input's shape."""
    fn, domains = BINARY[op]
    _check_binary(fn, shapes.input_shapes, domains, seed)


@settings(max_examples=30, deadline=None, database=None)
@given(logits=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                         elements=st.floats(-50, 50)),
       shift=st.floats(-1e3, 1e3), data=st.data())
def test_softmax_shift_invariance(logits, shift, data):
    """softmax(x + c) == softmax(x) along the dim the constant is added over (also log_softmax
    up to the shift's removal), and each softmax sums to one."""
    dim = data.draw(st.integers(-logits.ndim, logits.ndim - 1))
    s = F.softmax(ib.Tensor(logits), dim).data
    s_shift = F.softmax(ib.Tensor(logits + shift), dim).data
    np.testing.assert_allclose(s_shift, s, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.sum(axis=dim), 1.0, rtol=1e-12)
    ls = F.log_softmax(ib.Tensor(logits), dim).data
    assert np.all(np.isfinite(ls)) and np.all(ls <= 1e-12)
    np.testing.assert_allclose(np.exp(ls), s, rtol=1e-10, atol=1e-300)
