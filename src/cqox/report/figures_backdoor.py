"""Figures of the backdoor family: Love plot, E-value contour, Rosenbaum Γ curve.

Each figure comes as PNG bytes (Matplotlib, Agg canvas, no ``pyplot``) for the HTML
report and as a Plotly JSON dictionary for the dashboard; both draw the same numbers.
:func:`backdoor_pngs` and :func:`backdoor_figures` pick the inputs out of an
:class:`~cqox.analysis.analysis.Analysis` (the balance table of the ``psm`` ATT
estimate, the E-value of the first estimate, the Rosenbaum bounds of ``psm:ATT``).

- Love plot (Ahmed et al. 2006; Austin 2009, doi:10.1002/sim.3697): |SMD| of each
  covariate before and after adjustment, with the 0.1 threshold.
- E-value contour (VanderWeele & Ding 2017, doi:10.7326/M16-2607): the pairs
  ``(RR_EU, RR_UD)`` of confounder–treatment and confounder–outcome risk ratios whose
  bias factor ``RR_EU·RR_UD/(RR_EU + RR_UD − 1)`` equals the observed risk ratio —
  any confounder above the curve could explain the estimate away; the E-value is the
  point on the diagonal.
- Rosenbaum curve (Rosenbaum 2002): the upper bound on the one-sided p-value against
  ``Γ``, with ``α`` and the critical ``Γ``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import CONTROL_COLOUR, TREATED_COLOUR, _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

#: Points along the E-value contour.
CONTOUR_POINTS = 200
SMD_LINE = 0.1


def _json(fig: go.Figure) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    out.get("layout", {}).pop("template", None)
    return out


def love_rows(balance: pd.DataFrame) -> pd.DataFrame:
    """|SMD| before/after per covariate, sorted by the imbalance before."""
    cols = ["covariate", "smd_before"] + (["smd_after"] if "smd_after" in balance else [])
    rows = balance[cols].copy()
    rows["abs_before"] = rows["smd_before"].abs()
    rows["abs_after"] = rows["smd_after"].abs() if "smd_after" in rows else np.nan
    return rows.sort_values("abs_before").reset_index(drop=True)


def love_plot_png(balance: pd.DataFrame, threshold: float = SMD_LINE) -> bytes:
    """Love plot of a balance table (columns ``covariate``, ``smd_before``, ``smd_after``)."""
    rows = love_rows(balance)
    y = np.arange(len(rows))
    fig = Figure(figsize=(6.0, 1.2 + 0.28 * len(rows)))
    ax = fig.add_subplot()
    ax.scatter(rows["abs_before"], y, color=TREATED_COLOUR, label="before", zorder=3)
    if rows["abs_after"].notna().any():
        ax.scatter(rows["abs_after"], y, color=CONTROL_COLOUR, label="after", zorder=3)
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, rows["covariate"].tolist())
    ax.set_xlabel("absolute standardised mean difference")
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Covariate balance")
    return _png(fig)


def love_plot_plotly(balance: pd.DataFrame, threshold: float = SMD_LINE) -> dict[str, Any]:
    """Plotly Love plot (same numbers as :func:`love_plot_png`)."""
    rows = love_rows(balance)
    names = rows["covariate"].tolist()
    fig = go.Figure()
    fig.add_scatter(
        x=rows["abs_before"].tolist(),
        y=names,
        mode="markers",
        name="before",
        marker={"color": TREATED_COLOUR},
    )
    if rows["abs_after"].notna().any():
        fig.add_scatter(
            x=rows["abs_after"].tolist(),
            y=names,
            mode="markers",
            name="after",
            marker={"color": CONTROL_COLOUR},
        )
    fig.add_vline(x=threshold, line_dash="dash", line_color="grey")
    fig.update_layout(
        title="Covariate balance", xaxis_title="absolute standardised mean difference"
    )
    return _json(fig)


def evalue_contour(rr: float, points: int = CONTOUR_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(RR_EU, RR_UD)`` on the curve whose bias factor equals ``rr`` (≥ 1 after inversion).

    ``RR_UD = rr·(RR_EU − 1)/(RR_EU − rr)`` for ``RR_EU > rr``.
    """
    r = rr if rr >= 1 else 1 / rr
    if r <= 1:
        return np.array([1.0]), np.array([1.0])
    e = r + np.sqrt(r * (r - 1))
    x = np.geomspace(r * (1 + 1e-3), max(e * e / r, r * 20), points)
    return x, r * (x - 1) / (x - r)


