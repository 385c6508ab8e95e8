"""Transportability figure: how the trial and the target overlap in the sampling score.

Drawn from a transport :class:`~cqox.core.estimate.Estimate`'s ``sampling_score`` table
(counts of trial and target rows by ``P(trial | X)``, every estimator of the
``transport`` family publishes it) and its ``sample_overlap`` gate, as Matplotlib PNG
bytes (report) and a Plotly figure dictionary (dashboard).  Target rows at scores the
trial never reaches are the ones the trial says nothing about; trial rows at low
scores carry the largest inverse-odds weights.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import CONTROL_COLOUR, TREATED_COLOUR, _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

TRANSPORT_FAMILY = "transport"
TITLE = "Trial and target overlap (sampling score)"


def _trial_range(est: Estimate) -> list[float] | None:
    gate = next((g for g in est.gates if g.name == "sample_overlap"), None)
    if gate is None:
        return None
    rng = gate.details.get("trial_range")
    return [float(rng[0]), float(rng[1])] if rng else None


def overlap_png(est: Estimate) -> bytes:
    """Mirrored histograms of ``P(trial | X)``: trial above zero, target below."""
    from matplotlib.figure import Figure

    h = est.tables["sampling_score"]
    centers = ((h["bin_low"] + h["bin_high"]) / 2).to_numpy(float)
    width = float(h["bin_high"].iloc[0] - h["bin_low"].iloc[0])
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    trial, target = h["trial"].to_numpy(float), h["target"].to_numpy(float)
    ax.bar(centers, trial, width=width, color=TREATED_COLOUR, alpha=0.8,
           label=f"trial (n={int(trial.sum())})")  # fmt: skip
    ax.bar(centers, -target, width=width, color=CONTROL_COLOUR, alpha=0.8,
           label=f"target (n={int(target.sum())})")  # fmt: skip
    rng = _trial_range(est)
    if rng is not None:
        ax.axvspan(rng[0], rng[1], color="grey", alpha=0.12, lw=0, label="trial's range")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("sampling score P(trial | x)")
    ax.set_ylabel("count (target below)")
    ax.set_title(TITLE)
    ax.legend(frameon=False, fontsize=8)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(v):.0f}" for v in ticks])
    return _png(fig)


def overlap_plotly(est: Estimate) -> dict[str, Any]:
    """The same histograms as a Plotly figure dictionary."""
    h = est.tables["sampling_score"]
    centers = ((h["bin_low"] + h["bin_high"]) / 2).astype(float).tolist()
    data: list[dict[str, Any]] = [
        {"type": "bar", "x": centers, "y": h["trial"].astype(float).tolist(),
         "name": "trial", "marker": {"color": TREATED_COLOUR}},
        {"type": "bar", "x": centers, "y": (-h["target"].astype(float)).tolist(),
         "name": "target", "marker": {"color": CONTROL_COLOUR}},
    ]  # fmt: skip
    shapes = []
    rng = _trial_range(est)
    if rng is not None:
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", "x0": rng[0], "x1": rng[1],
             "y0": 0, "y1": 1, "fillcolor": "rgba(128,128,128,0.15)", "line": {"width": 0}}
        )  # fmt: skip
    return {
        "data": data,
        "layout": {
            "title": {"text": TITLE},
            "barmode": "relative",
            "bargap": 0,
            "xaxis": {"title": {"text": "sampling score P(trial | x)"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "count (target below)"}},
            "shapes": shapes,
        },
    }


@register_figures(order=57)
def transport_specs(an: Analysis) -> list[FigureSpec]:
    """The sampling-score overlap of the first transport estimate."""
    from cqox.estimators import registry

    ests = [
        e
        for e in an.estimates
        if "sampling_score" in e.tables
        and e.estimator in registry.all_estimators()
        and registry.get(e.estimator).family == TRANSPORT_FAMILY
    ]
    if not ests:
        return []
    first = ests[0]
    return [
        FigureSpec(
            "transport_overlap",
            TITLE,
            "Distribution of the estimated probability of being in the trial given the "
            "covariates, for trial rows (above) and target rows (below); the shaded band is "
            "the trial's range. Target rows outside it have no comparable trial participants "
            "(positivity of trial participation); trial rows with low scores carry the "
            "largest inverse-odds weights.",
            partial(overlap_png, first),
            partial(overlap_plotly, first),
        )
    ]
