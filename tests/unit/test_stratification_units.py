"""Regression within propensity strata: algebra and edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.backdoor.stratification import (
    _stratum_regression,
    stratified_effect,
    stratified_regression,
    stratify,
)

#: Exact algebraic identities, up to floating-point rounding.
IDENTITY_TOL = 1e-10


def _draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    y = X @ [1.0, -0.5] + t * (1 + X[:, 0]) + rng.standard_normal(n)
    return y, t, X


@pytest.mark.parametrize("target", ["all", "treated"])
def test_stratum_contrast_is_the_interacted_regression_effect(target: str) -> None:
    y, t, X = _draw(300, 1)
    g = np.ones(len(y), bool) if target == "all" else t == 1
    tau, infl = _stratum_regression(y, t, X, g)
    # = mean over the target rows of the two arms' fitted regressions' difference
    fits = []
    for arm in (1, 0):
        m = t == arm
        Z = np.column_stack([np.ones(m.sum()), X[m]])
        fits.append(np.linalg.lstsq(Z, y[m], rcond=None)[0])
    Zg = np.column_stack([np.ones(g.sum()), X[g]])
    assert tau == pytest.approx(float(np.mean(Zg @ fits[0] - Zg @ fits[1])), abs=IDENTITY_TOL)
    assert infl.shape == y.shape
    assert np.all(np.isfinite(infl))


def test_covariate_that_separates_the_arms_is_dropped_not_the_treatment() -> None:
    y, t, X = _draw(200, 2)
    X = np.column_stack([X, t])  # a covariate equal to T inside the stratum
    tau, infl = _stratum_regression(y, t, X, np.ones(len(y), bool))
    tau_ref, _ = _stratum_regression(y, t, X[:, :2], np.ones(len(y), bool))
    assert tau == pytest.approx(tau_ref, abs=IDENTITY_TOL)
    assert np.all(np.isfinite(infl))


def test_without_covariates_regression_equals_classical_strata() -> None:
    y, t, X = _draw(500, 3)
    stratum, edges = stratify(X[:, 0], 4)
    a = stratified_effect(y, t, stratum, edges, "ATT")
    b = stratified_regression(y, t, np.empty((len(y), 0)), stratum, edges, "ATT")
    assert b.tau == pytest.approx(a.tau, abs=IDENTITY_TOL)
    np.testing.assert_allclose(b.psi, a.psi, atol=IDENTITY_TOL)


def test_small_strata_fall_back_to_differences_with_a_warning() -> None:
    y, t, X = _draw(120, 4)
    df = pd.DataFrame({"y": y, "t": t.astype(int), "a": X[:, 0], "b": X[:, 1]})
    for j in range(8):  # many covariates: some strata are too small to adjust
        df[f"z{j}"] = np.random.default_rng(j).standard_normal(len(df))
    cov = ["a", "b", *[f"z{j}" for j in range(8)]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(
            "stratification", df, outcome="y", treatment="t", covariates=cov, n_strata=5
        )
    table = est.tables["strata"]
    assert (~table["regression_adjusted"] & table["used"]).any()
    assert any("plain difference in means" in w for w in est.warnings)
    assert np.isfinite(est.se) and est.se > 0


def test_classical_estimator_is_kept_as_an_option() -> None:
    df, _ = cqox.simulate.confounded_binary(n=800, seed=5)
    kw = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classic = cqox.estimate("stratification", df, adjust="none", **kw)
        adjusted = cqox.estimate("stratification", df, **kw)
    assert classic.diagnostics["adjust"] == "none"
    assert adjusted.diagnostics["adjust"] == "regression"
    assert "differences in means" in classic.method
    assert "regression within strata" in adjusted.method
    assert classic.estimate != pytest.approx(adjusted.estimate)
