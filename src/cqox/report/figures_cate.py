"""Figures of heterogeneous effects (Plotly for the dashboard, Matplotlib PNG for the report).

- **CATE landscape**: a 3-D terrain of τ̂ over the two most important covariates
  (split frequency for the forest; otherwise the two with the largest
  best-linear-projection t-statistics), the others at their medians;
- **CATE heatmap**: the same grid seen from above;
- **GATES**: group average effects by τ̂ quintile with intervals;
- **uplift**: uplift (gain), Qini and TOC curves;
- **targeting**: net benefit by coverage (one line per budget), optimum marked;
- **policy-evaluation surface**: net benefit over share treated × cost per treated;
- **variable importance**;
- **policy tree**: the learned rule as a drawing.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from cqox.core.estimate import Estimate
from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png
from cqox.report.plotly_figures import _json

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

#: Grid points per axis of the landscape and heatmap.
GRID_SIZE = 30
LINE = "#1f77b4"
ZERO = "#7f7f7f"


def top_two(est: Estimate) -> tuple[int, int]:
    """Indices of the two covariates the effect varies with most."""
    assert est.unit_effects is not None
    names = est.unit_effects.covariate_names  # type: ignore[attr-defined]
    imp = est.diagnostics.get("feature_importance")
    if imp:
        ranked = [names.index(k) for k in imp]
    else:
        blp = est.tables["best_linear_projection"].iloc[1:]
        ranked = list(np.argsort(-np.abs(blp["t"].to_numpy())))
    if len(ranked) < 2:
        return int(ranked[0]), int(ranked[0])
    return int(ranked[0]), int(ranked[1])


def _grid(est: Estimate) -> tuple[str, str, np.ndarray, np.ndarray, np.ndarray]:
    ue: Any = est.unit_effects
    a, b = top_two(est)
    xa, xb, tau = ue.grid(a, b, GRID_SIZE)
    return ue.covariate_names[a], ue.covariate_names[b], xa, xb, tau


def landscape_plotly(est: Estimate) -> dict[str, Any]:
    """3-D surface of τ̂ over the two leading covariates, others at their medians."""
    na, nb, xa, xb, tau = _grid(est)
    fig = go.Figure(go.Surface(x=xa, y=xb, z=tau, colorscale="RdBu", reversescale=True))
    fig.update_layout(
        title=f"CATE landscape ({est.estimator})",
        scene={"xaxis_title": na, "yaxis_title": nb, "zaxis_title": "τ̂(x)"},
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return _json(fig)


def landscape_png(est: Estimate) -> bytes:
    """PNG of the CATE landscape."""
    na, nb, xa, xb, tau = _grid(est)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot(projection="3d")
    A, B = np.meshgrid(xa, xb)
    ax.plot_surface(A, B, tau, cmap="RdBu_r", linewidth=0, antialiased=True)
    ax.set_xlabel(na)
    ax.set_ylabel(nb)
    ax.set_zlabel("τ̂(x)")
    ax.set_title(f"CATE landscape ({est.estimator})")
    return _png(fig)


def heatmap_plotly(est: Estimate) -> dict[str, Any]:
    """Heatmap of τ̂ over the two leading covariates."""
    na, nb, xa, xb, tau = _grid(est)
    fig = go.Figure(go.Heatmap(x=xa, y=xb, z=tau, colorscale="RdBu", reversescale=True))
    fig.update_layout(title=f"CATE heatmap ({est.estimator})", xaxis_title=na, yaxis_title=nb)
    return _json(fig)


def heatmap_png(est: Estimate) -> bytes:
    """PNG of the CATE heatmap."""
    na, nb, xa, xb, tau = _grid(est)
    fig = Figure(figsize=(6.0, 4.6))
    ax = fig.subplots()
    mesh = ax.pcolormesh(xa, xb, tau, cmap="RdBu_r", shading="auto")
    fig.colorbar(mesh, ax=ax, label="τ̂(x)")
    ax.set_xlabel(na)
    ax.set_ylabel(nb)
    ax.set_title(f"CATE heatmap ({est.estimator})")
    return _png(fig)


def gates_plotly(table: pd.DataFrame) -> dict[str, Any]:
    """GATES bars with their confidence intervals."""
    err = table["ci_upper"] - table["estimate"]
    fig = go.Figure(
        go.Bar(
            x=[f"G{g}" for g in table["group"]],
            y=table["estimate"],
            error_y={"type": "data", "array": err},
            marker_color=LINE,
        )
    )
    fig.update_layout(
        title="Group average treatment effects (by τ̂ quantile)",
        xaxis_title="group (lowest to highest predicted effect)",
        yaxis_title="effect",
    )
    return _json(fig)


def gates_png(table: pd.DataFrame) -> bytes:
    """PNG of the GATES bars."""
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.subplots()
    x = np.arange(len(table))
    est = table["estimate"].to_numpy()
    ax.bar(x, est, color=LINE, alpha=0.8)
    ax.errorbar(
        x,
        est,
        yerr=[est - table["ci_lower"].to_numpy(), table["ci_upper"].to_numpy() - est],
        fmt="none",
        color="black",
        capsize=4,
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, [f"G{g}" for g in table["group"]])
    ax.set_xlabel("group (lowest to highest predicted effect)")
    ax.set_ylabel("effect")
    ax.set_title("GATES")
    return _png(fig)


def uplift_plotly(curve: pd.DataFrame) -> dict[str, Any]:
    """Uplift, Qini and TOC curves against the share treated."""
    fig = go.Figure()
    for col, name in (
        ("uplift", "uplift (gain)"),
        ("random", "random"),
        ("qini", "Qini"),
        ("toc", "TOC"),
    ):
        dash = "dot" if col == "random" else None
        fig.add_scatter(
            x=curve["share_treated"],
            y=curve[col],
            name=name,
            mode="lines",
            line={"dash": dash},
        )
    fig.update_layout(
        title="Uplift, Qini and TOC curves",
        xaxis_title="share treated (by τ̂)",
        yaxis_title="effect per row",
    )
    return _json(fig)


def uplift_png(curve: pd.DataFrame) -> bytes:
    """PNG of the uplift, Qini and TOC curves."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    q = curve["share_treated"]
    ax.plot(q, curve["uplift"], label="uplift (gain)")
    ax.plot(q, curve["random"], ls=":", color=ZERO, label="random")
    ax.plot(q, curve["qini"], label="Qini")
    ax.plot(q, curve["toc"], label="TOC")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("share treated (by τ̂)")
    ax.set_ylabel("effect per row")
    ax.legend(frameon=False)
    ax.set_title("Uplift, Qini and TOC")
    return _png(fig)


