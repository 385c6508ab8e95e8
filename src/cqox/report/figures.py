"""Static figures for the report (Matplotlib → PNG bytes).

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas,
never through ``pyplot``: no global state, so rendering is safe from several threads
(the service renders figures on request) and never opens a window.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cqox.core.estimate import Estimate

#: Colours of the gate statuses (shared with the Plotly figures).
STATUS_COLOURS = {
    "pass": "#2ca02c",
    "warn": "#ff7f0e",
    "fail": "#d62728",
    "not_checked": "#7f7f7f",
}
TREATED_COLOUR = "#d62728"
CONTROL_COLOUR = "#1f77b4"
#: Histogram bins of the propensity overlap figure on [0, 1].
OVERLAP_BINS = 40
DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def overlap_counts(
    e: np.ndarray, t: np.ndarray, bins: int = OVERLAP_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram of the propensity score by arm on ``bins`` equal bins of [0, 1].

    Returns ``(edges, treated_counts, control_counts)``; shapes ``(bins + 1,)``,
    ``(bins,)``, ``(bins,)``.
    """
    e = np.clip(np.asarray(e, dtype=np.float64), 0.0, 1.0)
    t = np.asarray(t, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    h1, _ = np.histogram(e[t == 1], bins=edges)
    h0, _ = np.histogram(e[t == 0], bins=edges)
    return edges, h1, h0


def overlap_png(e: np.ndarray, t: np.ndarray) -> bytes:
    """Propensity-score distributions by arm (mirrored histograms: control below zero)."""
    edges, h1, h0 = overlap_counts(e, t)
    t = np.asarray(t)
    centers = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    ax.bar(
        centers,
        h1,
        width=width,
        color=TREATED_COLOUR,
        alpha=0.8,
        label=f"treated (n={int((t == 1).sum())})",
    )
    ax.bar(
        centers,
        -h0,
        width=width,
        color=CONTROL_COLOUR,
        alpha=0.8,
        label=f"control (n={int((t == 0).sum())})",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("propensity score e(x)")
    ax.set_ylabel("count (control below)")
    ax.set_title("Propensity overlap")
    ax.legend(frameon=False, fontsize=8)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(v):.0f}" for v in ticks])
    return _png(fig)


def forest_rows(estimates: Sequence[Estimate]) -> list[Estimate]:
    """Estimates in the order the forest plot draws them (by estimand, then estimator)."""
    return sorted(estimates, key=lambda e: (e.estimand, e.estimator))


def forest_png(
    estimates: Sequence[Estimate],
    consensus: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, float],
) -> bytes:
    """Estimator comparison: point estimates with CIs, grouped by estimand.

    Consensus (median) and, for simulated data, the truth are drawn per estimand as
    vertical lines spanning that estimand's rows.
    """
    rows = forest_rows(estimates)
    fig = Figure(figsize=(6.4, 0.45 * len(rows) + 1.2))
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    for y, e in zip(ys, rows, strict=True):
        lo, hi = e.ci
        finite = bool(np.isfinite(lo) and np.isfinite(hi))
        ax.errorbar(
            e.estimate,
            y,
            xerr=[[e.estimate - lo], [hi - e.estimate]] if finite else None,
            fmt="o",
            color=STATUS_COLOURS.get(e.status, "black"),
            capsize=3,
        )
    labelled: set[str] = set()
    for estimand, c in consensus.items():
        idx = [y for y, e in zip(ys, rows, strict=True) if e.estimand == estimand]
        if not idx:
            continue
        ax.vlines(
            c["estimate"],
            min(idx) - 0.4,
            max(idx) + 0.4,
            color="grey",
            ls="--",
            lw=1,
            label="consensus (median)" if "c" not in labelled else "_nolegend_",
        )
        labelled.add("c")
        if estimand in truth:
            ax.vlines(
                truth[estimand],
                min(idx) - 0.4,
                max(idx) + 0.4,
                color="black",
                lw=1.5,
                label="truth" if "t" not in labelled else "_nolegend_",
            )
            labelled.add("t")
    lows = [e.ci[0] for e in rows if np.isfinite(e.ci[0])] + [e.estimate for e in rows]
    highs = [e.ci[1] for e in rows if np.isfinite(e.ci[1])] + [e.estimate for e in rows]
    if lows and highs:
        lo, hi = min(lows), max(highs)
        span = max(hi - lo, 1e-12)
        if lo - 0.25 * span <= 0 <= hi + 0.25 * span:
            # the zero line only when it is near the estimates: never squash the intervals
            ax.axvline(0, color="black", lw=0.5, alpha=0.4)
    for y0, (a, b) in zip(ys[1:], itertools.pairwise(rows), strict=False):
        if a.estimand != b.estimand:
            ax.axhline(y0 + 0.5, color="#cccccc", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{e.estimator} ({e.estimand})" for e in rows])
    ax.set_xlabel("effect estimate with confidence interval")
    ax.set_title("Estimator comparison")
    if labelled:
        ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)
