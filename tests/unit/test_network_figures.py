"""Network figures: registered for a network analysis, interactive, with PNG and GIF forms."""

from __future__ import annotations

import pandas as pd
import pytest

import cqox
from cqox.analysis.analysis import Analysis
from cqox.report import figures_network as fn
from cqox.report.gallery import figure_specs
from cqox.simulate.network import network_interference

NETWORK_FIGURES = {
    "network_spillover_3d",
    "network_spillover_spread",
    "exposure_probabilities_direct",
    "exposure_probabilities_spillover",
    "exposure_probabilities_total",
}


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    units, edges, _ = network_interference(n=400, mean_degree=3.0, seed=2)
    return cqox.analyze(
        units,
        outcome="y",
        treatment="t",
        unit="id",
        network=edges,
        params={"network_exposure": {"n_draws": 300, "n_perm": 0}},
    )


def test_a_network_analysis_registers_the_network_figures(analysis: Analysis) -> None:
    names = {s.name for s in figure_specs(analysis)}
    assert names >= NETWORK_FIGURES


def test_an_analysis_without_a_network_has_none() -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=1)
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"])
    assert not NETWORK_FIGURES & {s.name for s in figure_specs(an)}


def test_3d_figure_draws_sampled_units_in_three_dimensions(analysis: Analysis) -> None:
    spec = next(s for s in figure_specs(analysis) if s.name == "network_spillover_3d")
    fig = spec.plotly()
    types = {t["type"] for t in fig["data"]}
    assert types == {"scatter3d"}
    units = sum(len(t["x"]) for t in fig["data"] if t["mode"] == "markers")
    sample = analysis.estimates[0].tables["network_sample"]
    assert units == len(pd.unique(sample[["source", "target"]].stack()))
    assert units <= 300
    assert any("spillover path" in t["name"] for t in fig["data"])
    assert spec.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spread_animation_has_frames_and_play_controls(analysis: Analysis) -> None:
    spec = next(s for s in figure_specs(analysis) if s.name == "network_spillover_spread")
    fig = spec.plotly()
    assert len(fig["frames"]) == fn.HOPS + 1
    labels = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["Play", "Pause"]
    assert len(fig["layout"]["sliders"][0]["steps"]) == fn.HOPS + 1
    # each hop lights at least as many units as the one before
    grey = fn.COLOURS["control_unexposed"]
    lit = [sum(c != grey for c in f["data"][1]["marker"]["color"]) for f in fig["frames"]]
    assert lit == sorted(lit) and lit[0] < lit[-1]
    view = fn._view_of(analysis)
    assert view is not None
    assert fn.spread_gif(view)[:6] == b"GIF89a"


def test_probability_histograms_cover_the_population_of_each_contrast(
    analysis: Analysis,
) -> None:
    est = next(e for e in analysis.estimates if e.estimand == "spillover")
    frame = fn.probabilities_frame(est)
    pop = int(est.tables["probabilities"]["in_population"].sum())
    assert len(frame) == 2 * pop
    assert set(frame["condition"]) == {"control_exposed", "control_unexposed"}
    fig = fn.probabilities_plotly(est)
    assert sum(len(t["x"]) for t in fig["data"]) == 2 * pop
