"""``cqox analyze --mediator``: the mediation design through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.mediation import mediation_linear


def test_analyze_with_a_mediator_writes_the_decomposition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = mediation_linear(n=600, seed=2)
    data = tmp_path / "med.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "a.json"
    status = main(
        [
            "analyze",
            str(data),
            "--outcome",
            "y",
            "--treatment",
            "t",
            "--mediator",
            "m",
            "--covariates",
            "x1,x2,x3",
            "--estimators",
            "mediation,mediation_dml",
            "--set",
            "mediation_dml.learner=linear",
            "--set",
            "mediation.n_draws=500",
            "--json",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["roles"]["mediator"] == "m" and "mediation" in result["designs"]
    got = {(e["estimator"], e["estimand"]): e for e in result["estimates"]}
    assert set(got) == {(n, e) for n in ("mediation", "mediation_dml") for e in ("NIE", "NDE")}
    nie = got["mediation", "NIE"]
    assert nie["ci"][0] < truth["NIE"] < nie["ci"][1]
    effects = nie["tables"]["effects"]
    assert "ACME (control)" in json.dumps(effects)
    assert "sensitivity" in nie["tables"]


def test_a_mediator_that_is_also_a_covariate_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, _ = mediation_linear(n=200, seed=2)
    data = tmp_path / "med.csv"
    df.to_csv(data, index=False)
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "t", "--mediator", "m",
         "--covariates", "x1,m", "--estimators", "mediation"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "'m' is the mediator" in err
