"""Time-varying treatments: the panel's refusals, design detection, options, the budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.design import Design, designs_for
from cqox.core.roles import Roles
from cqox.data.design_detect import refine_designs
from cqox.server import budget
from cqox.simulate.timevarying import time_varying_feedback

ROLES = {"outcome": "y", "treatment": "a", "unit": "id", "time": "time", "covariates": ["l", "v"]}
NAMES = ["msm_iptw", "gformula"]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return time_varying_feedback(n=300, periods=3, seed=2)[0]


def _fit(name: str, df: pd.DataFrame, **kw: object) -> cqox.Estimate:
    roles = {**ROLES, **{k: v for k, v in kw.items() if k in ROLES}}
    params = {k: v for k, v in kw.items() if k not in ROLES}
    if name == "gformula":
        params.setdefault("n_boot", 20)
    return cqox.estimate(name, df, **roles, **params)


@pytest.mark.parametrize("name", NAMES)
def test_missing_unit_role_is_refused_naming_it(panel: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.RoleError, match="role 'unit' is required"):
        cqox.estimate(name, panel, outcome="y", treatment="a", time="time", covariates=["l"])


@pytest.mark.parametrize("name", NAMES)
def test_formula_covariates_are_refused(panel: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.RoleError, match=r"role 'covariates'.*list of columns"):
        _fit(name, panel, covariates="l + I(l**2)")


@pytest.mark.parametrize("name", NAMES)
def test_unbalanced_panel_is_refused_naming_the_unit(panel: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.DataError, match=r"unit 5 has 2 of the 3 periods of 'time'"):
        _fit(name, panel.drop(index=panel.index[(panel["id"] == 5) & (panel["time"] == 1)]))


def test_duplicate_unit_period_is_refused(panel: pd.DataFrame) -> None:
    with pytest.raises(cqox.DataError, match="more than one row at time"):
        _fit("msm_iptw", pd.concat([panel, panel.head(1)]))


def test_non_binary_treatment_is_refused_naming_the_column(panel: pd.DataFrame) -> None:
    with pytest.raises(cqox.RoleError, match="role 'treatment': column 'a' must be 0/1"):
        _fit("msm_iptw", panel.assign(a=panel["a"] * 2))


def test_outcome_missing_at_the_last_period_is_refused(panel: pd.DataFrame) -> None:
    df = panel.copy()
    df.loc[df.index[2], "y"] = np.nan  # unit 0's last period
    with pytest.raises(cqox.DataError, match="role 'outcome': column 'y' is missing at the last"):
        _fit("gformula", df)


def test_missing_covariate_value_is_refused_naming_the_column(panel: pd.DataFrame) -> None:
    df = panel.copy()
    df.loc[df.index[4], "l"] = np.nan
    with pytest.raises(cqox.DataError, match="role 'covariates': column 'l' has 1 missing"):
        _fit("msm_iptw", df)


def test_too_few_units_is_refused(panel: pd.DataFrame) -> None:
    with pytest.raises(cqox.DataError, match="at least 20"):
        _fit("msm_iptw", panel[panel["id"] < 10])


@pytest.mark.parametrize(
    ("param", "bad"), [("n_boot", 10**6), ("n_draws", 1000), ("truncate", 0.6)]
)
def test_bad_parameters_are_refused_naming_them(
    panel: pd.DataFrame, param: str, bad: object
) -> None:
    name = "msm_iptw" if param == "truncate" else "gformula"
    with pytest.raises(cqox.ParameterError, match=f"'{param}' parameter of {name}"):
        _fit(name, panel, **{param: bad})


def test_design_needs_a_treatment_and_a_covariate_that_change_within_units(
    panel: pd.DataFrame,
) -> None:
    roles = Roles.from_mapping(ROLES)
    assert Design.TIME_VARYING in designs_for(roles)
    assert Design.TIME_VARYING in refine_designs(panel, roles, designs_for(roles))[0]
    baseline_only = Roles.from_mapping({**ROLES, "covariates": ["v"]})
    kept, _ = refine_designs(panel, baseline_only, designs_for(baseline_only))
    assert Design.TIME_VARYING not in kept
    fixed = panel.assign(a=panel.groupby("id")["a"].transform("first"))
    assert Design.TIME_VARYING not in refine_designs(fixed, roles, designs_for(roles))[0]
    assert Design.TIME_VARYING not in designs_for(Roles.from_mapping({**ROLES, "covariates": None}))


def test_analyze_runs_both_and_agrees_on_the_estimand(panel: pd.DataFrame) -> None:
    an = cqox.analyze(panel, **ROLES, estimators=NAMES, params={"gformula": {"n_boot": 20}})
    assert {e.estimator for e in an.estimates} == set(NAMES)
    assert "always_vs_never" in an.consensus


def test_msm_options_agree_on_the_point_and_differ_in_the_se(panel: pd.DataFrame) -> None:
    fits = {m: _fit("msm_iptw", panel, se_method=m, n_boot=50) for m in
            ("analytic", "robust", "bootstrap")}  # fmt: skip
    points = {round(f.estimate, 12) for f in fits.values()}
    assert len(points) == 1
    # the weights' estimation lowers the variance (Robins et al. 2000): robust ≥ analytic
    assert fits["robust"].se >= fits["analytic"].se
    per = _fit("msm_iptw", panel, msm="per_period")
    assert len(per.tables["coefficients"]) == 1 + 3
    w = _fit("msm_iptw", panel, truncate=0.05)
    assert w.diagnostics["weight_max"] <= fits["analytic"].diagnostics["weight_max"]


@pytest.mark.parametrize("column", ["constant", "collinear"])
def test_analytic_se_ignores_a_constant_or_collinear_covariate(
    panel: pd.DataFrame, column: str
) -> None:
    # the weight models' Hessians are singular then; the SE is that without the column
    df = panel.assign(constant=1.0, collinear=2.0 * panel["l"])
    base = _fit("msm_iptw", df, se_method="analytic")
    more = _fit("msm_iptw", df, se_method="analytic", covariates=["l", "v", column])
    assert more.estimate == pytest.approx(base.estimate, rel=1e-10)
    assert more.se == pytest.approx(base.se, rel=1e-10)


def test_weights_by_period_start_at_the_first_period_ratio(panel: pd.DataFrame) -> None:
    est = _fit("msm_iptw", panel)
    w = est.tables["weights_by_period"]
    assert list(w["time"]) == [0, 1, 2]
    assert np.all(w["q01"] <= w["median"]) and np.all(w["median"] <= w["q99"])
    assert w["max"].iloc[-1] == pytest.approx(est.diagnostics["weight_max"])


def test_gformula_handles_a_binary_outcome_and_a_binary_covariate() -> None:
    df, _ = time_varying_feedback(n=400, periods=3, seed=3)
    noise = np.random.default_rng(0).standard_normal(len(df))
    df = df.assign(y=(df["y"] > 3).astype(float).where(df["y"].notna()),
                   b=(df["l"] + noise > 0).astype(float))  # fmt: skip
    est = _fit("gformula", df, covariates=["l", "b", "v"])
    reg = est.tables["regimes"].set_index("regime")["estimate"]
    assert 0 <= reg["never"] <= 1 and 0 <= reg["always"] <= 1
    assert est.diagnostics["outcome_model"] == "logistic"


def test_the_budget_counts_time_varying_estimators_only_when_covariates_are_named() -> None:
    unasked = {c.name for c in budget.planned("comprehensive", None)}
    assert not set(NAMES) & unasked
    named = {c.name for c in budget.planned("comprehensive", None, roles={"covariates": ["l"]})}
    assert set(NAMES) <= named
