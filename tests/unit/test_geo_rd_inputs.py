"""``geo_rd``: the signed distance on simple borders, and bad inputs named."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.data.boundary import parse_boundary, signed_distance_km
from cqox.errors import DesignError, ParameterError, RoleError
from cqox.simulate.spatial import boundary_rd

KM_PER_DEGREE = np.pi * 6371.0088 / 180.0


def test_the_equator_walked_east_has_the_north_on_its_left() -> None:
    line = parse_boundary([[0.0, 0.0], [10.0, 0.0]])
    d = signed_distance_km(np.array([1.0, -0.5, 0.0]), np.array([5.0, 3.0, 2.0]), line)
    np.testing.assert_allclose(d.signed_km, [KM_PER_DEGREE, -0.5 * KM_PER_DEGREE, 0.0], atol=1e-9)
    assert not d.beyond_end.any()


def test_a_meridian_walked_north_has_the_east_on_its_right_and_ends_are_flagged() -> None:
    line = parse_boundary([[0.0, 0.0], [0.0, 10.0]])
    d = signed_distance_km(np.array([5.0, 12.0]), np.array([1.0, 0.0]), line)
    assert d.signed_km[0] < 0  # east of a northward line: right
    # 2° beyond the northern end: the distance to that end
    assert d.signed_km[1] == pytest.approx(2 * KM_PER_DEGREE, rel=1e-9)
    assert d.beyond_end.tolist() == [False, True]


def test_geojson_linestring_feature_and_json_text_give_the_same_line() -> None:
    pts = [[10.0, 45.0], [10.1, 45.1], [10.0, 45.2]]
    ls = {"type": "LineString", "coordinates": pts}
    feature = {"type": "Feature", "geometry": ls, "properties": {}}
    expected = parse_boundary(pts)
    for value in (ls, feature, json.dumps(ls), json.dumps(pts), np.array(pts)):
        np.testing.assert_array_equal(parse_boundary(value), expected)
    assert expected[0].tolist() == [45.0, 10.0]  # stored as (lat, lon)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ([[10.0, 45.0]], "got 1 point"),
        ([], "got 0 point"),
        ([[10.0, 45.0], [10.0, 45.0]], "points 0 and 1 are the same place"),
        ([[0.0, 0.0], [180.0, 0.0]], "antipodal"),
        ([[10.0, 45.0], [10.0, 95.0]], r"point 1 = \[10, 95\] is outside"),
        ([[10.0, 45.0], ["a", 45.0]], "point 1 is not a pair"),
        ([[10.0, 45.0], [float("nan"), 45.0]], "point 1 is not a pair"),
        ([[10.0, 45.0], [True, 45.0]], "point 1 is not a pair"),
        ([[10.0, 45.0], 7], "point 1 is not a pair"),
        ({"type": "Polygon", "coordinates": []}, "must be a LineString"),
        ("not json", "not JSON"),
        (42, "got a int"),
    ],
)
def test_bad_boundaries_are_refused_naming_the_parameter(value: Any, why: str) -> None:
    with pytest.raises(ParameterError, match=why) as e:
        parse_boundary(value)
    assert "'boundary' parameter" in str(e.value)
    assert e.value.details["parameter"] == "boundary"


@pytest.fixture(scope="module")
def border() -> tuple[pd.DataFrame, list[list[float]]]:
    df, truth = boundary_rd(n=800, seed=3)
    return df, truth["boundary"]  # type: ignore[return-value]


def geo(df: pd.DataFrame, **kw: Any) -> cqox.Estimate:
    args: dict[str, Any] = {"outcome": "y", "treatment": "t", "lat": "lat", "lon": "lon"}
    args.update(kw)
    return cqox.estimate(
        "geo_rd", df, gates=False, **{k: v for k, v in args.items() if v is not None}
    )


def test_a_missing_boundary_is_named(border: tuple[pd.DataFrame, Any]) -> None:
    with pytest.raises(ParameterError, match="needs the parameter 'boundary'"):
        geo(border[0])


def test_a_bad_boundary_is_refused_before_fitting(border: tuple[pd.DataFrame, Any]) -> None:
    with pytest.raises(ParameterError, match="'boundary' parameter of geo_rd"):
        geo(border[0], boundary=[[10.0, 45.0]])


@pytest.mark.parametrize("role", ["lat", "lon"])
def test_a_missing_coordinate_role_is_named(border: tuple[pd.DataFrame, Any], role: str) -> None:
    with pytest.raises(RoleError, match=f"role '{role}' is required by geo_rd"):
        geo(border[0], boundary=border[1], **{role: None})


def test_auto_side_without_treatment_names_treated_side(border: tuple[pd.DataFrame, Any]) -> None:
    with pytest.raises(ParameterError, match="'treated_side'"):
        geo(border[0], boundary=border[1], treatment=None)
    est = geo(border[0], boundary=border[1], treatment=None, treated_side="left")
    assert est.diagnostics["treated_side"] == "left" and est.estimand == "ATE(c)"


def test_a_boundary_far_from_every_place_is_a_design_error(
    border: tuple[pd.DataFrame, Any],
) -> None:
    # swapped [lat, lon] order puts the line in Somalia: every place on one side
    swapped = [[p[1], p[0]] for p in border[1]]
    with pytest.raises(DesignError, match="one side of the boundary"):
        geo(border[0], boundary=swapped)


def test_places_beyond_the_ends_are_counted_with_a_warning(
    border: tuple[pd.DataFrame, Any],
) -> None:
    short = border[1][2:5]  # the middle of the border only
    est = geo(border[0], boundary=short)
    assert est.diagnostics["n_beyond_ends"] > 0
    assert any("beyond the ends of the boundary" in w for w in est.warnings)
    assert est.params["boundary"] == "line of 3 points"
