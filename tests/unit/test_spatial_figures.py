"""Spatial figures: registered for a ring DiD analysis, interactive, with PNG forms."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.analysis.analysis import Analysis
from cqox.report import figures_spatial as fs
from cqox.report.gallery import figure_specs
from cqox.simulate.spatial import ring_spillover_panel

SPATIAL_FIGURES = {"spatial_ring_map", "spatial_ring_profile"}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    df, _ = ring_spillover_panel(n_units=300, n_periods=4, cohorts=(3,), seed=2)
    return cqox.analyze(
        df,
        outcome="y",
        treatment="d",
        unit="unit",
        time="time",
        lat="lat",
        lon="lon",
        estimators=["ring_did"],
        params={"ring_did": {"ring_edges_km": [1.0, 2.0, 3.0]}},
    )


def test_a_ring_analysis_registers_the_spatial_figures(analysis: Analysis) -> None:
    assert {s.name for s in figure_specs(analysis)} >= SPATIAL_FIGURES


def test_an_analysis_without_rings_has_none() -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=1)
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"])
    assert not SPATIAL_FIGURES & {s.name for s in figure_specs(an)}


def test_the_map_colours_every_place_by_its_rings_estimate(analysis: Analysis) -> None:
    spec = next(s for s in figure_specs(analysis) if s.name == "spatial_ring_map")
    fig = spec.plotly()
    (trace,) = fig["data"]
    est = next(e for e in analysis.estimates if e.estimator == "ring_did")
    places, rings = est.tables["unit_rings"], est.tables["rings"]
    assert len(trace["x"]) == len(places) == 300
    colour = np.asarray(trace["marker"]["color"])
    for k in range(len(rings)):  # treated places: direct effect; ring k: its spillover
        np.testing.assert_allclose(colour[places["ring"] == k], rings["estimate"].iloc[k])
    assert np.all(colour[places["ring"] == len(rings)] == 0.0)  # pure controls
    assert fig["layout"]["yaxis"]["scaleanchor"] == "x"
    assert spec.png()[:8] == PNG


def test_the_profile_puts_each_ring_at_its_midpoint(analysis: Analysis) -> None:
    spec = next(s for s in figure_specs(analysis) if s.name == "spatial_ring_profile")
    (trace,) = spec.plotly()["data"]
    assert trace["x"] == [0.0, 0.5, 1.5, 2.5]
    assert spec.png()[:8] == PNG


def test_the_map_thins_large_tables(analysis: Analysis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "MAX_PLACES", 50)
    est = next(e for e in analysis.estimates if e.estimator == "ring_did")
    assert len(fs.ring_places(est)) == 50
