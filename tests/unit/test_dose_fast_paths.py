"""The fast paths of dose_msm and msm_iptw give the numbers of the plain formulas.

Each shortcut (quantiles without NumPy's dispatch, powers column by column, the draws in
two products, the MSM sandwich from one Gram of n-vectors, the closed-form marginal dose
model, the pooled logit on one array, a quadratic draw's maximiser at its vertex) is
checked against the straightforward computation it replaces, to 1e-10 or bit for bit.
One shortcut changes numbers for a given seed: dose_msm's band draws from the
coefficient covariance's Cholesky factor rather than the curve covariance's eigen-root —
the same law, checked by the critical values of 200,000 draws of each.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.dose.curve import (
    curve_inference,
    dose_grid,
    grid_quantiles,
    linear_quantile,
    linear_quantiles,
    select_ranks,
)
from cqox.estimators.dose.density import fit_marginal_dose, fit_normal_dose
from cqox.estimators.dose.family import _fewer_than_three_values
from cqox.estimators.dose.msm import fit_msm, polynomial_basis, quadratic_argmax
from cqox.estimators.timevarying.msm import treatment_designs
from cqox.estimators.timevarying.pooled_logit import fit_pooled_logit
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.ols import with_intercept
from cqox.simulate.dose import dose_polynomial
from cqox.simulate.timevarying import time_varying_feedback


def _quantile_sample(seed: int) -> tuple[np.random.Generator, np.ndarray]:
    """1–2,999 values over eight orders of magnitude, rounded (ties) for every third seed."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    x = rng.standard_normal(n) * 10 ** rng.uniform(-4, 4)
    if seed % 3 == 0:
        x = np.round(x, 1)  # ties
    return rng, x


@pytest.mark.parametrize("seed", range(40))
def test_linear_quantiles_equal_numpy_quantile_bit_for_bit(seed: int) -> None:
    rng, x = _quantile_sample(seed)
    q = np.concatenate([rng.uniform(0, 1, 3), [0.0, 1.0, 0.025, 0.975]])
    assert np.array_equal(linear_quantiles(x, q), np.quantile(x, q))
    assert float(linear_quantiles(x, 0.95)) == np.quantile(x, 0.95)


@pytest.mark.parametrize("seed", range(40))
def test_one_linear_quantile_equals_numpy_quantile_bit_for_bit(seed: int) -> None:
    rng, x = _quantile_sample(seed)
    for q in [*rng.uniform(0, 1, 3), 0.0, 1.0, 0.5, 0.95, 0.99]:
        assert linear_quantile(x, q) == np.quantile(x, q)
    assert np.isnan(linear_quantile(np.array([1.0, np.nan, 3.0]), 0.5))


@pytest.mark.parametrize("seed", range(30))
def test_grid_quantiles_equal_numpy_quantile_of_the_grid_values_bit_for_bit(seed: int) -> None:
    # the optimum's interval: quantiles of grid[index] from the counts per grid point
    rng = np.random.default_rng(seed)
    G = int(rng.integers(3, 400))
    grid = np.linspace(rng.uniform(-5, 0), rng.uniform(0.1, 5), G)
    n = int(rng.integers(1, 4000))
    # concentrated on a few points (as the draws' maximisers are), or spread out
    width = int(rng.integers(1, G + 1))
    index = np.clip(rng.integers(0, width, n) + int(rng.integers(0, G)), 0, G - 1)
    q = (*rng.uniform(0, 1, 2), 0.0, 1.0, 0.025, 0.975)
    assert grid_quantiles(grid, index, q) == np.quantile(grid[index], q).tolist()