def targeting_plotly(table: pd.DataFrame) -> dict[str, Any]:
    """Net benefit by coverage, one line per budget, optimum marked."""
    fig = go.Figure()
    for budget, block in table.groupby(table["budget"].fillna(-1.0), sort=True):
        label = "no budget" if budget < 0 else f"budget {budget:g}"
        fig.add_scatter(x=block["coverage"], y=block["net_benefit"], name=label, mode="lines")
        best = block[block["optimal"]]
        fig.add_scatter(
            x=best["coverage"],
            y=best["net_benefit"],
            mode="markers",
            showlegend=False,
            marker={"size": 12, "symbol": "star"},
        )
    fig.update_layout(
        title="Targeting: net benefit by coverage",
        xaxis_title="share treated (top by τ̂)",
        yaxis_title="net benefit per row",
    )
    return _json(fig)


def targeting_png(table: pd.DataFrame) -> bytes:
    """PNG of the targeting figure."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    for budget, block in table.groupby(table["budget"].fillna(-1.0), sort=True):
        label = "no budget" if budget < 0 else f"budget {budget:g}"
        ax.plot(block["coverage"], block["net_benefit"], label=label)
        best = block[block["optimal"]]
        ax.plot(best["coverage"], best["net_benefit"], "*", ms=12, color="black")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("share treated (top by τ̂)")
    ax.set_ylabel("net benefit per row")
    ax.legend(frameon=False)
    ax.set_title("Targeting")
    return _png(fig)


def importance_plotly(importance: dict[str, float]) -> dict[str, Any]:
    """Variable importance bars (largest first)."""
    names, values = list(importance)[:20], list(importance.values())[:20]
    fig = go.Figure(go.Bar(x=values[::-1], y=names[::-1], orientation="h", marker_color=LINE))
    fig.update_layout(title="Variable importance (split frequency)", xaxis_title="importance")
    return _json(fig)


def importance_png(importance: dict[str, float]) -> bytes:
    """PNG of the variable importance."""
    names, values = list(importance)[:20], list(importance.values())[:20]
    fig = Figure(figsize=(6.0, 0.3 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh(names[::-1], values[::-1], color=LINE)
    ax.set_xlabel("importance (split frequency)")
    ax.set_title("Variable importance")
    return _png(fig)


def _tree_layout(table: pd.DataFrame) -> list[tuple[float, float, str, int | None]]:
    """(x, y, label, parent) per node: leaves spread evenly, parents centred above."""
    rows = table.to_dict(orient="records")
    pos: dict[int, float] = {}
    counter = [0.0]

    def place(i: int) -> float:
        r = rows[i]
        if r["covariate"] is None or pd.isna(r["left"]):
            pos[i] = counter[0]
            counter[0] += 1
            return pos[i]
        pos[i] = (place(int(r["left"])) + place(int(r["right"]))) / 2
        return pos[i]

    place(0)
    parent: dict[int, int] = {}
    for r in rows:
        if r["covariate"] is not None and not pd.isna(r["left"]):
            parent[int(r["left"])] = int(r["node"])
            parent[int(r["right"])] = int(r["node"])
    out = []
    for r in rows:
        i = int(r["node"])
        label = (
            f"{r['covariate']} ≤ {r['threshold']:.4g}"
            if r["covariate"] is not None and not pd.isna(r["left"])
            else ("treat" if int(r["action"]) == 1 else "do not treat")
        )
        out.append((pos[i], -float(r["depth"]), label, parent.get(i)))
    return out


def policy_tree_plotly(table: pd.DataFrame) -> dict[str, Any]:
    """The policy tree as boxes and edges (left branch: condition true)."""
    nodes = _tree_layout(table)
    fig = go.Figure()
    for x, y, _, par in nodes:
        if par is not None:
            px, py = nodes[par][0], nodes[par][1]
            fig.add_scatter(
                x=[px, x],
                y=[py, y],
                mode="lines",
                line={"color": ZERO},
                showlegend=False,
                hoverinfo="skip",
            )
    fig.add_scatter(
        x=[n[0] for n in nodes],
        y=[n[1] for n in nodes],
        text=[n[2] for n in nodes],
        mode="markers+text",
        textposition="top center",
        marker={"size": 14, "color": LINE},
        showlegend=False,
    )
    fig.update_layout(
        title="Policy tree (left: condition holds)",
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return _json(fig)


def policy_tree_png(table: pd.DataFrame) -> bytes:
    """PNG drawing of the policy tree."""
    nodes = _tree_layout(table)
    fig = Figure(figsize=(6.8, 3.8))
    ax = fig.subplots()
    for x, y, _, par in nodes:
        if par is not None:
            ax.plot([nodes[par][0], x], [nodes[par][1], y], color=ZERO, lw=1)
    for x, y, label, _ in nodes:
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": LINE},
        )
    ax.set_axis_off()
    ax.set_title("Policy tree (left: condition holds)")
    return _png(fig)


#: Cost levels of the policy-evaluation surface, as multiples of the largest TOC gain.
SURFACE_COSTS = 25


def policy_surface(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net benefit ``G(q) − c·q`` over share treated ``q`` and cost per treated ``c``.

    ``c`` runs from 0 to the largest mean effect among the top rows (beyond it no
    one is worth treating).  Returns ``(q, c, net)`` with ``net[i, j]`` at ``c[i]``,
    ``q[j]``.
    """
    q = curve["share_treated"].to_numpy()
    gain = curve["uplift"].to_numpy()
    mean_top = np.divide(gain, q, out=np.zeros_like(gain), where=q > 0)
    c = np.linspace(0.0, max(float(np.nanmax(mean_top)), 1e-9), SURFACE_COSTS)
    return q, c, gain[None, :] - c[:, None] * q[None, :]


