"""The HTML report: self-contained, with roles, estimates, gates and both figures."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import cqox
from cqox.analysis.analysis import Analysis
from cqox.analysis.verdict import quality_assessment
from cqox.core.estimate import Estimate
from cqox.report.figures import forest_png, overlap_counts, overlap_png
from cqox.report.html import render_report
from cqox.report.plotly_figures import analysis_figures, forest_figure, overlap_figure
from tests.conftest import dataset_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Sections every report of a backdoor analysis has.
SECTIONS = {"roles", "estimates", "figures", "gates", "data"}


class Page(HTMLParser):
    """Collects what the tests check: section ids, images, links, tags, table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._row: list[str] | None = None
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "h2" and a.get("id"):
            self.sections.append(str(a["id"]))
        if tag == "img":
            self.images.append(a)
        for key in ("src", "href", "action", "data"):
            if a.get(key):
                self.urls.append(str(a[key]))
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell and self._row:
            self._row[-1] += data


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


@pytest.fixture(scope="module")
def demo() -> Analysis:
    df, truth = cqox.simulate.confounded_binary(n=600, seed=9)
    return cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        estimators=["ipw", "regression_adjustment"],
        truth={"ATE": truth["SATE"], "ATT": truth["SATT"]},
    )


@pytest.fixture(scope="module")
def page(demo: Analysis) -> str:
    """The demo report, rendered once for the tests that only read it."""
    return render_report(demo)


def test_report_has_every_section_and_both_figures(demo: Analysis, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    page = demo.report(path)
    assert path.read_text(encoding="utf-8") == page
    p = parse(page)
    assert set(p.sections) >= SECTIONS
    alts = {str(img.get("alt")) for img in p.images}
    assert {"Estimator comparison", "Propensity overlap"} <= alts
    for img in p.images:
        src = str(img["src"])
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_report_is_self_contained(page: str) -> None:
    p = parse(page)
    assert not {"script", "link", "iframe", "object", "embed"} & p.tags
    for url in p.urls:
        assert url.startswith(("data:", "#")), url
    assert "http://" not in page and "https://" not in page


def test_report_lists_roles_with_how_they_were_chosen(page: str) -> None:
    p = parse(page)
    roles = {
        r[0]: r for r in p.rows if len(r) == 5 and r[0] in ("outcome", "treatment", "covariates")
    }
    assert roles["outcome"][1:3] == ["y", "explicit"]
    assert roles["treatment"][1:3] == ["t", "explicit"]
    assert roles["covariates"][2] == "inferred"
    assert "remaining usable columns" in roles["covariates"][4]


def test_report_shows_each_estimate_with_ci_and_gates(demo: Analysis, page: str) -> None:
    p = parse(page)
    rows = [r for r in p.rows if len(r) == 9 and r[0] in ("ipw", "regression_adjustment")]
    assert len(rows) == len(demo.estimates) == 4
    for row, e in zip(rows, demo.estimates, strict=True):
        assert row[:2] == [e.estimator, e.estimand]
        assert row[4].startswith(f"[{e.ci[0]:.4g}, {e.ci[1]:.4g}]")
        assert row[7] == e.status.replace("_", " ")
    gate_rows = [r for r in p.rows if len(r) == 6 and r[0].startswith(("ipw ", "regression_"))]
    assert len(gate_rows) == sum(len(e.gates) for e in demo.estimates) > 0


def test_report_shows_the_baseline_and_the_randomization_check(demo: Analysis, page: str) -> None:
    b = demo.baseline
    assert b is not None
    p = parse(page)
    (row,) = [r for r in p.rows if len(r) == 7 and r[0] == "ATE" and r[1] == f"{b['estimate']:.4g}"]
    assert row[3] == f"[{b['ci'][0]:.4g}, {b['ci'][1]:.4g}]"
    check = b["randomization_check"]
    assert "Baseline: unadjusted difference in means" in page
    assert f"p = {check['p_value']:.4g}" in page and "HC1 Wald test" in page


def test_values_from_the_data_are_escaped() -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=2)
    df = df.rename(columns={"x1": "<script>alert(1)</script>"})
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"])
    page = render_report(an)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_lalonde_report_renders() -> None:
    df = pd.read_csv(dataset_path("lalonde_nsw_dw.csv"))
    an = cqox.analyze(df, estimators=["ipw", "regression_adjustment"])
    p = parse(an.report())
    assert set(p.sections) >= SECTIONS
    assert any(r[:2] == ["treatment", "treat"] for r in p.rows)
    alts = {str(img.get("alt")) for img in p.images}
    assert {"Estimator comparison", "Propensity overlap"} <= alts


