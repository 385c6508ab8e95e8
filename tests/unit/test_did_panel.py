"""DiD panel validation, decompositions and determinism."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import DesignError, ParameterError, RoleError
from cqox.estimators.did.twfe import bacon_decomposition, demean_two_way, twfe_fit
from cqox.simulate.panel import staggered_panel, two_period_panel

PANEL = {"unit": "unit", "time": "time"}
STAGGERED = {"unit": "unit", "time": "time", "cohort": "cohort"}
#: Exact algebraic identities, up to floating-point rounding.
IDENTITY_TOL = 1e-10


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df, _ = staggered_panel(n_units=200, n_periods=6, cohorts=(3, 5), dynamic=0.2, seed=7)
    return df


def test_duplicate_unit_period_rows_name_both_columns(panel: pd.DataFrame) -> None:
    df = pd.concat([panel, panel.iloc[[0]]], ignore_index=True)
    with pytest.raises(RoleError, match=r"'unit', 'time'.*one row per unit and period"):
        cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=PANEL)


def test_non_numeric_time_is_named(panel: pd.DataFrame) -> None:
    df = panel.assign(time="t" + panel["time"].astype(str))
    with pytest.raises(RoleError, match="role 'time': column 'time' must be numeric"):
        cqox.estimate("did_cs", df, outcome="y", roles=STAGGERED)


def test_cohort_varying_within_unit_is_named(panel: pd.DataFrame) -> None:
    df = panel.copy()
    df.loc[1, "cohort"] = 99
    with pytest.raises(RoleError, match="column 'cohort' varies within unit"):
        cqox.estimate("did_cs", df, outcome="y", roles=STAGGERED)


def test_treatment_switching_off_is_not_staggered_adoption(panel: pd.DataFrame) -> None:
    df = panel.copy()
    last = df["time"].max()
    df.loc[(df["cohort"] == 3) & (df["time"] == last), "d"] = 0
    with pytest.raises(DesignError, match="switches off"):
        cqox.estimate("did_cs", df, outcome="y", treatment="d", roles=PANEL)


def test_did_cs_refuses_a_treated_group_indicator_without_cohort(panel: pd.DataFrame) -> None:
    df = panel.assign(ever=(panel["cohort"] > 0).astype(int))
    with pytest.raises(DesignError, match="give the 'cohort' role"):
        cqox.estimate("did_cs", df, outcome="y", treatment="ever", roles=PANEL)


def test_missing_cohort_means_never_treated(panel: pd.DataFrame) -> None:
    as_zero = cqox.estimate("did_cs", panel, outcome="y", roles=STAGGERED, n_boot=0)
    df = panel.assign(cohort=panel["cohort"].replace(0, np.nan))
    as_missing = cqox.estimate("did_cs", df, outcome="y", roles=STAGGERED, n_boot=0)
    assert as_missing.estimate == as_zero.estimate and as_missing.se == as_zero.se


def test_cohort_derived_from_treatment_equals_cohort_role(panel: pd.DataFrame) -> None:
    by_cohort = cqox.estimate("did_cs", panel, outcome="y", roles=STAGGERED, n_boot=0)
    by_treatment = cqox.estimate("did_cs", panel, outcome="y", treatment="d", roles=PANEL, n_boot=0)
    assert by_treatment.estimate == pytest.approx(by_cohort.estimate, rel=IDENTITY_TOL)


def test_did_cs_without_never_treated_needs_not_yet_treated(panel: pd.DataFrame) -> None:
    df = panel[panel["cohort"] > 0]
    with pytest.raises(DesignError, match="not_yet_treated"):
        cqox.estimate("did_cs", df, outcome="y", roles=STAGGERED)
    est = cqox.estimate(
        "did_cs", df, outcome="y", roles=STAGGERED, control_group="not_yet_treated", n_boot=0
    )
    assert np.isfinite(est.estimate) and est.diagnostics["cohorts"] == [3.0]


def test_did_cs_drops_incomplete_units_with_a_warning(panel: pd.DataFrame) -> None:
    df = panel.drop(index=[0, 7])
    est = cqox.estimate("did_cs", df, outcome="y", roles=STAGGERED, n_boot=0)
    assert est.counts["n_units"] == 198
    assert any("not observed in all" in w for w in est.warnings)


def test_did_2x2_refuses_staggered_adoption(panel: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="did_twfe or did_cs"):
        cqox.estimate("did_2x2", panel, outcome="y", treatment="d", roles=PANEL)


def test_did_2x2_group_indicator_with_many_periods_needs_post_period(
    panel: pd.DataFrame,
) -> None:
    df = panel.assign(group=(panel["cohort"] > 0).astype(int))
    with pytest.raises(ParameterError, match="'post_period'"):
        cqox.estimate("did_2x2", df, outcome="y", treatment="group", roles=PANEL)


def test_did_twfe_builds_the_treatment_from_the_cohort(panel: pd.DataFrame) -> None:
    by_d = cqox.estimate("did_twfe", panel, outcome="y", treatment="d", roles=PANEL)
    by_cohort = cqox.estimate("did_twfe", panel, outcome="y", roles=STAGGERED)
    df = panel.assign(ever=(panel["cohort"] > 0).astype(int))
    by_group = cqox.estimate("did_twfe", df, outcome="y", treatment="ever", roles=STAGGERED)
    assert by_cohort.estimate == pytest.approx(by_d.estimate, rel=IDENTITY_TOL)
    assert by_group.estimate == pytest.approx(by_d.estimate, rel=IDENTITY_TOL)
    with pytest.raises(DesignError, match="constant within each unit"):
        cqox.estimate("did_twfe", df, outcome="y", treatment="ever", roles=PANEL)


def test_did_2x2_group_indicator_with_staggered_cohorts_is_refused(panel: pd.DataFrame) -> None:
    df = panel.assign(ever=(panel["cohort"] > 0).astype(int))
    with pytest.raises(DesignError, match="did_twfe or did_cs"):
        cqox.estimate("did_2x2", df, outcome="y", treatment="ever", roles=STAGGERED)
    one = df[df["cohort"] != 5]
    est = cqox.estimate("did_2x2", one, outcome="y", treatment="ever", roles=STAGGERED)
    assert est.diagnostics["post_period"] == 3.0


def test_demeaning_equals_dummy_regression_on_unbalanced_weighted_panel(
    panel: pd.DataFrame,
) -> None:
    df = panel.sample(frac=0.8, random_state=1).reset_index(drop=True)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 2.0, len(df))
    unit = df["unit"].to_numpy()
    _, unit = np.unique(unit, return_inverse=True)
    _, time = np.unique(df["time"].to_numpy(), return_inverse=True)
    res = twfe_fit(df["y"].to_numpy(), df[["d"]].to_numpy(float), unit, time, unit, w)
    dummies = np.column_stack(
        [df["d"].to_numpy(float), np.eye(unit.max() + 1)[unit], np.eye(time.max() + 1)[time][:, 1:]]
    )
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(dummies * sw[:, None], df["y"].to_numpy() * sw, rcond=None)[0]
    assert res.coef[0] == pytest.approx(beta[0], rel=1e-8)
    D, _ = demean_two_way(df[["d"]].to_numpy(float), unit, time, unit.max() + 1, time.max() + 1, w)
    assert np.allclose(D[:, 0], res.Xd[:, 0])


@pytest.mark.parametrize("weighted", [False, True])
def test_bacon_weights_sum_to_one_and_reproduce_twfe(weighted: bool) -> None:
    df, _ = staggered_panel(n_units=240, n_periods=7, cohorts=(3, 4, 6), dynamic=0.4, seed=3)
    # add always-treated units (treated from the first period)
    always = df[df["unit"] < 20].index
    df.loc[always, "cohort"] = 1
    df.loc[always, "d"] = 1
    n, T = 240, 7
    wu = np.random.default_rng(2).uniform(0.5, 2.0, n) if weighted else np.ones(n)
    Y = df["y"].to_numpy().reshape(n, T)
    D = df["d"].to_numpy(float).reshape(n, T)
    cohort = df["cohort"].to_numpy(float).reshape(n, T)[:, 0]
    bac = bacon_decomposition(Y, D, cohort, np.arange(1.0, T + 1), wu)
    assert bac.table["weight"].sum() == pytest.approx(1.0, abs=IDENTITY_TOL)
    assert set(bac.table["type"]) == {
        "treated_vs_never",
        "treated_vs_always",
        "earlier_vs_later",
        "later_vs_earlier",
    }
    unit = np.repeat(np.arange(n), T)
    time = np.tile(np.arange(T), n)
    res = twfe_fit(Y.ravel(), D.reshape(-1, 1), unit, time, unit, np.repeat(wu, T))
    assert bac.beta == pytest.approx(res.coef[0], rel=IDENTITY_TOL)


def test_twfe_reports_staggered_diagnostics(panel: pd.DataFrame) -> None:
    est = cqox.estimate("did_twfe", panel, outcome="y", treatment="d", roles=PANEL)
    names = {g.name for g in est.gates}
    assert {"twfe_negative_weights", "bacon_forbidden_weight"} <= names
    nw = est.tables["negative_weights"]
    assert nw["weight"].sum() == pytest.approx(1.0, abs=IDENTITY_TOL)
    single, _ = two_period_panel(n_units=100, seed=1)
    est2 = cqox.estimate("did_twfe", single, outcome="y", treatment="d", roles=PANEL)
    assert est2.gates[0].status == "not_applicable" and not est2.warnings


@pytest.mark.parametrize("name", ["did_2x2", "did_twfe", "did_cs"])
def test_estimates_are_serialisable_and_data_untouched(name: str, panel: pd.DataFrame) -> None:
    df = panel[panel["cohort"] != 5] if name == "did_2x2" else panel
    before = df.copy()
    roles = STAGGERED if name == "did_cs" else PANEL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(name, df, outcome="y", treatment="d", roles=roles, seed=1)
    assert df.equals(before)
    d = json.loads(json.dumps(est.to_dict(), allow_nan=False))
    assert d["estimator"] == name and d["estimand"] == "ATT"
    assert est.se > 0 and est.ci[0] < est.estimate < est.ci[1]


def test_did_cs_bootstrap_is_seeded(panel: pd.DataFrame) -> None:
    kw = {"roles": STAGGERED, "se_method": "bootstrap", "n_boot": 300}
    a = cqox.estimate("did_cs", panel, outcome="y", seed=4, **kw)
    b = cqox.estimate("did_cs", panel, outcome="y", seed=4, **kw)
    c = cqox.estimate("did_cs", panel, outcome="y", seed=5, **kw)
    assert a.se == b.se and a.se != c.se
    pd.testing.assert_frame_equal(a.tables["event_study"], b.tables["event_study"])


def test_analyze_runs_the_did_family_on_a_staggered_panel(panel: pd.DataFrame) -> None:
    an = cqox.analyze(
        panel,
        outcome="y",
        treatment="d",
        roles=STAGGERED,
        estimators=["did_twfe", "did_cs"],
        infer=False,
    )
    by_name = {e.estimator: e for e in an.estimates}
    assert set(by_name) == {"did_twfe", "did_cs"}
    assert by_name["did_cs"].params["aggregation"] == "group"
