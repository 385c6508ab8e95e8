"""A backdoor analysis carries data-level gates and the sensitivity analyses."""

from __future__ import annotations

import json

import cqox


def test_analysis_has_balance_vif_and_overlap_gates_and_sensitivity() -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, seed=4)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        estimators=["psm", "regression_adjustment"],
    )
    names = {g.name for g in an.gates}
    assert {"covariate_balance_raw", "vif", "common_support", "effective_sample_size"} <= names
    sens = an.sensitivity
    assert sens["psm:ATT"]["rosenbaum"]["gamma_critical"] > 1
    assert 0 < sens["regression_adjustment:ATE"]["ovb"]["rv_q"] < 1
    assert {"x1", "x2", "x3"} >= {
        b["benchmark"] for b in sens["regression_adjustment:ATE"]["ovb"]["bounds"]
    }
    d = json.loads(an.to_json())
    assert d["gates"] and "rosenbaum" in d["sensitivity"]["psm:ATT"]
    assert an.quality["counts"]["pass"] + an.quality["counts"]["warn"] >= len(an.gates)
