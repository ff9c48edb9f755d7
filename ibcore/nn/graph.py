"""Set and graph layers with PyTorch Geometric's names, and the batching of many small graphs.

A graph with ``N`` nodes is ``x (N, d)`` node features and ``edge_index (2, E)``: row 0 the
sources ``u``, row 1 the targets ``v`` of ``E`` directed edges (an undirected bond is stored in
both directions), with optional ``edge_attr (E, d_e)``. Many small graphs are batched into one
disjoint graph (`batch_graphs`): node rows concatenated, edge indices offset, and a ``batch``
vector ``(N,)`` giving each node's graph, which the pooling functions (`global_add_pool`, ...)
reduce over.

Every layer here is permutation equivariant on nodes: relabelling the nodes (and the edge
index with them) permutes the output rows the same way, because the layers touch nodes only
through gathers along edges and sums over segments. Pooling then makes a graph's output
invariant.

- `DeepSets`: ``rho(sum_i phi(x_i))`` (Zaheer et al. 2017), with sum, mean or max aggregation.
- `GCNConv`: ``D^-1/2 (A + I) D^-1/2 X W`` (Kipf and Welling 2017, eq. 2).
- `GATConv`: attention over each node's neighbours (Velickovic et al. 2018, eqs. 1-4).
- `MessagePassing`: ``h_v' = phi(h_v, sum_u psi(h_u, h_v, e_uv))`` with edge features, the
  message-passing neural network of Gilmer et al. 2017 with one-layer message and update maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_rng
from .modules import MLP, Linear, Module, Parameter, _input, _size

__all__ = ["Graph", "GraphBatch", "batch_graphs", "add_self_loops", "global_add_pool",
           "global_mean_pool", "global_max_pool", "DeepSets", "GCNConv", "GATConv",
           "MessagePassing"]


# --------------------------------------------------------------------------- data structures
@dataclass
class Graph:
    """One graph: ``x (N, d)``, ``edge_index (2, E)`` int64, optional ``edge_attr (E, d_e)`` and
    target ``y`` (a graph-level array, or ``(N, ...)`` node labels)."""

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray | None = None
    y: np.ndarray | float | None = None


@dataclass
class GraphBatch:
    """Many graphs as one disjoint graph (PyTorch Geometric's ``Batch``).

    Attributes:
        x: ``(N, d)`` node features of all graphs, graph after graph.
        edge_index: ``(2, E)`` int64, indices into the rows of ``x``; edges graph after graph.
        edge_attr: ``(E, d_e)`` or None.
        batch: ``(N,)`` int64, the graph of each node (non-decreasing).
        y: ``(G, ...)`` graph targets, or None.
        ptr: ``(G + 1,)`` node offsets: graph ``g`` owns rows ``ptr[g]:ptr[g+1]``.
        edge_ptr: ``(G + 1,)`` edge offsets, the same for the columns of ``edge_index``.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray | None
    batch: np.ndarray
    y: np.ndarray | None
    ptr: np.ndarray
    edge_ptr: np.ndarray

    @property
    def num_graphs(self) -> int:
        return len(self.ptr) - 1

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    def __len__(self) -> int:
        return self.num_graphs

    def select(self, graphs) -> GraphBatch:
        """The sub-batch of the graphs numbered ``graphs`` (in that order), re-indexed.

        Raises:
            IndexError: if a graph number is outside ``[0, num_graphs)``.
        """
        g = np.asarray(graphs, dtype=np.int64).ravel()
        if g.size and (g.min() < 0 or g.max() >= self.num_graphs):
            raise IndexError(f"GraphBatch.select: graph numbers must be in [0, "
                             f"{self.num_graphs}), got min {g.min()} and max {g.max()}")
        n_nodes = self.ptr[g + 1] - self.ptr[g]
        n_edges = self.edge_ptr[g + 1] - self.edge_ptr[g]
        node_rows = _ranges(self.ptr[g], n_nodes)
        edge_cols = _ranges(self.edge_ptr[g], n_edges)
        new_ptr = np.concatenate([[0], np.cumsum(n_nodes)])
        shift = np.repeat(new_ptr[:-1] - self.ptr[g], n_edges)
        return GraphBatch(
            x=self.x[node_rows],
            edge_index=self.edge_index[:, edge_cols] + shift,
            edge_attr=None if self.edge_attr is None else self.edge_attr[edge_cols],
            batch=np.repeat(np.arange(g.size), n_nodes),
            y=None if self.y is None else self.y[g],
            ptr=new_ptr,
            edge_ptr=np.concatenate([[0], np.cumsum(n_edges)]),
        )

    def with_x(self, x: np.ndarray) -> GraphBatch:
        """The same graphs with other node features ``x`` (``(N, d')``)."""
        if x.shape[0] != self.num_nodes:
            raise ValueError(f"GraphBatch.with_x: x must have {self.num_nodes} rows, got "
                             f"shape {x.shape}")
        return GraphBatch(x, self.edge_index, self.edge_attr, self.batch, self.y, self.ptr,
                          self.edge_ptr)

    def permute_nodes(self, rng: np.random.Generator) -> tuple[GraphBatch, np.ndarray]:
        """Relabel the nodes of every graph by a random permutation (within each graph) and
        shuffle each graph's edge list.

        Returns:
            ``(permuted, perm)`` with ``permuted.x == x[perm]``: new node ``i`` is old node
            ``perm[i]``, so an equivariant layer satisfies ``f(permuted) == f(batch)[perm]``.
        """
        perm = np.concatenate([lo + rng.permutation(hi - lo)
                               for lo, hi in zip(self.ptr[:-1], self.ptr[1:], strict=True)])
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        eperm = np.concatenate([lo + rng.permutation(hi - lo) for lo, hi in
                                zip(self.edge_ptr[:-1], self.edge_ptr[1:], strict=True)])
        out = GraphBatch(self.x[perm], inv[self.edge_index[:, eperm]],
                         None if self.edge_attr is None else self.edge_attr[eperm],
                         self.batch[perm], self.y, self.ptr, self.edge_ptr)
        return out, perm


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def batch_graphs(graphs: Sequence[Graph]) -> GraphBatch:
    """Batch graphs into one disjoint graph with a node-to-graph index ``batch``.

    The node rows are concatenated, each graph's edge indices are offset by the number of nodes
    before it, and ``batch[i]`` is the graph of node ``i``. A layer that is permutation
    equivariant on nodes cannot pass information between the graphs, because no edge joins
    them; pooling by ``batch`` gives one row per graph.

    Raises:
        ValueError: for an empty list; a graph whose ``edge_index`` is not ``(2, E)`` or points
            outside its nodes; feature widths that differ between graphs; edge features on some
            graphs but not others.
    """
    if len(graphs) == 0:
        raise ValueError("batch_graphs: expected at least one graph")
    xs, eis, eas, ys, n_nodes, n_edges = [], [], [], [], [], []
    offset = 0
    has_ea = graphs[0].edge_attr is not None
    for i, g in enumerate(graphs):
        x = np.asarray(g.x)
        ei = np.asarray(g.edge_index, dtype=np.int64).reshape(2, -1) if np.size(
            g.edge_index) == 0 else np.asarray(g.edge_index)
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise ValueError(f"batch_graphs: graph {i} has edge_index of shape {ei.shape}, "
                             f"expected (2, E)")
        if ei.size and (ei.min() < 0 or ei.max() >= x.shape[0]):
            raise ValueError(f"batch_graphs: graph {i} has edges to nodes outside "
                             f"[0, {x.shape[0]})")
        if (g.edge_attr is not None) != has_ea:
            raise ValueError(f"batch_graphs: graph {i} {'lacks' if has_ea else 'has'} "
                             f"edge_attr, unlike graph 0")
        if x.ndim != 2 or (xs and x.shape[1] != xs[0].shape[1]):
            raise ValueError(f"batch_graphs: graph {i} has x of shape {x.shape}, expected "
                             f"(N, {xs[0].shape[1] if xs else 'd'})")
        xs.append(x)
        eis.append(ei.astype(np.int64) + offset)
        if has_ea:
            eas.append(np.asarray(g.edge_attr))
        ys.append(g.y)
        n_nodes.append(x.shape[0])
        n_edges.append(ei.shape[1])
        offset += x.shape[0]
    n_nodes, n_edges = np.array(n_nodes), np.array(n_edges)
    y = None if any(v is None for v in ys) else np.asarray(ys)
    return GraphBatch(
        x=np.concatenate(xs), edge_index=np.concatenate(eis, axis=1),
        edge_attr=np.concatenate(eas) if has_ea else None,
        batch=np.repeat(np.arange(len(graphs)), n_nodes), y=y,
        ptr=np.concatenate([[0], np.cumsum(n_nodes)]),
        edge_ptr=np.concatenate([[0], np.cumsum(n_edges)]))


def add_self_loops(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    """``edge_index`` with the loops ``(i, i)`` of every node appended: ``(2, E + N)``."""
    loops = np.arange(num_nodes, dtype=np.int64)
    return np.concatenate([np.asarray(edge_index, dtype=np.int64).reshape(2, -1),
                           np.stack([loops, loops])], axis=1)


def _edges(layer: str, edge_index, num_nodes: int) -> np.ndarray:
    ei = edge_index.data if isinstance(edge_index, Tensor) else np.asarray(edge_index)
    if ei.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    if ei.ndim != 2 or ei.shape[0] != 2 or ei.dtype.kind not in "iu":
        raise ValueError(f"{layer}: edge_index must be an integer array of shape (2, E), got "
                         f"shape {ei.shape} and dtype {ei.dtype}")
    if ei.min() < 0 or ei.max() >= num_nodes:
        raise ValueError(f"{layer}: edge_index points outside the {num_nodes} nodes of x "
                         f"(min {ei.min()}, max {ei.max()})")
    return ei.astype(np.int64, copy=False)


def _nodes(layer: str, x, dtype, features: int) -> Tensor:
    x = _input(layer, x, dtype)
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"{layer}: x must have shape (num_nodes, {features}), got {x.shape}")
    return x


# --------------------------------------------------------------------------- pooling
def _pool(op, name: str, x, batch, size):
    x = x if isinstance(x, Tensor) else Tensor(x)
    b = np.asarray(batch.data if isinstance(batch, Tensor) else batch)
    if b.ndim != 1 or b.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: batch must have shape ({x.shape[0]},), one graph index per "
                         f"row of x, got {b.shape}")
    size = int(b.max()) + 1 if size is None and b.size else (size or 0)
    return op(x, b, size)


