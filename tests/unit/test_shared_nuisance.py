"""Work shared across the estimators of one analysis gives the same numbers as running
each estimator alone (shared propensity, DML nuisances, g-formula bootstrap fits, the
outcome regressions by arm of aipw and regression_adjustment)."""

from __future__ import annotations

import pytest

import cqox

COVARIATES = ["x1", "x2", "x3", "x4", "x5"]
SHARED = {
    "g_computation": {"n_boot": 50, "se_method": "bootstrap"},
    "dml_irm": {"learner": "linear"},
    "ipw": {},
    "aipw": {},
    "regression_adjustment": {},
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_analysis_estimates_equal_standalone_estimates(name: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=1500, seed=4)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=COVARIATES,
        estimators=sorted(SHARED),
        params=SHARED,
        seed=3,
    )
    for est in (e for e in an.estimates if e.estimator == name):
        alone = cqox.estimate(
            name,
            df,
            outcome="y",
            treatment="t",
            covariates=COVARIATES,
            estimand=est.estimand,
            seed=3,
            **SHARED[name],
        )
        assert (est.estimate, est.se) == (alone.estimate, alone.se)


def test_second_estimand_reuses_bootstrap_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    from cqox.estimators.backdoor import g_computation

    calls = []
    real = g_computation._batched_wls

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(g_computation, "_batched_wls", counting)
    df, _ = cqox.simulate.confounded_binary(n=800, seed=5)
    cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=COVARIATES,
        estimators=["g_computation"],
        params={"g_computation": {"n_boot": 30, "se_method": "bootstrap"}},
    )
    assert len(calls) == 2  # one batched refit per arm, shared by the ATE and the ATT


def test_outcome_regressions_by_arm_are_fitted_once_per_analysis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aipw and regression_adjustment, ATE and ATT each: one OLS per arm in all
    from cqox.nuisance import ols

    calls = []
    real = ols.fit_ols_rows

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ols, "fit_ols_rows", counting)
    df, _ = cqox.simulate.confounded_binary(n=800, seed=5)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=COVARIATES,
        estimators=["aipw", "regression_adjustment"],
    )
    assert len(an.estimates) == 4
    assert len(calls) == 2
