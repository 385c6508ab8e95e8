"""Dose-response curve and multi-valued forest figures."""

from __future__ import annotations

import json

import cqox
from cqox.report.figures_dose import dose_specs
from cqox.simulate.dose import dose_polynomial

PNG_MAGIC = b"\x89PNG"


def test_dose_analysis_draws_the_curve_with_bands_and_optimum() -> None:
    df, _ = dose_polynomial(n=600, seed=2)
    an = cqox.analyze(df, outcome="y", treatment="a", covariates=["x1", "x2"],
                      estimators=["dose_msm", "dose_gps"])  # fmt: skip
    specs = {s.name: s for s in dose_specs(an)}
    assert set(specs) == {"dose_response"}
    assert specs["dose_response"].png().startswith(PNG_MAGIC)
    fig = specs["dose_response"].plotly()
    names = [t.get("name", "") for t in fig["data"]]
    assert "dose_msm: optimal dose" in names and "dose_gps: uniform band" in names
    json.dumps(fig, allow_nan=False)


def test_multivalued_analysis_draws_the_forest() -> None:
    df, _ = cqox.simulate.multivalued(n=900, seed=3)
    an = cqox.analyze(df, outcome="y", treatment="t", covariates=["x1", "x2"],
                      estimators=["multivalued"])  # fmt: skip
    specs = {s.name: s for s in dose_specs(an)}
    assert set(specs) == {"multivalued_forest"}
    assert specs["multivalued_forest"].png().startswith(PNG_MAGIC)
    fig = specs["multivalued_forest"].plotly()
    assert fig["data"][0]["y"] == ["1", "2"]
    json.dumps(fig, allow_nan=False)
