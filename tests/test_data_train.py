"""Datasets are seeded arrays with the documented shapes; `fit` trains, records and refuses."""

from __future__ import annotations

import numpy as np
import pytest

import ibcore as ib
from ibcore import data, nn, optim
from ibcore import functional as F
from ibcore.train import History, accuracy, fit


# --------------------------------------------------------------------------- xor
def test_xor():
    X, y = data.xor()
    assert X.shape == (4, 2) and X.dtype == np.float32
    assert y.shape == (4,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(np.int64))
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert data.xor(dtype=np.float64)[0].dtype == np.float64


# --------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def split():
    return data.digits()


def test_digits_shapes_and_dtypes(split):
    assert split.X_train.shape == (1437, 64) and split.X_test.shape == (360, 64)
    assert split.y_train.shape == (1437,) and split.y_test.shape == (360,)
    assert split.X_train.dtype == np.float32 and split.X_test.dtype == np.float32
    assert split.y_train.dtype == np.int64
    assert split.images_train.shape == (1437, 8, 8) and split.images_test.shape == (360, 8, 8)
    np.testing.assert_array_equal(split.images_train.reshape(-1, 64), split.X_train)


def test_digits_values_in_unit_interval(split):
    for X in (split.X_train, split.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(split.y_train)) == set(range(10))


def test_digits_split_is_stratified(split):
    counts = np.bincount(split.y_test, minlength=10)
    assert np.all(np.abs(counts - 36) <= 1), counts
    total = np.bincount(np.concatenate([split.y_train, split.y_test]), minlength=10)
    assert total.sum() == 1797
    np.testing.assert_array_equal(total, np.bincount(
        np.concatenate([split.y_train, split.y_test])))


def test_digits_split_is_a_partition(split):
    """Train and test together are the 1797 images, each exactly once."""
    from sklearn.datasets import load_digits

    allX = np.concatenate([split.X_train, split.X_test])
    ref = (load_digits().data / 16.0).astype(np.float32)
    key = lambda A: sorted(map(bytes, A))  # noqa: E731
    assert key(allX) == key(ref)


def test_digits_is_seeded(split):
    again = data.digits(seed=0)
    np.testing.assert_array_equal(again.X_train, split.X_train)
    np.testing.assert_array_equal(again.y_test, split.y_test)
    other = data.digits(seed=1)
    assert not np.array_equal(other.X_test, split.X_test)
    assert np.all(np.abs(np.bincount(other.y_test, minlength=10) - 36) <= 1)


def test_digits_test_size_and_errors():
    s = data.digits(test_size=100)
    assert len(s.y_test) == 100 and len(s.y_train) == 1697
    with pytest.raises(ValueError, match="test_size"):
        data.digits(test_size=5)
    assert data.digits(dtype=np.float64).X_train.dtype == np.float64


# --------------------------------------------------------------------------- fit
def _problem(seed=0, n=64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


def test_fit_records_history_and_decreases_loss():
    X, y = _problem()
    ib.manual_seed(0)
    model = nn.MLP([2, 8, 2])
    hist = fit(model, optim.Adam(model.parameters(), lr=0.05), F.cross_entropy, X, y,
               steps=60, progress=False)
    assert isinstance(hist, History)
    assert hist.step == list(range(1, 61))
    assert len(hist.loss) == 60 and all(np.isfinite(hist.loss))
    assert hist.final_loss == hist.loss[-1]
    assert np.mean(hist.loss[-5:]) < 0.5 * np.mean(hist.loss[:5])
    assert accuracy(model, X, y) > 0.9
    assert not model.training  # fit leaves the model in eval mode


def test_fit_minibatches_are_seeded_and_evaluate_is_recorded():
    X, y = _problem()
    runs = []
    calls = []
    for _ in range(2):
        ib.manual_seed(0)
        model = nn.MLP([2, 4, 2])
        hist = fit(model, optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, X, y,
                   steps=25, batch_size=16, seed=3, progress=False,
                   evaluate=lambda m: {"acc": accuracy(m, X, y)}, eval_every=10,
                   callback=lambda step, m: calls.append(step))
        runs.append(hist)
    assert runs[0].loss == runs[1].loss
    assert [s for s, _ in runs[0].metrics["acc"]] == [10, 20, 25]
    assert calls == list(range(1, 26)) * 2
    ib.manual_seed(0)
    model = nn.MLP([2, 4, 2])
    other = fit(model, optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, X, y, steps=25,
                batch_size=16, seed=4, progress=False)
    assert other.loss != runs[0].loss


def test_fit_with_a_head_as_loss():
    X, y = _problem()
    ib.manual_seed(1)
    model = nn.MLP([2, 4, 2])
    hist = fit(model, optim.Adam(model.parameters(), lr=0.05), ib.heads.Categorical(), X, y,
               steps=30, progress=False)
    assert hist.loss[-1] < hist.loss[0]


def test_fit_raises_on_mismatched_data():
    model = nn.MLP([2, 3, 2])
    with pytest.raises(ValueError, match="64 rows.*63"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), F.cross_entropy,
            *(a[:n] for a, n in zip(_problem(), (64, 63), strict=True)), steps=2, progress=False)


def test_fit_raises_on_non_finite_loss_naming_the_step():
    X, y = _problem()
    ib.manual_seed(0)
    model = nn.MLP([2, 16, 1], dtype=np.float64)
    Y = (y * 1e3).astype(np.float64)[:, None]
    with np.errstate(all="ignore"), \
            pytest.raises(ValueError, match=r"loss became (nan|inf) at step \d+"):
        fit(model, optim.SGD(model.parameters(), lr=1e6), F.mse_loss, X, Y, steps=50,
            progress=False)


def test_accuracy():
    class Lookup(nn.Module):
        """Returns fixed logits for the row indices it is given."""

        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, x):
            return ib.Tensor(self.out[x.data[:, 0].astype(np.int64)])

    rows = np.arange(4.0)[:, None]
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(Lookup(logits), rows, [0, 1, 1, 1]) == 0.75
    assert accuracy(Lookup(logits), rows, [0, 1, 0, 1], batch_size=3) == 1.0
    assert accuracy(Lookup(logits), rows, [1, 0, 1, 0], batch_size=1) == 0.0
    single = np.array([[0.5], [-0.5], [2.0], [-1.0]])  # one logit: positive means class 1
    assert accuracy(Lookup(single), rows, np.array([1, 0, 0, 0])) == 0.75
