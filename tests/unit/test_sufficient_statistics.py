"""Big-table paths (blocked sums instead of n × k designs) equal the direct computations.

Each fast path of one-machine big tables is checked against the plain formula on a
small table: the per-arm R factors of the interacted stratum design, design-free OLS
and propensity products, sorted-query binary searches, and the g-formula's
influence-function SE (which ``se_method="auto"`` uses beyond 100,000 rows).
"""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.estimators.backdoor import _score_neighbours, g_computation, stratification
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.ols import fit_ols, fit_ols_rows, with_intercept

#: Rounding differences between two exact algorithms for the same numbers.
SAME = 1e-9


def _table(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * np.array([1.0, 50.0, 1e4, 0.5])
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    y = t + X @ np.array([1.0, 0.01, 1e-4, 2.0]) + rng.standard_normal(n)
    return X, y, t


def test_stratum_r_factor_from_arms_equals_the_whole_design() -> None:
    X, y, t = _table()
    xbar = X.mean(axis=0)
    n = len(y)
    Z = np.column_stack([np.ones(n), t, X - xbar, t[:, None] * (X - xbar), y])
    R_whole = np.linalg.qr(Z, mode="r")
    by_arm = stratification._interacted_r_factor(y, t, X, xbar)
    assert by_arm is not None
    R_arms, arm_factors = by_arm
    for a, R_a in enumerate(arm_factors):
        Z_a = np.column_stack([np.ones(int((t == a).sum())), X[t == a] - xbar])
        np.testing.assert_allclose(R_a.T @ R_a, Z_a.T @ Z_a, rtol=SAME, atol=1e-6)
    # equal up to row signs: compare the Gram matrices they factor
    np.testing.assert_allclose(R_arms.T @ R_arms, R_whole.T @ R_whole, rtol=SAME, atol=1e-6)


def test_stratum_r_factor_declines_a_rank_deficient_arm() -> None:
    X, y, t = _table()
    X[t == 1, 3] = 1.0  # constant among the treated: the whole-design QR decides
    assert stratification._interacted_r_factor(y, t, X, X.mean(axis=0)) is None


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_stratum_influence_from_the_arms_equals_the_interacted_design(
    monkeypatch: pytest.MonkeyPatch, estimand: str
) -> None:
    X, y, t = _table()
    g = np.ones(len(t), bool) if estimand == "ATE" else t == 1
    fast = stratification._stratum_regression(y, t, X, g)
    whole = stratification._interacted_r_factor

    def without_arms(*args: np.ndarray) -> tuple[np.ndarray, None] | None:
        out = whole(*args)
        return None if out is None else (out[0], None)

    # without the arms' factors the influence terms come from the interacted design
    monkeypatch.setattr(stratification, "_interacted_r_factor", without_arms)
    slow = stratification._stratum_regression(y, t, X, g)
    assert fast[0] == pytest.approx(slow[0], rel=SAME)
    np.testing.assert_allclose(fast[1], slow[1], rtol=SAME, atol=1e-12)


def test_ols_on_rows_equals_ols_on_the_copied_design() -> None:
    X, y, t = _table()
    rows = np.flatnonzero(t == 1)
    fast = fit_ols_rows(X, y, rows)
    slow = fit_ols(with_intercept(X[rows]), y[rows])
    np.testing.assert_allclose(fast.coef, slow.coef, rtol=SAME)
    np.testing.assert_allclose(fast.bread, slow.bread, rtol=SAME)
    np.testing.assert_allclose(fast.resid, slow.resid, rtol=SAME, atol=1e-12)


def test_propensity_products_equal_those_of_the_explicit_design() -> None:
    X, _, t = _table()
    fit = fit_binary(X, t)
    Z, score = fit.Z, fit.score
    v = np.linspace(-1, 1, Z.shape[1])
    w = np.sin(np.arange(len(t)))
    np.testing.assert_allclose(fit.z_dot(v), Z @ v, rtol=SAME, atol=1e-12)
    np.testing.assert_allclose(fit.zt_dot(w), w @ Z, rtol=SAME, atol=1e-9)
    np.testing.assert_allclose(fit.score_gram(), score.T @ score, rtol=SAME)
    np.testing.assert_allclose(
        fit.influence_along(v), score @ np.linalg.solve(fit.hessian, v), rtol=SAME, atol=1e-12
    )


def test_sorted_query_search_equals_searchsorted(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    ref = np.sort(rng.random(500))
    x = np.concatenate([rng.random(300), ref[:50]])  # ties with the reference too
    monkeypatch.setattr(_score_neighbours, "SORTED_SEARCH_MIN", 10)
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            _score_neighbours._search(ref, x, side), np.searchsorted(ref, x, side=side)
        )


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
def test_g_formula_influence_se_by_arm_is_the_regression_adjustment_se(estimand: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=3000, seed=5)
    roles = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    g = cqox.estimate("g_computation", df, estimand=estimand, se_method="analytic", **roles)
    ra = cqox.estimate("regression_adjustment", df, estimand=estimand, **roles)
    assert g.estimate == pytest.approx(ra.estimate, rel=SAME)
    assert g.se == pytest.approx(ra.se, rel=SAME)
    assert g.diagnostics["se_method"] == "analytic"


def test_g_formula_auto_se_switches_to_the_influence_function_on_big_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the logistic outcome model (the linear one uses the influence function at any size)
    df, _ = cqox.simulate.confounded_binary(n=600, seed=6)
    df["y"] = (df["y"] > df["y"].median()).astype(int)
    roles = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    small = cqox.estimate("g_computation", df, n_boot=20, seed=0, **roles)
    assert small.diagnostics["se_method"] == "bootstrap"
    monkeypatch.setattr(g_computation, "AUTO_BOOTSTRAP_MAX_ROWS", 500)
    big = cqox.estimate("g_computation", df, n_boot=20, seed=0, **roles)
    assert big.diagnostics["se_method"] == "analytic"
    assert big.estimate == small.estimate


def test_g_formula_influence_se_of_a_logistic_model_agrees_with_the_bootstrap() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    X = rng.standard_normal((n, 2))
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * t + X[:, 1])))).astype(int)
    import pandas as pd

    df = pd.DataFrame({"y": y, "t": t, "x1": X[:, 0], "x2": X[:, 1]})
    roles = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}
    boot = cqox.estimate("g_computation", df, se_method="bootstrap", n_boot=400, seed=1, **roles)
    inf = cqox.estimate("g_computation", df, se_method="analytic", **roles)
    assert inf.diagnostics["outcome_model"] == "logistic"
    # 400 replicates: the bootstrap SE has a Monte-Carlo error of about 1/sqrt(800) = 3.5%
    assert inf.se == pytest.approx(boot.se, rel=0.15)
