"""Mediation figures: the effect decomposition and the ρ sensitivity curve.

Drawn from a mediation :class:`~cqox.core.estimate.Estimate`'s ``effects`` table (every
estimator of the ``mediation`` family publishes it) and from the ``mediation``
estimator's ``sensitivity`` table, as Matplotlib PNG bytes (report) and as Plotly
figure dictionaries (dashboard).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import CONTROL_COLOUR, TREATED_COLOUR, _png

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

#: The bars of the decomposition, top to bottom (proportions mediated are not on the
#: outcome's scale and stay in the table).
BAR_EFFECTS = (
    "NIE_control",
    "NIE_treated",
    "NIE",
    "NDE_control",
    "NDE_treated",
    "NDE",
    "TE",
)
_COLOURS = {"NIE": TREATED_COLOUR, "NDE": CONTROL_COLOUR, "TE": "#2f2f2f"}
MEDIATION_FAMILY = "mediation"


def decomposition_rows(est: Estimate) -> pd.DataFrame:
    """The bars: ``effect``, ``label``, ``estimate``, ``ci_low``, ``ci_high``, ``colour``."""
    table = est.tables["effects"].set_index("effect")
    rows = table.loc[[e for e in BAR_EFFECTS if e in table.index]].reset_index()
    rows["colour"] = [_COLOURS[e.split("_")[0]] for e in rows["effect"]]
    return rows[["effect", "label", "estimate", "ci_low", "ci_high", "colour"]]


def decomposition_png(est: Estimate) -> bytes:
    """Horizontal bars of the ACMEs, ADEs and the total effect with their intervals."""
    import matplotlib.pyplot as plt

    rows = decomposition_rows(est)
    y = np.arange(len(rows))[::-1]
    est_v = rows["estimate"].to_numpy(float)
    err = np.vstack(
        [est_v - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - est_v]
    )
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.2))
    ax.barh(y, est_v, color=rows["colour"], alpha=0.75, height=0.6)
    ax.errorbar(est_v, y, xerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, rows["label"])
    ax.set_xlabel(f"effect on the outcome ({est.ci_level:.0%} interval)")
    ax.set_title(f"Mediation decomposition ({est.estimator})")
    return _png(fig)


def decomposition_plotly(est: Estimate) -> dict[str, Any]:
    """The same bars as a Plotly figure dictionary."""
    rows = decomposition_rows(est)
    v = rows["estimate"].astype(float)
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": v.tolist(),
                "y": rows["label"].tolist(),
                "marker": {"color": rows["colour"].tolist()},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": (rows["ci_high"].astype(float) - v).tolist(),
                    "arrayminus": (v - rows["ci_low"].astype(float)).tolist(),
                },
                "name": est.estimator,
            }
        ],
        "layout": {
            "title": {"text": f"Mediation decomposition ({est.estimator})"},
            "xaxis": {"title": {"text": f"effect ({est.ci_level:.0%} interval)"}},
            "yaxis": {"autorange": "reversed"},
        },
    }


#: The treatment arms of an interaction model's ρ curves: column suffix, label, colour.
ARMS = (
    ("_control", "ACME(0), control arm", CONTROL_COLOUR),
    ("_treated", "ACME(1), treated arm", TREATED_COLOUR),
)


def sensitivity_arms(s: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The arms to draw: those whose curve the table has and that differ between arms.

    A model with a treatment × mediator interaction has one ACME(ρ) per arm
    (``estimate_control``, ``estimate_treated``, with bands where ``ci_low_<arm>`` is
    given); without one the arms coincide and only the average is drawn.
    """
    if not {"estimate_control", "estimate_treated"} <= set(s.columns):
        return []
    if np.allclose(s["estimate_control"], s["estimate_treated"], rtol=1e-12, atol=1e-14):
        return []
    return list(ARMS)


