"""Set and graph layers (Chapter 7): torch parity of every layer against a dense torch
reference, finite differences of every parameter, permutation equivariance and invariance,
batching, the data sets, and refusals of bad input. The ops themselves are in test_ops.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import functional as F
from ibcore import nn
from tests.fdcheck import central_diff


def _small_graphs(seed=0, n_graphs=3, d=4, de=3):
    rng = np.random.default_rng(seed)
    gs = []
    for _ in range(n_graphs):
        n = int(rng.integers(3, 7))
        pairs = {(int(min(a, b)), int(max(a, b))) for a, b in rng.integers(0, n, (2 * n, 2))
                 if a != b}
        e = np.array(sorted(pairs), dtype=np.int64).T.reshape(2, -1)
        ei = np.concatenate([e, e[::-1]], axis=1)
        gs.append(nn.Graph(rng.standard_normal((n, d)), ei,
                           rng.standard_normal((ei.shape[1], de)), float(rng.standard_normal())))
    return nn.batch_graphs(gs)


def _dense_adj(ei, n):
    A = np.zeros((n, n))
    np.add.at(A, (ei[1], ei[0]), 1.0)  # A[v, u] = 1 for the edge u -> v
    return A


# --------------------------------------------------------------------------- batching
def test_batch_graphs_offsets_and_select_roundtrip():
    b = _small_graphs()
    assert b.num_graphs == 3 and b.x.shape[0] == b.ptr[-1] == len(b.batch)
    for g in range(3):
        lo, hi = b.ptr[g], b.ptr[g + 1]
        cols = slice(b.edge_ptr[g], b.edge_ptr[g + 1])
        assert np.all((b.edge_index[:, cols] >= lo) & (b.edge_index[:, cols] < hi))
    sub = b.select([2, 0])
    assert sub.num_graphs == 2 and np.allclose(sub.y, b.y[[2, 0]])
    n2 = b.ptr[3] - b.ptr[2]
    assert np.allclose(sub.x[:n2], b.x[b.ptr[2]:b.ptr[3]])
    assert np.array_equal(sub.edge_index[:, : b.edge_ptr[3] - b.edge_ptr[2]],
                          b.edge_index[:, b.edge_ptr[2]:b.edge_ptr[3]] - b.ptr[2])
    assert np.array_equal(sub.batch, np.repeat([0, 1], [n2, b.ptr[1]]))


def test_batch_graphs_refuses_bad_graphs():
    g = nn.Graph(np.zeros((3, 2)), np.array([[0, 1], [1, 5]]))
    with pytest.raises(ValueError, match="outside"):
        nn.batch_graphs([g])
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        nn.batch_graphs([nn.Graph(np.zeros((3, 2)), np.zeros((3, 2), dtype=np.int64))])
    with pytest.raises(ValueError, match="at least one"):
        nn.batch_graphs([])
    with pytest.raises(IndexError, match="graph numbers"):
        _small_graphs().select([3])


# --------------------------------------------------------------------------- torch parity
def test_gcnconv_matches_the_dense_formula_in_torch():
    b = _small_graphs()
    n = b.num_nodes
    conv = nn.GCNConv(4, 5, rng=np.random.default_rng(1), dtype=np.float64)
    conv.bias.data[...] = np.random.default_rng(2).standard_normal(5)
    x = ib.Tensor(b.x, requires_grad=True)
    out = conv(x, b.edge_index)
    A = _dense_adj(b.edge_index, n) + np.eye(n)
    d = A.sum(1)
    Ahat = torch.tensor(A / np.sqrt(np.outer(d, d)))
    xt = torch.tensor(b.x, requires_grad=True)
    wt = torch.tensor(conv.lin.weight.data, requires_grad=True)
    bt = torch.tensor(conv.bias.data, requires_grad=True)
    ref = Ahat @ xt @ wt.T + bt
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    R = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(R)
    ref.backward(torch.tensor(R))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(conv.lin.weight.grad, wt.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(conv.bias.grad, bt.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("concat", [True, False])
def test_gatconv_matches_dense_masked_attention_in_torch(concat):
    b = _small_graphs()
    n, H, C = b.num_nodes, 2, 3
    conv = nn.GATConv(4, C, heads=H, concat=concat, rng=np.random.default_rng(1),
                      dtype=np.float64)
    x = ib.Tensor(b.x, requires_grad=True)
    out = conv(x, b.edge_index)
    mask = torch.tensor((_dense_adj(b.edge_index, n) + np.eye(n)) > 0)
    xt = torch.tensor(b.x, requires_grad=True)
    wt = torch.tensor(conv.lin.weight.data, requires_grad=True)
    asrc = torch.tensor(conv.att_src.data, requires_grad=True)
    adst = torch.tensor(conv.att_dst.data, requires_grad=True)
    h = (xt @ wt.T).reshape(n, H, C)
    s_src, s_dst = (h * asrc).sum(-1), (h * adst).sum(-1)  # (n, H)
    e = torch.nn.functional.leaky_relu(s_dst.T[:, :, None] + s_src.T[:, None, :], 0.2)
    alpha = torch.softmax(e.masked_fill(~mask, -torch.inf), dim=-1)  # (H, v, u)
    ref = torch.einsum("hvu,uhc->vhc", alpha, h)
    ref = ref.reshape(n, H * C) if concat else ref.mean(1)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-11, atol=1e-12)
    R = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(R)
    ref.backward(torch.tensor(R))
    for mine, theirs in [(x.grad, xt), (conv.lin.weight.grad, wt), (conv.att_src.grad, asrc),
                         (conv.att_dst.grad, adst)]:
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-11)


def test_message_passing_matches_torch():
    b = _small_graphs()
    n = b.num_nodes
    mp = nn.MessagePassing(4, 3, 5, hidden=6, rng=np.random.default_rng(1), dtype=np.float64)
    x = ib.Tensor(b.x, requires_grad=True)
    out = mp(x, b.edge_index, b.edge_attr)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in mp.state_dict().items()}
    xt, et = torch.tensor(b.x, requires_grad=True), torch.tensor(b.edge_attr)
    src, dst = torch.tensor(b.edge_index[0]), torch.tensor(b.edge_index[1])
    m = torch.relu(xt[src] @ P["msg_src.weight"].T + xt[dst] @ P["msg_dst.weight"].T
                   + et @ P["msg_edge.weight"].T + P["msg_edge.bias"])
    agg = torch.zeros(n, 6, dtype=torch.float64).index_add(0, dst, m)
    ref = xt @ P["upd_self.weight"].T + P["upd_self.bias"] + agg @ P["upd_msg.weight"].T
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    R = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(R)
    ref.backward(torch.tensor(R))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-12)
    for k, p in mp.named_parameters():
        np.testing.assert_allclose(p.grad, P[k].grad.numpy(), rtol=1e-11, atol=1e-12)


def test_pools_match_torch():
    b = _small_graphs()
    x = b.x
    xt = torch.tensor(x)
    bt = torch.tensor(b.batch)
    s = torch.zeros(3, 4, dtype=torch.float64).index_add(0, bt, xt)
    np.testing.assert_allclose(nn.global_add_pool(x, b.batch).data, s.numpy())
    cnt = torch.bincount(bt).to(torch.float64)[:, None]
    np.testing.assert_allclose(nn.global_mean_pool(x, b.batch).data, (s / cnt).numpy())
    mx = torch.zeros(3, 4, dtype=torch.float64).scatter_reduce(
        0, bt[:, None].expand(-1, 4), xt, "amax", include_self=False)
    np.testing.assert_allclose(nn.global_max_pool(x, b.batch).data, mx.numpy())


# --------------------------------------------------------------------------- finite differences
def _models():
    r = np.random.default_rng
    return {
        "deepsets_sum": nn.DeepSets(4, 6, 2, aggr="sum", activation="tanh", rng=r(0),
                                    dtype=np.float64),
        "deepsets_max": nn.DeepSets(4, 6, 2, aggr="max", activation="tanh", rng=r(0),
                                    dtype=np.float64),
        "gcn": nn.GCNConv(4, 3, rng=r(0), dtype=np.float64),
        "gat": nn.GATConv(4, 3, heads=2, rng=r(0), dtype=np.float64),
        "mp_sum": nn.MessagePassing(4, 3, 3, rng=r(0), dtype=np.float64),
        "mp_mean": nn.MessagePassing(4, 3, 3, aggr="mean", rng=r(0), dtype=np.float64),
    }


def _apply(name, model, b, x=None):
    x = b.x if x is None else x
    if name.startswith("deepsets"):
        return model(x, b.batch)
    if name.startswith("mp"):
        return model(x, b.edge_index, b.edge_attr)
    return model(x, b.edge_index)


@pytest.mark.parametrize("name", list(_models()))
def test_layers_finite_differences(name):
    b = _small_graphs()
    model = _models()[name]
    R = np.random.default_rng(5).standard_normal(_apply(name, model, b).shape)
    x = ib.Tensor(b.x.copy(), requires_grad=True)
    (_apply(name, model, b, x) * R).sum().backward()

    def f_x(a):
        with ib.no_grad():
            return float((_apply(name, model, b, ib.Tensor(a)).data * R).sum())

    np.testing.assert_allclose(x.grad, central_diff(f_x, b.x.copy()), rtol=1e-5, atol=1e-7)
    for pname, p in model.named_parameters():
        g = p.grad.copy()

        def f_p(a, p=p):
            old = p.data
            p.data = a
            try:
                with ib.no_grad():
                    return float((_apply(name, model, b).data * R).sum())
            finally:
                p.data = old

        np.testing.assert_allclose(g, central_diff(f_p, p.data.copy()), rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name}: {pname}")


# --------------------------------------------------------------------------- permutations
@pytest.mark.parametrize("name", list(_models()))
def test_layers_are_permutation_equivariant(name):
    b = _small_graphs(seed=4)
    model = _models()[name]
    pb, perm = b.permute_nodes(np.random.default_rng(0))
    out, out_p = _apply(name, model, b).data, _apply(name, model, pb).data
    if name.startswith("deepsets"):  # one row per set: invariant
        np.testing.assert_allclose(out_p, out, rtol=1e-12, atol=1e-12)
    else:  # one row per node: permuted with the nodes
        np.testing.assert_allclose(out_p, out[perm], rtol=1e-12, atol=1e-12)
        pooled = nn.global_add_pool(out, b.batch).data
        np.testing.assert_allclose(nn.global_add_pool(out_p, pb.batch).data, pooled,
                                   rtol=1e-12, atol=1e-12)


def test_deepsets_dense_and_segment_forms_agree():
    model = nn.DeepSets(4, 6, 2, aggr="mean", rng=np.random.default_rng(0), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((3, 5, 4))
    dense = model(x).data
    seg = model(x.reshape(15, 4), np.repeat(np.arange(3), 5)).data
    np.testing.assert_allclose(dense, seg, rtol=1e-12, atol=1e-12)


def test_layers_on_graphs_without_edges():
    """No edges: GCN and GAT reduce to the per-node map (self-loops only), MessagePassing to its
    update of a zero message, and the segment ops return zeros for empty segments."""
    x = np.random.default_rng(0).standard_normal((5, 4))
    none = np.zeros((2, 0), dtype=np.int64)
    gcn = nn.GCNConv(4, 3, rng=np.random.default_rng(1), dtype=np.float64)
    np.testing.assert_allclose(gcn(x, none).data, x @ gcn.lin.weight.data.T + gcn.bias.data)
    gat = nn.GATConv(4, 3, rng=np.random.default_rng(1), dtype=np.float64)
    np.testing.assert_allclose(gat(x, none).data, x @ gat.lin.weight.data.T + gat.bias.data)
    mp = nn.MessagePassing(4, 2, 3, rng=np.random.default_rng(1), dtype=np.float64)
    np.testing.assert_allclose(mp(x, none, np.zeros((0, 2))).data, mp.upd_self(x).data)
    assert F.segment_sum(ib.Tensor(np.zeros((0, 3))), np.zeros(0, int), 4).shape == (4, 3)


def test_segment_softmax_sums_to_one_and_is_stable():
    idx = np.array([0, 0, 1, 1, 1])
    s = F.segment_softmax(ib.Tensor(np.array([1e3, -1e3, 5.0, 5.0, 1e3])), idx, 2).data
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(np.bincount(idx, weights=s), [1.0, 1.0])


# --------------------------------------------------------------------------- refusals
def test_graph_ops_refuse_bad_indices():
    x = ib.Tensor(np.zeros((4, 3)))
    with pytest.raises(IndexError, match=r"index_select.*\[0, 4\)"):
        F.index_select(x, 0, np.array([0, 4]))
    with pytest.raises(TypeError, match="index_select: index must hold integers"):
        F.index_select(x, 0, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"index_add: index has 2 entries.*\(3,\)"):
        F.index_add(x, 0, np.array([0, 1]), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"index_add: source of shape \(2, 2\)"):
        F.index_add(x, 0, np.array([0, 1]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="segment_sum: index must be 1-D"):
        F.segment_sum(x, np.zeros((2, 2), dtype=int), 2)
    with pytest.raises(IndexError, match="segment_softmax"):
        F.segment_softmax(ib.Tensor(np.zeros(4)), np.array([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match="num_segments"):
        F.segment_max(x, np.array([0, 0, 1, 1]), -1)


def test_layers_refuse_bad_shapes():
    conv = nn.GCNConv(4, 3)
    ei = np.array([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"GCNConv: x must have shape \(num_nodes, 4\)"):
        conv(np.zeros((2, 5), dtype=np.float32), ei)
    with pytest.raises(ValueError, match=r"GCNConv: edge_index must be an integer array"):
        conv(np.zeros((2, 4), dtype=np.float32), np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="GATConv: edge_index points outside the 2 nodes"):
        nn.GATConv(4, 3)(np.zeros((2, 4), dtype=np.float32), np.array([[0, 2], [1, 0]]))
    mp = nn.MessagePassing(4, 2, 3)
    with pytest.raises(ValueError, match=r"MessagePassing: edge_attr must have shape \(2, 2\)"):
        mp(np.zeros((2, 4), dtype=np.float32), ei, np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="aggr must be one of"):
        nn.DeepSets(4, 6, 2, aggr="median")
    with pytest.raises(ValueError, match=r"DeepSets: input must have shape \(batch, n, 4\)"):
        nn.DeepSets(4, 6, 2)(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"global_add_pool: batch must have shape \(3,\)"):
        nn.global_add_pool(np.zeros((3, 2)), np.array([0, 1]))


# --------------------------------------------------------------------------- data
def test_digit_sets_targets_are_sums_and_seeded():
    s = ib.data.digit_sets(50, range(2, 6), seed=3)
    assert s.n_sets == 50 and s.sizes.min() >= 2 and s.sizes.max() <= 5
    np.testing.assert_array_equal(s.y, np.bincount(s.batch, weights=s.labels))
    t = ib.data.digit_sets(50, range(2, 6), seed=3)
    np.testing.assert_array_equal(s.X, t.X)
    P = s.padded(5)
    assert P.shape == (50, 5, 64)
    np.testing.assert_array_equal(P[0, : s.sizes[0]], s.X[: s.sizes[0]])
    with pytest.raises(ValueError, match="more than n=4"):
        s.padded(4)
    with pytest.raises(ValueError, match="split"):
        ib.data.digit_sets(5, [2], split="val")


def test_karate_club():
    k = ib.data.karate_club()
    assert k.num_nodes == 34 and k.edge_index.shape == (2, 156)
    assert k.labels[k.instructor] == 0 and k.labels[k.administrator] == 1
    assert np.bincount(k.labels).tolist() == [17, 17]


def test_qm9_refuses_without_its_packages(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    for missing in ("qm9pack", "rdkit"):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a, m=missing: None if name == m else real(name, *a))
        with pytest.raises(ImportError, match=f"pip install {missing}"):
            ib.data.qm9(10)
    monkeypatch.setattr(importlib.util, "find_spec", real)
    with pytest.raises(ValueError, match="target must be one of"):
        ib.data.qm9(10, target="energy")
    with pytest.raises(ValueError, match="n must be between 1 and 130831"):
        ib.data.qm9(0)


def test_qm9_graphs_and_targets():
    import importlib.util

    if importlib.util.find_spec("rdkit") is None or importlib.util.find_spec("qm9pack") is None:
        pytest.skip("needs rdkit and qm9pack")  # qm9pack is read from its files, never imported
    d = ib.data.qm9(200, seed=1)
    g = d.graphs
    assert len(d) == 200 and g.x.shape[1] == len(ib.data.QM9_ATOM_FEATURES) == 11
    assert g.edge_attr.shape == (g.edge_index.shape[1], 4)
    np.testing.assert_array_equal(g.edge_attr.sum(1), 1.0)  # one bond type per edge
    np.testing.assert_array_equal(g.x[:, :5].sum(1), 1.0)  # one element per atom
    assert 0 < g.y.min() and g.y.max() < 20  # gaps in eV
    # every bond is stored in both directions
    fwd = set(map(tuple, g.edge_index.T.tolist()))
    assert all((v, u) in fwd for u, v in fwd)
    # the first molecule's heavy atoms match RDKit's count
    from rdkit import Chem

    assert g.ptr[1] == Chem.MolFromSmiles(d.smiles[0]).GetNumAtoms()
    np.testing.assert_array_equal(ib.data.qm9(200, seed=1).graphs.y, g.y)  # seeded


def test_smiles_graphs_features_and_refusal():
    import importlib.util

    if importlib.util.find_spec("rdkit") is None:
        pytest.skip("needs rdkit")
    g = ib.data.smiles_graphs(["C=CC#N", "c1ccccc1"])
    # acrylonitrile: C=C-C#N, 4 heavy atoms, 3 bonds; benzene: 6 aromatic atoms
    assert g.ptr.tolist() == [0, 4, 10] and g.edge_ptr.tolist() == [0, 6, 18]
    bonds = g.edge_attr[: g.edge_ptr[1]].argmax(1)
    assert sorted(bonds.tolist()) == [0, 0, 1, 1, 2, 2]  # single, double, triple
    benzene = g.x[4:]
    assert np.all(benzene[:, 9] == 1) and np.all(benzene[:, 10] == 1)  # aromatic CH
    assert np.all(benzene[:, 7] == 1)  # sp2
    with pytest.raises(ValueError, match="cannot parse the SMILES string 'C1CC'"):
        ib.data.smiles_graphs(["C1CC"])
