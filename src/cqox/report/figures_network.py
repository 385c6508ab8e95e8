"""Figures of a network-interference analysis (``network_exposure``).

* ``network_spillover_3d`` — the sampled subgraph (``tables["network_sample"]``, up to
  300 units reached breadth-first) in a force-directed 3D layout (NetworkX
  ``spring_layout(dim=3)``, Fruchterman & Reingold 1991): colour = exposure condition,
  size = the unit's term in the direct-effect Horvitz–Thompson sum
  ``|s_i y_i / (N π_i)|``, edges from a treated unit to a control it exposes drawn as
  spillover paths.
* ``network_spillover_spread`` — an animation (Plotly frames with play controls) of how
  far treatment reaches: frame ``k`` lights the units within ``k`` hops of a treated
  unit (hop 1 is the exposure the estimator uses); :func:`spread_gif` writes the same
  frames as an animated GIF (Matplotlib's Pillow writer).
* ``exposure_probabilities`` — the distribution of the probabilities ``π_i(c)`` of the
  two conditions compared, on a log scale: tiny probabilities mean large weights and
  an unstable estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png
from cqox.report.plotly_figures import _json

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis
    from cqox.core.estimate import Estimate

#: Colour of each exposure condition (as ``cqox.estimators.network.exposure.CONDITIONS``).
COLOURS = {
    "control_unexposed": "#9e9e9e",
    "control_exposed": "#ff7f0e",
    "treated_unexposed": "#1f77b4",
    "treated_exposed": "#d62728",
}
PATH_COLOUR = "#ff7f0e"
EDGE_COLOUR = "#c8c8c8"
#: Frames of the spread animation: treated units, then 1, 2, 3 hops.
HOPS = 3


@dataclass(frozen=True)
class NetworkView:
    """The sampled subgraph with its 3D layout and the per-unit values the figures show.

    ``nodes`` has one row per sampled unit (``unit``, ``x``, ``y``, ``z``, ``condition``,
    ``treated``, ``size`` — the absolute direct-effect term, ``hop`` — hops from the
    nearest treated unit, ``-1`` when none is within :data:`HOPS`); ``edges`` lists index
    pairs into ``nodes`` and whether each is a spillover path.
    """

    nodes: pd.DataFrame
    edges: np.ndarray
    paths: np.ndarray


def network_view(sample: pd.DataFrame, units: pd.DataFrame, seed: int = 0) -> NetworkView:
    """Layout and values of the sampled subgraph.

    ``units`` is the ``probabilities`` table of a ``network_exposure`` estimate
    (``unit``, ``condition``, ``contribution``).
    """
    import networkx as nx  # loaded only when a network figure is drawn

    g = nx.Graph()
    g.add_nodes_from(sample["source"].tolist())
    pairs = sample.dropna(subset=["target"])
    g.add_edges_from(zip(pairs["source"].tolist(), pairs["target"].tolist(), strict=True))
    nodes = list(g.nodes())
    pos = nx.spring_layout(g, dim=3, seed=seed)
    info = units.set_index("unit").loc[nodes]
    treated = info["condition"].str.startswith("treated").to_numpy()
    index = {u: k for k, u in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)
    paths = treated[edges[:, 0]] != treated[edges[:, 1]] if edges.size else np.zeros(0, dtype=bool)
    # hops from the nearest treated unit (multi-source breadth-first search)
    hop = np.full(len(nodes), -1, dtype=np.int64)
    frontier = [k for k in range(len(nodes)) if treated[k]]
    hop[frontier] = 0
    for h in range(1, HOPS + 1):
        nxt = []
        for k in frontier:
            for nb in g.neighbors(nodes[k]):
                j = index[nb]
                if hop[j] < 0:
                    hop[j] = h
                    nxt.append(j)
        frontier = nxt
    xyz = np.array([pos[u] for u in nodes]).reshape(-1, 3)
    frame = pd.DataFrame(
        {
            "unit": nodes,
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
            "condition": info["condition"].to_numpy(),
            "treated": treated,
            "size": np.abs(info["contribution"].to_numpy(dtype=float)),
            "hop": hop,
        }
    )
    return NetworkView(frame, edges, paths)


def _marker_sizes(size: np.ndarray) -> np.ndarray:
    """Marker sizes 4–18 from the absolute direct-effect terms (0 → the smallest)."""
    top = float(size.max()) if size.size and size.max() > 0 else 1.0
    return 4.0 + 14.0 * np.sqrt(size / top)


def _lines(view: NetworkView, mask: np.ndarray) -> tuple[list[Any], list[Any], list[Any]]:
    xs: list[Any] = []
    ys: list[Any] = []
    zs: list[Any] = []
    nodes = view.nodes
    for a, b in view.edges[mask]:
        xs += [nodes.x.iat[a], nodes.x.iat[b], None]
        ys += [nodes.y.iat[a], nodes.y.iat[b], None]
        zs += [nodes.z.iat[a], nodes.z.iat[b], None]
    return xs, ys, zs


def spillover_3d_plotly(view: NetworkView) -> dict[str, Any]:
    """Plotly 3D network: edges, spillover paths, units by condition."""
    fig = go.Figure()
    for mask, colour, name, width in (
        (~view.paths, EDGE_COLOUR, "edge", 1),
        (view.paths, PATH_COLOUR, "spillover path (treated → control)", 3),
    ):
        xs, ys, zs = _lines(view, mask)
        fig.add_trace(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines",
                line={"color": colour, "width": width},
                name=name,
                hoverinfo="skip",
            )
        )
    nodes = view.nodes
    sizes = _marker_sizes(nodes["size"].to_numpy())
    for cond, colour in COLOURS.items():
        m = (nodes["condition"] == cond).to_numpy()
        if not m.any():
            continue
        fig.add_trace(
            go.Scatter3d(
                x=nodes.x[m].tolist(),
                y=nodes.y[m].tolist(),
                z=nodes.z[m].tolist(),
                mode="markers",
                name=cond.replace("_", ", "),
                marker={"size": sizes[m].tolist(), "color": colour, "opacity": 0.9},
                text=[f"unit {u}" for u in nodes.unit[m]],
                customdata=nodes["size"][m].tolist(),
                hovertemplate="%{text}<br>|direct-effect term| %{customdata:.3g}<extra></extra>",
            )
        )
    axis = {"showticklabels": False, "title": "", "showgrid": False, "zeroline": False}
    fig.update_layout(
        title="Network spillover (3D force-directed layout)",
        scene={"xaxis": axis, "yaxis": axis, "zaxis": axis},
        legend={"itemsizing": "constant"},
    )
    return _json(fig)


def spillover_3d_png(view: NetworkView) -> bytes:
    """Matplotlib 3D rendering of the same figure (report, PNG)."""
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot(projection="3d")
    nodes = view.nodes
    from mpl_toolkits.mplot3d.art3d import Line3DCollection  # type: ignore[import-untyped]

    xyz = nodes[["x", "y", "z"]].to_numpy()
    for mask, colour, width in ((~view.paths, EDGE_COLOUR, 0.5), (view.paths, PATH_COLOUR, 1.2)):
        segments = xyz[view.edges[mask]]  # (edges, 2, 3): one collection, not a line each
        ax.add_collection3d(Line3DCollection(list(segments), colors=colour, linewidths=width))
    sizes = _marker_sizes(nodes["size"].to_numpy()) ** 2
    for cond, colour in COLOURS.items():
        m = (nodes["condition"] == cond).to_numpy()
        if m.any():
            ax.scatter(
                nodes.x[m],
                nodes.y[m],
                nodes.z[m],
                s=sizes[m],
                color=colour,
                label=cond.replace("_", ", "),
                depthshade=False,
            )
    ax.set_axis_off()
    ax.set_title("Network spillover (3D force-directed layout)")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    return _png(fig)


def _spread_colours(view: NetworkView, k: int) -> list[str]:
    hop = view.nodes["hop"].to_numpy()
    out = []
    for h in hop:
        if h == 0:
            out.append(COLOURS["treated_exposed"])
        elif 0 < h <= k:
            out.append(PATH_COLOUR if h == 1 else "#ffbb78")
        else:
            out.append(COLOURS["control_unexposed"])
    return out


def spread_plotly(view: NetworkView) -> dict[str, Any]:
    """Plotly animation: units within ``k`` hops of a treated unit, ``k = 0 … HOPS``."""
    nodes = view.nodes
    xs, ys, zs = _lines(view, np.ones(len(view.edges), dtype=bool))
    edge_trace = go.Scatter3d(
        x=xs,
        y=ys,
        z=zs,
        mode="lines",
        line={"color": EDGE_COLOUR, "width": 1},
        hoverinfo="skip",
        name="edge",
    )

    def units(k: int) -> go.Scatter3d:
        return go.Scatter3d(
            x=nodes.x.tolist(),
            y=nodes.y.tolist(),
            z=nodes.z.tolist(),
            mode="markers",
            marker={"size": 5, "color": _spread_colours(view, k)},
            name="units",
            text=[
                f"unit {u}: {h} hop(s)" if h >= 0 else f"unit {u}"
                for u, h in zip(nodes.unit, nodes.hop, strict=True)
            ],
            hoverinfo="text",
        )

    labels = ["treated units"] + [
        f"within {k} hop{'s' if k > 1 else ''}" for k in range(1, HOPS + 1)
    ]
    frames = [go.Frame(data=[edge_trace, units(k)], name=labels[k]) for k in range(HOPS + 1)]
    fig = go.Figure(data=[edge_trace, units(0)], frames=frames)
    axis = {"showticklabels": False, "title": "", "showgrid": False, "zeroline": False}
    fig.update_layout(
        title="Spillover spread: units reached from treated units, hop by hop",
        scene={"xaxis": axis, "yaxis": axis, "zaxis": axis},
        updatemenus=[
            {
                "type": "buttons",
                "showactive": False,
                "buttons": [
                    {
                        "label": "Play",
                        "method": "animate",
                        "args": [
                            None,
                            {"frame": {"duration": 900, "redraw": True}, "fromcurrent": True},
                        ],
                    },
                    {
                        "label": "Pause",
                        "method": "animate",
                        "args": [
                            [None],
                            {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"},
                        ],
                    },
                ],
            }
        ],
        sliders=[
            {
                "steps": [
                    {
                        "label": name,
                        "method": "animate",
                        "args": [
                            [name],
                            {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"},
                        ],
                    }
                    for name in labels
                ]
            }
        ],
    )
    return _json(fig)


def _spread_axes(fig: Figure, view: NetworkView, k: int, ax: Any) -> None:
    nodes = view.nodes
    from matplotlib.collections import LineCollection

    xy = nodes[["x", "y"]].to_numpy()
    ax.add_collection(LineCollection(list(xy[view.edges]), colors=EDGE_COLOUR, linewidths=0.4))
    ax.scatter(nodes.x, nodes.y, s=12, c=_spread_colours(view, k), zorder=2)
    ax.set_axis_off()
    ax.set_title("treated units" if k == 0 else f"within {k} hop{'s' if k > 1 else ''}", fontsize=9)


def spread_png(view: NetworkView) -> bytes:
    """The animation's frames side by side (x–y projection of the 3D layout)."""
    fig = Figure(figsize=(9.6, 2.8))
    axes = fig.subplots(1, HOPS + 1)
    for k, ax in enumerate(axes):
        _spread_axes(fig, view, k, ax)
    fig.suptitle(
        "Spillover spread: units reached from treated units, hop by hop", fontsize=10, y=1.04
    )
    return _png(fig)


