"""Bad inputs of Conley standard errors are refused, naming the role, column or parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import ParameterError, RoleError
from cqox.inference.spatial_hac import conley_meat, pairs_within

ROLES = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}


@pytest.fixture(scope="module")
def spatial_df() -> pd.DataFrame:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=5)
    rng = np.random.default_rng(5)
    return df.assign(la=rng.uniform(-30, 30, len(df)), lo=rng.uniform(100, 140, len(df)))


def conley(df: pd.DataFrame, **kw: object) -> cqox.Estimate:
    args: dict[str, object] = {"lat": "la", "lon": "lo", "se_method": "conley"}
    args.update(kw)
    return cqox.estimate(
        "regression_adjustment", df, **ROLES, **{k: v for k, v in args.items() if v is not None}
    )


@pytest.mark.parametrize("role", ["lat", "lon"])
def test_missing_coordinate_role_is_named(spatial_df: pd.DataFrame, role: str) -> None:
    with pytest.raises(RoleError, match=f"role '{role}' is required by se_method='conley'"):
        conley(spatial_df, conley_cutoff_km=100.0, **{role: None})


def test_out_of_range_latitude_names_the_column(spatial_df: pd.DataFrame) -> None:
    df = spatial_df.assign(la=spatial_df["la"].where(spatial_df.index != 7, 91.5))
    with pytest.raises(RoleError, match=r"role 'lat': column 'la' .*outside \[-90, 90\]") as e:
        conley(df, conley_cutoff_km=100.0)
    assert "91.5" in str(e.value) and e.value.details["column"] == "la"


def test_out_of_range_longitude_names_the_column(spatial_df: pd.DataFrame) -> None:
    df = spatial_df.assign(lo=-200.0)
    with pytest.raises(RoleError, match="role 'lon': column 'lo'"):
        conley(df, conley_cutoff_km=100.0)


def test_a_coordinate_column_that_does_not_exist_is_named(spatial_df: pd.DataFrame) -> None:
    with pytest.raises(RoleError, match="latitude"):
        conley(spatial_df, lat="latitude", conley_cutoff_km=100.0)


@pytest.mark.parametrize("cutoff", [0.0, -5.0, 25_000.0])
def test_cutoff_outside_its_range_names_the_parameter(
    spatial_df: pd.DataFrame, cutoff: float
) -> None:
    with pytest.raises(ParameterError, match="'conley_cutoff_km' parameter"):
        conley(spatial_df, conley_cutoff_km=cutoff)
    with pytest.raises(ParameterError, match="'conley_cutoff_km' parameter"):
        conley_meat(np.ones(3), np.zeros(3), np.zeros(3), cutoff)


def test_conley_without_a_cutoff_is_refused(spatial_df: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"'conley_cutoff_km' parameter .* is required"):
        conley(spatial_df)


def test_a_cutoff_without_conley_is_refused(spatial_df: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="applies to se_method='conley' only"):
        conley(spatial_df, se_method="analytic", conley_cutoff_km=100.0)


def test_an_unknown_kernel_is_refused(spatial_df: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="conley_kernel"):
        conley(spatial_df, conley_cutoff_km=100.0, conley_kernel="gaussian")


def test_pairs_are_found_at_exactly_the_cutoff() -> None:
    # two points one degree of latitude apart: 111.195 km on the IUGG mean sphere
    d = np.pi / 180 * 6371.0088
    lat, lon = np.array([0.0, 1.0]), np.array([0.0, 0.0])
    assert len(pairs_within(lat, lon, d).i) == 1
    assert len(pairs_within(lat, lon, d * (1 - 1e-9)).i) == 0


def test_lat_and_lon_are_roles_with_cli_flags() -> None:
    from cqox.cli.main import build_parser

    args = build_parser().parse_args(["analyze", "d.csv", "--lat", "a", "--lon", "b"])
    assert (args.lat, args.lon) == ("a", "b")
    assert cqox.Roles.from_mapping(lat="a", lon="b").columns() == ["a", "b"]
