"""The event-study figure of a staggered DiD.

ATT by event time with pointwise CIs and the simultaneous (uniform) band
(Callaway & Sant'Anna 2021, doi:10.1016/j.jeconom.2020.12.001).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png
from cqox.report.plotly_figures import _json

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

PRE_COLOUR = "#7f7f7f"
POST_COLOUR = "#d62728"


def event_study_png(table: pd.DataFrame) -> bytes:
    """PNG of an ``event_study`` table (columns event_time, att, ci_low, ci_high, band_*)."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    e = table["event_time"].to_numpy(dtype=float)
    att = table["att"].to_numpy(dtype=float)
    if {"band_low", "band_high"} <= set(table.columns):
        ax.fill_between(
            e,
            table["band_low"],
            table["band_high"],
            color="#1f77b4",
            alpha=0.15,
            step="mid",
            label="uniform band",
        )
    pre = e < 0
    for mask, colour, label in (
        (pre, PRE_COLOUR, "pre-treatment"),
        (~pre, POST_COLOUR, "post-treatment"),
    ):
        if mask.any():
            ax.errorbar(
                e[mask],
                att[mask],
                yerr=[
                    att[mask] - table["ci_low"].to_numpy()[mask],
                    table["ci_high"].to_numpy()[mask] - att[mask],
                ],
                fmt="o",
                color=colour,
                capsize=3,
                label=label,
            )
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(-0.5, color="black", lw=0.6, ls=":")
    ax.set_xlabel("periods since first treatment")
    ax.set_ylabel("ATT")
    ax.set_title("Event study")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def event_study_plotly(table: pd.DataFrame) -> dict[str, Any]:
    """Plotly dictionary of the same figure."""
    fig = go.Figure()
    e = table["event_time"].tolist()
    if {"band_low", "band_high"} <= set(table.columns):
        fig.add_trace(
            go.Scatter(
                x=e + e[::-1],
                y=table["band_high"].tolist() + table["band_low"].tolist()[::-1],
                fill="toself",
                line={"width": 0},
                name="uniform band",
                fillcolor="rgba(31,119,180,0.15)",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=e,
            y=table["att"].tolist(),
            mode="markers",
            name="ATT(e)",
            marker={"color": [PRE_COLOUR if v < 0 else POST_COLOUR for v in e]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (table["ci_high"] - table["att"]).tolist(),
                "arrayminus": (table["att"] - table["ci_low"]).tolist(),
            },
        )
    )
    fig.add_hline(y=0, line_width=0.6)
    fig.update_layout(
        title="Event study", xaxis_title="periods since first treatment", yaxis_title="ATT"
    )
    return _json(fig)


@register_figures(order=30)
def did_specs(an: Analysis) -> list[FigureSpec]:
    """The event study of the first estimate that published an ``event_study`` table."""
    table = next((e.tables["event_study"] for e in an.estimates if "event_study" in e.tables), None)
    if table is None:
        return []
    return [
        FigureSpec(
            "event_study",
            "Event study",
            "ATT by periods since first treatment with pointwise 95% intervals and the "
            "simultaneous band; pre-treatment points test parallel trends.",
            partial(event_study_png, table),
            partial(event_study_plotly, table),
        )
    ]
