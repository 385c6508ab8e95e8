"""``cqox analyze --sample``: transporting a trial's effect through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.transport import nested_trial


def test_analyze_with_a_sample_writes_the_target_effects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = nested_trial(n=3000, seed=2)
    data = tmp_path / "trial_target.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "a.json"
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "t", "--sample", "s",
         "--covariates", "x1,x2,x3", "--estimators", "transport_om,transport_iosw,transport_dr",
         "--json", str(out), "--seed", "3"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["roles"]["sample"] == "s" and "transportability" in result["designs"]
    got = {e["estimator"]: e for e in result["estimates"]}
    assert set(got) == {"transport_om", "transport_iosw", "transport_dr"}
    assert {e["estimand"] for e in got.values()} == {"TATE"}
    dr = got["transport_dr"]
    assert dr["ci"][0] < truth["TATE"] < dr["ci"][1]
    assert "TATE" in result["consensus"]


def test_a_sample_column_with_three_values_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, _ = nested_trial(n=300, seed=2)
    df["s"] = [0, 1, 2] * 100
    data = tmp_path / "bad.csv"
    df.to_csv(data, index=False)
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "t", "--sample", "s",
         "--covariates", "x1,x2", "--estimators", "transport_dr"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "column 's' must have two values" in err
