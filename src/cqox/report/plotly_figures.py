"""Interactive (Plotly) versions of the report's figures, as JSON-ready dictionaries.

Each function builds a :class:`plotly.graph_objects.Figure` (so Plotly validates every
property) and returns its JSON form — ``{"data": [...], "layout": {...}}`` with plain
lists and numbers — which Plotly.js draws directly (``Plotly.newPlot(div, fig.data,
fig.layout)``).  The HTML report stays PNG-based and self-contained; these are for the
dashboard.  The numbers are the same as in :mod:`cqox.report.figures`.

Example
-------
>>> import numpy as np
>>> fig = overlap_figure(np.array([0.2, 0.4, 0.6]), np.array([0, 1, 1]))
>>> [trace["type"] for trace in fig["data"]]
['bar', 'bar']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from cqox.core.estimate import Estimate
from cqox.report import figures
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import (
    CONTROL_COLOUR,
    STATUS_COLOURS,
    TREATED_COLOUR,
    forest_rows,
    overlap_counts,
)

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis


def _json(fig: go.Figure) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    out.get("layout", {}).pop("template", None)  # the dashboard's own style applies
    return out


def overlap_figure(e: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """Propensity-score histograms by arm (control mirrored below zero)."""
    edges, h1, h0 = overlap_counts(e, t)
    t = np.asarray(t)
    centers = ((edges[:-1] + edges[1:]) / 2).tolist()
    width = float(edges[1] - edges[0])
    fig = go.Figure()
    fig.add_bar(
        x=centers,
        y=h1.tolist(),
        width=width,
        name=f"treated (n={int((t == 1).sum())})",
        marker_color=TREATED_COLOUR,
        customdata=h1.tolist(),
        hovertemplate="e(x) ≈ %{x:.3f}<br>treated: %{customdata}<extra></extra>",
    )
    fig.add_bar(
        x=centers,
        y=(-h0).tolist(),
        width=width,
        name=f"control (n={int((t == 0).sum())})",
        marker_color=CONTROL_COLOUR,
        customdata=h0.tolist(),
        hovertemplate="e(x) ≈ %{x:.3f}<br>control: %{customdata}<extra></extra>",
    )
    fig.update_layout(
        title_text="Propensity overlap",
        barmode="relative",
        bargap=0,
        xaxis={"title": {"text": "propensity score e(x)"}, "range": [0, 1]},
        yaxis={"title": {"text": "count (control below)"}},
    )
    return _json(fig)


def forest_figure(
    estimates: Sequence[Estimate],
    consensus: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, float],
) -> dict[str, Any]:
    """Estimates with their confidence intervals, grouped by estimand.

    One marker trace per gate status (so the legend explains the colours), plus the
    consensus and the truth of each estimand as vertical segments over its rows.
    """
    rows = forest_rows(estimates)
    labels = [f"{e.estimator} ({e.estimand})" for e in rows]
    fig = go.Figure()
    for status in ("pass", "warn", "fail", "not_checked"):
        sel = [i for i, e in enumerate(rows) if e.status == status]
        if not sel:
            continue
        fig.add_scatter(
            x=[rows[i].estimate for i in sel],
            y=[labels[i] for i in sel],
            mode="markers",
            name=f"gates: {status}",
            marker={"color": STATUS_COLOURS.get(status, "#333333"), "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [_finite(rows[i].ci[1] - rows[i].estimate) for i in sel],
                "arrayminus": [_finite(rows[i].estimate - rows[i].ci[0]) for i in sel],
            },
            customdata=[
                [_finite(rows[i].ci[0]), _finite(rows[i].ci[1]), _finite(rows[i].p_value)]
                for i in sel
            ],
            hovertemplate="%{y}<br>estimate %{x:.4g}<br>CI [%{customdata[0]:.4g}, "
            "%{customdata[1]:.4g}]<br>p = %{customdata[2]:.3g}<extra></extra>",
        )
    for name, values, style in (
        (
            "consensus",
            {k: c["estimate"] for k, c in consensus.items()},
            {"dash": "dash", "color": "grey"},
        ),
        ("truth", dict(truth), {"color": "black", "width": 2}),
    ):
        for estimand, value in values.items():
            ys = [lab for lab, e in zip(labels, rows, strict=True) if e.estimand == estimand]
            if ys:
                fig.add_scatter(
                    x=[value] * len(ys),
                    y=ys,
                    mode="lines",
                    line=style,
                    name=f"{name} {estimand}",
                    hovertemplate=f"{name} {estimand}: %{{x:.4g}}<extra></extra>",
                )
    fig.update_layout(
        title_text="Estimator comparison",
        xaxis={"title": {"text": "effect estimate with confidence interval"}, "zeroline": True},
        yaxis={
            "automargin": True,
            "categoryorder": "array",
            "categoryarray": labels[::-1],
            # no padding rows: one or two estimates do not float in an empty frame
            "range": [-0.6, len(labels) - 0.4],
        },
        xaxis_automargin=True,
        # a fixed height per row: 1 estimate is not stretched, 200 do not overlap
        height=forest_height(len(rows)),
        margin={"l": 10, "r": 20, "t": 70, "b": 50},
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        showlegend=True,
    )
    return _json(fig)


#: Forest plot geometry (pixels): a frame for axes and legend, and a fixed height per row.
FOREST_FRAME_PX, FOREST_ROW_PX, FOREST_MIN_PX = 150, 26, 260


def forest_height(rows: int) -> int:
    """Height of the forest plot for ``rows`` estimates (the dashboard uses the same rule)."""
    return max(FOREST_MIN_PX, FOREST_FRAME_PX + FOREST_ROW_PX * max(1, rows))


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@register_figures(order=0)
def summary_figures(an: Analysis) -> list[FigureSpec]:
    """The estimator comparison and, with a propensity, the overlap of its arms."""
    specs: list[FigureSpec] = []
    if an.estimates:
        specs.append(
            FigureSpec(
                "forest",
                "Estimator comparison",
                "Each estimator's estimate with its confidence interval, grouped by estimand; "
                "dashed: consensus (median); solid: the known truth, when there is one.",
                lambda: figures.forest_png(an.estimates, an.consensus, an.truth),
                lambda: forest_figure(an.estimates, an.consensus, an.truth),
            )
        )
    prop = an.figure_data.get("propensity")
    if prop is not None:
        e, t = np.asarray(prop["e"]), np.asarray(prop["t"])
        specs.append(
            FigureSpec(
                "overlap",
                "Propensity overlap",
                "Estimated propensity scores by arm; mass near 0 or 1 in one arm only means "
                "the comparison leans on extrapolation.",
                lambda: figures.overlap_png(e, t),
                lambda: overlap_figure(e, t),
            )
        )
    return specs


def analysis_figures(an: Analysis) -> dict[str, dict[str, Any]]:
    """Every interactive figure the analysis has, by name (see :mod:`cqox.report.gallery`)."""
    from cqox.report.gallery import figure_specs

    return {spec.name: spec.plotly() for spec in figure_specs(an)}


__all__ = ["analysis_figures", "forest_figure", "overlap_figure", "summary_figures"]
