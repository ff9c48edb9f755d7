"""ibcore.calibration: reliability bins, ECE and temperature scaling on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ibcore import calibration as cal


def test_perfectly_calibrated_bins_have_zero_gap():
    # 10 examples at confidence 0.8 of which 8 are right, 10 at 0.6 of which 6 are right
    p = np.array([[0.8, 0.2]] * 10 + [[0.6, 0.4]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [0] * 6 + [1] * 4)
    rel = cal.reliability(p, y, bins=10)
    assert rel.count.sum() == 20 and rel.count[7] == 10 and rel.count[5] == 10
    np.testing.assert_allclose(rel.accuracy[[5, 7]], [0.6, 0.8])
    assert rel.ece == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(rel.accuracy[0])


def test_ece_of_an_overconfident_classifier():
    p = np.array([[0.95, 0.05]] * 10)
    y = np.array([0] * 7 + [1] * 3)  # 70% right at confidence 0.95
    assert cal.expected_calibration_error(p, y, bins=5) == pytest.approx(0.25)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20000, 5))
    true_T = 2.5
    p = np.exp(z / true_T)
    p /= p.sum(1, keepdims=True)
    y = (rng.random((20000, 1)) > np.cumsum(p, 1)).sum(1)
    T = cal.fit_temperature(z, y)
    assert T == pytest.approx(true_T, rel=0.05)
    assert cal.softmax_nll(z, y, T) <= cal.softmax_nll(z, y, 1.0)


def test_errors():
    with pytest.raises(ValueError, match=r"shape \(n, classes\)"):
        cal.reliability(np.ones(3), np.zeros(3, int))
    with pytest.raises(ValueError, match="labels must have shape"):
        cal.reliability(np.ones((3, 2)) / 2, np.zeros(4, int))
    with pytest.raises(ValueError, match=r"integers in \[0, 2\)"):
        cal.reliability(np.ones((3, 2)) / 2, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        cal.reliability(np.ones((3, 2)) / 2, np.zeros(3, int), bins=0)
    with pytest.raises(ValueError, match="0 < low < high"):
        cal.fit_temperature(np.zeros((3, 2)), np.zeros(3, int), bounds=(1.0, 0.5))
