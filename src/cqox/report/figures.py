"""Static figures for the report (Matplotlib → PNG bytes)."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cqox.core.estimate import Estimate


def _png(fig: matplotlib.figure.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def overlap_png(e: np.ndarray, t: np.ndarray) -> bytes:
    """Propensity-score distributions by arm (mirrored histograms)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    bins = np.linspace(0, 1, 41)
    h1, _ = np.histogram(e[t == 1], bins=bins)
    h0, _ = np.histogram(e[t == 0], bins=bins)
    centers = (bins[:-1] + bins[1:]) / 2
    width = bins[1] - bins[0]
    ax.bar(
        centers,
        h1,
        width=width,
        color="#d62728",
        alpha=0.8,
        label=f"treated (n={int((t == 1).sum())})",
    )
    ax.bar(
        centers,
        -h0,
        width=width,
        color="#1f77b4",
        alpha=0.8,
        label=f"control (n={int((t == 0).sum())})",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("propensity score e(x)")
    ax.set_ylabel("count (control below)")
    ax.set_title("Propensity overlap")
    ax.legend(frameon=False, fontsize=8)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(v):.0f}" for v in ticks])
    return _png(fig)


def forest_png(
    estimates: list[Estimate], consensus: dict[str, dict[str, float]], truth: dict[str, float]
) -> bytes:
    """Estimator comparison: point estimates with CIs, grouped by estimand."""
    rows = sorted(estimates, key=lambda e: (e.estimand, e.estimator))
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.2))
    ys = np.arange(len(rows))[::-1]
    colors = {"pass": "#2ca02c", "warn": "#ff7f0e", "fail": "#d62728"}
    for y, e in zip(ys, rows, strict=True):
        ax.errorbar(
            e.estimate,
            y,
            xerr=[[e.estimate - e.ci[0]], [e.ci[1] - e.estimate]],
            fmt="o",
            color=colors.get(e.status, "black"),
            capsize=3,
        )
    for estimand, c in consensus.items():
        idx = [y for y, e in zip(ys, rows, strict=True) if e.estimand == estimand]
        if idx:
            ax.vlines(
                c["estimate"],
                min(idx) - 0.4,
                max(idx) + 0.4,
                color="grey",
                ls="--",
                lw=1,
                label="consensus (median)" if estimand == next(iter(consensus)) else "_nolegend_",
            )
        if estimand in truth and idx:
            ax.vlines(
                truth[estimand],
                min(idx) - 0.4,
                max(idx) + 0.4,
                color="black",
                lw=1.5,
                label="truth" if estimand == next(iter(truth)) else "_nolegend_",
            )
    ax.axvline(0, color="black", lw=0.5, alpha=0.4)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{e.estimator} ({e.estimand})" for e in rows])
    ax.set_xlabel("effect estimate with confidence interval")
    ax.set_title("Estimator comparison")
    if consensus or truth:
        ax.legend(frameon=False, fontsize=8, loc="best")
    return _png(fig)
