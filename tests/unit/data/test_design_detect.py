"""Designs read from the data (issue #11, part 4): an RD from a threshold treatment,
continuous treatments to the dose-response design, IV suggested from names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.design import Design
from cqox.core.roles import Roles
from cqox.data.design_detect import roundest, threshold_of
from cqox.data.infer import infer_roles

#: |estimate − truth| ≤ 4·SE (false alarm below 1e-4).
SE_MULTIPLE = 4.0


def _rd_signature(n: int = 2000, seed: int = 0, name: str = "test_points") -> pd.DataFrame:
    """A binary treatment that is exactly 1[x ≥ 60] for a continuous column x (a name
    that is no usual running name), a jump of 3 in the outcome at 60."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, n).round(1)
    t = (x >= 60).astype(int)
    age = rng.normal(40, 10, n)
    y = 0.05 * x + 3.0 * t + 0.02 * age + rng.normal(0, 1, n)
    return pd.DataFrame({"y": y, "t": t, name: x, "age": age})


def test_threshold_treatment_is_a_sharp_rd_with_running_and_cutoff_stated() -> None:
    df = _rd_signature()
    r = infer_roles(df, Roles(outcome="y", treatment="t"))
    assert (r.running, r.cutoff) == ("test_points", 60.0)
    reason = next(g.reason for g in r.guesses if g.role == "cutoff")
    assert "'t' = 1['test_points' ≥ 60] on every row: a sharp regression discontinuity" in reason


def test_the_rd_replaces_the_backdoor_and_finds_the_jump() -> None:
    an = cqox.analyze(_rd_signature(), outcome="y", treatment="t")
    assert an.designs == [Design.RD]
    est = an.estimate_for("rd")
    assert abs(est.estimate - 3.0) <= SE_MULTIPLE * est.se
    assert any("backdoor design left out" in w for w in an.warnings)


def test_treated_below_the_threshold_is_found_too() -> None:
    df = _rd_signature().assign(t=lambda d: 1 - d["t"])
    r = infer_roles(df, Roles(outcome="y", treatment="t"))
    assert (r.running, r.cutoff) == ("test_points", 60.0)


def test_a_propensity_that_is_not_a_threshold_is_no_rd() -> None:
    df, _ = cqox.simulate.confounded_binary(n=1000, seed=0)
    r = infer_roles(df, Roles(outcome="y", treatment="t"))
    assert r.running is None and r.cutoff is None


@pytest.mark.parametrize(
    ("lo", "hi", "c"),
    [(59.9, 60.0, 60.0), (20.93, 21.02, 21.0), (-0.01, 0.02, 0.0), (3.14159, 3.1416, 3.1416)],
)
def test_roundest_cutoff_in_the_gap(lo: float, hi: float, c: float) -> None:
    assert roundest(lo, hi) == pytest.approx(c)


def test_threshold_needs_rows_on_both_sides() -> None:
    x = np.arange(30.0)
    assert threshold_of(x, (x >= 25).astype(float)) is None  # 5 treated rows only
    assert threshold_of(x, (x >= 15).astype(float)) == (15.0, True, (14.0, 15.0))


def test_continuous_treatment_goes_to_dose_response_and_iv_is_suggested() -> None:
    rng = np.random.default_rng(2)
    n = 1500
    lottery = rng.integers(0, 2, n)
    age = rng.normal(40, 10, n)
    educ = 12 + 2 * lottery + rng.normal(0, 2, n)
    y = 0.1 * educ + 0.01 * age + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "educ": educ, "lottery": lottery, "age": age})
    r = infer_roles(df, Roles(outcome="y", treatment="educ"))
    assert r.dose == "educ" and r.instrument is None
    inst = next(g for g in r.guesses if g.role == "instrument")
    assert inst.source == "suggested" and "--instrument lottery" in inst.reason
    an = cqox.analyze(df, outcome="y", treatment="educ")
    assert Design.DOSE_RESPONSE in an.designs and Design.IV not in an.designs
    assert any("--instrument lottery" in w for w in an.warnings)


def test_an_amount_that_is_zero_for_every_control_is_no_running_variable() -> None:
    # Thornton: 'any' = 1[tinc > 0] but the incentive amount is 0 for every control
    rng = np.random.default_rng(4)
    n = 600
    tinc = np.where(rng.uniform(size=n) < 0.7, rng.choice(np.arange(1, 31) / 10, n), 0.0)
    df = pd.DataFrame({"y": rng.normal(size=n), "any": (tinc > 0).astype(int), "tinc": tinc})
    r = infer_roles(df, Roles(outcome="y", treatment="any"))
    assert r.running is None and r.cutoff is None


def test_an_assignment_threshold_that_moves_the_treatment_is_a_fuzzy_rd() -> None:
    # eligible = 1[score ≥ 60]; take-up is 80% among the eligible, 10% below; effect 2
    rng = np.random.default_rng(7)
    n = 6000
    score = rng.uniform(0, 100, n).round(1)
    eligible = (score >= 60).astype(int)
    treated = (rng.uniform(size=n) < np.where(eligible == 1, 0.8, 0.1)).astype(int)
    y = 0.03 * score + 2.0 * treated + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "treated": treated, "eligible": eligible, "score": score})
    r = infer_roles(df, Roles(outcome="y", treatment="treated"))
    assert (r.running, r.cutoff) == ("score", 60.0)
    assert "eligible" not in (r.covariates or ())
    reason = next(g.reason for g in r.guesses if g.role == "cutoff")
    assert "a fuzzy regression discontinuity in 'score'" in reason
    an = cqox.analyze(df, outcome="y", treatment="treated", estimators=["rd"])
    est = an.estimate_for("rd")
    assert est.diagnostics["design"] == "fuzzy"
    assert abs(est.estimate - 2.0) <= SE_MULTIPLE * est.se
