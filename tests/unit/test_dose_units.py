"""Dose-response estimators: the ``dose`` role, refusals, the curve, routing, pointers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators import registry
from cqox.simulate.dose import dose_polynomial

DOSE_ESTIMATORS = ["dose_dml", "dose_gps", "dose_kernel_dr", "dose_msm"]


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return dose_polynomial(n=800, seed=4)[0]


@pytest.mark.parametrize("name", DOSE_ESTIMATORS)
def test_missing_dose_role_is_refused_naming_it(sim: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.RoleError, match="role 'dose' is required"):
        cqox.estimate(name, sim, outcome="y", covariates=["x1"])


@pytest.mark.parametrize("name", DOSE_ESTIMATORS)
def test_dose_column_not_found_suggests_the_closest(sim: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.CqoxError, match=r"role 'dose'.*'aa'.*did you mean 'a'"):
        cqox.estimate(name, sim, outcome="y", dose="aa")


@pytest.mark.parametrize("name", DOSE_ESTIMATORS)
def test_text_dose_is_refused(sim: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.RoleError, match="role 'dose': column 'a' must be numeric"):
        cqox.estimate(name, sim.assign(a="high"), outcome="y", dose="a")


@pytest.mark.parametrize("name", DOSE_ESTIMATORS)
def test_two_valued_dose_points_to_the_discrete_estimators(sim: pd.DataFrame, name: str) -> None:
    with pytest.raises(cqox.RoleError, match=r"2 distinct values.*'multivalued'"):
        cqox.estimate(name, sim.assign(a=(sim["a"] > 1).astype(float)), outcome="y", dose="a")


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([True, False] * 400),  # boolean: not a dose
        pd.Series(["1.5", "2.5"] * 400, dtype="string"),  # an extension (text) dtype
        pd.Series(np.arange(800) % 2, dtype="Int64"),  # nullable integers, two values
        pd.Series(np.arange(800) % 2),  # NumPy integers, two values (the fast read)
        pd.Series([np.nan, 1.0, 1.0] + [2.0] * 797),  # NaN first, then two values
    ],
    ids=["bool", "text", "Int64", "int", "nan_first"],
)
def test_dose_checks_of_every_column_kind_refuse_as_the_series_checks(
    sim: pd.DataFrame, column: pd.Series
) -> None:
    # a NumPy column is read without a Series (family._numpy_column); the messages are
    # those of the Series checks: numeric and not boolean, three distinct values
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        match = rf"{column.nunique()} distinct values"
    else:
        match = "must be numeric"
    with pytest.raises(cqox.RoleError, match=match):
        cqox.estimate("dose_msm", sim.assign(a=column.to_numpy()) if column.dtype.kind in "biuf"
                      else sim.assign(a=column.array), outcome="y", dose="a")  # fmt: skip


def test_a_duplicated_dose_label_takes_the_series_checks(sim: pd.DataFrame) -> None:
    df = pd.concat([sim, sim[["a"]].astype(str)], axis=1)
    with pytest.raises(cqox.CqoxError):
        cqox.estimate("dose_msm", df, outcome="y", dose="a")


def test_dose_predicted_exactly_by_the_covariates_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.EstimationError, match="predict the dose exactly"):
        cqox.estimate("dose_msm", sim.assign(x1=sim["a"]), outcome="y", dose="a",
                      covariates=["x1"])  # fmt: skip


@pytest.mark.parametrize("name", DOSE_ESTIMATORS)
def test_curve_at_the_grid_equals_the_curve_table(sim: pd.DataFrame, name: str) -> None:
    est = cqox.estimate(name, sim, outcome="y", dose="a", covariates=["x1", "x2"], n_grid=21,
                        n_sim=300)  # fmt: skip
    grid = est.tables["curve"]
    assert len(grid) == 21
    cols = ["dose", "estimate", "se", "ci_lower", "ci_upper"]
    pd.testing.assert_frame_equal(est.curve(), grid[cols])
    assert np.all(grid["band_lower"] <= grid["ci_lower"])
    assert np.all(grid["band_upper"] >= grid["ci_upper"])
    q = np.quantile(sim["a"], [0.05, 0.95])
    assert grid["dose"].iloc[[0, -1]].to_numpy() == pytest.approx(q)
    assert est.estimand == "optimal_dose" and grid["dose"].min() <= est.estimate
    assert est.ci[0] <= est.estimate <= est.ci[1]
    assert est.diagnostics["max_value"] == pytest.approx(grid["estimate"].max())
    out = est.to_dict()
    assert len(out["tables"]["curve"]) == 21 and out["p_value"] is None


def test_degree_one_gives_a_straight_line_and_an_end_optimum(sim: pd.DataFrame) -> None:
    est = cqox.estimate("dose_msm", sim, outcome="y", dose="a", covariates=["x1", "x2"],
                        degree=1, n_sim=300)  # fmt: skip
    c = est.curve([0.0, 1.0, 2.0])["estimate"].to_numpy()
    assert c[2] - c[1] == pytest.approx(c[1] - c[0], rel=1e-12)
    assert est.diagnostics["optimum_at_boundary"]
    assert any("end of the dose grid" in w for w in est.warnings)


def test_curve_of_a_non_dose_estimator_is_refused() -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, seed=1)
    est = cqox.estimate("ipw", df, outcome="y", treatment="t", covariates=["x1"])
    with pytest.raises(cqox.EstimationError, match=r"no dose-response curve.*dose_msm"):
        est.curve([1.0])


def test_analyze_routes_a_continuous_treatment_to_the_dose_estimators(sim: pd.DataFrame) -> None:
    an = cqox.analyze(sim, outcome="y", treatment="a", covariates=["x1", "x2"])
    names = {e.estimator for e in an.estimates}
    assert set(DOSE_ESTIMATORS) <= names
    assert "optimal_dose" in an.consensus


BINARY_ONLY = sorted(
    name
    for name, cls in registry.all_estimators().items()
    if cls.binary_treatment and cls.requires == ("outcome", "treatment")
)


@pytest.mark.parametrize("name", BINARY_ONLY)
def test_binary_only_estimators_point_to_multivalued_and_dose(name: str) -> None:
    df, _ = cqox.simulate.multivalued(n=600, seed=2)
    pointer = r"'multivalued'.*'dose_msm', 'dose_gps', 'dose_kernel_dr' or 'dose_dml'"
    with pytest.raises(cqox.RoleError, match=pointer):
        cqox.estimate(name, df, outcome="y", treatment="t", covariates=["x1", "x2"])


def test_gps_curve_does_not_depend_on_the_row_blocks(
    sim: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cqox.estimators.dose.gps as gps

    whole = cqox.estimate("dose_gps", sim, outcome="y", dose="a", covariates=["x1", "x2"])
    monkeypatch.setattr(gps, "BLOCK_CELLS", 500)  # many blocks of a few rows
    blocked = cqox.estimate("dose_gps", sim, outcome="y", dose="a", covariates=["x1", "x2"])
    doses = [0.0, 1.0, 2.0]
    pd.testing.assert_frame_equal(whole.curve(doses), blocked.curve(doses), rtol=1e-12)
    assert whole.gates[0].value == pytest.approx(blocked.gates[0].value, rel=1e-12)
