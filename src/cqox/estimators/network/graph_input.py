"""The network side table: an edge list checked against the unit ids.

An edge ``source → target`` says that the treatment of ``source`` can reach
``target``.  Undirected networks (the default) make every edge reach both ways.  The
graph is built with NetworkX and handed to the numerical code as a SciPy CSR matrix
``A`` with ``A[i, j] = w`` when unit ``j`` reaches unit ``i`` (row ``i`` lists the
neighbours whose treatment unit ``i`` is exposed to), so that ``A @ z`` counts treated
neighbours for every unit at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cqox.errors import DataError, RoleError, list_columns, show_value

#: Offending values quoted in an error message (the rest are counted).
_SHOW = 5


def _quote(values: Sequence[Any]) -> str:
    shown = ", ".join(show_value(v) for v in values[:_SHOW])
    more = len(values) - _SHOW
    return shown + (f" (and {more} more)" if more > 0 else "")


@dataclass(frozen=True)
class CheckedEdges:
    """An edge table checked against the unit ids.

    Attributes
    ----------
    source, target : ndarray of int64, shape (n_edges,)
        Positions of each edge's endpoints in the unit ids.
    weight : ndarray of float, shape (n_edges,), or None
        Edge weights (positive, finite) when a weight column was named.
    """

    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None


def check_edges(
    edges: pd.DataFrame,
    ids: Sequence[Any],
    *,
    source: str = "source",
    target: str = "target",
    weight: str | None = None,
    directed: bool = False,
) -> CheckedEdges:
    """Validate an edge table against the unit ids (no graph is built).

    Parameters
    ----------
    edges : DataFrame
        One row per edge with columns ``source`` and ``target`` (and ``weight``).
    ids : sequence
        The unit ids of the main table (the ``unit`` role), unique.
    source, target, weight : str
        Column names in ``edges``; ``weight`` is optional (positive finite numbers).
    directed : bool
        Whether ``source → target`` reaches only ``target``.

    Raises
    ------
    RoleError
        A named column is missing from the edge table.
    DataError
        Unit ids that are duplicated, edges naming ids not in the main table, self-loops,
        duplicate edges (for undirected networks ``a–b`` and ``b–a`` are the same edge),
        missing endpoints or non-positive weights; each message names the values.
    """
    if not isinstance(edges, pd.DataFrame):
        raise DataError(
            f"the network must be a table of edges (a DataFrame); got {type(edges).__name__}",
            details={"parameter": "network"},
        )
    for role, col in (("source", source), ("target", target), ("weight", weight)):
        if col is not None and col not in edges.columns:
            raise RoleError(
                f"network: the {role} column '{col}' is not in the edge table "
                f"(columns: {list_columns(list(edges.columns))})",
                details={"parameter": "network", "column": col},
            )
    id_index = pd.Index(ids)
    if id_index.has_duplicates:
        dup = id_index[id_index.duplicated()].unique().tolist()
        raise DataError(
            f"role 'unit': each unit must appear once for a network analysis; "
            f"repeated ids: {_quote(dup)}",
            details={"role": "unit", "values": [str(v) for v in dup[:_SHOW]]},
        )
    src = edges[source]
    tgt = edges[target]
    missing = (src.isna() | tgt.isna()).to_numpy()
    if missing.any():
        rows = edges.index[missing].tolist()
        raise DataError(
            f"network: {int(missing.sum())} edge(s) have a missing source or target "
            f"(rows {_quote(rows)})",
            details={"parameter": "network", "rows": [str(r) for r in rows[:_SHOW]]},
        )
    code_a = id_index.get_indexer(src)
    code_b = id_index.get_indexer(tgt)
    unknown_mask = (code_a < 0) | (code_b < 0)
    if unknown_mask.any():
        ends = pd.concat([src[code_a < 0], tgt[code_b < 0]], ignore_index=True)
        unknown = pd.unique(ends).tolist()
        raise DataError(
            f"network: {len(unknown)} id(s) in the edge table are not units of the main "
            f"table: {_quote(unknown)}",
            details={"parameter": "network", "unknown_ids": [str(v) for v in unknown[:_SHOW]]},
        )
    loops = code_a == code_b
    if loops.any():
        ids_loop = pd.unique(src[loops]).tolist()
        raise DataError(
            f"network: {int(loops.sum())} self-loop(s) (a unit linked to itself): "
            f"{_quote(ids_loop)}; a unit's own treatment enters the exposure separately",
            details={"parameter": "network", "self_loops": [str(v) for v in ids_loop[:_SHOW]]},
        )
    lo, hi = code_a, code_b
    if not directed:
        # a–b and b–a are one undirected edge: compare them in a canonical order
        lo, hi = np.minimum(code_a, code_b), np.maximum(code_a, code_b)
    key = lo.astype(np.int64) * np.int64(len(id_index)) + hi.astype(np.int64)
    dup_mask = pd.Series(key).duplicated(keep="first").to_numpy()
    if dup_mask.any():
        pairs = zip(id_index[lo[dup_mask]], id_index[hi[dup_mask]], strict=True)
        shown = [f"{show_value(a)}–{show_value(b)}" for a, b in pairs]
        raise DataError(
            f"network: {int(dup_mask.sum())} duplicate edge(s): {', '.join(shown[:_SHOW])}"
            + (" (and more)" if len(shown) > _SHOW else "")
            + ("" if directed else " (an undirected edge is listed once)"),
            details={"parameter": "network", "duplicates": shown[:_SHOW]},
        )
    w = None
    if weight is not None:
        w = pd.to_numeric(edges[weight], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(w) & (w > 0))
        if bad.any():
            rows = edges.index[bad].tolist()
            raise DataError(
                f"network: weights in column '{weight}' must be positive numbers; "
                f"{int(bad.sum())} are not (rows {_quote(rows)})",
                details={"parameter": "network", "column": weight},
            )
    return CheckedEdges(code_a.astype(np.int64), code_b.astype(np.int64), w)


def dependent_pairs_bound(checked: CheckedEdges, n: int, *, directed: bool = False) -> int:
    """Upper bound on the ordered unit pairs the Aronow–Samii variance visits.

    Pairs share a unit ``k`` of their closed in-neighbourhoods; ``k`` reaches itself and
    its out-neighbours, so there are at most ``Σ_k (reach_k + 1)²`` of them (``reach_k``
    = out-degree, or degree when undirected).  Computed from the edge list alone, in
    ``O(edges + n)``, before any pair is formed (a hub of degree 10⁵ makes 10¹⁰ pairs).
    """
    ends = checked.source if directed else np.concatenate([checked.source, checked.target])
    reach = np.bincount(ends, minlength=n).astype(np.float64)
    return int(np.sum((reach + 1.0) ** 2))


def build_graph(
    edges: pd.DataFrame,
    ids: Sequence[Any],
    *,
    source: str = "source",
    target: str = "target",
    weight: str | None = None,
    directed: bool = False,
) -> nx.Graph:
    """Validate an edge table against the unit ids and build the NetworkX graph.

    The checks and parameters are those of :func:`check_edges`; nodes are the ids in
    their order, edges carry ``weight`` when a weight column is named.
    """
    checked = check_edges(
        edges, ids, source=source, target=target, weight=weight, directed=directed
    )
    node = list(ids)
    graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(node)
    src = [node[i] for i in checked.source.tolist()]
    tgt = [node[i] for i in checked.target.tolist()]
    if checked.weight is None:
        graph.add_edges_from(zip(src, tgt, strict=True))
    else:
        graph.add_weighted_edges_from(zip(src, tgt, checked.weight.tolist(), strict=True))
    return graph


def exposure_matrix(graph: nx.Graph, ids: Sequence[Any], *, weighted: bool = False) -> sp.csr_array:
    """The CSR matrix ``A`` with ``A[i, j] > 0`` when unit ``j``'s treatment reaches unit ``i``.

    Rows and columns follow ``ids``.  NetworkX's adjacency has ``M[u, v]`` for the edge
    ``u → v``; the exposure matrix is its transpose (for undirected graphs the same).
    """
    m = nx.to_scipy_sparse_array(
        graph, nodelist=list(ids), weight="weight" if weighted else None, format="csr"
    )
    a = sp.csr_array(m.T if graph.is_directed() else m, dtype=np.float64)
    a.sort_indices()
    return a