def spread_gif(view: NetworkView, fps: int = 1) -> bytes:
    """The animation as an animated GIF (Matplotlib's Pillow writer; no extra dependency)."""
    import tempfile
    from pathlib import Path

    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(4.8, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()

    def draw(k: int) -> list[Any]:
        ax.clear()
        _spread_axes(fig, view, k, ax)
        return []

    anim = FuncAnimation(fig, draw, frames=HOPS + 1, blit=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spread.gif"
        anim.save(str(path), writer=PillowWriter(fps=fps))
        return path.read_bytes()


def _contrast_cells(est: Estimate) -> tuple[str, str]:
    from cqox.estimators.network.exposure import CONDITIONS, CONTRASTS

    a, b = CONTRASTS[est.estimand]
    return CONDITIONS[a], CONDITIONS[b]


def probabilities_frame(est: Estimate) -> pd.DataFrame:
    """``log10 π_i(c)`` of the population units for the two conditions of the contrast."""
    table = est.tables["probabilities"]
    pop = table["in_population"].to_numpy(dtype=bool)
    rows = []
    for cond in _contrast_cells(est):
        p = table[f"p_{cond}"].to_numpy(dtype=float)[pop]
        rows.append(pd.DataFrame({"condition": cond, "log10_p": np.log10(np.clip(p, 1e-12, 1))}))
    return pd.concat(rows, ignore_index=True)


def probabilities_plotly(est: Estimate) -> dict[str, Any]:
    """Histograms of ``log10 π_i(c)`` for the two conditions compared."""
    frame = probabilities_frame(est)
    fig = go.Figure()
    for cond, part in frame.groupby("condition", sort=False):
        fig.add_trace(
            go.Histogram(
                x=part["log10_p"].tolist(),
                name=str(cond).replace("_", ", "),
                marker={"color": COLOURS[str(cond)]},
                opacity=0.6,
                nbinsx=40,
            )
        )
    fig.update_layout(
        barmode="overlay",
        title=f"Exposure probabilities ({est.estimand})",
        xaxis_title="log10 probability of the condition",
        yaxis_title="units",
    )
    return _json(fig)


def probabilities_png(est: Estimate) -> bytes:
    """PNG of the same histograms."""
    frame = probabilities_frame(est)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    for cond, part in frame.groupby("condition", sort=False):
        ax.hist(
            part["log10_p"],
            bins=40,
            alpha=0.6,
            color=COLOURS[str(cond)],
            label=str(cond).replace("_", ", "),
        )
    ax.set_xlabel("log10 probability of the condition")
    ax.set_ylabel("units")
    ax.set_title(f"Exposure probabilities ({est.estimand})")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _view_of(an: Analysis) -> NetworkView | None:
    ests = [e for e in an.estimates if "network_sample" in e.tables and "probabilities" in e.tables]
    if not ests:
        return None
    # node size is the direct effect's term: prefer the direct estimate when there is one
    est = next((e for e in ests if e.estimand == "direct"), ests[0])
    return network_view(est.tables["network_sample"], est.tables["probabilities"])


@register_figures(order=70)
def network_figures(an: Analysis) -> list[FigureSpec]:
    """The 3D network, the spread animation and the exposure-probability histograms."""
    ests = [e for e in an.estimates if "network_sample" in e.tables and "probabilities" in e.tables]
    if not ests:
        return []
    cache: dict[str, NetworkView] = {}

    def view() -> NetworkView:
        if "v" not in cache:
            got = _view_of(an)
            assert got is not None
            cache["v"] = got
        return cache["v"]

    specs = [
        FigureSpec(
            "network_spillover_3d",
            "Network spillover (3D)",
            "Up to 300 units reached breadth-first from the best-connected unit, in a 3D "
            "force-directed layout: colour = exposure condition, size = the unit's term in "
            "the direct-effect Horvitz–Thompson sum, orange edges = a treated unit "
            "reaching a control (spillover paths).",
            lambda: spillover_3d_png(view()),
            lambda: spillover_3d_plotly(view()),
        ),
        FigureSpec(
            "network_spillover_spread",
            "Spillover spread (animation)",
            "Units within k hops of a treated unit, k = 0 … 3 (press Play). The exposure "
            "mapping counts hop 1 only; further hops show where longer-range spillover "
            "would reach.",
            lambda: spread_png(view()),
            lambda: spread_plotly(view()),
            lambda: spread_gif(view()),
        ),
    ]
    for est in ests:
        specs.append(
            FigureSpec(
                f"exposure_probabilities_{est.estimand}",
                f"Exposure probabilities ({est.estimand})",
                "Probabilities of the two conditions compared, log scale, over the units "
                "that can be in both: a long left tail means large weights and an "
                "unstable estimate (see the smallest probability in the diagnostics).",
                partial(probabilities_png, est),
                partial(probabilities_plotly, est),
            )
        )
    return specs
