"""``cqox analyze --dose``: the doubly robust dose-response estimators by name and ``--set``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.dose import dose_polynomial


def test_dose_kernel_dr_and_dose_dml_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = dose_polynomial(n=800, seed=5)
    data = tmp_path / "dose.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "a.json"
    status = main(
        ["analyze", str(data), "--outcome", "y", "--dose", "a", "--covariates", "x1,x2",
         "--estimators", "dose_kernel_dr,dose_dml", "--set", "dose_kernel_dr.bandwidth=0.3",
         "--set", "dose_dml.outcome_learner=linear", "--set", "dose_dml.n_sim=300",
         "--json", str(out), "--seed", "2"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert "dose_response" in result["designs"]
    got = {e["estimator"]: e for e in result["estimates"]}
    assert set(got) == {"dose_kernel_dr", "dose_dml"}
    assert got["dose_kernel_dr"]["params"]["bandwidth"] == 0.3
    assert got["dose_dml"]["params"]["outcome_learner"] == "linear"
    for est in got.values():
        assert est["estimand"] == "optimal_dose"
        assert est["ci"][0] <= truth["optimal_dose"] <= est["ci"][1]
        assert len(est["tables"]["curve"]) == 101


def test_a_bad_bandwidth_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, _ = dose_polynomial(n=200, seed=5)
    data = tmp_path / "dose.csv"
    df.to_csv(data, index=False)
    status = main(
        ["analyze", str(data), "--outcome", "y", "--dose", "a", "--estimators",
         "dose_kernel_dr", "--set", "dose_kernel_dr.bandwidth=-1"]
    )  # fmt: skip
    assert status == 2
    assert "'bandwidth' parameter of dose_kernel_dr" in capsys.readouterr().err
