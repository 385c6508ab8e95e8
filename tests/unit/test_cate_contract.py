"""The CATE contract: ``effects()``, predictions for new rows, the compact JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.cate.effects import cate_summary, covariate_matrix
from cqox.estimators.cate.heterogeneity import quantile_groups, rate
from cqox.estimators.cate.learners import linear_stage
from cqox.simulate.dml import make_irm_heterogeneous

COVS = [f"x{j}" for j in range(1, 6)]


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    d, _ = make_irm_heterogeneous(n=600, p=5, seed=11)
    return d


@pytest.fixture(scope="module")
def est(df: pd.DataFrame) -> cqox.Estimate:
    return cqox.estimate(
        "dr_learner",
        df,
        outcome="y",
        treatment="t",
        covariates=COVS,
        learner="linear",
        final_learner="linear",
        seed=3,
    )


def test_effects_of_fitted_rows_have_the_four_columns_and_row_positions(
    df: pd.DataFrame, est: cqox.Estimate
) -> None:
    eff = est.effects()
    assert list(eff.columns) == ["cate", "se", "ci_lower", "ci_upper"]
    assert len(eff) == len(df) and (eff.index == np.arange(len(df))).all()
    assert (eff.ci_lower < eff.cate).all() and (eff.cate < eff.ci_upper).all()


def test_rows_dropped_for_missing_values_keep_their_positions(df: pd.DataFrame) -> None:
    holed = df.copy()
    holed.loc[[3, 10], "x2"] = np.nan
    e = cqox.estimate(
        "t_learner", holed, outcome="y", treatment="t", covariates=COVS, learner="linear", seed=1
    )
    idx = e.effects().index
    assert 3 not in idx and 10 not in idx and len(idx) == len(df) - 2


def test_predictions_for_a_new_table_use_its_index(est: cqox.Estimate) -> None:
    new, _ = make_irm_heterogeneous(n=7, p=5, seed=12)
    new.index = list("abcdefg")
    pred = est.effects(new)
    assert list(pred.index) == list("abcdefg")
    assert np.isfinite(pred.to_numpy()).all()


def test_prediction_table_missing_a_covariate_names_it(est: cqox.Estimate) -> None:
    new, _ = make_irm_heterogeneous(n=5, p=5, seed=12)
    with pytest.raises(cqox.RoleError, match="x3"):
        est.effects(new.drop(columns="x3"))


def test_non_cate_estimator_has_no_unit_effects(df: pd.DataFrame) -> None:
    e = cqox.estimate("ipw", df, outcome="y", treatment="t", covariates=COVS)
    with pytest.raises(cqox.CqoxError, match="no unit-level effects"):
        e.effects()


def test_json_is_compact_and_serialisable(df: pd.DataFrame, est: cqox.Estimate) -> None:
    d = json.loads(json.dumps(est.to_dict(), allow_nan=False))
    bigger = pd.concat([df, df], ignore_index=True)
    twice = cqox.estimate(
        "dr_learner",
        bigger,
        outcome="y",
        treatment="t",
        covariates=COVS,
        learner="linear",
        final_learner="linear",
        seed=3,
    )
    # the JSON must not carry one entry per row: twice the rows, the same size
    assert len(json.dumps(twice.to_dict())) < 1.1 * len(json.dumps(d))
    assert set(d["diagnostics"]["cate"]["quantiles"]) == {
        "q05",
        "q10",
        "q25",
        "q50",
        "q75",
        "q90",
        "q95",
    }
    assert {g["name"] for g in d["gates"]} >= {"cate_blp", "cate_gates", "cate_rate_autoc"}
    assert len(d["tables"]["gates"]) == 5


def test_cate_estimators_need_covariates(df: pd.DataFrame) -> None:
    with pytest.raises(cqox.RoleError, match="covariates"):
        cqox.estimate("t_learner", df[["y", "t"]], outcome="y", treatment="t", learner="linear")


def test_categorical_covariate_levels_absent_from_new_rows_are_zero() -> None:
    from cqox.core.roles import Roles

    new = pd.DataFrame({"a": [1.0, 2.0], "g": ["u", "u"]})
    X = covariate_matrix(new, Roles(covariates=["a", "g"]), ["a", "g[v]", "g[w]"])
    np.testing.assert_array_equal(X, [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])


def test_linear_stage_hc1_matches_hand_formula() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = 1 + X @ [0.5, -1] + rng.normal(size=200) * (1 + np.abs(X[:, 0]))
    stage = linear_stage(X, y)
    Z = np.column_stack([np.ones(200), X])
    b = np.linalg.solve(Z.T @ Z, Z.T @ y)
    u = y - Z @ b
    bread = np.linalg.inv(Z.T @ Z)
    cov = bread @ (Z.T * u**2) @ Z @ bread * 200 / 197
    np.testing.assert_allclose(stage.coef, b, rtol=1e-10)
    np.testing.assert_allclose(stage.cov, cov, rtol=1e-8)


def test_quantile_groups_are_equal_sized_and_ordered() -> None:
    cate = np.random.default_rng(1).normal(size=103)
    g = quantile_groups(cate, 5)
    assert np.bincount(g).min() >= 20
    assert all(cate[g == k].max() <= cate[g == k + 1].min() for k in range(4))


def test_rate_of_a_perfect_ranking_is_positive_and_of_a_constant_score_zero() -> None:
    rng = np.random.default_rng(2)
    tau = rng.normal(size=2000)
    phi = tau + rng.normal(size=2000)
    good = rate(phi, tau, 50, rng)
    assert good.autoc > 3 * good.autoc_se and good.qini > 3 * good.qini_se
    flat = rate(phi, np.zeros(2000), 50, rng)  # stable ranking = table order: no signal
    assert abs(flat.autoc) < 3 * flat.autoc_se


def test_cate_summary_shares_of_intervals_excluding_zero() -> None:
    s = cate_summary(np.array([2.0, -2.0, 0.0, 0.1]), np.array([0.5, 0.5, 0.5, np.nan]), 0.95)
    assert s["share_ci_above_zero"] == pytest.approx(1 / 3)
    assert s["share_ci_below_zero"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("s_learner", {}),
        ("t_learner", {}),
        ("x_learner", {"final_learner": "linear"}),
        ("r_learner", {"final_learner": "lightgbm"}),
        ("dr_learner", {}),
        ("causal_forest", {"n_trees": 50}),
    ],
)
def test_estimates_pickle_with_their_predictors(
    df: pd.DataFrame, name: str, extra: dict[str, object]
) -> None:
    import pickle

    est = cqox.estimate(
        name, df, outcome="y", treatment="t", covariates=COVS, learner="linear", seed=1, **extra
    )
    back = pickle.loads(pickle.dumps(est))
    new = df.head(4)
    pd.testing.assert_frame_equal(back.effects(new), est.effects(new))


def test_forest_without_little_bags_predicts_out_of_bag_and_has_no_se() -> None:
    from cqox.estimators.cate.forest import ForestParams, grow

    rng = np.random.default_rng(4)
    X = rng.uniform(size=(400, 3))
    w = rng.integers(0, 2, 400) - 0.5
    y = w * (X[:, 0] > 0.5) + rng.normal(size=400)
    forest, codes = grow(X, y, w, ForestParams(n_trees=60, ci_group_size=1, seed=2))
    tau, _ = forest.predict_oob(codes)
    # every row is out of the bag of about half the trees, so none is left without trees
    assert np.isfinite(tau).all()
    assert np.corrcoef(tau, X[:, 0] > 0.5)[0, 1] > 0.5
