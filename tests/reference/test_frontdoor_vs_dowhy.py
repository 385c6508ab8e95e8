"""The graph's front-door estimate against DoWhy's ``frontdoor.two_stage_regression``.

Same data, same graph: DoWhy identifies the front-door estimand and estimates it by two
linear stages; the point estimates are the same least-squares arithmetic.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.frontdoor.twostage import frontdoor_effect

dowhy = pytest.importorskip("dowhy")

#: Both are products of OLS slopes (statsmodels/sklearn vs lstsq).
RTOL = 1e-8
GRAPH = "digraph { U -> t; U -> y; t -> m; m -> y }"


def _front_door_table(n: int, binary: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    t = (
        (rng.uniform(size=n) < 1 / (1 + np.exp(-1.5 * u))).astype(float)
        if binary
        else u + rng.normal(size=n)
    )
    m = 0.5 + 1.2 * t + rng.normal(size=n)
    y = 1.0 + 0.8 * m + 2.0 * u + rng.normal(size=n)
    return pd.DataFrame({"y": y, "t": t, "m": m})


def _dowhy_frontdoor(df: pd.DataFrame) -> float:
    from dowhy import CausalModel

    logging.getLogger("dowhy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=df, treatment="t", outcome="y", graph=GRAPH)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        assert estimand.get_frontdoor_variables() == ["m"]
        est = model.estimate_effect(estimand, method_name="frontdoor.two_stage_regression")
    return float(est.value)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "continuous"])
def test_frontdoor_estimate_is_dowhys_two_stage_regression(binary: bool) -> None:
    df = _front_door_table(1500, binary, seed=3)
    theirs = _dowhy_frontdoor(df.assign(t=df["t"].astype(bool)) if binary else df)
    an = cqox.analyze(df, outcome="y", treatment="t", dag=GRAPH, seed=0)
    (est,) = an.estimates
    assert est.estimator == "frontdoor" and est.estimand == ("ATE" if binary else "ACR")
    assert est.estimate == pytest.approx(theirs, rel=RTOL)
    ours = frontdoor_effect(df["y"].to_numpy(), df["t"].to_numpy(), df[["m"]].to_numpy())
    assert ours == pytest.approx(theirs, rel=RTOL)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "continuous"])
def test_registered_frontdoor_estimator_is_dowhys_two_stage_regression(binary: bool) -> None:
    """The registry's ``frontdoor`` (the mediator named as a role) is the same arithmetic."""
    df = _front_door_table(1200, binary, seed=8)
    theirs = _dowhy_frontdoor(df.assign(t=df["t"].astype(bool)) if binary else df)
    est = cqox.estimate("frontdoor", df, outcome="y", treatment="t", mediator="m")
    assert est.estimand == ("ATE" if binary else "ACR")
    assert est.estimate == pytest.approx(theirs, rel=RTOL)
