"""The causal graph of an analysis, drawn for the report (layered by topological order)."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
from matplotlib.figure import Figure

from cqox.report.figures import _png

#: Node colours by role.
COLOURS = {"treatment": "#1f77b4", "outcome": "#d62728", "adjust": "#2ca02c"}


def dag_png(
    edges: Sequence[Sequence[str]],
    nodes: Sequence[str],
    treatment: str | None,
    outcome: str | None,
    adjustment: Sequence[str] = (),
    unobserved: Sequence[str] = (),
) -> bytes:
    """PNG of the graph, causes left of effects.

    Treatment blue, outcome red, the adjustment set green, unobserved nodes outlined.
    """
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((str(a), str(b)) for a, b in edges)
    for layer, group in enumerate(nx.topological_generations(g)):
        for n in group:
            g.nodes[n]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer")
    width = 1.6 + 1.4 * (max((d["layer"] for _, d in g.nodes(data=True)), default=0) + 1)
    fig = Figure(figsize=(min(width, 12), 4))
    ax = fig.add_subplot()
    colour = []
    for n in g.nodes:
        if n == treatment:
            colour.append(COLOURS["treatment"])
        elif n == outcome:
            colour.append(COLOURS["outcome"])
        elif n in adjustment:
            colour.append(COLOURS["adjust"])
        else:
            colour.append("#dddddd")
    edgecolors = ["#555555" if n in unobserved else "black" for n in g.nodes]
    nx.draw_networkx_nodes(
        g,
        pos,
        ax=ax,
        node_color=colour,
        edgecolors=edgecolors,
        node_size=900,
        linewidths=[2.5 if n in unobserved else 1.0 for n in g.nodes],
    )
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=14, node_size=900)
    ax.set_axis_off()
    return _png(fig)
