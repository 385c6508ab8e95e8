"""``cqox analyze --lat C --lon C`` on a panel of places runs the spillover rings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.spatial import ring_spillover_panel

PANEL = ("--outcome", "y", "--treatment", "d", "--unit", "unit", "--time", "time")


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spatial") / "places.csv"
    df, _ = ring_spillover_panel(n_units=300, n_periods=4, cohorts=(3,), seed=1)
    df.drop(columns="cohort").to_csv(path, index=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_lat_lon_on_a_panel_find_the_spatial_design_and_run_both_estimands(
    places: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "a.json"
    status, _, err = _run(
        capsys, "analyze", str(places), *PANEL, "--lat", "lat", "--lon", "lon",
        "--estimators", "ring_did", "--set", "ring_did.ring_edges_km=1,2,3",
        "--json", str(out_json),
    )  # fmt: skip
    assert status == 0, err
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert "spatial" in data["designs"]
    got = {e["estimand"]: e for e in data["estimates"] if e["estimator"] == "ring_did"}
    assert set(got) == {"direct", "spillover"}
    assert got["direct"]["params"]["ring_edges_km"] == [1.0, 2.0, 3.0]


def test_without_coordinates_the_rings_are_not_run(
    places: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "b.json"
    status, _, err = _run(
        capsys, "analyze", str(places), *PANEL, "--estimators", "did_twfe",
        "--json", str(out_json),
    )  # fmt: skip
    assert status == 0, err
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert "spatial" not in data["designs"]


def test_bad_ring_edges_exit_non_zero_naming_the_parameter(
    places: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(
        capsys, "analyze", str(places), *PANEL, "--lat", "lat", "--lon", "lon",
        "--estimators", "ring_did", "--set", "ring_did.ring_edges_km=3,2,1",
    )  # fmt: skip
    assert status != 0
    assert "ring_edges_km" in err and len(err.strip().splitlines()) == 1
