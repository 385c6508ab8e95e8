"""``cqox analyze --unit --time --covariates``: the time-varying design from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.timevarying import time_varying_feedback


def test_msm_iptw_and_gformula_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = time_varying_feedback(n=500, periods=3, seed=4)
    data = tmp_path / "panel.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "a.json"
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "a", "--unit", "id",
         "--time", "time", "--covariates", "l,v", "--estimators", "msm_iptw,gformula",
         "--set", "gformula.n_boot=40", "--set", "msm_iptw.se_method=analytic",
         "--json", str(out), "--seed", "1"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert "time_varying" in result["designs"]
    got = {e["estimator"]: e for e in result["estimates"]}
    assert set(got) == {"msm_iptw", "gformula"}
    assert got["msm_iptw"]["params"]["se_method"] == "analytic"
    for est in got.values():
        assert est["estimand"] == "always_vs_never"
        assert est["ci"][0] < truth["always_vs_never"] < est["ci"][1]
    assert "always_vs_never" in result["consensus"]


def test_an_unbalanced_panel_exits_2_naming_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, _ = time_varying_feedback(n=100, periods=3, seed=4)
    data = tmp_path / "panel.csv"
    df.iloc[1:].to_csv(data, index=False)
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "a", "--unit", "id",
         "--time", "time", "--covariates", "l,v", "--estimators", "msm_iptw"]
    )  # fmt: skip
    assert status == 2
    assert "unit 0 has 2 of the 3 periods" in capsys.readouterr().err
