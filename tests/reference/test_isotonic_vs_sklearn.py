"""The propensity calibration equals scikit-learn's IsotonicRegression exactly.

``cqox.nuisance.isotonic`` reimplements ``IsotonicRegression(y_min=0, y_max=1,
out_of_bounds="clip").fit(e, t).predict(e)`` so that DML does not import scikit-learn;
the numbers must not move by one bit (ties, near-ties a few ulps apart, a constant
score, perfectly separated arms).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from cqox.nuisance.crossfit import calibrate_propensity
from cqox.nuisance.isotonic import isotonic_fit_predict

pytestmark = pytest.mark.reference


def _sklearn(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return iso.fit(x, t).predict(x)


def _scores(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    x = rng.random(n)
    if kind == "rounded":
        return np.round(x, 2)
    if kind == "near_ties":
        return x + rng.integers(0, 3, n) * np.spacing(x)
    if kind == "constant":
        return np.full(n, 0.3)
    return x


@pytest.mark.parametrize("kind", ["continuous", "rounded", "near_ties", "constant"])
@pytest.mark.parametrize("n", [2, 17, 500, 5000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isotonic_calibration_equals_sklearn_bit_for_bit(kind: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _scores(rng, n, kind)
    t = (rng.random(n) < x).astype(np.int64)
    np.testing.assert_array_equal(isotonic_fit_predict(x, t), _sklearn(x, t))
    np.testing.assert_array_equal(calibrate_propensity(x, t), _sklearn(x, t))


def test_separated_arms_calibrate_to_zero_and_one() -> None:
    x = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = np.array([0, 0, 0, 1, 1, 1])
    got = isotonic_fit_predict(x, t)
    np.testing.assert_array_equal(got, _sklearn(x, t))
    assert got.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
