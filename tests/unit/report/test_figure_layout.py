"""Figure layout (#14): the forest plot's height per row, the E-value contour's ticks,
and report figures that show their title once."""

from __future__ import annotations

import re

import numpy as np

import cqox
from cqox.core.estimate import Estimate
from cqox.report.figures_backdoor import evalue_contour_plotly, log_ticks
from cqox.report.plotly_figures import (
    FOREST_FRAME_PX,
    FOREST_MIN_PX,
    FOREST_ROW_PX,
    forest_figure,
    forest_height,
)


def test_forest_rows_keep_their_height_from_one_to_two_hundred_estimates() -> None:
    assert forest_height(1) == forest_height(2) == FOREST_MIN_PX
    for n in (10, 50, 200):
        assert (forest_height(n) - FOREST_FRAME_PX) / n == FOREST_ROW_PX
    one = forest_figure([Estimate("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01)], {}, {})
    assert one["layout"]["yaxis"]["range"] == [-0.6, 0.6]  # no empty padding rows
    assert one["layout"]["legend"]["orientation"] == "h"  # above, never clipped at the side


def test_log_ticks_are_few_and_round() -> None:
    assert log_ticks(30) == [1, 2, 5, 10, 20]
    assert log_ticks(2.5) == [1, 2]
    many = log_ticks(1e6)
    assert len(many) <= 7 and all(np.log10(t) % 1 == 0 for t in many)


def test_evalue_contour_axes_show_round_labels_on_one_square() -> None:
    fig = evalue_contour_plotly(2.5, 1.4)
    x, y = fig["layout"]["xaxis"], fig["layout"]["yaxis"]
    assert x["tickvals"] == y["tickvals"] and len(x["tickvals"]) <= 7
    assert x["ticktext"] == [f"{v:g}" for v in x["tickvals"]]
    assert x["range"] == y["range"] and x["range"][0] == 0.0


def test_report_figures_show_their_title_once() -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=2)
    page = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"]).report()
    figures = page[page.index("id=figures") :]
    assert "<h3>Estimator comparison</h3>" not in figures
    assert re.search(r'<figure><img alt="Estimator comparison"', figures)