def _contour_top(rr: float, rr_ci_limit: float | None) -> float:
    """Upper end of both axes: where the widest contour drawn leaves the plot."""
    tops = [
        float(evalue_contour(v)[0][-1])
        for v in (rr, rr_ci_limit)
        if v is not None and np.isfinite(v) and v > 0
    ]
    return max([2.0, *tops])


def log_ticks(top: float, most: int = 7) -> list[float]:
    """Round tick values for a log axis from 1 to ``top``: 1-2-5 per decade, or fewer.

    At most ``most`` labels: 1-2-5 when they fit, else 1-3 per decade, else the decades
    (every second one when even those are too many).
    """
    decades = range(int(np.floor(np.log10(top))) + 1)
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**k for k in decades for m in steps if m * 10.0**k <= top]
        if len(ticks) <= most:
            return ticks
    return [10.0**k for k in decades if k % 2 == 0]


def evalue_contour_png(rr: float, rr_ci_limit: float | None = None) -> bytes:
    """E-value contour of the point estimate (and of the CI limit nearest the null)."""
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.add_subplot()
    for value, label, colour in (
        (rr, "estimate", TREATED_COLOUR),
        (rr_ci_limit, "CI limit", CONTROL_COLOUR),
    ):
        if value is None or not np.isfinite(value) or value <= 0:
            continue
        x, y = evalue_contour(value)
        r = value if value >= 1 else 1 / value
        e = r + np.sqrt(r * (r - 1))
        ax.plot(x, y, color=colour, label=f"{label}: RR {r:.3g}, E-value {e:.3g}")
        ax.scatter([e], [e], color=colour, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    top = _contour_top(rr, rr_ci_limit)
    ticks = log_ticks(top)
    for axis, limit in ((ax.xaxis, ax.set_xlim), (ax.yaxis, ax.set_ylim)):
        # the curve is symmetric and runs off to infinity along both asymptotes: show the
        # square [1, top] with a few round labels, not every log minor tick
        limit(1.0, top)
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("confounder–treatment risk ratio (RR_EU)")
    ax.set_ylabel("confounder–outcome risk ratio (RR_UD)")
    ax.set_title("Strength of confounding that explains the effect away")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def evalue_contour_plotly(rr: float, rr_ci_limit: float | None = None) -> dict[str, Any]:
    """Plotly E-value contour (same numbers as :func:`evalue_contour_png`)."""
    fig = go.Figure()
    for value, label, colour in (
        (rr, "estimate", TREATED_COLOUR),
        (rr_ci_limit, "CI limit", CONTROL_COLOUR),
    ):
        if value is None or not np.isfinite(value) or value <= 0:
            continue
        x, y = evalue_contour(value)
        r = value if value >= 1 else 1 / value
        e = float(r + np.sqrt(r * (r - 1)))
        fig.add_scatter(
            x=x.tolist(), y=y.tolist(), mode="lines", name=label, line={"color": colour}
        )
        fig.add_scatter(
            x=[e], y=[e], mode="markers", name=f"E-value {e:.3g}", marker={"color": colour}
        )
    top = _contour_top(rr, rr_ci_limit)
    ticks = log_ticks(top)
    axis = {
        "type": "log",
        "range": [0.0, float(np.log10(top))],
        "tickmode": "array",
        "tickvals": ticks,
        "ticktext": [f"{v:g}" for v in ticks],
    }
    fig.update_layout(
        title="Strength of confounding that explains the effect away",
        xaxis={**axis, "title": "confounder–treatment RR"},
        yaxis={**axis, "title": "confounder–outcome RR"},
    )
    return _json(fig)


def rosenbaum_png(bounds: Mapping[str, Any]) -> bytes:
    """Upper-bound p-value against Γ (``bounds`` as ``RosenbaumBounds.to_dict()``)."""
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot()
    ax.plot(
        bounds["gamma"],
        bounds["p_upper"],
        color=TREATED_COLOUR,
        marker="o",
        ms=3,
        label="upper bound",
    )
    ax.plot(
        bounds["gamma"],
        bounds["p_lower"],
        color=CONTROL_COLOUR,
        marker="o",
        ms=3,
        label="lower bound",
    )
    ax.axhline(bounds["alpha"], color="grey", linestyle="--", linewidth=1)
    crit = bounds.get("gamma_critical")
    if crit is not None and np.isfinite(crit):
        ax.axvline(crit, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"Rosenbaum bounds (critical Γ = {crit:.3g})")
    ax.set_xlabel("Γ (odds of differential treatment assignment)")
    ax.set_ylabel("one-sided p-value")
    ax.legend(frameon=False)
    return _png(fig)


def rosenbaum_plotly(bounds: Mapping[str, Any]) -> dict[str, Any]:
    """Plotly Rosenbaum curve (same numbers as :func:`rosenbaum_png`)."""
    fig = go.Figure()
    fig.add_scatter(
        x=list(bounds["gamma"]),
        y=list(bounds["p_upper"]),
        mode="lines+markers",
        name="upper bound",
        line={"color": TREATED_COLOUR},
    )
    fig.add_scatter(
        x=list(bounds["gamma"]),
        y=list(bounds["p_lower"]),
        mode="lines+markers",
        name="lower bound",
        line={"color": CONTROL_COLOUR},
    )
    fig.add_hline(y=bounds["alpha"], line_dash="dash", line_color="grey")
    crit = bounds.get("gamma_critical")
    title = "Rosenbaum bounds"
    if crit is not None and np.isfinite(crit):
        fig.add_vline(x=crit, line_dash="dot", line_color="grey")
        title += f" (critical Γ = {crit:.3g})"
    fig.update_layout(title=title, xaxis_title="Γ", yaxis_title="one-sided p-value")
    return _json(fig)


def _inputs(an: Analysis) -> dict[str, Any]:
    """The first published balance table, E-value and Rosenbaum bounds of ``an``."""
    out: dict[str, Any] = {}
    for e in an.estimates:
        if "balance" in e.tables:
            out.setdefault("balance", e.tables["balance"])
    sens = an.sensitivity or {}
    entries = [v for v in sens.values() if isinstance(v, dict)]
    first = next((v for v in entries if "evalue" in v), None)
    if first is not None:
        out["evalue"] = first["evalue"]
    ros = next((v["rosenbaum"] for v in entries if (v.get("rosenbaum") or {}).get("gamma")), None)
    if ros is not None:
        out["rosenbaum"] = ros
    return out


#: Figure name → (title, caption, input it needs).
_FIGURES = {
    "love_plot": (
        "Covariate balance (Love plot)",
        "Absolute standardised mean differences before and after "
        "matching; the line marks the 0.1 threshold.",
        "balance",
    ),
    "evalue_contour": (
        "E-value contour",
        "Confounder strengths (risk-ratio scale, with treatment and "
        "with outcome) that would explain the estimate away.",
        "evalue",
    ),
    "rosenbaum": (
        "Rosenbaum bounds",
        "Upper bound of the one-sided p-value as hidden bias Γ grows.",
        "rosenbaum",
    ),
}


@register_figures(order=10)
def backdoor_specs(an: Analysis) -> list[FigureSpec]:
    """Love plot, E-value contour and Rosenbaum curve, when ``an`` has their inputs."""
    available = set(_inputs(an))
    pngs: dict[str, bytes] = {}

    def png(key: str) -> bytes:
        if not pngs:
            pngs.update(backdoor_pngs(an))
        return pngs[key]

    return [
        FigureSpec(
            key,
            title,
            caption,
            partial(png, key),
            partial(lambda k: backdoor_figures(an)[k], key),
        )
        for key, (title, caption, needs) in _FIGURES.items()
        if needs in available
    ]


def backdoor_pngs(an: Analysis) -> dict[str, bytes]:
    """PNG figures available in ``an``: ``love_plot``, ``evalue_contour``, ``rosenbaum``."""
    got = _inputs(an)
    out: dict[str, bytes] = {}
    if "balance" in got:
        out["love_plot"] = love_plot_png(got["balance"])
    if "evalue" in got:
        out["evalue_contour"] = evalue_contour_png(
            got["evalue"]["rr"], got["evalue"]["rr_ci_limit"]
        )
    if "rosenbaum" in got:
        out["rosenbaum"] = rosenbaum_png(got["rosenbaum"])
    return out


def backdoor_figures(an: Analysis) -> dict[str, dict[str, Any]]:
    """Plotly figures available in ``an`` (same keys as :func:`backdoor_pngs`)."""
    got = _inputs(an)
    out: dict[str, dict[str, Any]] = {}
    if "balance" in got:
        out["love_plot"] = love_plot_plotly(got["balance"])
    if "evalue" in got:
        out["evalue_contour"] = evalue_contour_plotly(
            got["evalue"]["rr"], got["evalue"]["rr_ci_limit"]
        )
    if "rosenbaum" in got:
        out["rosenbaum"] = rosenbaum_plotly(got["rosenbaum"])
    return out
