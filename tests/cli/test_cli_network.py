"""``cqox analyze --network EDGES``: interference from an edge table on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.network import network_interference

#: Few draws: these tests check the wiring, not the numbers (tests/truth does).
FAST = ("--set", "network_exposure.n_draws=300", "--set", "network_exposure.n_perm=20")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 300-unit simulated network: ``units.csv`` (id, y, t) and ``edges.csv``."""
    folder = tmp_path_factory.mktemp("net")
    units, edges, _ = network_interference(n=300, mean_degree=2.0, seed=3)
    units.to_csv(folder / "units.csv", index=False)
    edges.to_csv(folder / "edges.csv", index=False)
    return folder / "units.csv", folder / "edges.csv"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_network_flag_runs_both_network_estimators_for_three_estimands(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units, edges = files
    out_json = tmp_path / "a.json"
    status, out, err = _run(
        capsys,
        "analyze",
        str(units),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--unit",
        "id",
        "--network",
        str(edges),
        *FAST,
        "--json",
        str(out_json),
    )
    assert status == 0, err
    data = json.loads(out_json.read_text(encoding="utf-8"))
    got = {(e["estimator"], e["estimand"]) for e in data["estimates"]}
    assert got == {
        (name, k)
        for name in ("network_exposure", "network_regression")
        for k in ("direct", "spillover", "total")
    }
    assert data["designs"] == ["network"]
    assert "network_exposure" in out


def test_network_flag_names_the_unknown_ids_of_a_bad_edge_table(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target\n0,1\n2,9999\n", encoding="utf-8")
    status, _, err = _run(
        capsys,
        "analyze",
        str(units),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--unit",
        "id",
        "--network",
        str(bad),
    )
    assert status == 2
    assert "9999" in err and "not units of the main table" in err


@pytest.mark.parametrize(
    ("rows", "needle"),
    [("0,0\n", "self-loop"), ("0,1\n1,0\n", "duplicate edge")],
)
def test_network_flag_refuses_self_loops_and_duplicates(
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: str,
    needle: str,
) -> None:
    units, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target\n" + rows, encoding="utf-8")
    status, _, err = _run(
        capsys,
        "analyze",
        str(units),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--unit",
        "id",
        "--network",
        str(bad),
    )
    assert status == 2 and needle in err


def test_network_flag_needs_the_unit_role(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    units, edges = files
    status, _, err = _run(
        capsys,
        "analyze",
        str(units),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--no-infer",
        "--network",
        str(edges),
    )
    assert status == 2 and "'unit' role" in err
