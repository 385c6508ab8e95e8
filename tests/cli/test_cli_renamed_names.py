"""Renamed parameters and gate thresholds keep working on the command line for one release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli import main as cli


def _analyze(
    capsys: pytest.CaptureFixture[str], demo_csv: Path, out: Path, setting: str, new: str
) -> dict:  # type: ignore[type-arg]
    argv = ["analyze", str(demo_csv), "--outcome", "y", "--treatment", "t", "--quiet"]
    status = cli.main([*argv, "--set", setting, "--estimators", "psm", "--json", str(out)])
    err = capsys.readouterr().err
    assert status == 0, err
    notes = [line for line in err.splitlines() if line.startswith("cqox: deprecated:")]
    assert len(notes) == 1 and new in notes[0], err  # once, naming the new name
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_set_accepts_a_deprecated_parameter_name(
    capsys: pytest.CaptureFixture[str], demo_csv: Path, tmp_path: Path
) -> None:
    result = _analyze(capsys, demo_csv, tmp_path / "a.json", "psm.trim=true", "common_support")
    assert all(e["params"]["common_support"] is True for e in result["estimates"])


def test_set_accepts_a_deprecated_threshold_name(
    capsys: pytest.CaptureFixture[str], demo_csv: Path, tmp_path: Path
) -> None:
    result = _analyze(capsys, demo_csv, tmp_path / "b.json", "gates.smd=0.5", "covariate_balance")
    gates = [g for e in result["estimates"] for g in e["gates"] if g["name"] == "covariate_balance"]
    assert gates and all(g["threshold"] == 0.5 for g in gates)
