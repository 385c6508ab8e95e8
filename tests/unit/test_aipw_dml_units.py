"""AIPW and DML details: parameters, trimming, learners, folds, diagnostics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import cqox
from cqox.estimators.backdoor.dml import irm_auto_n_rep
from cqox.inference.score import aggregate_repetitions, solve_linear_score
from cqox.nuisance.crossfit import calibrate_propensity, crossfit_predict, fold_ids
from cqox.nuisance.learners import LogitLearner, make_learner

COV = ["x1", "x2", "x3"]


@pytest.fixture(scope="module")
def df():
    return cqox.simulate.confounded_binary(n=800, seed=21)[0]


def test_aipw_trim_reports_counts_and_changes_the_sample(df) -> None:
    full = cqox.estimate("aipw", df, outcome="y", treatment="t", covariates=COV)
    trimmed = cqox.estimate("aipw", df, outcome="y", treatment="t", covariates=COV, trim=0.1)
    assert trimmed.counts["n_trimmed"] > 0
    assert trimmed.n == full.n - trimmed.counts["n_trimmed"]
    assert any("trimmed" in w for w in trimmed.warnings)


def test_aipw_clip_bounds_the_propensity(df) -> None:
    est = cqox.estimate("aipw", df, outcome="y", treatment="t", covariates=COV, clip=0.2)
    assert est.diagnostics["propensity_min"] >= 0.2
    assert est.diagnostics["propensity_max"] <= 0.8
    assert est.counts["n_clipped"] > 0


def test_aipw_probit_and_separate_model_covariates(df) -> None:
    est = cqox.estimate(
        "aipw",
        df,
        outcome="y",
        treatment="t",
        covariates=COV,
        link="probit",
        propensity_covariates="x1 + x2 + I(x3**2)",
        outcome_covariates=["x1", "x2"],
    )
    assert est.diagnostics["propensity_covariates"] == ["x1", "x2", "I(x3 ** 2)"]
    assert est.diagnostics["outcome_covariates"] == ["x1", "x2"]
    assert "probit" in est.method


def test_aipw_unknown_model_column_is_named(df) -> None:
    with pytest.raises(cqox.RoleError, match="'x9'"):
        cqox.estimate(
            "aipw", df, outcome="y", treatment="t", covariates=COV, outcome_covariates="x1 + x9"
        )


def test_aipw_ate_equals_mu1_minus_mu0(df) -> None:
    for estimand in ("ATE", "ATT", "ATC"):
        est = cqox.estimate(
            "aipw", df, outcome="y", treatment="t", covariates=COV, estimand=estimand
        )
        assert est.estimate == pytest.approx(est.diagnostics["mu1"] - est.diagnostics["mu0"])


def test_unknown_learner_name_is_rejected_with_the_choices(df) -> None:
    with pytest.raises(cqox.ParameterError, match="lightgbm"):
        cqox.estimate("dml_irm", df, outcome="y", treatment="t", covariates=COV, learner="xgb")
    with pytest.raises(cqox.ParameterError, match="classifier"):
        make_learner("logistic", "regression", 0)


def test_user_learner_is_cloned_not_fitted(df) -> None:
    lr = LinearRegression()
    cqox.estimate("dml_plr", df, outcome="y", treatment="t", covariates=COV, learner=lr)
    assert not hasattr(lr, "coef_")


def test_dml_diagnostics_have_one_error_per_fold(df) -> None:
    est = cqox.estimate(
        "dml_irm",
        df,
        outcome="y",
        treatment="t",
        covariates=COV,
        learner="linear",
        n_folds=4,
        n_rep=1,
    )
    assert len(est.diagnostics["fold_rmse_g0"][0]) == 4
    assert len(est.diagnostics["fold_logloss_m"][0]) == 4
    assert est.influence is not None and len(est.influence) == est.n
    assert est.se == pytest.approx(np.sqrt(np.sum(est.influence**2)) / est.n)


def test_lightgbm_learner_is_deterministic(df) -> None:
    kw = {"outcome": "y", "treatment": "t", "covariates": COV, "n_folds": 2}
    a = cqox.estimate("dml_plr", df, seed=3, **kw)
    b = cqox.estimate("dml_plr", df, seed=3, **kw)
    c = cqox.estimate("dml_plr", df, seed=4, **kw)
    assert a.estimate == b.estimate and a.se == b.se
    assert a.estimate != c.estimate


def test_folds_are_balanced_and_stratified() -> None:
    t = np.r_[np.ones(103), np.zeros(397)]
    folds = fold_ids(500, 5, np.random.default_rng(0), strata=t)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1
    treated = np.bincount(folds[t == 1])
    assert treated.max() - treated.min() <= 1


def test_crossfit_predictions_are_out_of_fold() -> None:
    # a learner that memorises its training targets cannot predict its own fold
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 2))
    y = rng.standard_normal(200)
    folds = fold_ids(200, 5, rng)
    pred = crossfit_predict(LinearRegression(), X, y, folds, "regression", 0)
    for k in range(5):
        train = folds != k
        fit = LinearRegression().fit(X[train], y[train])
        assert np.allclose(pred.pred[folds == k], fit.predict(X[folds == k]))


def test_logit_learner_survives_separation_in_a_fold() -> None:
    X = np.r_[np.zeros(50), np.ones(50)].reshape(-1, 1)
    t = np.r_[np.zeros(50), np.ones(50)]
    p = LogitLearner().fit(X, t).predict_proba(X)[:, 1]
    assert np.all(np.isfinite(p)) and p[0] < 0.1 < 0.9 < p[-1]


def test_linear_score_and_median_rule() -> None:
    rng = np.random.default_rng(2)
    psi_b = rng.standard_normal(1000) + 2.0
    res = solve_linear_score(-np.ones(1000), psi_b)
    assert res.theta == pytest.approx(psi_b.mean())
    assert res.se == pytest.approx(psi_b.std() / np.sqrt(1000))
    theta, se = aggregate_repetitions(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.1, 0.1]))
    assert theta == 2.0 and se == pytest.approx(0.1)


def test_aipw_reuses_the_propensity_fit_of_ipw_in_an_analysis(
    df, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cqox.nuisance.propensity as propensity_module

    calls: list[int] = []
    original = propensity_module.fit_binary

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(propensity_module, "fit_binary", counting)
    an = cqox.analyze(df, outcome="y", treatment="t", covariates=COV, estimators=["ipw", "aipw"])
    assert {e.estimator for e in an.estimates} == {"ipw", "aipw"}
    assert len(calls) == 1


def test_trim_with_cross_fitting_is_refused() -> None:
    df, _ = cqox.simulate.confounded_binary(n=200, seed=6)
    with pytest.raises(cqox.ParameterError, match="'clip'"):
        cqox.estimate(
            "aipw", df, outcome="y", treatment="t", covariates=["x1"], cross_fit=True, trim=0.05
        )


def test_dml_irm_repeats_splits_within_the_row_budget(df) -> None:
    assert [irm_auto_n_rep(n) for n in (500, 2000, 3000, 4000, 9999, 10_000, 10**6)] == [
        5,
        5,
        3,
        2,
        1,
        1,
        1,
    ]
    kw = {"outcome": "y", "treatment": "t", "covariates": COV, "learner": "linear"}
    auto = cqox.estimate("dml_irm", df, **kw)
    assert len(auto.diagnostics["thetas"]) == irm_auto_n_rep(len(df)) == 5
    assert auto.estimate == pytest.approx(float(np.median(auto.diagnostics["thetas"])))
    assert "× 5" in auto.method
    # the paper's §3.4 SE over splits: sqrt(median(σ_s² + (θ_s − θ)²))
    th, se = np.array(auto.diagnostics["thetas"]), np.array(auto.diagnostics["ses"])
    assert auto.se == pytest.approx(np.sqrt(np.median(se**2 + (th - auto.estimate) ** 2)))
    doubleml_rule = cqox.estimate("dml_irm", df, se_method="median_ci", **kw)
    th2, se2 = (np.array(doubleml_rule.diagnostics[k]) for k in ("thetas", "ses"))
    assert doubleml_rule.se == pytest.approx(aggregate_repetitions(th2, se2)[1])
    one = cqox.estimate("dml_irm", df, n_rep=1, **kw)
    assert len(one.diagnostics["thetas"]) == 1


def test_isotonic_calibration_is_monotone_bounded_and_calibrated() -> None:
    rng = np.random.default_rng(5)
    e_true = rng.uniform(0.02, 0.98, 3000)
    t = (rng.random(3000) < e_true).astype(float)
    e_shrunk = 0.5 + 0.5 * (e_true - 0.5)  # a learner that shrinks toward 1/2
    cal = calibrate_propensity(e_shrunk, t)
    order = np.argsort(e_shrunk)
    assert np.all(np.diff(cal[order]) >= 0)
    assert cal.min() >= 0 and cal.max() <= 1
    # isotonic regression matches the treated share overall and undoes the shrinkage
    assert cal.mean() == pytest.approx(t.mean())
    assert np.mean(np.abs(cal - e_true)) < np.mean(np.abs(e_shrunk - e_true))
    assert calibrate_propensity(e_shrunk, t, "none") is e_shrunk


def test_dml_irm_calibration_is_a_parameter(df) -> None:
    kw = {"outcome": "y", "treatment": "t", "covariates": COV, "learner": "linear", "n_rep": 1}
    iso = cqox.estimate("dml_irm", df, **kw)
    raw = cqox.estimate("dml_irm", df, propensity_calibration="none", **kw)
    assert iso.diagnostics["propensity_calibration"] == "isotonic"
    assert raw.diagnostics["propensity_calibration"] == "none"
    assert iso.estimate != raw.estimate
    with pytest.raises(cqox.ParameterError, match="propensity_calibration"):
        cqox.estimate("dml_irm", df, propensity_calibration="platt", **kw)


def test_lightgbm_linear_learner_fits_linear_leaves() -> None:
    rng = np.random.default_rng(6)
    X = rng.standard_normal((1000, 3))
    y = 2 * X[:, 0] + 0.1 * rng.standard_normal(1000)
    step = make_learner("lightgbm", "regression", 0).fit(X[:800], y[:800])
    linear = make_learner("lightgbm_linear", "regression", 0).fit(X[:800], y[:800])
    rmse = [float(np.sqrt(np.mean((m.predict(X[800:]) - y[800:]) ** 2))) for m in (step, linear)]
    # a linear trend is one linear leaf but a staircase of constant leaves
    assert rmse[1] < 0.5 * rmse[0]


def test_dml_influence_reproduces_the_reported_se_with_repeated_splits() -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(
            "dml_irm",
            df,
            outcome="y",
            treatment="t",
            covariates=["x1", "x2", "x3"],
            learner="linear",
            n_rep=3,
            seed=1,
        )
    assert est.influence is not None
    assert np.sqrt(np.sum(est.influence**2)) / len(est.influence) == pytest.approx(est.se)
