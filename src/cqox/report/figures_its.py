"""Interrupted-time-series figure: observed series, fitted segments, counterfactual.

Drawn from an ``its`` :class:`~cqox.core.estimate.Estimate`'s ``fit`` table, as
Matplotlib PNG bytes (report) and as a Plotly figure dictionary (dashboard).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis


def its_png(est: Estimate) -> bytes:
    """Observed points, fitted pre/post lines and the dashed counterfactual (PNG)."""
    import matplotlib.pyplot as plt

    fit = est.tables["fit"]
    post = fit["post"].to_numpy(dtype=bool)
    x = fit["time"].to_numpy()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(x, fit["observed"], "o", ms=3, color="#7f7f7f", label="observed")
    ax.plot(x[~post], fit["fitted"][~post], color="#1f77b4", lw=1.8, label="fitted")
    ax.plot(x[post], fit["fitted"][post], color="#1f77b4", lw=1.8)
    ax.plot(
        x[post],
        fit["counterfactual"][post],
        color="#d62728",
        lw=1.5,
        ls="--",
        label="counterfactual",
    )
    ax.axvline(est.diagnostics.get("interruption", x[post][0]), color="grey", lw=0.8, ls=":")
    ax.set_xlabel("time")
    ax.set_ylabel(
        "outcome"
        + (" difference (treated − control)" if est.diagnostics.get("comparative") else "")
    )
    ax.set_title("Interrupted time series")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, int | float | np.number) else str(v)


def its_plotly(est: Estimate) -> dict[str, Any]:
    """The same figure as a Plotly figure dictionary."""
    fit = est.tables["fit"]
    post = fit["post"].to_numpy(dtype=bool)
    x = [_num(v) for v in fit["time"]]
    xp = [v for v, p in zip(x, post, strict=True) if p]
    xq = [v for v, p in zip(x, post, strict=True) if not p]
    t0 = _num(est.diagnostics.get("interruption", xp[0]))
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": x,
                "y": fit["observed"].astype(float).tolist(),
                "name": "observed",
                "marker": {"color": "#7f7f7f", "size": 4},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": xq,
                "y": fit["fitted"][~post].astype(float).tolist(),
                "name": "fitted (pre)",
                "line": {"color": "#1f77b4"},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": xp,
                "y": fit["fitted"][post].astype(float).tolist(),
                "name": "fitted (post)",
                "line": {"color": "#1f77b4"},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": xp,
                "y": fit["counterfactual"][post].astype(float).tolist(),
                "name": "counterfactual",
                "line": {"color": "#d62728", "dash": "dash"},
            },
        ],
        "layout": {
            "title": {"text": "Interrupted time series"},
            "xaxis": {"title": {"text": "time"}},
            "yaxis": {"title": {"text": "outcome"}},
            "shapes": [
                {
                    "type": "line",
                    "x0": t0,
                    "x1": t0,
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"dash": "dot", "color": "grey"},
                }
            ],
        },
    }


@register_figures(order=50)
def its_specs(an: Analysis) -> list[FigureSpec]:
    """The series, fitted segments and counterfactual of the first ``its`` estimate."""
    est = next((e for e in an.estimates if e.estimator == "its" and "fit" in e.tables), None)
    if est is None:
        return []
    return [
        FigureSpec(
            "its",
            "Interrupted time series",
            "Observed series, fitted segments and the counterfactual continuation of the "
            "pre-interruption trend.",
            partial(its_png, est),
            partial(its_plotly, est),
        )
    ]
