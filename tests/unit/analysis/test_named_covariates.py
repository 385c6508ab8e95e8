"""IV and mediation estimators run only on covariates the analyst names (issue #11).

Built from the failures of the automatic path: on the framing experiment the inferred
covariates held survey answers given after the treatment (an anxiety item that measures
the mediator), and the ACME came out 0.003 with an interval excluding the published
0.08; on Card (1995) the inferred controls moved the 2SLS return from 0.1315 to 0.091.
No rule on names can tell such columns from confounders, so these estimators refuse
inferred covariates with an error naming the role, and run once it is named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import RoleError

#: Estimates within this many standard errors of the truth count as unbiased.
SE_MULTIPLE = 4.0
ACME = 1.0 * 0.8


def _experiment_with_a_mediator_proxy(n: int = 3000, seed: int = 4) -> pd.DataFrame:
    """t randomized, emo = t + e, anxiety = emo + small noise (post-treatment), y = 0.8 emo."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    t = rng.integers(0, 2, n)
    emo = 1.0 * t + 0.02 * age + rng.normal(size=n)
    anxiety = emo + rng.normal(0, 0.1, n)
    y = 0.8 * emo + 0.3 * t + 0.01 * age + rng.normal(size=n)
    return pd.DataFrame({"y": y, "treat": t, "emo": emo, "anxiety": anxiety, "age": age})


def test_mediation_on_inferred_covariates_is_refused_naming_the_role() -> None:
    df = _experiment_with_a_mediator_proxy()
    an = cqox.analyze(df, outcome="y", treatment="treat", mediator="emo", seed=0)
    assert set(an.roles.covariates or ()) == {"anxiety", "age"}  # the proxy is a candidate
    assert not any(e.estimator.startswith("mediation") for e in an.estimates)
    refused = {f["estimator"]: f["message"] for f in an.failures}
    assert {"mediation", "mediation_dml"} <= set(refused)
    assert "needs the role 'covariates' named" in refused["mediation"]
    assert "anxiety" in refused["mediation"]
    # the other designs still run on the inferred covariates
    assert any(e.estimator == "regression_adjustment" for e in an.estimates)


def test_the_refusal_is_right_the_proxy_would_hide_the_mediated_effect() -> None:
    df = _experiment_with_a_mediator_proxy()
    inferred = cqox.estimate(
        "mediation", df, outcome="y", treatment="treat", mediator="emo",
        covariates=["anxiety", "age"], seed=0,
    )  # fmt: skip
    assert inferred.ci[1] < ACME / 2  # a confident wrong number
    named = cqox.analyze(
        df, outcome="y", treatment="treat", mediator="emo", covariates=["age"], seed=0
    )
    nie = next(e for e in named.estimates if e.estimator == "mediation" and e.estimand == "NIE")
    assert abs(nie.estimate - ACME) <= SE_MULTIPLE * nie.se


def test_naming_the_estimator_stops_with_the_role_to_give() -> None:
    df = _experiment_with_a_mediator_proxy()
    with pytest.raises(RoleError) as info:
        cqox.analyze(df, outcome="y", treatment="treat", mediator="emo", estimators=["mediation"])
    assert info.value.details["role"] == "covariates"
    assert sorted(info.value.details["inferred"]) == ["age", "anxiety"]


def test_without_inference_none_are_used_and_the_estimators_run() -> None:
    df = _experiment_with_a_mediator_proxy().drop(columns=["anxiety"])
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="treat",
        mediator="emo",
        estimators=["mediation"],
        infer=False,
        seed=0,
    )
    assert [e.estimator for e in an.estimates] == ["mediation"] * len(an.estimates)
