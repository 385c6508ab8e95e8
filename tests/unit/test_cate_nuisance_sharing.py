"""CATE estimators and ``dml_irm`` fit the nuisances once per analysis, also with n_rep > 1."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import cqox
from cqox.estimators.backdoor import dml
from cqox.estimators.cate import nuisances
from cqox.simulate.dml import make_irm_heterogeneous

COVS = [f"x{j}" for j in range(1, 6)]


def _analyze(df: Any, estimators: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """The analysis and how many cross-fitted nuisance models were fitted on all rows."""
    full_fits = []
    n = len(df)
    for module in (dml, nuisances):
        real = module.crossfit_predict

        def counting(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            full_fits.append(len(args[1]) == n)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, "crossfit_predict", counting)
    # the built-in linear learners take a sufficient-statistics path in dml (one pass
    # over the rows for every fold): each prediction it returns is one nuisance model
    real_linear = dml.crossfit_linear_or_none

    def counting_linear(*args: Any, **kwargs: Any) -> Any:
        out = real_linear(*args, **kwargs)
        if out is not None:
            full_fits.append(True)
        return out

    monkeypatch.setattr(dml, "crossfit_linear_or_none", counting_linear)
    params = {name: {"learner": "linear"} for name in estimators}
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=COVS,
        estimators=estimators,
        params=params,
        seed=3,
    )
    return an, int(np.sum(full_fits))


def test_cate_estimators_reuse_the_first_of_dml_irms_repeated_splits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df, _ = make_irm_heterogeneous(n=1000, p=5, seed=2)
    assert dml.irm_auto_n_rep(len(df)) == 5  # dml_irm repeats its split here
    an, fits = _analyze(df, ["dml_irm", "t_learner", "dr_learner"], monkeypatch)
    # three models (μ₀, μ₁, e) per split of dml_irm, none more for the CATE estimators
    assert fits == 3 * 5
    irm = next(e for e in an.estimates if e.estimator == "dml_irm" and e.estimand == "ATE")
    first_split_ate = irm.diagnostics["thetas"][0]
    for name in ("t_learner", "dr_learner"):
        est = next(e for e in an.estimates if e.estimator == name)
        # the same nuisances and the same doubly robust score: the same number
        assert est.estimate == pytest.approx(first_split_ate, rel=1e-12), name


def test_without_dml_irm_the_cate_estimators_fit_one_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df, _ = make_irm_heterogeneous(n=1000, p=5, seed=2)
    _, fits = _analyze(df, ["t_learner", "dr_learner", "x_learner"], monkeypatch)
    assert fits == 3
