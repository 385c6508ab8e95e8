"""Time-varying treatment figures.

- ``msm_weights_over_time``: the distribution of the stabilised weight accumulated up
  to each period (median, 25–75% and 1–99% ranges, maximum) of an ``msm_iptw``
  estimate, from ``tables["weights_by_period"]``: the weights multiply over periods,
  so their spread grows, and a widening range is where positivity weakens.
- ``time_varying_regimes``: ``E[Y]`` under "never" and "always" treated by each
  time-varying estimator, beside the naive regressions the g-methods replace.

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

COLOUR = "#1f77b4"


def weights_png(est: Estimate) -> bytes:
    """Stabilised weights by period: median, IQR, 1–99% range and maximum (PNG)."""
    import matplotlib.pyplot as plt

    w = est.tables["weights_by_period"]
    x = list(range(len(w)))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.fill_between(x, w["q01"], w["q99"], color=COLOUR, alpha=0.15, lw=0, label="1–99%")
    ax.fill_between(x, w["q25"], w["q75"], color=COLOUR, alpha=0.35, lw=0, label="25–75%")
    ax.plot(x, w["median"], color=COLOUR, lw=1.8, label="median")
    ax.plot(x, w["max"], color="#d62728", lw=1, ls="--", label="maximum")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, [str(t) for t in w["time"]])
    ax.set_xlabel("period")
    ax.set_ylabel("stabilised weight up to the period")
    ax.set_title("MSM weights over time")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def weights_plotly(est: Estimate) -> dict[str, Any]:
    """The same figure as a Plotly figure dictionary."""
    w = est.tables["weights_by_period"]
    x = [str(t) for t in w["time"]]

    def line(col: str, name: str, **kw: Any) -> dict[str, Any]:
        return {"type": "scatter", "mode": "lines", "x": x,
                "y": w[col].astype(float).tolist(), "name": name, **kw}  # fmt: skip

    return {
        "data": [
            line("q01", "1%", line={"width": 0}, showlegend=False),
            line("q99", "1–99%", fill="tonexty", line={"width": 0}),
            line("q25", "25%", line={"width": 0}, showlegend=False),
            line("q75", "25–75%", fill="tonexty", line={"width": 0}),
            line("median", "median", line={"color": COLOUR}),
            line("max", "maximum", line={"color": "#d62728", "dash": "dash"}),
        ],
        "layout": {
            "title": {"text": "MSM weights over time"},
            "xaxis": {"title": {"text": "period"}},
            "yaxis": {"title": {"text": "stabilised weight"}, "type": "log"},
        },
    }


def regimes_png(ests: list[Estimate]) -> bytes:
    """The always-vs-never contrast of each estimator and the naive regressions (PNG)."""
    import matplotlib.pyplot as plt

    labels, values, lows, highs = _contrasts(ests)
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.45 * len(labels)))
    y = list(range(len(labels)))
    ax.errorbar(values, y, xerr=[[v - lo for v, lo in zip(values, lows, strict=True)],
                                 [hi - v for v, hi in zip(values, highs, strict=True)]],
                fmt="s", color=COLOUR, capsize=3)  # fmt: skip
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("E[Y(always)] − E[Y(never)]")
    ax.set_title("Time-varying treatment: g-methods and naive regressions")
    return _png(fig)


def _contrasts(ests: list[Estimate]) -> tuple[list[str], list[float], list[float], list[float]]:
    labels, values, lows, highs = [], [], [], []
    for e in ests:
        labels.append(e.estimator)
        values.append(e.estimate)
        lows.append(e.ci[0])
        highs.append(e.ci[1])
    naive = next(
        (e.tables["naive_regressions"] for e in ests if "naive_regressions" in e.tables), None
    )
    if naive is not None:
        for _, r in naive.iterrows():
            labels.append(f"naive: {r['regression']}")
            values.append(float(r["estimate"]))
            lows.append(float(r["estimate"] - 1.96 * r["se"]))
            highs.append(float(r["estimate"] + 1.96 * r["se"]))
    return labels, values, lows, highs


def regimes_plotly(ests: list[Estimate]) -> dict[str, Any]:
    """The same figure as a Plotly figure dictionary."""
    labels, values, lows, highs = _contrasts(ests)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": values,
                "y": labels,
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [h - v for v, h in zip(values, highs, strict=True)],
                    "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
                },
                "marker": {"symbol": "square", "color": COLOUR},
            }
        ],
        "layout": {
            "title": {"text": "Time-varying treatment: g-methods and naive regressions"},
            "xaxis": {"title": {"text": "E[Y(always)] − E[Y(never)]"}},
            "yaxis": {"autorange": "reversed"},
        },
    }


@register_figures(order=46)
def time_varying_specs(an: Analysis) -> list[FigureSpec]:
    """MSM weights over time and the regime contrasts of the time-varying estimates."""
    specs: list[FigureSpec] = []
    msm = next((e for e in an.estimates if "weights_by_period" in e.tables), None)
    if msm is not None:
        specs.append(
            FigureSpec(
                "msm_weights_over_time",
                "MSM weights over time",
                "Distribution of the stabilised weight accumulated up to each period "
                "(median, 25–75% and 1–99% ranges, maximum; log scale): the product over "
                "periods spreads, and a widening range is where positivity weakens.",
                partial(weights_png, msm),
                partial(weights_plotly, msm),
            )
        )
    tv = [e for e in an.estimates if e.estimand == "always_vs_never"]
    if tv:
        specs.append(
            FigureSpec(
                "time_varying_regimes",
                "Always vs never treated",
                "E[Y(always treated)] − E[Y(never treated)] by each g-method with its 95% "
                "interval, beside the naive regressions of the outcome on the treatment "
                "history (without and with the time-varying covariates), both biased under "
                "treatment–confounder feedback.",
                partial(regimes_png, tv),
                partial(regimes_plotly, tv),
            )
        )
    return specs
