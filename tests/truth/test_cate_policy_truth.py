"""Policy value and off-policy evaluation against a known truth."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.simulate.cate import wager_athey_2018

COVS = ["x1", "x2", "x3"]


@pytest.mark.parametrize("method", ["ips", "snips", "dr", "switch_dr"])
def test_ope_recovers_the_value_of_a_logged_rule(method: str) -> None:
    df, truth = wager_athey_2018("heterogeneous", n=4000, p=3, seed=8)
    # Y = (T − ½)τ(x) + ε, so the value of rule π is mean((π − ½)τ)
    rule = (df["x1"] > 0.5).astype(int)
    value = float(np.mean((rule - 0.5) * truth["tau"]))
    data = df.rename(columns={"t": "a", "y": "r"}).assign(p_log=0.5, rule=rule)
    est = cqox.estimate(
        "ope",
        data,
        covariates=COVS,
        learner="linear",
        seed=2,
        method=method,
        policy="rule",
        roles={"action": "a", "reward": "r", "logging_propensity": "p_log"},
    )
    assert abs(est.estimate - value) < 4 * est.se, (est.estimate, value, est.se)


def test_learned_policy_beats_treating_no_one_when_treatment_costs_less_than_it_gains() -> None:
    df, truth = wager_athey_2018("heterogeneous", n=3000, p=3, seed=9)
    est = cqox.estimate(
        "policy_tree",
        df,
        outcome="y",
        treatment="t",
        covariates=COVS,
        learner="linear",
        depth=2,
        cost_per_treated=3.0,
        seed=1,
    )
    # treat where τ(x) > 3: the oracle rule's gain over treating no one
    oracle = float(np.mean(np.maximum(truth["tau"] - 3.0, 0.0)))
    adv = est.diagnostics["advantage_vs_treat_none"]
    assert adv > 0 and abs(adv - oracle) < 4 * est.diagnostics["advantage_vs_treat_none_se"] + 0.05
    assert est.diagnostics["tree"]["split"]["covariate"] in {"x1", "x2"}
