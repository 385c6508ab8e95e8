"""The interactive HTML report: each figure's Plotly JSON as a data block beside its PNG,
Plotly.js from the installed package and a viewer inline, allowed by their hashes."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

import cqox
from cqox.analysis.analysis import Analysis
from cqox.core.jsonable import to_jsonable
from cqox.report.gallery import figure_specs
from cqox.report.html import render_report
from cqox.report.interactive import VIEWER_JS, figure_json_block, plotly_js, script_hashes


@pytest.fixture(scope="module")
def demo() -> Analysis:
    df, _ = cqox.simulate.confounded_binary(n=400, seed=3)
    return cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"])


@pytest.fixture(scope="module")
def page(demo: Analysis) -> str:
    return render_report(demo, interactive=True)


def test_every_figure_has_its_plotly_json_beside_its_png(demo: Analysis, page: str) -> None:
    specs = list(figure_specs(demo))
    assert specs
    for spec in specs:
        block = re.search(
            rf'<script type="application/json" id="cqox-figure-{spec.name}">(.*?)</script>',
            page,
            re.S,
        )
        assert block, spec.name
        assert json.loads(block.group(1)) == json.loads(json.dumps(to_jsonable(spec.plotly())))
        box = re.search(rf"<div class=cqox-plot data-figure='{spec.name}'[^>]*>(.*?)</div>", page)
        assert box and "data:image/png;base64," in box.group(1), spec.name


def test_the_two_inline_scripts_are_plotly_and_the_viewer_with_their_hashes(page: str) -> None:
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert inline == [plotly_js(), VIEWER_JS]
    expected = tuple(
        "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in inline
    )
    assert script_hashes() == expected
    assert "plotly.js v" in inline[0][:200]  # the bundle of the plotly package, no CDN
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere


def test_a_figure_cannot_close_its_data_block() -> None:
    block = figure_json_block("x", {"layout": {"title": "</script><script>alert(1)</script>&"}})
    assert block.count("</script>") == 1 and "<script>" not in block[10:]
    body = block.split(">", 1)[1].rsplit("<", 1)[0]
    assert json.loads(body)["layout"]["title"] == "</script><script>alert(1)</script>&"


def test_the_plain_report_stays_without_scripts(demo: Analysis) -> None:
    plain = render_report(demo)
    assert "<script" not in plain and "data-figure" not in plain
