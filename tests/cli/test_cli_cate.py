"""``cqox cate`` and ``cqox analyze --heterogeneity``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cqox.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cate_writes_effects_predictions_and_json(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"x1": [-1.0, 0.0, 1.0], "x2": 0.0, "x3": 0.0}).to_csv(grid, index=False)
    effects, pred, out_json = tmp_path / "e.csv", tmp_path / "p.csv", tmp_path / "o.json"
    status, out, err = _run(
        capsys,
        "cate",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--covariates",
        "x1,x2,x3",
        "--method",
        "dr_learner",
        "--set",
        "learner=linear",
        "--set",
        "final_learner=linear",
        "--effects",
        str(effects),
        "--grid",
        str(grid),
        "--predictions",
        str(pred),
        "--json",
        str(out_json),
    )
    assert status == 0, err
    assert "cate_blp" in out
    assert len(pd.read_csv(effects)) == 600
    p = pd.read_csv(pred)
    assert list(p.columns) == ["x1", "x2", "x3", "cate", "se", "ci_lower", "ci_upper"]
    # τ(x) = 2 + x1 in this design: the linear DR-learner recovers the slope
    assert p.cate.iloc[2] - p.cate.iloc[0] == pytest.approx(2.0, abs=0.8)
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["estimator"] == "dr_learner" and len(data["cate_predictions"]) == 3


def test_cate_bad_covariate_exits_with_one_line(
    demo_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(
        capsys,
        "cate",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--covariates",
        "x1,nope",
    )
    assert status != 0 and "nope" in err and len(err.strip().splitlines()) == 1


def test_analyze_heterogeneity_adds_the_cate_estimators(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "a.json"
    status, _, err = _run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--covariates",
        "x1,x2,x3",
        "--heterogeneity",
        "--set",
        "causal_forest.n_trees=100",
        "--set",
        "causal_forest.learner=linear",
        "--set",
        "dr_learner.learner=linear",
        "--set",
        "policy_tree.learner=linear",
        "--json",
        str(out_json),
        "--quiet",
    )
    assert status == 0, err
    data = json.loads(out_json.read_text(encoding="utf-8"))
    names = {e["estimator"] for e in data["estimates"]}
    assert {"causal_forest", "dr_learner", "policy_tree", "ipw"} <= names
    assert "cate" in data["designs"]