def global_add_pool(x, batch, size: int | None = None) -> Tensor:
    """Sum of the node rows of each graph: ``(N, d)`` -> ``(size, d)``, ``size`` the number of
    graphs (default ``batch.max() + 1``). Permutation invariant within each graph.

    Raises:
        ValueError: if ``batch`` is not ``(N,)``.
    """
    return _pool(F.segment_sum, "global_add_pool", x, batch, size)


def global_mean_pool(x, batch, size: int | None = None) -> Tensor:
    """Mean of the node rows of each graph, ``(N, d)`` -> ``(size, d)``. As `global_add_pool`."""
    return _pool(F.segment_mean, "global_mean_pool", x, batch, size)


def global_max_pool(x, batch, size: int | None = None) -> Tensor:
    """Entry-wise maximum over the node rows of each graph. As `global_add_pool`."""
    return _pool(F.segment_max, "global_max_pool", x, batch, size)


_POOLS = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}
_DENSE = {"sum": F.sum, "mean": F.mean, "max": F.max}


# --------------------------------------------------------------------------- layers
class DeepSets(Module):
    """Deep Sets: ``rho(aggr_i phi(x_i))`` (Zaheer et al. 2017, Theorem 2), invariant to the
    order of the set's elements.

    ``phi`` is an MLP ``[in_features, hidden, hidden]`` followed by the activation, ``rho`` an
    MLP ``[hidden, hidden, out_features]``. ``aggr`` is ``"sum"`` (the form of the theorem),
    ``"mean"`` or ``"max"``.

    Forward: ``x (batch, n, in_features)`` for equal-sized sets (aggregated over dim 1), or
    ``x (N, in_features)`` with ``batch (N,)`` giving each row's set (as in `GraphBatch`) and
    optional ``size``, the number of sets. Output ``(num_sets, out_features)``.

    Raises:
        ValueError: unknown ``aggr``; in ``forward``, an input of the wrong shape.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, aggr: str = "sum",
                 activation: str = "relu", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        if aggr not in _POOLS:
            raise ValueError(f"DeepSets: aggr must be one of {sorted(_POOLS)}, got {aggr!r}")
        self.in_features = _size("DeepSets", "in_features", in_features)
        hidden = _size("DeepSets", "hidden", hidden)
        self.aggr = aggr
        self.phi = MLP([in_features, hidden, hidden], activation=activation, rng=rng,
                       dtype=dtype)
        self.rho = MLP([hidden, hidden, out_features], activation=activation, rng=rng,
                       dtype=dtype)
        self._act = activation

    def embed(self, x) -> Tensor:
        """``phi(x)`` for every element, followed by the activation."""
        h = self.phi(x)
        return F.relu(h) if self._act == "relu" else F.tanh(h)

    def forward(self, x, batch=None, size: int | None = None) -> Tensor:
        x = _input("DeepSets", x, self.phi[0].weight.dtype)
        if x.shape[-1] != self.in_features or (batch is None and x.ndim != 3) or (
                batch is not None and x.ndim != 2):
            want = "(batch, n, {0})" if batch is None else "(N, {0}) with batch (N,)"
            raise ValueError(f"DeepSets: input must have shape {want.format(self.in_features)}"
                             f", got {x.shape}")
        h = self.embed(x)
        pooled = (_DENSE[self.aggr](h, dim=1) if batch is None
                  else _POOLS[self.aggr](h, batch, size))
        return self.rho(pooled)

    def extra_repr(self):
        return f"aggr={self.aggr!r}"


class GCNConv(Module):
    """Graph convolution of Kipf and Welling (2017, eq. 2):
    ``X' = D^-1/2 (A + I) D^-1/2 X W + b``, with ``D`` the degrees of ``A + I``.

    Node by node, ``x_v' = sum_{u in N(v) + v} x_u W / sqrt(d_u d_v) + b``: a sum over the
    neighbours and the node itself, weighted by the inverse square roots of both degrees
    (degrees counted with the self-loop, at the edges' targets).

    Shapes: ``x (N, in_features)``, ``edge_index (2, E)`` (both directions of each undirected
    edge); output ``(N, out_features)``. Weight ``(out_features, in_features)`` as `Linear`.

    Raises:
        ValueError: ``x`` not ``(N, in_features)``; ``edge_index`` not ``(2, E)`` integers
            within the ``N`` nodes.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.lin = Linear(in_features, out_features, bias=False, rng=rng, dtype=dtype)
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None
        self.in_features, self.out_features = in_features, out_features

    @staticmethod
    def norm(edge_index: np.ndarray, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
        """The edges with self-loops and their weights ``1 / sqrt(d_u d_v)``: ``(2, E + N)``
        and ``(E + N,)``."""
        ei = add_self_loops(edge_index, num_nodes)
        deg = np.bincount(ei[1], minlength=num_nodes).astype(np.float64)
        w = 1.0 / np.sqrt(deg[ei[0]] * deg[ei[1]])
        return ei, w

    def forward(self, x, edge_index) -> Tensor:
        x = _nodes("GCNConv", x, self.lin.weight.dtype, self.in_features)
        n = x.shape[0]
        ei, w = self.norm(_edges("GCNConv", edge_index, n), n)
        h = self.lin(x)
        msg = F.index_select(h, 0, ei[0]) * w[:, None].astype(h.dtype)
        out = F.segment_sum(msg, ei[1], n)
        return out + self.bias if self.bias is not None else out

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"


class GATConv(Module):
    """Graph attention (Velickovic et al. 2018, eqs. 1-4, with self-loops).

    For each head, ``h = x W``; the score of edge ``u -> v`` is
    ``e_uv = LeakyReLU(a_src . h_u + a_dst . h_v)`` (slope ``negative_slope``), the attention
    ``alpha_uv = softmax_u(e_uv)`` over the incoming edges of ``v`` (`F.segment_softmax`), and
    ``x_v' = sum_u alpha_uv h_u``. Heads are concatenated (``concat=True``) or averaged.

    Shapes: ``x (N, in_features)``, ``edge_index (2, E)``; output ``(N, heads * out_features)``
    with ``concat``, else ``(N, out_features)``. ``lin.weight`` is
    ``(heads * out_features, in_features)``; ``att_src``, ``att_dst`` ``(heads, out_features)``.
    ``forward(..., return_attention=True)`` also returns the edges (with self-loops) and
    ``alpha (E + N, heads)``.

    Raises:
        ValueError: as `GCNConv`.
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 1,
                 concat: bool = True, negative_slope: float = 0.2, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        rng = rng if rng is not None else get_rng()
        self.heads = _size("GATConv", "heads", heads)
        self.in_features, self.out_features = in_features, out_features
        self.concat, self.negative_slope = concat, float(negative_slope)
        self.lin = Linear(in_features, heads * out_features, bias=False, rng=rng, dtype=dtype)
        bound = np.sqrt(6.0 / (1 + out_features))  # Glorot, as PyTorch Geometric
        self.att_src = Parameter(rng.uniform(-bound, bound, (heads, out_features)).astype(dtype))
        self.att_dst = Parameter(rng.uniform(-bound, bound, (heads, out_features)).astype(dtype))
        width = heads * out_features if concat else out_features
        self.bias = Parameter(np.zeros(width, dtype=dtype)) if bias else None

    def forward(self, x, edge_index, return_attention: bool = False):
        x = _nodes("GATConv", x, self.lin.weight.dtype, self.in_features)
        n, H, C = x.shape[0], self.heads, self.out_features
        ei = add_self_loops(_edges("GATConv", edge_index, n), n)
        h = self.lin(x).reshape((n, H, C))
        s_src = (h * self.att_src).sum(-1)  # (N, H)
        s_dst = (h * self.att_dst).sum(-1)
        e = F.index_select(s_src, 0, ei[0]) + F.index_select(s_dst, 0, ei[1])  # (E, H)
        e = F.relu(e) - self.negative_slope * F.relu(-e)  # LeakyReLU
        alpha = F.segment_softmax(e, ei[1], n)
        msg = F.index_select(h, 0, ei[0]) * alpha.reshape((-1, H, 1))
        out = F.segment_sum(msg, ei[1], n)
        out = out.reshape((n, H * C)) if self.concat else out.mean(dim=1)
        if self.bias is not None:
            out = out + self.bias
        return (out, ei, alpha) if return_attention else out

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, heads={self.heads}"


class MessagePassing(Module):
    """Message passing with edge features (Gilmer et al. 2017, eqs. 1-2):

    ``m_uv = relu(W_s h_u + W_t h_v + W_e e_uv + b)`` (message ``psi``),
    ``m_v = aggr_{u in N(v)} m_uv`` (``aggr`` = ``"sum"``, ``"mean"`` or ``"max"``),
    ``h_v' = U_h h_v + U_m m_v + c`` (update ``phi``).

    The message map is one layer on the concatenation ``[h_u, h_v, e_uv]``, computed as three
    products so that the node terms are formed once per node, not once per edge.

    Shapes: ``x (N, in_features)``, ``edge_index (2, E)``, ``edge_attr (E, edge_features)``;
    output ``(N, out_features)``; messages have width ``hidden`` (default ``out_features``).

    Raises:
        ValueError: as `GCNConv`, and ``edge_attr`` not ``(E, edge_features)``; unknown
            ``aggr``.
    """

    def __init__(self, in_features: int, edge_features: int, out_features: int,
                 hidden: int | None = None, aggr: str = "sum",
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        if aggr not in _POOLS:
            raise ValueError(f"MessagePassing: aggr must be one of {sorted(_POOLS)}, got "
                             f"{aggr!r}")
        hidden = out_features if hidden is None else hidden
        self.in_features, self.edge_features = in_features, edge_features
        self.out_features, self.aggr = out_features, aggr
        self.msg_src = Linear(in_features, hidden, bias=False, rng=rng, dtype=dtype)
        self.msg_dst = Linear(in_features, hidden, bias=False, rng=rng, dtype=dtype)
        self.msg_edge = Linear(edge_features, hidden, rng=rng, dtype=dtype)
        self.upd_self = Linear(in_features, out_features, rng=rng, dtype=dtype)
        self.upd_msg = Linear(hidden, out_features, bias=False, rng=rng, dtype=dtype)

    def forward(self, x, edge_index, edge_attr) -> Tensor:
        dtype = self.upd_self.weight.dtype
        x = _nodes("MessagePassing", x, dtype, self.in_features)
        n = x.shape[0]
        ei = _edges("MessagePassing", edge_index, n)
        ea = _input("MessagePassing", edge_attr, dtype, "edge_attr")
        if ea.ndim != 2 or ea.shape != (ei.shape[1], self.edge_features):
            raise ValueError(f"MessagePassing: edge_attr must have shape ({ei.shape[1]}, "
                             f"{self.edge_features}), got {ea.shape}")
        m = F.relu(F.index_select(self.msg_src(x), 0, ei[0])
                   + F.index_select(self.msg_dst(x), 0, ei[1]) + self.msg_edge(ea))
        agg = {"sum": F.segment_sum, "mean": F.segment_mean, "max": F.segment_max}[self.aggr]
        return self.upd_self(x) + self.upd_msg(agg(m, ei[1], n))

    def extra_repr(self):
        return (f"{self.in_features}, edge_features={self.edge_features}, "
                f"{self.out_features}, aggr={self.aggr!r}")
