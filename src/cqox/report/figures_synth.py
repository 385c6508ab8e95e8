"""Synthetic-control figures: treated vs synthetic path, and the gap with placebo lines.

Each figure comes as Matplotlib PNG bytes (report) and as a Plotly figure dictionary
(dashboard), both drawn from an ``synth`` :class:`~cqox.core.estimate.Estimate`'s
``path`` and ``placebo_gaps`` tables.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis


def _tables(est: Estimate) -> tuple[pd.DataFrame, pd.DataFrame | None, Any]:
    path = est.tables["path"]
    placebo = est.tables.get("placebo_gaps")
    t0 = est.diagnostics.get("treatment_time")
    return path, placebo, t0


def _kept_placebos(est: Estimate, placebo: pd.DataFrame | None) -> list[str]:
    if placebo is None:
        return []
    info = est.tables.get("placebos")
    if info is None:
        return [c for c in placebo.columns if c != "time"]
    return [str(u) for u, k in zip(info["unit"], info["kept"], strict=True) if k]


def synth_path_png(est: Estimate) -> bytes:
    """Treated outcome and its synthetic control over time (PNG bytes)."""
    import matplotlib.pyplot as plt

    path, _, t0 = _tables(est)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(path["time"], path["treated"], color="black", lw=1.8, label="treated")
    ax.plot(path["time"], path["synthetic"], color="#1f77b4", lw=1.8, ls="--", label="synthetic")
    if t0 is not None:
        ax.axvline(t0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("time")
    ax.set_ylabel("outcome")
    ax.set_title(f"Synthetic control: {est.diagnostics.get('treated_unit', 'treated')}")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def synth_gap_png(est: Estimate) -> bytes:
    """Gap (treated − synthetic) with the in-space placebo gaps in grey (PNG bytes)."""
    import matplotlib.pyplot as plt

    path, placebo, t0 = _tables(est)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    if placebo is not None:
        for col in _kept_placebos(est, placebo):
            ax.plot(placebo["time"], placebo[col], color="#bbbbbb", lw=0.8)
    ax.plot(path["time"], path["gap"], color="black", lw=2.0, label="treated")
    ax.axhline(0, color="black", lw=0.6)
    if t0 is not None:
        ax.axvline(t0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("time")
    ax.set_ylabel("gap (treated − synthetic)")
    ax.set_title("Gap and in-space placebos")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _series(x: np.ndarray, y: np.ndarray, name: str, **style: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [float(v) if isinstance(v, int | float | np.number) else str(v) for v in x],
        "y": [float(v) for v in y],
        "name": name,
        **style,
    }


def _vline(t0: Any) -> list[dict[str, Any]]:
    if t0 is None:
        return []
    x = float(t0) if isinstance(t0, int | float | np.number) else str(t0)
    return [
        {
            "type": "line",
            "x0": x,
            "x1": x,
            "y0": 0,
            "y1": 1,
            "yref": "paper",
            "line": {"dash": "dot", "color": "grey"},
        }
    ]


def synth_path_plotly(est: Estimate) -> dict[str, Any]:
    """Treated vs synthetic path as a Plotly figure dictionary."""
    path, _, t0 = _tables(est)
    x = path["time"].to_numpy()
    return {
        "data": [
            _series(x, path["treated"].to_numpy(), "treated", line={"color": "black"}),
            _series(
                x,
                path["synthetic"].to_numpy(),
                "synthetic",
                line={"color": "#1f77b4", "dash": "dash"},
            ),
        ],
        "layout": {
            "title": {"text": "Synthetic control"},
            "xaxis": {"title": {"text": "time"}},
            "yaxis": {"title": {"text": "outcome"}},
            "shapes": _vline(t0),
        },
    }


def synth_gap_plotly(est: Estimate) -> dict[str, Any]:
    """Gap with the placebo gaps as a Plotly figure dictionary."""
    path, placebo, t0 = _tables(est)
    data: list[dict[str, Any]] = []
    if placebo is not None:
        px = placebo["time"].to_numpy()
        for col in _kept_placebos(est, placebo):
            data.append(
                _series(
                    px,
                    placebo[col].to_numpy(),
                    col,
                    line={"color": "#bbbbbb", "width": 1},
                    showlegend=False,
                )
            )
    data.append(
        _series(
            path["time"].to_numpy(),
            path["gap"].to_numpy(),
            "treated",
            line={"color": "black", "width": 2},
        )
    )
    return {
        "data": data,
        "layout": {
            "title": {"text": "Gap and in-space placebos"},
            "xaxis": {"title": {"text": "time"}},
            "yaxis": {"title": {"text": "gap (treated − synthetic)"}},
            "shapes": _vline(t0),
        },
    }


@register_figures(order=40)
def synth_specs(an: Analysis) -> list[FigureSpec]:
    """Paths and gaps of the first ``synth`` estimate."""
    est = next((e for e in an.estimates if e.estimator == "synth" and "path" in e.tables), None)
    if est is None:
        return []
    return [
        FigureSpec(
            "synth_path",
            "Synthetic control: treated and synthetic paths",
            "The treated unit's outcome and its synthetic control; the vertical line "
            "marks the treatment.",
            partial(synth_path_png, est),
            partial(synth_path_plotly, est),
        ),
        FigureSpec(
            "synth_gap",
            "Synthetic control: gap with placebos",
            "Treated minus synthetic, with the in-space placebo gaps in grey.",
            partial(synth_gap_png, est),
            partial(synth_gap_plotly, est),
        ),
    ]