def policy_surface_plotly(curve: pd.DataFrame) -> dict[str, Any]:
    """3-D surface of the net benefit of treating the top share, by cost per treated."""
    q, c, net = policy_surface(curve)
    fig = go.Figure(go.Surface(x=q, y=c, z=net, colorscale="Viridis"))
    fig.update_layout(
        title="Policy evaluation: net benefit by share treated and cost",
        scene={
            "xaxis_title": "share treated (top by τ̂)",
            "yaxis_title": "cost per treated",
            "zaxis_title": "net benefit per row",
        },
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return _json(fig)


def policy_surface_png(curve: pd.DataFrame) -> bytes:
    """PNG of the policy-evaluation surface."""
    q, c, net = policy_surface(curve)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot(projection="3d")
    Q, C = np.meshgrid(q, c)
    ax.plot_surface(Q, C, net, cmap="viridis", linewidth=0)
    ax.set_xlabel("share treated")
    ax.set_ylabel("cost per treated")
    ax.set_zlabel("net benefit")
    ax.set_title("Policy evaluation surface")
    return _png(fig)


@register_figures(order=60)
def cate_figures(an: Analysis) -> list[FigureSpec]:
    """Heterogeneous-effect figures of the first CATE estimate and the first policy tree."""
    specs: list[FigureSpec] = []
    est = next((e for e in an.estimates if e.unit_effects is not None), None)
    if est is not None:
        specs += [
            FigureSpec(
                "cate_landscape",
                "CATE landscape",
                "Predicted effect τ̂(x) over the two covariates it varies with most, the "
                "others at their medians.",
                partial(landscape_png, est),
                partial(landscape_plotly, est),
            ),
            FigureSpec(
                "cate_heatmap",
                "CATE heatmap",
                "The same surface seen from above.",
                partial(heatmap_png, est),
                partial(heatmap_plotly, est),
            ),
            FigureSpec(
                "gates",
                "Group average effects (GATES)",
                "Average effect in each fifth of the rows ranked by τ̂, with 95% intervals: "
                "rising bars mean the ranking finds real heterogeneity.",
                partial(gates_png, est.tables["gates"]),
                partial(gates_plotly, est.tables["gates"]),
            ),
            FigureSpec(
                "uplift",
                "Uplift, Qini and TOC curves",
                "Gain per row from treating the top share by τ̂ (doubly robust scores), its "
                "excess over random targeting (Qini) and the TOC.",
                partial(uplift_png, est.tables["uplift"]),
                partial(uplift_plotly, est.tables["uplift"]),
            ),
            FigureSpec(
                "targeting",
                "Targeting: net benefit by coverage",
                "Value of the outcome gained minus the cost of treating, per row, by the "
                "share treated; stars mark the optimum per budget.",
                partial(targeting_png, est.tables["targeting"]),
                partial(targeting_plotly, est.tables["targeting"]),
            ),
            FigureSpec(
                "policy_surface",
                "Policy evaluation surface",
                "Net benefit per row of treating the top share by τ̂, for each cost per "
                "treated unit: the ridge is the best coverage at that cost.",
                partial(policy_surface_png, est.tables["uplift"]),
                partial(policy_surface_plotly, est.tables["uplift"]),
            ),
        ]
        imp = est.diagnostics.get("feature_importance")
        if imp:
            specs.append(
                FigureSpec(
                    "variable_importance",
                    "Variable importance",
                    "Share of the forest's splits on each covariate (depth-weighted, as grf).",
                    partial(importance_png, imp),
                    partial(importance_plotly, imp),
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
                partial(policy_tree_png, table),
                partial(policy_tree_plotly, table),
            )
        )
    return specs
