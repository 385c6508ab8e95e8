"""No analysis anywhere reports ``pass`` with zero gates or zero estimates (issue #11).

One invariant, checked on the three surfaces over the same engine: the library
(``cqox.analyze``), the command line (``cqox analyze``) and the HTTP service
(``POST /api/analyze/comprehensive``).  A table that supports no design is an error
(``NoDesignError``; exit status 2; HTTP 422 ``NO_DESIGN``) rather than an empty
analysis, and an analysis whose verdict is ``pass`` has at least one estimate and at
least one gate that passed, warned or failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.cli import main as cli
from tests.api.conftest import Api, assert_error, small_frame

CHECKED = ("pass", "warn", "fail")


def _no_design_frame() -> pd.DataFrame:
    """An outcome and covariates, no treatment: the Basque table's prefilled-roles case."""
    return small_frame()[["y", "x1", "x2"]]


def _few_gates_frame() -> pd.DataFrame:
    """A randomized experiment without covariates (only the refutation gates can run)."""
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, 300)
    return pd.DataFrame({"y": 1.5 * t + rng.normal(size=300), "t": t})


def assert_never_an_empty_pass(result: dict[str, Any]) -> None:
    """The invariant, on the JSON layout shared by the three surfaces."""
    quality = result["quality"]
    gates = [g for e in result["estimates"] for g in e["gates"]] + list(result["gates"])
    checked = [g for g in gates if g["status"] in CHECKED]
    assert result["estimates"], "an analysis with no estimate must be an error"
    assert quality["n_checked"] == len(checked)
    if not checked:
        assert quality["verdict"] == "not_checked"
    if quality["verdict"] == "pass":
        assert checked and all(g["status"] == "pass" for g in checked)


@pytest.mark.parametrize(
    "frame", [_few_gates_frame, small_frame], ids=["no covariates", "backdoor"]
)
def test_library_never_reports_an_empty_pass(frame: Any) -> None:
    df = frame()
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    assert_never_an_empty_pass(an.to_dict())
    with pytest.raises(cqox.errors.NoDesignError):
        cqox.analyze(_no_design_frame(), outcome="y", infer=False)


def test_library_verdict_is_not_checked_when_every_gate_is_inapplicable() -> None:
    from cqox.analysis.verdict import quality_assessment
    from cqox.core.estimate import Estimate
    from cqox.core.gate import Gate

    q = quality_assessment([Estimate.from_se("x", "ATE", 1.0, 0.5)], [])
    assert q["verdict"] == "not_checked" and q["n_checked"] == 0
    q = quality_assessment([], [Gate("overlap", 0.1, 0.05, "pass", "ok")])
    assert q["verdict"] != "pass", "a gate that passed does not make an analysis without estimates"


def test_cli_never_reports_an_empty_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    _few_gates_frame().to_csv(good, index=False)
    _no_design_frame().to_csv(bad, index=False)
    out = tmp_path / "an.json"
    argv = ["analyze", str(good), "--outcome", "y", "--treatment", "t"]
    assert cli.main([*argv, "--estimators", "regression_adjustment", "--json", str(out)]) == 0
    assert_never_an_empty_pass(json.loads(out.read_text(encoding="utf-8")))
    capsys.readouterr()
    assert cli.main(["analyze", str(bad), "--outcome", "y", "--no-infer"]) == 2
    err = capsys.readouterr().err
    assert "no design found" in err and "--treatment" in err


def test_api_never_reports_an_empty_pass(api: Api) -> None:
    h = api.headers("analyst")
    for df in (_few_gates_frame(), small_frame()):
        ds = api.dataset(h, df)
        r = api.client.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={
                "dataset_id": ds,
                "roles": {"outcome": "y", "treatment": "t"},
                "estimators": ["regression_adjustment"],
            },
        )
        assert r.status_code == 200, r.text
        assert_never_an_empty_pass(r.json()["result"])
    ds = api.dataset(h, _no_design_frame())
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "roles": {"outcome": "y"}, "options": {"infer": False}},
    )
    assert_error(r, 422, "NO_DESIGN")
