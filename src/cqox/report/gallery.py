"""Every figure an Analysis can show, in one list, for the report, the dashboard and the API.

Each :class:`FigureSpec` renders lazily, as PNG bytes (report, ``/figures/{name}.png``)
or as a Plotly dictionary (dashboard, ``/figures/{name}``); both come from the same
numbers.  Which figures exist depends on the estimates: the estimator comparison and
propensity overlap for backdoor analyses, balance and sensitivity figures, the RD plot,
the event study, synthetic-control paths and gaps, and the interrupted time series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from cqox.analysis.analysis import Analysis


@dataclass(frozen=True)
class FigureSpec:
    """A figure: stable ``name``, a title, a caption, and its two renderers."""

    name: str
    title: str
    caption: str
    png: Callable[[], bytes]
    plotly: Callable[[], dict[str, Any]]


def figure_specs(an: Analysis) -> list[FigureSpec]:
    """The figures ``an`` can show, in report order."""
    from cqox.report import figures, figures_backdoor, plotly_figures

    specs: list[FigureSpec] = []
    if an.estimates:
        specs.append(
            FigureSpec(
                "forest",
                "Estimator comparison",
                "Each estimator's estimate with its confidence interval, grouped by estimand; "
                "dashed: consensus (median); solid: the known truth, when there is one.",
                lambda: figures.forest_png(an.estimates, an.consensus, an.truth),
                lambda: plotly_figures.forest_figure(an.estimates, an.consensus, an.truth),
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
                lambda: plotly_figures.overlap_figure(e, t),
            )
        )
    titles = {
        "love_plot": (
            "Covariate balance (Love plot)",
            "Absolute standardised mean differences before and after "
            "matching; the line marks the 0.1 threshold.",
        ),
        "evalue_contour": (
            "E-value contour",
            "Confounder strengths (risk-ratio scale, with treatment and "
            "with outcome) that would explain the estimate away.",
        ),
        "rosenbaum": (
            "Rosenbaum bounds",
            "Upper bound of the one-sided p-value as hidden bias Γ grows.",
        ),
    }
    pngs: dict[str, bytes] | None = None

    def backdoor_png(key: str) -> bytes:
        nonlocal pngs
        if pngs is None:
            pngs = figures_backdoor.backdoor_pngs(an)
        return pngs[key]

    available = set(figures_backdoor._inputs(an))
    keys = {"love_plot": "balance", "evalue_contour": "evalue", "rosenbaum": "rosenbaum"}
    for key, (title, caption) in titles.items():
        if keys[key] in available:
            specs.append(
                FigureSpec(
                    key,
                    title,
                    caption,
                    partial(backdoor_png, key),
                    partial(_pick, figures_backdoor.backdoor_figures, an, key),
                )
            )
    specs += _design_specs(an)
    specs += _cate_specs(an)
    return specs


def _cate_specs(an: Analysis) -> list[FigureSpec]:
    """Heterogeneous-effect figures of the first CATE estimate and the first policy tree."""
    from cqox.report import figures_cate as fc

    specs: list[FigureSpec] = []
    est = next((e for e in an.estimates if e.unit_effects is not None), None)
    if est is not None:
        specs += [
            FigureSpec(
                "cate_landscape",
                "CATE landscape",
                "Predicted effect τ̂(x) over the two covariates it varies with most, the "
                "others at their medians.",
                partial(fc.landscape_png, est),
                partial(fc.landscape_plotly, est),
            ),
            FigureSpec(
                "cate_heatmap",
                "CATE heatmap",
                "The same surface seen from above.",
                partial(fc.heatmap_png, est),
                partial(fc.heatmap_plotly, est),
            ),
            FigureSpec(
                "gates",
                "Group average effects (GATES)",
                "Average effect in each fifth of the rows ranked by τ̂, with 95% intervals: "
                "rising bars mean the ranking finds real heterogeneity.",
                partial(fc.gates_png, est.tables["gates"]),
                partial(fc.gates_plotly, est.tables["gates"]),
            ),
            FigureSpec(
                "uplift",
                "Uplift, Qini and TOC curves",
                "Gain per row from treating the top share by τ̂ (doubly robust scores), its "
                "excess over random targeting (Qini) and the TOC.",
                partial(fc.uplift_png, est.tables["uplift"]),
                partial(fc.uplift_plotly, est.tables["uplift"]),
            ),
            FigureSpec(
                "targeting",
                "Targeting: net benefit by coverage",
                "Value of the outcome gained minus the cost of treating, per row, by the "
                "share treated; stars mark the optimum per budget.",
                partial(fc.targeting_png, est.tables["targeting"]),
                partial(fc.targeting_plotly, est.tables["targeting"]),
            ),
            FigureSpec(
                "policy_surface",
                "Policy evaluation surface",
                "Net benefit per row of treating the top share by τ̂, for each cost per "
                "treated unit: the ridge is the best coverage at that cost.",
                partial(fc.policy_surface_png, est.tables["uplift"]),
                partial(fc.policy_surface_plotly, est.tables["uplift"]),
            ),
        ]
        imp = est.diagnostics.get("feature_importance")
        if imp:
            specs.append(
                FigureSpec(
                    "variable_importance",
                    "Variable importance",
                    "Share of the forest's splits on each covariate (depth-weighted, as grf).",
                    partial(fc.importance_png, imp),
                    partial(fc.importance_plotly, imp),
                )
            )
    tree = next((e for e in an.estimates if "policy_tree" in e.tables), None)
    if tree is not None:
        table = tree.tables["policy_tree"]
        specs.append(
            FigureSpec(
                "policy_tree",
                "Policy tree",
                "Whom to treat: the learned rule (left branches where the condition holds).",
                partial(fc.policy_tree_png, table),
                partial(fc.policy_tree_plotly, table),
            )
        )
    return specs


def _design_specs(an: Analysis) -> list[FigureSpec]:
    from cqox.report import figures_did, figures_its, figures_rd, figures_synth

    specs: list[FigureSpec] = []
    rd = an.figure_data.get("rd")
    rd_est = next((e for e in an.estimates if e.estimator == "rd"), None)
    if rd is not None:
        specs.append(
            FigureSpec(
                "rd_plot",
                "Regression discontinuity",
                "Binned means with global polynomial fits on each side of the cutoff; the "
                "local fits of the estimate and its bandwidth are drawn over them.",
                lambda: figures_rd.rd_plot_png(rd, rd_est),
                lambda: figures_rd.rd_plot_plotly(rd, rd_est),
            )
        )
    for e in an.estimates:
        if (
            e.estimator == "did_cs"
            and "event_study" in e.tables
            and "event_study" not in {s.name for s in specs}
        ):
            table = e.tables["event_study"]
            specs.append(
                FigureSpec(
                    "event_study",
                    "Event study",
                    "ATT by periods since first treatment with pointwise 95% intervals and the "
                    "simultaneous band; pre-treatment points test parallel trends.",
                    partial(figures_did.event_study_png, table),
                    partial(figures_did.event_study_plotly, table),
                )
            )
        if e.estimator == "synth" and "synth_path" not in {s.name for s in specs}:
            specs.append(
                FigureSpec(
                    "synth_path",
                    "Synthetic control: treated and synthetic paths",
                    "The treated unit's outcome and its synthetic control; the vertical line "
                    "marks the treatment.",
                    partial(figures_synth.synth_path_png, e),
                    partial(figures_synth.synth_path_plotly, e),
                )
            )
            specs.append(
                FigureSpec(
                    "synth_gap",
                    "Synthetic control: gap with placebos",
                    "Treated minus synthetic, with the in-space placebo gaps in grey.",
                    partial(figures_synth.synth_gap_png, e),
                    partial(figures_synth.synth_gap_plotly, e),
                )
            )
        if e.estimator == "its" and "its" not in {s.name for s in specs}:
            specs.append(
                FigureSpec(
                    "its",
                    "Interrupted time series",
                    "Observed series, fitted segments and the counterfactual continuation of the "
                    "pre-interruption trend.",
                    partial(figures_its.its_png, e),
                    partial(figures_its.its_plotly, e),
                )
            )
    return specs


def _pick(
    build: Callable[[Analysis], dict[str, dict[str, Any]]], an: Analysis, key: str
) -> dict[str, Any]:
    return build(an)[key]


def figure(an: Analysis, name: str) -> FigureSpec | None:
    """The figure called ``name``, if ``an`` has it."""
    return next((s for s in figure_specs(an) if s.name == name), None)
