"""A backdoor analysis carries data-level gates and the sensitivity analyses."""

from __future__ import annotations

import json

import pytest

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


def test_rosenbaum_bounds_describe_the_matching_of_the_psm_estimate() -> None:
    """With a caliper and three neighbours the bounds use psm's own matched sets.

    They were once recomputed from 1:1 pairs on the default propensity, ignoring the
    caliper, exact cells and n_neighbors of the estimate they were filed under.
    """
    df, _ = cqox.simulate.confounded_binary(n=600, seed=4)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        estimators=["psm"],
        params={"psm": {"estimand": "ATT", "n_neighbors": 3, "caliper": 0.05}},
    )
    est = an.estimate_for("psm", "ATT")
    pairs = est.tables["matched_pairs"]
    assert len(pairs) == est.counts["n_matched_targets"] < est.n_treated  # caliper dropped some
    assert pairs["n_matches"].min() >= 1 and pairs["n_matches"].max() >= 3
    assert pairs["difference"].mean() == pytest.approx(est.estimate)
    ros = an.sensitivity["psm:ATT"]["rosenbaum"]
    nonzero = int((pairs["difference"] != 0).sum())
    assert ros["n_pairs"] == nonzero
