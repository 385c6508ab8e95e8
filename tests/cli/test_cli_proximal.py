"""``cqox analyze --treatment-proxy --outcome-proxy``: proximal inference on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.simulate.proximal import zivich_2023


def test_analyze_with_two_proxies_writes_the_proximal_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, truth = zivich_2023(n=3000, seed=2)
    data = tmp_path / "proxies.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "a.json"
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "t", "--treatment-proxy", "z",
         "--outcome-proxy", "w", "--covariates", "x", "--estimators", "proximal_2sls",
         "--json", str(out)]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["roles"]["treatment_proxy"] == "z" and "proximal" in result["designs"]
    (est,) = result["estimates"]
    assert est["ci"][0] < truth["ATE"] < est["ci"][1]
    assert est["gates"][0]["name"] == "proxy_relevance"


def test_a_proxy_among_the_covariates_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df, _ = zivich_2023(n=300, seed=2)
    data = tmp_path / "proxies.csv"
    df.to_csv(data, index=False)
    status = main(
        ["analyze", str(data), "--outcome", "y", "--treatment", "t", "--treatment-proxy", "z",
         "--outcome-proxy", "w", "--covariates", "x,w", "--estimators", "proximal_2sls"]
    )  # fmt: skip
    assert status == 2 and "column 'w' is the outcome proxy" in capsys.readouterr().err
