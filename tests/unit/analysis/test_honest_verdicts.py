"""Honest verdicts: no design is an error, nothing checked is not "pass", and the
consensus leaves out failed and degenerate estimates, saying which."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.analysis.consensus import consensus_with_notes
from cqox.analysis.verdict import degenerate_reason, quality_assessment
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate


def _panel_without_treatment() -> pd.DataFrame:
    """The shape of the Basque table with the dashboard's prefilled roles: a panel
    (unit, time, outcome) and no treatment or cohort."""
    rng = np.random.default_rng(0)
    units, years = 6, 10
    return pd.DataFrame(
        {
            "regionno": np.repeat(np.arange(1, units + 1), years),
            "year": np.tile(np.arange(1960, 1960 + years), units),
            "gdpcap": rng.normal(5, 1, units * years),
            "invest": rng.normal(20, 3, units * years),
        }
    )


def test_no_design_raises_the_same_error_with_suggestions() -> None:
    df = _panel_without_treatment()
    with pytest.raises(cqox.NoDesignError) as info:
        cqox.analyze(df, outcome="gdpcap", roles={"unit": "regionno", "time": "year"})
    err = info.value
    assert err.code == "NO_DESIGN"
    assert "no design found" in err.message and "--treatment" in err.message
    roles = [s["role"] for s in err.details["suggestions"]]  # type: ignore[union-attr]
    assert roles[:2] == ["treatment", "cohort"]


def test_a_table_without_outcome_or_treatment_suggests_both() -> None:
    df = pd.DataFrame({"x1": np.arange(50.0), "x2": np.arange(50.0) ** 0.5})
    with pytest.raises(cqox.NoDesignError) as info:
        cqox.analyze(df)
    roles = [s["role"] for s in info.value.details["suggestions"]]  # type: ignore[union-attr]
    assert roles == ["outcome", "treatment"]


def test_verdict_with_no_gate_run_is_not_checked() -> None:
    e = Estimate.from_se("x", "ATE", 1.0, 0.5)
    q = quality_assessment([e], [Gate.not_applicable("overlap", "no covariates")])
    assert q["verdict"] == "not_checked" and q["n_checked"] == 0 and q["score"] is None
    assert e.status == "not_checked"
    passed = Gate("overlap", 0.1, 0.05, "pass", "ok")
    assert quality_assessment([e], [passed])["verdict"] == "pass"


def test_an_analysis_without_covariates_is_not_reported_as_pass() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 300)
    df = pd.DataFrame({"y": 2.0 * t + rng.normal(size=300), "t": t})
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    # the estimates carry no gate: each reads "not checked", never "pass"; the analysis
    # is checked by its refutation gates only, and its verdict counts just those
    assert an.estimates and all(e.status == "not_checked" for e in an.estimates)
    refutations = [g for g in an.gates if g.name.startswith("refute_")]
    assert an.quality["n_checked"] == len(refutations) == 5


def test_degenerate_estimates_are_named_and_left_out_of_the_consensus() -> None:
    good = Estimate.from_se("ipw", "ATE", 1.9, 0.2)
    leak = Estimate.from_se("regression_adjustment", "ATE", -4.9e-14, 2.5e-15)
    failed = Estimate.from_se("psm", "ATE", 5.0, 0.3).with_updates(
        gates=[Gate("overlap", 0.0, 0.1, "fail", "no overlap")]
    )
    assert degenerate_reason(leak, y_scale=3.0) is not None
    assert degenerate_reason(good, y_scale=3.0) is None
    out, notes = consensus_with_notes([good, leak, failed], y_scale=3.0)
    ate = out["ATE"]
    assert ate["estimators"] == ["ipw"] and ate["estimate"] == pytest.approx(1.9)
    reasons = {x["estimator"]: x["reason"] for x in ate["excluded"]}
    assert reasons["regression_adjustment"].startswith("degenerate")
    assert reasons["psm"] == "failed gate(s) overlap"
    assert not notes


def test_an_estimand_whose_estimates_are_all_excluded_has_a_note_not_a_consensus() -> None:
    leak = Estimate.from_se("regression_adjustment", "ATE", 0.0, 1e-15)
    out, notes = consensus_with_notes([leak], y_scale=1.0)
    assert "ATE" not in out
    assert notes and "no consensus for ATE" in notes[0] and "regression_adjustment" in notes[0]


def test_a_running_variable_without_cutoff_asks_for_the_cutoff() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"age": rng.uniform(19, 23, 48), "deaths": rng.normal(95, 5, 48)})
    with pytest.raises(cqox.NoDesignError) as info:
        cqox.analyze(df, outcome="deaths", roles={"running": "age"})
    assert [s["role"] for s in info.value.details["suggestions"]] == ["cutoff"]  # type: ignore[union-attr]
    assert "--cutoff" in info.value.message


def test_refutation_gates_run_in_a_backdoor_analysis_and_pass_on_a_correct_model() -> None:
    df, _ = cqox.simulate.confounded_binary(n=1000, seed=4)
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    gates = {g.name: g for g in an.gates if g.name.startswith("refute_")}
    assert set(gates) == {
        "refute_placebo_treatment",
        "refute_random_common_cause",
        "refute_data_subset",
        "refute_dummy_outcome",
        "refute_unobserved_common_cause",
    }
    assert all(g.status == "pass" for g in gates.values())
    assert abs(gates["refute_placebo_treatment"].details["new_effect"]) < 0.2


def test_a_strong_simulated_confounder_that_flips_the_sign_warns() -> None:
    from cqox.analysis.refute import refute_unobserved_confounder

    rng = np.random.default_rng(0)
    t = rng.normal(size=2000)
    y = 0.2 * t + rng.normal(size=2000)
    r = refute_unobserved_confounder(y, t, np.empty((2000, 0)), rng, kappa_t=1.0, kappa_y=1.0)
    # DoWhy's linear confounder: t + w and y − w; the slope becomes
    # (0.2·var(t) − 1)/(var(t) + 1) ≈ −0.4 from +0.2
    assert r.estimate > 0 > r.new_effect and r.p_value == 0.0
    assert r.new_effect == pytest.approx(-0.4, abs=0.1)


def test_the_simulated_confounder_flips_the_share_of_a_binary_treatment() -> None:
    from cqox.analysis import refute

    rng = np.random.default_rng(1)
    n = 20_000
    t = rng.integers(0, 2, n).astype(float)
    y = 1.0 * t + rng.normal(size=n)
    # with no effect on the outcome, flipping 20% of the treatments at random attenuates
    # the slope by the factor 1 − 2·0.2 = 0.6
    r = refute.refute_unobserved_confounder(y, t, np.empty((n, 0)), rng, 0.2, 0.0)
    assert r.new_effect == pytest.approx(0.6, abs=0.05)