def test_report_without_estimates_says_so() -> None:
    # cqox.analyze refuses such a table (NoDesignError); an Analysis built by hand
    # without estimates still renders, saying so, and its verdict is not "pass"
    an = Analysis(profile={}, roles=cqox.Roles(), designs=[], estimates=[])
    an.quality = quality_assessment([], [])
    page = render_report(an)
    assert "No estimate could be made" in page and "No figure" in page
    assert "not checked" in page


def test_figures_are_png() -> None:
    e = np.array([0.1, 0.5, 0.9, 0.3])
    t = np.array([1, 0, 1, 0])
    assert overlap_png(e, t).startswith(PNG_MAGIC)
    nan_ci = Estimate("x", "ATE", 1.0, float("nan"), (float("nan"), float("nan")), float("nan"))
    assert forest_png([nan_ci], {}, {}).startswith(PNG_MAGIC)


def test_overlap_counts_cover_every_row() -> None:
    rng = np.random.default_rng(0)
    e, t = rng.uniform(size=500), rng.integers(0, 2, 500)
    edges, h1, h0 = overlap_counts(e, t)
    assert len(edges) == len(h1) + 1 == len(h0) + 1
    assert (h1.sum(), h0.sum()) == (int((t == 1).sum()), int((t == 0).sum()))


def test_plotly_figures_are_json_ready_and_valid(demo: Analysis) -> None:
    figs = analysis_figures(demo)
    assert {"forest", "overlap"} <= set(figs)
    for fig in figs.values():
        json.dumps(fig, allow_nan=False)
        go.Figure(fig)  # plotly validates every property
    forest = figs["forest"]
    points = [tr for tr in forest["data"] if tr["mode"] == "markers"]
    xs = sorted(x for tr in points for x in tr["x"])
    assert xs == pytest.approx(sorted(e.estimate for e in demo.estimates))
    names = {tr["name"] for tr in forest["data"]}
    assert {"consensus ATE", "consensus ATT", "truth ATE", "truth ATT"} <= names
    overlap = figs["overlap"]
    prop = demo.figure_data["propensity"]
    treated = sum(overlap["data"][0]["y"])
    control = -sum(overlap["data"][1]["y"])
    assert (treated, control) == (int(prop["t"].sum()), int((prop["t"] == 0).sum()))


def test_plotly_forest_handles_missing_intervals() -> None:
    est = Estimate("x", "ATE", 1.0, float("nan"), (float("nan"), float("nan")), float("nan"))
    fig = forest_figure([est], {}, {})
    json.dumps(fig, allow_nan=False)
    assert fig["data"][0]["error_x"]["array"] == [None]
    assert overlap_figure(np.array([0.5]), np.array([1]))["data"][1]["y"] == [0] * 40


def test_report_renders_in_a_headless_browser(demo: Analysis, tmp_path: Path) -> None:
    browser = next(
        (
            shutil.which(b)
            for b in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(b)
        ),
        None,
    )
    if browser is None:
        # CI installs Debian's chromium (.ci/run): there the test must run, not skip
        if os.environ.get("CI") == "true":
            pytest.fail("no chromium on PATH in CI (.ci/run installs it with apt-get)")
        pytest.skip("no headless Chromium installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    demo.report(page)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes().startswith(PNG_MAGIC)
