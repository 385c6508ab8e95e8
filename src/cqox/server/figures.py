"""Figures of a stored analysis, as Plotly JSON and as PNG.

PNGs come from :mod:`cqox.report.figures` (the report's Matplotlib figures).  The
Plotly versions are built here from the same data — the estimates with their
intervals, the consensus and truth lines, and the propensity scores by arm — as plain
figure dictionaries (``{"data": [...], "layout": {...}}``) that Plotly.js draws
directly.  Rendering is serialised by a lock because Matplotlib's pyplot is not
thread-safe.
"""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np

from cqox.analysis.analysis import Analysis
from cqox.core.jsonable import to_jsonable
from cqox.server.problems import NotFoundError

_render_lock = threading.Lock()
FIGURES: dict[str, str] = {
    "forest": "estimates with confidence intervals, by estimand",
    "overlap": "propensity-score distributions by arm",
}
_STATUS_COLOURS = {"pass": "#2ca02c", "warn": "#ff7f0e", "fail": "#d62728"}


def load_analysis(path: Path) -> Analysis:
    """The pickled Analysis a worker wrote (a file of the service, never of a user)."""
    if not path.exists():
        raise NotFoundError("the analysis's figure data is no longer stored")
    with open(path, "rb") as fh:
        analysis = pickle.load(fh)
    if not isinstance(analysis, Analysis):
        raise NotFoundError("the analysis's figure data is unreadable")
    return analysis


def available(an: Analysis) -> list[str]:
    """The figures this analysis has."""
    names = []
    if an.estimates:
        names.append("forest")
    if an.figure_data.get("propensity") is not None:
        names.append("overlap")
    return names


def _check(an: Analysis, name: str) -> None:
    if name not in available(an):
        raise NotFoundError(
            f"figure {name!r} not found (this analysis has: {', '.join(available(an)) or 'none'})",
            details={"figure": name},
        )


def plotly_figure(an: Analysis, name: str) -> dict[str, Any]:
    """The figure as a Plotly figure dictionary."""
    _check(an, name)
    if name == "forest":
        rows = sorted(an.estimates, key=lambda e: (e.estimand, e.estimator))
        labels = [f"{e.estimator} ({e.estimand})" for e in rows]
        data: list[dict[str, Any]] = [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "estimates",
                "x": [e.estimate for e in rows],
                "y": labels,
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [e.ci[1] - e.estimate for e in rows],
                    "arrayminus": [e.estimate - e.ci[0] for e in rows],
                },
                "marker": {"color": [_STATUS_COLOURS.get(e.status, "#333") for e in rows]},
                "text": [f"gates: {e.status}" for e in rows],
            }
        ]
        shapes: list[dict[str, Any]] = []
        for estimand, c in an.consensus.items():
            ys = [lab for lab, e in zip(labels, rows, strict=True) if e.estimand == estimand]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"consensus {estimand}",
                    "x": [c["estimate"]] * len(ys),
                    "y": ys,
                    "line": {"dash": "dash", "color": "grey"},
                }
            )
        for estimand, value in an.truth.items():
            ys = [lab for lab, e in zip(labels, rows, strict=True) if e.estimand == estimand]
            if ys:
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": f"truth {estimand}",
                        "x": [value] * len(ys),
                        "y": ys,
                        "line": {"color": "black"},
                    }
                )
        layout = {
            "title": {"text": "Estimator comparison"},
            "xaxis": {"title": {"text": "effect estimate with confidence interval"}},
            "yaxis": {"automargin": True},
            "shapes": shapes,
            "showlegend": True,
        }
    else:
        prop = an.figure_data["propensity"]
        e, t = np.asarray(prop["e"], dtype=float), np.asarray(prop["t"])
        bins = np.linspace(0, 1, 41)
        centers = ((bins[:-1] + bins[1:]) / 2).tolist()
        h1, _ = np.histogram(e[t == 1], bins=bins)
        h0, _ = np.histogram(e[t == 0], bins=bins)
        data = [
            {
                "type": "bar",
                "name": f"treated (n={int((t == 1).sum())})",
                "x": centers,
                "y": h1.tolist(),
                "marker": {"color": "#d62728"},
            },
            {
                "type": "bar",
                "name": f"control (n={int((t == 0).sum())})",
                "x": centers,
                "y": (-h0).tolist(),
                "marker": {"color": "#1f77b4"},
            },
        ]
        layout = {
            "title": {"text": "Propensity overlap"},
            "barmode": "relative",
            "bargap": 0,
            "xaxis": {"title": {"text": "propensity score e(x)"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "count (control below)"}},
        }
    out: dict[str, Any] = to_jsonable({"data": data, "layout": layout})
    return out


def png_figure(an: Analysis, name: str) -> bytes:
    """The figure as PNG bytes (the report's Matplotlib figure)."""
    from cqox.report.figures import forest_png, overlap_png

    _check(an, name)
    with _render_lock:
        if name == "forest":
            return forest_png(an.estimates, an.consensus, an.truth)
        prop = an.figure_data["propensity"]
        return overlap_png(np.asarray(prop["e"]), np.asarray(prop["t"]))


def report_html(an: Analysis) -> str:
    """The self-contained HTML report."""
    with _render_lock:
        return an.report()