@pytest.mark.parametrize("order", ["random", "ties", "sorted", "reversed", "periodic", "few"])
@pytest.mark.parametrize("seed", range(6))
def test_dose_grid_of_a_long_dose_equals_numpy_quantile_bit_for_bit(order: str, seed: int) -> None:
    # long doses take select_ranks (order statistics within brackets from a sample)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4096, 30_000))
    x = rng.standard_normal(n) * 10 ** rng.uniform(-3, 3)
    if order == "ties":
        x = np.round(x / np.abs(x).max() * 20)
    elif order == "sorted":
        x = np.sort(x)
    elif order == "reversed":
        x = np.sort(x)[::-1].copy()
    elif order == "periodic":  # the sample's stride meets the period
        x = np.tile(rng.standard_normal(n // 256), 300)[:n]
    elif order == "few":
        x = rng.integers(0, 4, n).astype(float)
    for q in (0.0, 0.05, float(rng.uniform(0, 0.5)), 0.5):
        want = np.linspace(*np.quantile(x, [q, 1 - q]), 101)
        assert np.array_equal(dose_grid(x, 101, q), want)


def test_select_ranks_gives_up_on_an_unrepresentative_sample_and_the_grid_stays_exact() -> None:
    rng = np.random.default_rng(1)
    n = 8192
    x = rng.standard_normal(n)
    x[:: n // 256] = 1e6  # the evenly spaced sample sees only these
    assert select_ranks(x, [409, 410, 7781, 7782]) is None
    assert np.array_equal(dose_grid(x, 11, 0.05), np.linspace(*np.quantile(x, [0.05, 0.95]), 11))
    x[5] = np.nan  # numpy.quantile's NaN
    assert np.isnan(dose_grid(x, 11, 0.05)).all()


def test_linear_quantiles_of_data_with_nan_are_nan_as_numpy() -> None:
    x = np.array([1.0, np.nan, 3.0])
    assert np.isnan(linear_quantiles(x, np.array([0.5]))).all()
    assert np.isnan(np.quantile(x, 0.5))


@pytest.mark.parametrize("degree", [1, 2, 3, 6])
def test_polynomial_basis_equals_vander(degree: int) -> None:
    a = np.random.default_rng(degree).standard_normal(500) * 3
    assert np.array_equal(polynomial_basis(a, degree), np.vander(a, degree + 1, increasing=True))


@pytest.mark.parametrize(
    "values",
    [[1, 1, 1], [1, 2, 1, 2], [1, 2, 3], [np.nan, 1, 2], [np.nan, 1, 2, 3], [np.nan],
     [np.nan] * 70 + [1, 2], [np.nan] * 70 + [1, 2, 3], [1, 2] * 40 + [3], [1, 2] * 40,
     [1, 2, np.nan], [1, 2, 2, 3], [2, 1, 2], [np.nan, np.nan, 1, 2, 3], [1, 2], [1, 2, 3]],
)  # fmt: skip
def test_fewer_than_three_values_agrees_with_nunique(values: list[float]) -> None:
    s = pd.Series(values, dtype=float)
    assert _fewer_than_three_values(s) == (s.nunique(dropna=True) < 3)
    if not s.isna().any():
        as_int = s.astype(int)
        assert _fewer_than_three_values(as_int) == (as_int.nunique() < 3)


def test_marginal_dose_model_equals_the_least_squares_fit_on_a_constant() -> None:
    a = np.random.default_rng(1).normal(2.0, 1.5, 700)
    fast, plain = fit_marginal_dose(a), fit_normal_dose(a, np.ones((700, 1)))
    assert fast.sigma2 == pytest.approx(plain.sigma2, rel=1e-12)
    np.testing.assert_allclose(fast.mean, plain.mean, rtol=1e-12)
    np.testing.assert_allclose(fast.influence, plain.influence, rtol=1e-10, atol=1e-12)


def test_marginal_dose_model_writes_its_squares_into_the_callers_buffer() -> None:
    a = np.random.default_rng(2).normal(1.0, 2.0, 500)
    buf = np.full(500, np.nan)
    with_buf, plain = fit_marginal_dose(a, squares=buf), fit_marginal_dose(a)
    assert np.array_equal(buf, plain.resid * plain.resid)
    assert with_buf.sigma2 == plain.sigma2 and np.array_equal(with_buf.resid, plain.resid)
    assert float(np.mean(a)) == float(with_buf.coef[0])  # numpy.mean's number
    with pytest.raises(cqox.EstimationError, match="predict the dose exactly"):
        fit_marginal_dose(np.full(50, 3.0), squares=np.empty(50))


def _plain_msm_cov(y: np.ndarray, a: np.ndarray, X: np.ndarray, degree: int) -> np.ndarray:
    """The stacked sandwich as first written: n × (k + 3) scores and influences."""
    n = len(y)
    Z = with_intercept(X)
    one = np.ones((n, 1))
    den, num = fit_normal_dose(a, Z), fit_normal_dose(a, one)
    sw = np.exp(num.log_density(a) - den.log_density(a))
    B = np.vander(a, degree + 1, increasing=True)
    WB = B * sw[:, None]
    M = WB.T @ B / n
    coef = np.linalg.solve(M, WB.T @ y / n)
    core = WB * (y - B @ coef)[:, None]
    dlog = np.column_stack([num.score(a, one), -den.score(a, Z)])
    H = core.T @ dlog / n
    core = core + np.column_stack([num.influence, den.influence]) @ H.T
    infl = np.linalg.solve(M, core.T).T
    return np.asarray(infl.T @ infl / n**2)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_msm_sandwich_equals_the_plain_stacked_formula(degree: int) -> None:
    df, _ = dose_polynomial(n=900, seed=degree)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    np.testing.assert_allclose(
        fit_msm(y, a, X, degree).cov, _plain_msm_cov(y, a, X, degree), rtol=1e-10
    )


def test_curve_draws_give_the_band_and_optimum_of_the_plain_draws() -> None:
    df, _ = dose_polynomial(n=800, seed=5)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    fit = fit_msm(y, a, X, 2)
    grid = dose_grid(a, 101, 0.05)
    got = curve_inference(fit.evaluate, grid, 0.95, 2000, np.random.default_rng(7))
    # the plain computation: one n_sim × G matrix of draws, reduced row by row
    mu, cov = fit.evaluate(grid)
    se = np.sqrt(np.diag(cov))
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > 1e-12 * vals.max()
    draws = (
        np.random.default_rng(7).standard_normal((2000, int(keep.sum())))
        @ (vecs[:, keep] * np.sqrt(vals[keep])).T
    )
    crit = np.quantile(np.max(np.abs(draws) / se, axis=1), 0.95)
    arg = grid[np.argmax(mu + draws, axis=1)]
    drift = np.mean(arg) - grid[np.argmax(mu)]
    lo, hi = np.clip(np.quantile(arg, [0.025, 0.975]) - drift, grid[0], grid[-1])
    assert got.crit == pytest.approx(crit, rel=1e-10)
    assert got.optimum_ci == pytest.approx((lo, hi), rel=1e-10)
    assert got.optimum_se == pytest.approx(np.std(arg, ddof=1), rel=1e-10)


def _plain_band_and_optimum(
    mu: np.ndarray, se: np.ndarray, draws: np.ndarray, grid: np.ndarray
) -> tuple[float, tuple[float, float], float]:
    """Critical value, optimum interval and optimum SE from an n_sim × G matrix of draws."""
    crit = float(np.quantile(np.max(np.abs(draws) / se, axis=1), 0.95))
    arg = grid[np.argmax(mu + draws, axis=1)]
    drift = np.mean(arg) - grid[np.argmax(mu)]
    lo, hi = np.clip(np.quantile(arg, [0.025, 0.975]) - drift, grid[0], grid[-1])
    return crit, (float(lo), float(hi)), float(np.std(arg, ddof=1))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_msm_draws_from_the_coefficient_root_give_the_plain_band_and_optimum(
    degree: int,
) -> None:
    # dose_msm's route: Z = B L e with LL' = V̂_β (no G × G eigen-decomposition) and, for
    # degree ≤ 2, each draw's maximiser at its vertex — the plain matrix computation
    # from the same root and seed gives the same numbers
    df, _ = dose_polynomial(n=800, seed=5)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    fit = fit_msm(y, a, X, degree)
    grid = dose_grid(a, 101, 0.05)
    argmax = fit.draw_argmax if degree <= 2 else None
    got = curve_inference(fit.evaluate, grid, 0.95, 2000, np.random.default_rng(7), fit.factor,
                          argmax)  # fmt: skip
    mu, cov = fit.evaluate(grid)
    B = np.vander(grid, degree + 1, increasing=True)
    L = np.linalg.cholesky(fit.cov)
    np.testing.assert_allclose((B @ L) @ (B @ L).T, cov, rtol=1e-12, atol=1e-15)
    draws = np.random.default_rng(7).standard_normal((2000, degree + 1)) @ (B @ L).T
    crit, ci, opt_se = _plain_band_and_optimum(mu, np.sqrt(np.diag(cov)), draws, grid)
    assert got.crit == pytest.approx(crit, rel=1e-10)
    assert got.optimum_ci == pytest.approx(ci, rel=1e-10)
    assert got.optimum_se == pytest.approx(opt_se, rel=1e-10)


def _sup_t_quantile(root: np.ndarray, se: np.ndarray, draws: int, seed: int) -> float:
    """95% quantile of max_g |(root e)_g|/se_g over ``draws`` draws, 20,000 at a time."""
    rng = np.random.default_rng(seed)
    scaled = root / se[:, None]
    sup = [
        np.abs(rng.standard_normal((20_000, root.shape[1])) @ scaled.T).max(axis=1)
        for _ in range(draws // 20_000)
    ]
    return float(np.quantile(np.concatenate(sup), 0.95))


@pytest.mark.parametrize("degree", [2, 3])
def test_coefficient_root_band_has_the_critical_value_of_the_eigen_route(degree: int) -> None:
    # Why dose_msm's band changed for a given seed: its draws now come from the
    # coefficient covariance's Cholesky factor, not the curve covariance's eigen-root.
    # Both roots R satisfy RR' = Σ̂, so the draws have one law: with 200,000 draws each
    # the critical values agree to 1% (Monte-Carlo SD of each ~0.2%).
    df, _ = dose_polynomial(n=1000, seed=11)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    fit = fit_msm(y, a, X, degree)
    grid = dose_grid(a, 101, 0.05)
    _, cov, root = fit.factor(grid)
    se = np.sqrt(np.diag(cov))
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > 1e-12 * vals.max()
    eigen_root = vecs[:, keep] * np.sqrt(vals[keep])
    assert eigen_root.shape[1] == root.shape[1] == degree + 1
    new = _sup_t_quantile(root, se, 200_000, seed=1)
    old = _sup_t_quantile(eigen_root, se, 200_000, seed=2)
    assert new == pytest.approx(old, rel=0.01)


def test_quadratic_argmax_equals_the_argmax_of_the_values_on_the_grid() -> None:
    rng = np.random.default_rng(3)
    for G in (3, 11, 101, 400):
        grid = np.linspace(-1.3, 3.7, G)
        for scale in (0.1, 1.0, 30.0):
            # concave, convex and straight rows; vertices on and off the grid
            C = rng.standard_normal((3000, 3)) * scale
            C[:500, 2] = 0.0
            C[500:600, 1:] = 0.0  # flat: the first grid point, as argmax
            values = C @ np.vander(grid, 3, increasing=True).T
            np.testing.assert_array_equal(quadratic_argmax(grid, C), values.argmax(axis=1))
            np.testing.assert_array_equal(
                quadratic_argmax(grid, C[:, :2]), (C[:, :2] @ np.vander(grid, 2, True).T).argmax(1)
            )
    # a grid of one dose (its quantiles coincide: a dose mostly at one value)
    C = rng.standard_normal((50, 3))
    grid = np.full(11, 3.0)
    values = C @ np.vander(grid, 3, increasing=True).T
    np.testing.assert_array_equal(quadratic_argmax(grid, C), values.argmax(axis=1))


def test_singular_coefficient_covariance_gets_the_eigen_root() -> None:
    df, _ = dose_polynomial(n=300, seed=2)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    fit = fit_msm(y, a, X, 2)
    v = np.array([1.0, -2.0, 0.5])
    singular = dataclasses.replace(fit, cov=np.outer(v, v) + np.outer([0, 1.0, 1], [0, 1.0, 1]))
    L = singular.coef_root
    assert L.shape == (3, 2)
    np.testing.assert_allclose(L @ L.T, singular.cov, atol=1e-12)


def test_pooled_logit_equals_the_general_binary_fit() -> None:
    df, _ = time_varying_feedback(n=600, periods=4, seed=2)
    est = cqox.estimate("msm_iptw", df, outcome="y", treatment="a", roles={"unit": "id",
                        "time": "time"}, covariates=["l", "v"])  # fmt: skip
    assert np.isfinite(est.se)
    from cqox.estimators.timevarying.panel import prepare_panel

    panel = prepare_panel(df, cqox.Roles(outcome="y", treatment="a", unit="id", time="time",
                                         covariates=["l", "v"])).panel  # fmt: skip
    assert panel is not None
    for X in treatment_designs(panel)[:2]:
        a = panel.A.reshape(-1)
        ours, general = fit_pooled_logit(X, a, "denominator"), fit_binary(X, a)
        np.testing.assert_allclose(ours.coef, general.coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.p_hat, general.p_hat, rtol=1e-10)
        # the same standardised parametrisation: scores and information agree too
        np.testing.assert_allclose(ours.score, general.score, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(ours.hessian, general.hessian, rtol=1e-8, atol=1e-12)


def test_pooled_logit_refuses_a_separating_column_naming_the_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400)
    a = (x > 0).astype(float)
    with pytest.raises(cqox.errors.SeparationError, match="denominator treatment model"):
        fit_pooled_logit(x[:, None], a, "denominator")


def test_dml_linear_outcome_table_equals_predictions_on_the_features() -> None:
    from cqox.estimators.dose.dml import features, fit_dml_dose
    from cqox.nuisance.learners import predict_fitted

    df, _ = dose_polynomial(n=500, seed=6)
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[["x1", "x2"]].to_numpy()
    fit = fit_dml_dose(y, a, X, outcome_learner="linear", treatment_learner="linear", n_folds=5,
                       bandwidth=None, rng=np.random.default_rng(0), seed=0)  # fmt: skip
    doses = np.linspace(-1.0, 3.0, 7)
    rows = np.arange(len(y))
    got = fit.gamma(doses, rows)
    for k, model in enumerate(fit.models):
        idx = np.flatnonzero(fit.folds == k)
        T = np.repeat(doses[None, :], len(idx), axis=0).ravel()
        F = features(T, np.repeat(X[idx], len(doses), axis=0))
        want = predict_fitted(model, F, "regression").reshape(len(idx), len(doses))
        np.testing.assert_allclose(got[idx], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("extra", ["constant", "collinear"])
def test_pooled_logit_with_a_redundant_column_fits_as_the_general_binary_fit(extra: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(800)
    a = (rng.uniform(size=800) < 1 / (1 + np.exp(-x))).astype(float)
    X = np.column_stack([x, np.ones(800) if extra == "constant" else 2 * x])
    ours, general = fit_pooled_logit(X, a, "numerator"), fit_binary(X, a)
    np.testing.assert_allclose(ours.p_hat, general.p_hat, rtol=1e-10)