def sensitivity_png(est: Estimate) -> bytes:
    """ACME(ρ) with its band (and each arm's with an interaction); ρ = 0 and the zero."""
    import matplotlib.pyplot as plt

    s = est.tables["sensitivity"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.fill_between(s["rho"], s["ci_low"], s["ci_high"], color="#bbbbbb", alpha=0.6, lw=0)
    arms = sensitivity_arms(s)
    ax.plot(s["rho"], s["estimate"], color="black", lw=1.5, label="average ACME" if arms else None)
    for suffix, label, colour in arms:
        if f"ci_low{suffix}" in s.columns:
            ax.fill_between(
                s["rho"],
                s[f"ci_low{suffix}"],
                s[f"ci_high{suffix}"],
                color=colour,
                alpha=0.15,
                lw=0,
            )
        ax.plot(s["rho"], s[f"estimate{suffix}"], color=colour, lw=1.2, ls="--", label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    rho0 = est.diagnostics.get("sensitivity_rho_at_zero")
    if isinstance(rho0, float) and np.isfinite(rho0):
        ax.axvline(rho0, color="#555555", lw=1, ls=":", label=f"ACME = 0 at ρ = {rho0:.2f}")
    if arms or (isinstance(rho0, float) and np.isfinite(rho0)):
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("sensitivity parameter ρ = corr(ε_M, ε_Y)")
    ax.set_ylabel("average causal mediation effect")
    ax.set_title("Sensitivity of the ACME to mediator–outcome confounding")
    return _png(fig)


def sensitivity_plotly(est: Estimate) -> dict[str, Any]:
    """The same curve as a Plotly figure dictionary."""
    s = est.tables["sensitivity"]
    rho = s["rho"].astype(float).tolist()
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": rho + rho[::-1],
                "y": s["ci_high"].astype(float).tolist() + s["ci_low"].astype(float).tolist()[::-1],
                "fill": "toself",
                "fillcolor": "rgba(150,150,150,0.35)",
                "line": {"width": 0},
                "name": f"{est.ci_level:.0%} interval",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": rho,
                "y": s["estimate"].astype(float).tolist(),
                "line": {"color": "black"},
                "name": "ACME(ρ)",
            },
            *_arm_traces(s),
        ],
        "layout": {
            "title": {"text": "Sensitivity of the ACME to mediator–outcome confounding"},
            "xaxis": {"title": {"text": "ρ = corr(ε_M, ε_Y)"}},
            "yaxis": {"title": {"text": "ACME"}},
        },
    }


def _arm_traces(s: pd.DataFrame) -> list[dict[str, Any]]:
    """Each arm's ACME(ρ) and band as Plotly traces (none when the arms coincide)."""
    rho = s["rho"].astype(float).tolist()
    traces: list[dict[str, Any]] = []
    for suffix, label, colour in sensitivity_arms(s):
        if f"ci_low{suffix}" in s.columns:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": rho + rho[::-1],
                    "y": s[f"ci_high{suffix}"].astype(float).tolist()
                    + s[f"ci_low{suffix}"].astype(float).tolist()[::-1],
                    "fill": "toself",
                    "fillcolor": colour,
                    "opacity": 0.15,
                    "line": {"width": 0},
                    "name": f"{label}, interval",
                    "showlegend": False,
                }
            )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": rho,
                "y": s[f"estimate{suffix}"].astype(float).tolist(),
                "line": {"color": colour, "dash": "dash"},
                "name": label,
            }
        )
    return traces


@register_figures(order=55)
def mediation_specs(an: Analysis) -> list[FigureSpec]:
    """Decomposition bars of the first mediation estimate; the ρ curve where computed."""
    from cqox.estimators import registry

    ests = [
        e
        for e in an.estimates
        if "effects" in e.tables and registry.get(e.estimator).family == MEDIATION_FAMILY
    ]
    if not ests:
        return []
    first = ests[0]
    specs = [
        FigureSpec(
            "mediation_decomposition",
            "Mediation decomposition",
            "Average causal mediation effects (indirect, through the mediator), average "
            "direct effects — each for the control and the treated arm and averaged — and "
            "the total effect, with their intervals.",
            partial(decomposition_png, first),
            partial(decomposition_plotly, first),
        )
    ]
    sens = next((e for e in ests if "sensitivity" in e.tables), None)
    if sens is not None:
        specs.append(
            FigureSpec(
                "mediation_sensitivity",
                "Mediation sensitivity (ρ)",
                "The ACME if the mediator's and the outcome's errors were correlated by ρ "
                "(an unobserved mediator–outcome confounder; Imai, Keele & Yamamoto 2010); "
                "sequential ignorability is ρ = 0.  With a treatment × mediator interaction "
                "each arm's ACME has its own curve.",
                partial(sensitivity_png, sens),
                partial(sensitivity_plotly, sens),
            )
        )
    return specs
