"""Mediation benchmark: CQOx's ``mediation`` / ``mediation_dml`` vs DoWhy's two-stage estimator.

Design :func:`mediation_design` (:func:`cqox.simulate.mediation.mediation_linear`, no
interaction): linear mediator and outcome, treatment confounded by ``x1, x2``; population
NIE 0.8 and NDE 0.5.  DoWhy 0.14's ``mediation.two_stage_regression`` (linear first and
second stages, the graph below so both stages adjust for all three covariates) is the
product-of-coefficients estimate with no interval; CQOx's ``mediation`` adds the
quasi-Bayesian intervals (1,000 draws), ``mediation_dml`` the doubly robust cross-fitted
estimate with LightGBM nuisances (``LGBM`` of :mod:`benchmarks.cases`, 5 folds) and with
linear ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from benchmarks.datagen import Design
from benchmarks.harness import Case, Result

COVARIATES = ["x1", "x2", "x3"]


def mediation_design(n: int = 10_000, seed: int = 0) -> Design:
    """:func:`cqox.simulate.mediation.mediation_linear` as a benchmark design."""
    from cqox.simulate.mediation import mediation_linear

    df, truth = mediation_linear(n=n, seed=seed)
    return Design(
        "mediation",
        df,
        {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": COVARIATES},
        {k: truth[k] for k in ("NIE", "NDE")},
        notes=f"{n} rows, linear mediator and outcome, confounded treatment; NIE 0.8, NDE 0.5",
    )


def _dowhy(df: Any) -> Callable[[str], Callable[[], Result]]:
    import logging

    from dowhy import CausalModel
    from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator

    logging.getLogger("dowhy").setLevel(logging.WARNING)
    edges = " ".join(f"{x}->t; {x}->m; {x}->y;" for x in COVARIATES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(
            data=df.assign(t=df["t"].astype(bool)),
            treatment="t",
            outcome="y",
            graph="digraph{t->m; m->y; t->y; " + edges + "}",
        )
        identified = {
            k: model.identify_effect(estimand_type=kind, proceed_when_unidentifiable=True)
            for k, kind in (("NIE", "nonparametric-nie"), ("NDE", "nonparametric-nde"))
        }

    def case(estimand: str) -> Callable[[], Result]:
        def run() -> Result:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = model.estimate_effect(
                    identified[estimand],
                    method_name="mediation.two_stage_regression",
                    confidence_intervals=False,
                    test_significance=False,
                    method_params={
                        "first_stage_model": LinearRegressionEstimator,
                        "second_stage_model": LinearRegressionEstimator,
                    },
                )
            return {"estimate": float(est.value)}

        return run

    return case


def mediation_cases(d: Design, quick: bool) -> list[Case]:
    """NIE and NDE by ``mediation``, ``mediation_dml`` and DoWhy's two-stage regression."""
    from benchmarks.cases import FOLDS, LGBM, _cqox, cqox_available, has

    cases: list[Case] = []
    for estimand in ("NIE", "NDE"):
        if cqox_available("mediation"):
            cases.append(
                Case(
                    "mediation",
                    "cqox",
                    d.name,
                    estimand,
                    _cqox("mediation", d, estimand, n_draws=1000),
                    note="quasi-Bayesian, 1,000 draws, HC3; percentile CI, ρ sensitivity",
                    group="mediation",
                )
            )
        if cqox_available("mediation_dml"):
            import lightgbm as lgb

            cases.append(
                Case(
                    "mediation_dml",
                    "cqox",
                    d.name,
                    estimand,
                    _cqox(
                        "mediation_dml",
                        d,
                        estimand,
                        learner=lgb.LGBMRegressor(**LGBM),
                        propensity_learner=lgb.LGBMClassifier(**LGBM),
                        n_folds=FOLDS,
                    ),
                    note=f"doubly robust, cross-fitted ({FOLDS} folds), LightGBM nuisances",
                    group="mediation",
                )
            )
            cases.append(
                Case(
                    "mediation_dml",
                    "cqox (linear nuisances)",
                    d.name,
                    estimand,
                    _cqox("mediation_dml", d, estimand, learner="linear", n_folds=FOLDS),
                    note="doubly robust, cross-fitted, OLS/logit nuisances",
                    group="mediation",
                )
            )
        if has("dowhy"):
            cases.append(
                Case(
                    "mediation",
                    "dowhy",
                    d.name,
                    estimand,
                    _dowhy(d.frame)(estimand),
                    note="two-stage regression (product of coefficients), no interval",
                    group="mediation",
                )
            )
    return cases
