"""Sets and graphs of Chapter 7: sets of handwritten digits (`digit_sets`), Zachary's karate
club (`karate_club`) and QM9's molecules as graphs (`qm9`). Seeded; nothing downloads.

`qm9` needs two optional packages: ``qm9pack`` (the data set, in its wheel) and ``rdkit`` (SMILES
to molecular graphs); ``pip install qm9pack rdkit``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..nn.graph import GraphBatch
from .classic import digits

__all__ = ["DigitSets", "digit_sets", "KarateClub", "karate_club", "QM9", "qm9", "smiles_graphs",
           "QM9_ATOM_FEATURES", "QM9_BOND_TYPES", "QM9_TARGETS"]


# --------------------------------------------------------------------------- digit sets
@dataclass(frozen=True)
class DigitSets:
    """Sets of 8x8 digit images. ``X (N, 64)`` the images of all sets, set after set;
    ``batch (N,)`` the set of each image; ``labels (N,)`` each image's digit; ``y (n_sets,)``
    the sum of the digits of each set (float32); ``sizes (n_sets,)``."""

    X: np.ndarray
    batch: np.ndarray
    labels: np.ndarray
    y: np.ndarray
    sizes: np.ndarray

    @property
    def n_sets(self) -> int:
        return len(self.sizes)

    def padded(self, n: int) -> np.ndarray:
        """The sets as one ``(n_sets, n, 64)`` array, each set's images in order, zero images
        after its last element (the input of an MLP on the concatenated set).

        Raises:
            ValueError: if a set has more than ``n`` elements.
        """
        if self.sizes.max() > n:
            raise ValueError(f"DigitSets.padded: a set has {self.sizes.max()} elements, more "
                             f"than n={n}")
        out = np.zeros((self.n_sets, n, self.X.shape[1]), dtype=self.X.dtype)
        starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        pos = np.arange(len(self.batch)) - starts[self.batch]
        out[self.batch, pos] = self.X
        return out


def digit_sets(n_sets: int, sizes, seed: int = 0, split: str = "train") -> DigitSets:
    """``n_sets`` sets of digit images whose target is the sum of their digits (the set task of
    Zaheer et al. 2017, Section 4.1.1, on scikit-learn's 8x8 digits instead of MNIST).

    Each set's size is drawn uniformly from ``sizes`` and its images uniformly, with
    replacement, from the training images (``split="train"``) or the test images
    (``split="test"``) of `digits` (``seed=0`` split: 1437 and 360 images), so that test sets
    are made of images no model has seen.

    Raises:
        ValueError: ``split`` not ``"train"`` or ``"test"``; ``sizes`` empty or with a size below
            1; ``n_sets`` below 1.
    """
    if split not in ("train", "test"):
        raise ValueError(f"digit_sets: split must be 'train' or 'test', got {split!r}")
    sizes = np.atleast_1d(np.asarray(sizes, dtype=np.int64))
    if sizes.size == 0 or sizes.min() < 1:
        raise ValueError(f"digit_sets: sizes must be positive integers, got {sizes.tolist()}")
    if n_sets < 1:
        raise ValueError(f"digit_sets: n_sets must be >= 1, got {n_sets}")
    d = digits(seed=0)
    X, lab = (d.X_train, d.y_train) if split == "train" else (d.X_test, d.y_test)
    rng = np.random.default_rng(seed)
    n = rng.choice(sizes, n_sets)
    pick = rng.integers(0, len(lab), int(n.sum()))
    batch = np.repeat(np.arange(n_sets), n)
    y = np.bincount(batch, weights=lab[pick], minlength=n_sets).astype(np.float32)
    return DigitSets(X[pick], batch, lab[pick], y, n)


# --------------------------------------------------------------------------- karate club
@dataclass(frozen=True)
class KarateClub:
    """Zachary's karate club: 34 members, 78 friendships (``edge_index (2, 156)``, both
    directions), ``labels (34,)`` the faction each member joined after the split (0: the
    instructor's, "Mr. Hi"; 1: the administrator's, "Officer"), and the two leaders, node 0
    (the instructor) and node 33 (the administrator)."""

    edge_index: np.ndarray
    labels: np.ndarray
    instructor: int = 0
    administrator: int = 33

    @property
    def num_nodes(self) -> int:
        return len(self.labels)


def karate_club() -> KarateClub:
    """Zachary's (1977) karate club network as networkx ships it (``karate_club_graph``), with
    the faction of each member from its ``club`` attribute.

    Raises:
        ImportError: if networkx is not installed, naming the package.
    """
    if importlib.util.find_spec("networkx") is None:
        raise ImportError("karate_club needs networkx: pip install networkx")
    import networkx as nx

    g = nx.karate_club_graph()
    e = np.array(sorted(g.edges()), dtype=np.int64).T
    edge_index = np.concatenate([e, e[::-1]], axis=1)
    labels = np.array([0 if g.nodes[i]["club"] == "Mr. Hi" else 1 for i in range(len(g))],
                      dtype=np.int64)
    return KarateClub(edge_index, labels)


# --------------------------------------------------------------------------- QM9
HARTREE_EV = 27.211386245988  # CODATA 2018: 1 hartree in eV

#: target name -> (column of qm9pack's CSV files, factor to the unit, unit)
QM9_TARGETS = {
    "gap": ("HOMO_LUMO_gap_au", HARTREE_EV, "eV"),
    "homo": ("HOMO_au", HARTREE_EV, "eV"),
    "lumo": ("LUMO_au", HARTREE_EV, "eV"),
    "mu": ("Dipole_debye", 1.0, "D"),
    "alpha": ("Polarizability_bohr3", 1.0, "bohr^3"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/(mol K)"),
}

#: the columns of the node features ``x`` of `qm9`
QM9_ATOM_FEATURES = ("H", "C", "N", "O", "F", "atomic_number", "sp", "sp2", "sp3", "aromatic",
                     "num_hs")
#: the columns of the edge features ``edge_attr`` of `qm9`
QM9_BOND_TYPES = ("single", "double", "triple", "aromatic")

QM9_SIZE = 130_831  # molecules in qm9pack's files (QM9's 133,885 less 3,054 unconverged)


@dataclass(frozen=True)
class QM9:
    """A seeded subset of QM9 as molecular graphs (hydrogens implicit).

    Attributes:
        graphs: `GraphBatch` of the molecules in drawn order: ``x (N, 11)`` float32 node
            features (columns `QM9_ATOM_FEATURES`: one-hot H/C/N/O/F, atomic number,
            hybridisation one-hot sp/sp2/sp3, aromatic flag, number of hydrogens),
            ``edge_attr (E, 4)`` float32 one-hot bond type (`QM9_BOND_TYPES`), every bond in
            both directions, and ``y (n,)`` float64 the target in ``unit``.
        smiles: the SMILES strings, in the same order.
        index: QM9's molecule numbers (1 to 133,885).
        target, unit: the target's name and unit.
        featurize_seconds: CPU seconds spent reading the files and building the graphs.
    """

    graphs: GraphBatch
    smiles: tuple[str, ...]
    index: np.ndarray
    target: str
    unit: str
    featurize_seconds: float

    def __len__(self) -> int:
        return self.graphs.num_graphs


def _qm9_files() -> list[Path]:
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or spec.origin is None:
        raise ImportError("qm9 needs the package qm9pack (the QM9 data set in its wheel): "
                          "pip install qm9pack")
    data = Path(spec.origin).parent / "data"
    return [data / f"qm9_part{i}.csv" for i in (1, 2, 3)]


def qm9(n: int = 10_000, seed: int = 0, target: str = "gap") -> QM9:
    """``n`` molecules of QM9 (Ramakrishnan et al. 2014) drawn without replacement by ``seed``,
    as graphs, with one DFT property (B3LYP/6-31G(2df,p)) as target.

    The data are read directly from the CSV files of the ``qm9pack`` wheel (130,831 molecules);
    RDKit turns each SMILES into a graph of its heavy atoms. Targets (`QM9_TARGETS`): ``"gap"``
    (HOMO-LUMO gap), ``"homo"``, ``"lumo"`` in eV (converted from hartree), ``"mu"`` (dipole
    moment, debye), ``"alpha"`` (isotropic polarizability, bohr^3), ``"cv"`` (heat capacity at
    298.15 K, cal/(mol K)).

    Raises:
        ImportError: if ``qm9pack`` or ``rdkit`` is missing, naming the package to install.
        ValueError: unknown ``target``; ``n`` not in ``[1, 130831]``.
    """
    import csv
    import time

    if target not in QM9_TARGETS:
        raise ValueError(f"qm9: target must be one of {sorted(QM9_TARGETS)}, got {target!r}")
    if not 1 <= n <= QM9_SIZE:
        raise ValueError(f"qm9: n must be between 1 and {QM9_SIZE}, got {n}")
    files = _qm9_files()
    if importlib.util.find_spec("rdkit") is None:
        raise ImportError("qm9 needs RDKit to turn SMILES into graphs: pip install rdkit")
    t0 = time.process_time()
    lines: list[bytes] = []
    header = None
    for f in files:
        rows = f.read_bytes().splitlines()
        header = header or rows[0]
        lines.extend(r for r in rows[1:] if r)
    if len(lines) != QM9_SIZE:
        raise ValueError(f"qm9: expected {QM9_SIZE} molecules in qm9pack's files, found "
                         f"{len(lines)}")
    cols = next(csv.reader([header.decode()]))
    i_smiles, i_index = cols.index("SMILES"), cols.index("Index")
    column, factor, unit = QM9_TARGETS[target]
    i_target = cols.index(column)
    pick = np.random.default_rng(seed).choice(QM9_SIZE, n, replace=False)
    rows = list(csv.reader(lines[i].decode() for i in pick))
    del lines
    smiles = tuple(r[i_smiles] for r in rows)
    y = np.array([float(r[i_target]) for r in rows]) * factor
    index = np.array([int(r[i_index]) for r in rows], dtype=np.int64)
    graphs = _featurize(smiles, y)
    return QM9(graphs, smiles, index, target, unit, time.process_time() - t0)


def smiles_graphs(smiles, y=None) -> GraphBatch:
    """Molecules given as SMILES strings as one `GraphBatch`, with the node and edge features
    of `qm9` (heavy atoms, hydrogens implicit; ``y`` zeros unless given).

    Raises:
        ImportError: if RDKit is missing, naming the package.
        ValueError: if a SMILES string cannot be parsed, naming it.
    """
    if importlib.util.find_spec("rdkit") is None:
        raise ImportError("smiles_graphs needs RDKit: pip install rdkit")
    from rdkit import Chem

    smiles = list(smiles)
    for s in smiles:
        if Chem.MolFromSmiles(s, sanitize=False) is None:
            raise ValueError(f"smiles_graphs: cannot parse the SMILES string {s!r}")
    return _featurize(smiles, np.zeros(len(smiles)) if y is None else y)


def _featurize(smiles, y) -> GraphBatch:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    elem = {1: 0, 6: 1, 7: 2, 8: 3, 9: 4}
    hyb = {Chem.HybridizationType.SP: 6, Chem.HybridizationType.SP2: 7,
           Chem.HybridizationType.SP3: 8}
    bond = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2,
            Chem.BondType.AROMATIC: 3}
    feats, src, dst, btype, n_nodes, n_edges = [], [], [], [], [], []
    offset = 0
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:  # a few QM9 SMILES fail sanitisation; parse without it
            mol = Chem.MolFromSmiles(s, sanitize=False)
            mol.UpdatePropertyCache(strict=False)
        for a in mol.GetAtoms():
            z = a.GetAtomicNum()
            f = [0.0] * 11
            f[elem[z]] = 1.0
            f[5] = float(z)
            h = hyb.get(a.GetHybridization())
            if h is not None:
                f[h] = 1.0
            f[9] = float(a.GetIsAromatic())
            f[10] = float(a.GetTotalNumHs())
            feats.append(f)
        k = 0
        for b in mol.GetBonds():
            u, v = b.GetBeginAtomIdx() + offset, b.GetEndAtomIdx() + offset
            t = bond.get(b.GetBondType(), 0)
            src += [u, v]
            dst += [v, u]
            btype += [t, t]
            k += 2
        n_nodes.append(mol.GetNumAtoms())
        n_edges.append(k)
        offset += mol.GetNumAtoms()
    n_nodes, n_edges = np.array(n_nodes), np.array(n_edges)
    return GraphBatch(
        x=np.array(feats, dtype=np.float32),
        edge_index=np.array([src, dst], dtype=np.int64).reshape(2, -1),
        edge_attr=np.eye(4, dtype=np.float32)[np.array(btype, dtype=np.int64)],
        batch=np.repeat(np.arange(len(smiles)), n_nodes),
        y=np.asarray(y, dtype=np.float64),
        ptr=np.concatenate([[0], np.cumsum(n_nodes)]),
        edge_ptr=np.concatenate([[0], np.cumsum(n_edges)]))
