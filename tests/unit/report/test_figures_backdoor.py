"""Backdoor figures: Love plot, E-value contour and Rosenbaum curve."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.report.figures_backdoor import (
    backdoor_figures,
    backdoor_pngs,
    evalue_contour,
)

PNG_MAGIC = b"\x89PNG"


def test_evalue_contour_passes_through_the_evalue_on_the_diagonal() -> None:
    x, y = evalue_contour(3.9)
    bias = x * y / (x + y - 1)
    assert np.allclose(bias, 3.9)
    e = 3.9 + np.sqrt(3.9 * 2.9)
    assert e * e / (2 * e - 1) == pytest.approx(3.9)


def test_analysis_gives_pngs_and_plotly_figures() -> None:
    df, _ = cqox.simulate.confounded_binary(n=500, seed=5)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        estimators=["psm", "regression_adjustment"],
    )
    pngs = backdoor_pngs(an)
    assert set(pngs) == {"love_plot", "evalue_contour", "rosenbaum"}
    assert all(p.startswith(PNG_MAGIC) for p in pngs.values())
    figs = backdoor_figures(an)
    assert set(figs) == set(pngs)
    assert all("data" in f and "layout" in f for f in figs.values())
