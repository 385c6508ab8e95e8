"""Transport estimators: how the trial is told from the target, bad input, gates, tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.estimators.transport.data import prepare_transport
from cqox.simulate.transport import nested_trial, target_effects

COVS = ["x1", "x2", "x3"]
KW = {"outcome": "y", "treatment": "t", "sample": "s", "covariates": COVS}


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return nested_trial(n=1500, seed=7)[0]


@pytest.mark.parametrize("selection", [1.0, 0.5])
def test_the_simulators_target_effects_match_a_large_sample(selection: float) -> None:
    big, truth = nested_trial(n=400_000, q=0.3, selection=selection, observed_target=True, seed=1)
    tau = 1 + 0.8 * big["x1"] - 0.5 * big["x2"] + 0.3 * big["x1"] ** 2
    assert tau[big["s"] == 0].mean() == pytest.approx(truth["TATE"], abs=0.01)
    assert tau.mean() == pytest.approx(truth["PATE"], abs=0.01)
    assert target_effects(-1.0, 0.0)["trial_ATE"] > 1.3  # the trial is not the target
    assert target_effects(-1.0, 0.0, selection=0.0)["TATE"] == 1.0  # selection at random


def test_the_target_is_the_sample_value_without_outcomes(df: pd.DataFrame) -> None:
    flipped = df.assign(s=1 - df["s"])  # 1 now marks the target; its outcomes are empty
    a = prepare_transport(df, Roles.from_mapping(KW))
    b = prepare_transport(flipped, Roles.from_mapping(KW))
    assert a.trial_value == "1" and b.trial_value == "0"
    np.testing.assert_array_equal(a.s, b.s)
    assert "no outcome" in b.trial_rule


def test_text_labels_and_observed_target_outcomes() -> None:
    full, _ = nested_trial(n=800, observed_target=True, seed=2)
    labelled = full.assign(s=np.where(full["s"] == 1, "Trial", "target"))
    d = prepare_transport(labelled, Roles.from_mapping(KW))
    assert d.trial_value == "'Trial'" and d.n_trial == int(full["s"].sum())
    coded = prepare_transport(full, Roles.from_mapping(KW))
    assert "0/1" in coded.trial_rule  # both samples have outcomes: 1 marks the trial


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"s": "three"}, "column 's' must have two values"),
        ({"s": "labels"}, "cannot tell which value of column 's' marks the trial"),
        ({"covariates": ["x1", "s"]}, "column 's' is also the sample"),
        ({"sample": "no_such"}, "no_such"),
        ({"treatment": "dose"}, "role 'treatment'"),
    ],
)
def test_bad_input_is_refused_naming_the_column(
    df: pd.DataFrame, change: dict[str, object], message: str
) -> None:
    data = df.copy()
    kw = dict(KW)
    if change.get("s") == "three":
        data["s"] = np.arange(len(data)) % 3
    elif change.get("s") == "labels":
        full, _ = nested_trial(n=600, observed_target=True, seed=3)
        data = full.assign(s=np.where(full["s"] == 1, "a", "b"))
    elif change.get("treatment") == "dose":
        data["dose"] = np.where(data["s"] == 1, np.arange(len(data)) % 4, np.nan)
        kw["treatment"] = "dose"
    else:
        kw.update(change)
    with pytest.raises(cqox.CqoxError, match=message):
        cqox.estimate("transport_dr", data, **kw)


def test_trial_rows_missing_the_outcome_are_removed_with_a_warning(df: pd.DataFrame) -> None:
    data = df.copy()
    trial_rows = np.flatnonzero(data["s"] == 1)[:5]
    data.loc[trial_rows, "y"] = np.nan
    est = cqox.estimate("transport_om", data, **KW)
    assert any("removed 5 trial rows" in w for w in est.warnings)
    assert est.counts["n_trial"] == int(df["s"].sum()) - 5


def test_a_separating_covariate_is_refused_as_no_overlap(df: pd.DataFrame) -> None:
    data = df.assign(x3=np.where(df["s"] == 1, 1.0, -1.0) + 0.01 * df["x1"])
    with pytest.raises(cqox.EstimationError, match="no overlap"):
        cqox.estimate("transport_dr", data, **KW)


def test_gates_tables_and_counts(df: pd.DataFrame) -> None:
    est = cqox.estimate("transport_iosw", df, **KW)
    assert {g.name for g in est.gates} == {
        "sample_overlap",
        "effective_sample_size",
        "max_weight_ratio",
    }
    h = est.tables["sampling_score"]
    assert h["trial"].sum() == est.counts["n_trial"] and h["target"].sum() == est.counts["n_target"]
    bal = est.tables["sample_balance"].set_index("covariate")
    # weighting by the sampling odds moves the trial's means to the target's
    assert (bal["smd_weighted"].abs() < bal["smd_raw"].abs()).loc[["x1", "x2"]].all()
    po = est.tables["potential_outcomes"]
    assert est.estimate == pytest.approx(po["estimate"].iloc[1] - po["estimate"].iloc[0])


def test_a_tight_overlap_threshold_warns(df: pd.DataFrame) -> None:
    an = cqox.analyze(df, estimators=["transport_dr"], thresholds={"sample_overlap": 0.999}, **KW)
    gate = next(g for g in an.estimates[0].gates if g.name == "sample_overlap")
    assert gate.status in ("warn", "fail") and gate.threshold == 0.999


def test_analyze_finds_the_transportability_design_and_draws_the_overlap(
    df: pd.DataFrame,
) -> None:
    from cqox.report.gallery import figure_specs

    an = cqox.analyze(df, estimators=["transport_dr"], **KW)
    assert "transportability" in [str(d) for d in an.designs]
    spec = next(s for s in figure_specs(an) if s.name == "transport_overlap")
    assert spec.png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(spec.plotly()["data"]) == 2
