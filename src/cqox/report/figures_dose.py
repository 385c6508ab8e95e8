"""Dose-response and multi-valued figures.

- ``dose_response``: the estimated curve ``E[Y(a)]`` of each dose-response estimate with
  its pointwise interval (dark) and sup-t uniform band (light), the optimal dose marked
  with its interval — from ``tables["curve"]`` and the ``optimal_dose`` estimate.
- ``multivalued_forest``: every level's effect against the reference level with its
  interval (a forest plot), from a ``multivalued`` estimate's ``tables["effects"]``.

Each as Matplotlib PNG bytes (report) and a Plotly figure dictionary (dashboard).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def dose_curve_png(ests: list[Estimate]) -> bytes:
    """Curves with pointwise intervals, uniform bands and the optimum (PNG)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for est, colour in zip(ests, COLOURS, strict=False):
        c = est.tables["curve"]
        ax.fill_between(c["dose"], c["band_lower"], c["band_upper"], color=colour, alpha=0.12,
                        lw=0, label=f"{est.estimator}: uniform band")  # fmt: skip
        ax.fill_between(c["dose"], c["ci_lower"], c["ci_upper"], color=colour, alpha=0.25,
                        lw=0)  # fmt: skip
        ax.plot(c["dose"], c["estimate"], color=colour, lw=1.8, label=f"{est.estimator}")
        top = est.diagnostics["max_value"]
        xerr = [[est.estimate - est.ci[0]], [est.ci[1] - est.estimate]]
        ax.errorbar([est.estimate], [top], xerr=xerr, fmt="o", color=colour, ms=5, capsize=3)
    ax.set_xlabel("dose")
    ax.set_ylabel("E[Y(dose)]")
    ax.set_title("Dose-response curve (optimum marked with its interval)")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def dose_curve_plotly(ests: list[Estimate]) -> dict[str, Any]:
    """The same figure as a Plotly figure dictionary."""
    data: list[dict[str, Any]] = []
    for est, colour in zip(ests, COLOURS, strict=False):
        c = est.tables["curve"]
        x = c["dose"].astype(float).tolist()
        for lo, hi, name, opacity in (("band_lower", "band_upper", "uniform band", 0.12),
                                      ("ci_lower", "ci_upper", "95% pointwise", 0.25)):  # fmt: skip
            data.append({"type": "scatter", "mode": "lines", "x": x,
                         "y": c[lo].astype(float).tolist(), "line": {"width": 0},
                         "showlegend": False, "hoverinfo": "skip"})  # fmt: skip
            data.append({"type": "scatter", "mode": "lines", "x": x,
                         "y": c[hi].astype(float).tolist(), "fill": "tonexty",
                         "line": {"width": 0}, "opacity": opacity, "fillcolor": colour,
                         "name": f"{est.estimator}: {name}"})  # fmt: skip
        data.append({"type": "scatter", "mode": "lines", "x": x,
                     "y": c["estimate"].astype(float).tolist(), "name": est.estimator,
                     "line": {"color": colour}})  # fmt: skip
        data.append({"type": "scatter", "mode": "markers", "x": [float(est.estimate)],
                     "y": [float(est.diagnostics["max_value"])],
                     "error_x": {"type": "data", "symmetric": False,
                                 "array": [float(est.ci[1] - est.estimate)],
                                 "arrayminus": [float(est.estimate - est.ci[0])]},
                     "marker": {"color": colour, "size": 8},
                     "name": f"{est.estimator}: optimal dose"})  # fmt: skip
    return {
        "data": data,
        "layout": {
            "title": {"text": "Dose-response curve"},
            "xaxis": {"title": {"text": "dose"}},
            "yaxis": {"title": {"text": "E[Y(dose)]"}},
        },
    }


def forest_png(est: Estimate) -> bytes:
    """Each level's effect against the reference with its interval (PNG)."""
    import matplotlib.pyplot as plt

    eff = est.tables["effects"]
    labels = [str(v) for v in eff["level"]]
    y = list(range(len(labels)))[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.5 * len(labels)))
    xerr = [eff["estimate"] - eff["ci_low"], eff["ci_high"] - eff["estimate"]]
    ax.errorbar(eff["estimate"], y, xerr=xerr, fmt="s", color=COLOURS[0], capsize=3)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, labels)
    ref = str(eff["reference"].iloc[0])
    ax.set_xlabel(f"{est.estimand} against '{ref}'")
    ax.set_title(f"Multi-valued treatment effects ({est.params.get('method', '')})")
    return _png(fig)


def forest_plotly(est: Estimate) -> dict[str, Any]:
    """The same figure as a Plotly figure dictionary."""
    eff = est.tables["effects"]
    ref = str(eff["reference"].iloc[0])
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": eff["estimate"].astype(float).tolist(),
                "y": [str(v) for v in eff["level"]],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": (eff["ci_high"] - eff["estimate"]).astype(float).tolist(),
                    "arrayminus": (eff["estimate"] - eff["ci_low"]).astype(float).tolist(),
                },
                "marker": {"symbol": "square", "color": COLOURS[0]},
                "name": est.estimand,
            }
        ],
        "layout": {
            "title": {"text": "Multi-valued treatment effects"},
            "xaxis": {"title": {"text": f"{est.estimand} against '{ref}'"}, "zeroline": True},
            "yaxis": {"autorange": "reversed"},
        },
    }


@register_figures(order=45)
def dose_specs(an: Analysis) -> list[FigureSpec]:
    """The dose-response curves of every dose-response estimate, and a multi-valued forest."""
    specs: list[FigureSpec] = []
    curves = [e for e in an.estimates if "curve" in e.tables and e.estimand == "optimal_dose"]
    if curves:
        specs.append(
            FigureSpec(
                "dose_response",
                "Dose-response curve",
                "Estimated E[Y(dose)] by each dose-response estimator, with 95% pointwise "
                "intervals (dark), the sup-t uniform band (light) and the dose that "
                "maximises the curve with its interval.",
                partial(dose_curve_png, curves),
                partial(dose_curve_plotly, curves),
            )
        )
    forest = next(
        (e for e in an.estimates if e.estimator == "multivalued" and "effects" in e.tables), None
    )
    if forest is not None and len(forest.tables["effects"]):
        specs.append(
            FigureSpec(
                "multivalued_forest",
                "Multi-valued treatment effects",
                "Each treatment level's effect against the reference level with its 95% interval.",
                partial(forest_png, forest),
                partial(forest_plotly, forest),
            )
        )
    return specs
