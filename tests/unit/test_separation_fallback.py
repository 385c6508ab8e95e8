"""Propensity separation: a penalised fit and a ``separation`` gate, not a refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd

import cqox
from cqox.nuisance.propensity import fit_propensity_model

#: |estimate − truth| ≤ 4·SE (false alarm below 1e-4).
SE_MULTIPLE = 4.0


def _rare_dummies(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """A few dozen covariates including dummies of rare categories, two of which occur
    among the treated only: the ML logit separates; the effect is 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30))
    eta = 0.4 * X[:, 0] - 0.3 * X[:, 1]
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(30)])
    for k in range(4):
        rare = np.zeros(n, dtype=int)
        pool = np.flatnonzero(t == 1) if k < 2 else np.arange(n)
        rare[rng.choice(pool, 6, replace=False)] = 1
        df[f"cat_{k}"] = rare
    df["t"] = t
    df["y"] = 1.0 * t + X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n)
    return df, 1.0


def test_separated_propensity_falls_back_to_firth_and_names_the_dummies() -> None:
    df, _ = _rare_dummies()
    X = df.drop(columns=["t", "y"]).to_numpy(float)
    fit = fit_propensity_model(X, df["t"].to_numpy(float))
    names = list(df.drop(columns=["t", "y"]).columns)
    assert fit.penalty == "firth"
    assert {names[j] for j in fit.separating} >= {"cat_0", "cat_1"}
    assert np.all((fit.p_hat > 0) & (fit.p_hat < 1))


def test_propensity_estimators_run_with_a_separation_gate() -> None:
    df, truth = _rare_dummies()
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        estimators=["ipw", "aipw", "psm", "stratification"],
        params={name: {"estimand": "ATE"} for name in ("ipw", "aipw", "psm", "stratification")},
    )
    assert not an.failures
    assert {e.estimator for e in an.estimates} == {"ipw", "aipw", "psm", "stratification"}
    for e in an.estimates:
        gate = next(g for g in e.gates if g.name == "separation")
        assert gate.status == "warn" and {"cat_0", "cat_1"} <= set(gate.details["covariates"])
        assert "cat_0" in gate.message and "Firth" in gate.message
    aipw = an.estimate_for("aipw", "ATE")
    assert abs(aipw.estimate - truth) <= SE_MULTIPLE * aipw.se


def test_no_separation_no_gate() -> None:
    df, _ = cqox.simulate.confounded_binary(n=500, seed=2)
    est = cqox.estimate("ipw", df, outcome="y", treatment="t", covariates=["x1", "x2", "x3"])
    assert all(g.name != "separation" for g in est.gates)
