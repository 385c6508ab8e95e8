"""Bad inputs of ``ring_did`` are refused, naming the parameter, role or column at fault."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import CqoxError, DesignError, ParameterError, RoleError
from cqox.estimators.spatial.rings import (
    MAX_RINGS,
    distance_to_treated,
    parse_ring_edges,
    ring_design,
)
from cqox.simulate.spatial import ring_spillover_panel

ROLES = {"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df, _ = ring_spillover_panel(n_units=300, n_periods=4, cohorts=(3,), seed=2)
    return df


def ring_did(df: pd.DataFrame, roles: dict[str, Any] | None = None, **kw: Any) -> cqox.Estimate:
    return cqox.estimate("ring_did", df, outcome="y", treatment="d", roles=roles or ROLES, **kw)


@pytest.mark.parametrize(
    "edges",
    [
        [2.0, 1.0],  # decreasing
        [1.0, 1.0],  # repeated
        [-1.0, 2.0],  # negative
        [0.0, 1.0],  # zero: ring 1 starts at 0 already
        ["a", "b"],
        [float("nan"), 1.0],
        [1.0, float("inf")],
        [30_000.0],  # beyond half the Earth's circumference
        [],
        [True, 2.0],
        list(range(1, MAX_RINGS + 2)),  # one ring too many
        "1,,x",
        {"a": 1},
    ],
)
def test_bad_ring_edges_are_refused_naming_the_parameter(panel: pd.DataFrame, edges: Any) -> None:
    with pytest.raises(ParameterError, match="'ring_edges_km' parameter of ring_did") as e:
        ring_did(panel, ring_edges_km=edges)
    assert e.value.details["parameter"] == "ring_edges_km"


@pytest.mark.parametrize("text", ["1,2,3", "[1, 2, 3]", "1;2;3", " 1, 2 ,3 "])
def test_ring_edges_given_as_text_on_the_command_line_are_parsed(text: str) -> None:
    assert parse_ring_edges(text) == (1.0, 2.0, 3.0)


def test_ring_beyond_the_number_of_rings_is_refused(panel: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"'ring' parameter of ring_did .* at most"):
        ring_did(panel, ring_edges_km=[1, 2], estimand="spillover", ring=3)
    with pytest.raises(ParameterError, match="'ring' parameter"):
        ring_did(panel, estimand="spillover", ring=4)  # three rings from the data
    with pytest.raises(ParameterError, match="'ring' parameter"):
        ring_did(panel, ring_edges_km=[1, 2], ring=0)


def test_the_chosen_ring_is_the_headline_spillover(panel: pd.DataFrame) -> None:
    est = ring_did(panel, ring_edges_km=[1, 2, 3], estimand="spillover", ring=2)
    assert est.estimate == pytest.approx(est.tables["rings"]["estimate"].iloc[2])
    assert est.diagnostics["ring"] == 2


@pytest.mark.parametrize("role", ["lat", "lon"])
def test_a_missing_coordinate_role_is_named(panel: pd.DataFrame, role: str) -> None:
    roles = {k: v for k, v in ROLES.items() if k != role}
    with pytest.raises(RoleError, match=f"role '{role}'"):
        ring_did(panel, roles, ring_edges_km=[1, 2, 3])


def test_a_coordinate_that_moves_within_a_place_is_named(panel: pd.DataFrame) -> None:
    df = panel.copy()
    df.loc[5, "lat"] += 0.01
    with pytest.raises(RoleError, match="role 'lat': column 'lat' varies within unit"):
        ring_did(df, ring_edges_km=[1, 2, 3])


def test_an_impossible_latitude_is_named(panel: pd.DataFrame) -> None:
    df = panel.assign(lat=panel["lat"] + 60.0)  # 105° north
    with pytest.raises(RoleError, match=r"role 'lat': column 'lat' .*outside \[-90, 90\]"):
        ring_did(df, ring_edges_km=[1, 2, 3])


def test_an_empty_ring_is_named_with_its_band(panel: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"ring 1 \(0–0.001 km\) holds no untreated") as e:
        ring_did(panel, ring_edges_km=[0.001, 2.0])
    assert e.value.details["parameter"] == "ring_edges_km"


def test_rings_that_cover_every_place_leave_no_pure_controls(panel: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="no pure controls") as e:
        ring_did(panel, ring_edges_km=[1.0, 500.0])
    assert e.value.details["parameter"] == "ring_edges_km"


def test_a_treatment_that_switches_off_is_refused(panel: pd.DataFrame) -> None:
    df = panel.copy()
    treated_last = df.index[(df["d"] == 1) & (df["time"] == 4)][0]
    df.loc[treated_last, "d"] = 0
    with pytest.raises(CqoxError, match="switches off"):
        ring_did(df, ring_edges_km=[1, 2, 3])


def test_the_callers_table_is_untouched(panel: pd.DataFrame) -> None:
    before = panel.copy()
    ring_did(panel, ring_edges_km=[1, 2, 3])
    pd.testing.assert_frame_equal(panel, before)


def test_ring_indicators_on_a_line_of_places() -> None:
    # places on the equator 0, 0.5, 1.5, 2.5, 10 km east of the one treated in period 2
    km = np.array([0.0, 0.5, 1.5, 2.5, 10.0])
    lon = km / (np.pi * 6371.0088 / 180.0)
    cohort = np.array([2, 0, 0, 0, 0])
    unit = np.tile(np.arange(5), 2)
    time = np.repeat([0, 1], 5)
    dist, treated = distance_to_treated(np.zeros(5), lon, cohort, unit, time, np.array([1.0, 2.0]))
    design = ring_design(dist, treated, [1.0, 2.0, 3.0])
    assert np.all(np.isinf(dist[:5]))  # nothing treated in period 1: pure controls
    np.testing.assert_allclose(dist[5:], km, atol=1e-9)
    assert design.ring_of_row.tolist() == [4, 4, 4, 4, 4, 0, 1, 2, 3, 4]
    assert design.rings.sum(axis=0).tolist() == [1.0, 1.0, 1.0]
