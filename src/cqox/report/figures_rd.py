"""The regression-discontinuity plot: binned means with fitted polynomials on each side.

As in ``rdplot`` (Calonico, Cattaneo & Titiunik 2015, doi:10.1080/01621459.2015.1017578):
evenly spaced bins on each side of the cutoff, the mean outcome in each bin, and a
global polynomial (order 4 by default) fitted separately on each side to the raw data.
When an :class:`~cqox.core.estimate.Estimate` of ``rd`` is given, the local fits used by
the estimate (within the bandwidth ``h``) are drawn too, and the bandwidth is shaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cqox.core.estimate import Estimate
from cqox.estimators.rd.binned import binned_columns
from cqox.report.figure_spec import FigureSpec, register_figures

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis


@dataclass(frozen=True)
class RDPlotData:
    """Numbers behind the RD plot.

    Attributes
    ----------
    bin_x, bin_y : ndarray, shape (n_bins,)
        Bin midpoints and mean outcomes (left bins first).
    bin_n : ndarray, shape (n_bins,)
        Rows per bin.
    grid_left, fit_left, grid_right, fit_right : ndarray
        Global polynomial fits on each side.
    cutoff : float
    """

    bin_x: np.ndarray
    bin_y: np.ndarray
    bin_n: np.ndarray
    grid_left: np.ndarray
    fit_left: np.ndarray
    grid_right: np.ndarray
    fit_right: np.ndarray
    cutoff: float


def rd_plot_data(
    x: np.ndarray, y: np.ndarray, cutoff: float, n_bins: int = 20, order: int = 4
) -> RDPlotData:
    """Binned means (``n_bins`` evenly spaced bins per side) and global polynomial fits."""
    bins, fit = binned_columns(x, y, cutoff, n_bins, order)
    return _from_tables(pd.DataFrame(bins), pd.DataFrame(fit), cutoff)


def rd_plot_data_of(est: Estimate) -> RDPlotData | None:
    """The plot data an ``rd`` estimate published (``bins`` and ``global_fit``), if any."""
    if "bins" not in est.tables or "global_fit" not in est.tables:
        return None
    return _from_tables(est.tables["bins"], est.tables["global_fit"], est.diagnostics["cutoff"])


def _from_tables(bins: pd.DataFrame, fit: pd.DataFrame, cutoff: float) -> RDPlotData:
    grids: list[tuple[np.ndarray, np.ndarray]] = []
    for side in ("left", "right"):
        rows = fit[fit["side"] == side].sort_values("power")
        grid = np.linspace(float(rows["x_low"].iloc[0]), float(rows["x_high"].iloc[0]), 200)
        coef = rows["coef"].to_numpy(dtype=np.float64)
        grids.append((grid, np.polynomial.polynomial.polyval(grid - cutoff, coef)))
    (gl, fl), (gr, fr) = grids
    return RDPlotData(
        bins["x"].to_numpy(dtype=np.float64),
        bins["y"].to_numpy(dtype=np.float64),
        bins["n"].to_numpy(dtype=np.int64),
        gl,
        fl,
        gr,
        fr,
        float(cutoff),
    )


def _local_fit(est: Estimate | None) -> dict[str, Any] | None:
    if est is None or "coef_left" not in est.diagnostics:
        return None
    d = est.diagnostics
    return {"h": d["h"], "coef_left": d["coef_left"], "coef_right": d["coef_right"]}


def rd_plot_png(
    data: RDPlotData, est: Estimate | None = None, xlabel: str = "running", ylabel: str = "outcome"
) -> bytes:
    """The RD plot as PNG bytes."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    c = data.cutoff
    left = data.bin_x < c
    ax.scatter(data.bin_x[left], data.bin_y[left], s=18, color="#1f77b4", label="bin means")
    ax.scatter(data.bin_x[~left], data.bin_y[~left], s=18, color="#d62728")
    ax.plot(data.grid_left, data.fit_left, color="#1f77b4", lw=1.6, label="global polynomial")
    ax.plot(data.grid_right, data.fit_right, color="#d62728", lw=1.6)
    local = _local_fit(est)
    if local is not None:
        hl, hr = local["h"]
        ax.axvspan(c - hl, c + hr, color="grey", alpha=0.12, label="bandwidth h")
        for coef, lo, hi in ((local["coef_left"], c - hl, c), (local["coef_right"], c, c + hr)):
            g = np.linspace(lo, hi, 50)
            ax.plot(g, np.polynomial.polynomial.polyval(g - c, coef), "k--", lw=1.2)
    ax.axvline(c, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("Regression discontinuity")
    ax.legend(frameon=False, fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def rd_plot_plotly(
    data: RDPlotData, est: Estimate | None = None, xlabel: str = "running", ylabel: str = "outcome"
) -> dict[str, Any]:
    """The RD plot as a Plotly figure dictionary (``{"data": [...], "layout": {...}}``)."""
    c = data.cutoff
    left = data.bin_x < c
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "bin means (left)",
            "x": data.bin_x[left].tolist(),
            "y": data.bin_y[left].tolist(),
            "text": [f"n={n}" for n in data.bin_n[left]],
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "bin means (right)",
            "x": data.bin_x[~left].tolist(),
            "y": data.bin_y[~left].tolist(),
            "text": [f"n={n}" for n in data.bin_n[~left]],
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "polynomial (left)",
            "x": data.grid_left.tolist(),
            "y": data.fit_left.tolist(),
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "polynomial (right)",
            "x": data.grid_right.tolist(),
            "y": data.fit_right.tolist(),
        },
    ]
    shapes: list[dict[str, Any]] = [
        {"type": "line", "x0": c, "x1": c, "yref": "paper", "y0": 0, "y1": 1}
    ]
    local = _local_fit(est)
    if local is not None:
        hl, hr = local["h"]
        shapes.append(
            {
                "type": "rect",
                "x0": c - hl,
                "x1": c + hr,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "fillcolor": "grey",
                "opacity": 0.12,
                "line": {"width": 0},
            }
        )
        for name, coef, lo, hi in (
            ("local fit (left)", local["coef_left"], c - hl, c),
            ("local fit (right)", local["coef_right"], c, c + hr),
        ):
            g = np.linspace(lo, hi, 50)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": name,
                    "line": {"dash": "dash", "color": "black"},
                    "x": g.tolist(),
                    "y": np.polynomial.polynomial.polyval(g - c, coef).tolist(),
                }
            )
    return {
        "data": traces,
        "layout": {
            "title": {"text": "Regression discontinuity"},
            "xaxis": {"title": {"text": xlabel}},
            "yaxis": {"title": {"text": ylabel}},
            "shapes": shapes,
        },
    }


@register_figures(order=20)
def rd_specs(an: Analysis) -> list[FigureSpec]:
    """The RD plot of the first estimate that published its bins."""
    for est in an.estimates:
        data = rd_plot_data_of(est)
        if data is not None:
            roles = an.roles
            xlabel, ylabel = str(roles.running or "running"), str(roles.outcome or "outcome")
            return [
                FigureSpec(
                    "rd_plot",
                    "Regression discontinuity",
                    "Binned means with global polynomial fits on each side of the cutoff; the "
                    "local fits of the estimate and its bandwidth are drawn over them.",
                    partial(rd_plot_png, data, est, xlabel, ylabel),
                    partial(rd_plot_plotly, data, est, xlabel, ylabel),
                )
            ]
    return []
