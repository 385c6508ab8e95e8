r"""A causal graph as input: parse it, identify the effect, test what it implies.

The graph comes as DOT text (``digraph { age -> t; age -> y; t -> y }``) or as a list
of ``(cause, effect)`` edges.  The DOT reader accepts a closed grammar — node names
(``[A-Za-z_][A-Za-z0-9_.]*`` or double-quoted), ``->`` chains, ``;`` or new lines,
``[...]`` attribute lists (ignored), comments — and never evaluates anything.  Nodes
that are not columns of the table are unobserved.

Identification (Pearl 2009, ch. 3; Henckel, Perković & Maathuis 2022):

* **backdoor**: a set ``Z`` of observed non-descendants of the treatment ``T`` that
  d-separates ``T`` and the outcome ``Y`` once the edges out of ``T`` are removed.
  The *optimal* set (smallest asymptotic variance among valid sets, Henckel et al.
  2022, doi:10.1111/rssb.12451) is ``O = pa(cn) \ (de(cn) ∪ {T})`` with ``cn`` the
  nodes on directed paths from ``T`` to ``Y`` (``Y`` included, ``T`` not); it is used
  when every node in it is observed.  A *minimal* set is the smallest valid set
  (searched by size), as DoWhy's ``minimal-adjustment``.
* **front-door**: the nodes on directed paths ``T → Y`` (the mediators ``M``) when they
  intercept every such path, ``T`` has no open backdoor path to ``M``, and ``T``
  blocks every backdoor path from ``M`` to ``Y``.
* **instruments** (DoWhy's definition): parents of ``T`` that are not ancestors of
  ``Y`` once the edges into ``T`` are removed, nor descendants of such an ancestor.

The testable implications checked against the data are, for each pair of
non-adjacent observed nodes ``u``, ``v``, the independence ``u ⟂ v | pa(u) ∪ pa(v)``
when the graph implies it (that set d-separates them and is observed), tested by the
Fisher z test of the partial correlation with Holm's correction.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from cqox._lazy import scipy_stats as stats
from cqox.core.gate import Gate
from cqox.errors import GraphError

#: Most graph nodes accepted (a bound on the identification searches).
MAX_NODES = 200
#: Most candidates in the smallest-set search (2^k subsets at worst).
MAX_MINIMAL_CANDIDATES = 16
#: Most implied independences tested.
MAX_TESTS = 200

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>//[^\n]*|\#[^\n]*|/\*.*?\*/)
      | (?P<arrow>->)
      | (?P<undirected>--)
      | (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?)
      | (?P<punct>[{}\[\];,=])
      | (?P<newline>\n)
    )""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos] in " \t\r":
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise GraphError(
                f"DAG: unexpected text {text[pos : pos + 20]!r} at character {pos}; the DOT "
                "reader accepts node names, '->', ';', attribute lists [...] and comments",
                details={"position": pos},
            )
        kind = m.lastgroup or ""
        if kind == "undirected":
            raise GraphError("DAG: '--' is an undirected edge; a causal graph needs '->'")
        if kind != "comment":
            value = m.group(kind)
            if kind == "quoted":
                value, kind = value[1:-1].replace('\\"', '"'), "name"
            out.append((kind, value))
        pos = m.end()
    return out


def parse_dot(text: str) -> list[tuple[str, str]]:
    """Edges of a DOT ``digraph`` (or of bare ``a -> b`` statements), in order.

    Isolated nodes are returned as ``(node, "")`` pairs so that they are kept.
    """
    if len(text) > 1_000_000:
        raise GraphError("DAG: the DOT text is longer than 1,000,000 characters")
    toks = _tokens(text)
    # an optional header: [strict] digraph [name] {
    i = 0
    if toks and toks[0] == ("name", "strict"):
        i += 1
    if i < len(toks) and toks[i][0] == "name" and toks[i][1] in ("graph", "digraph"):
        if toks[i][1] == "graph":
            raise GraphError("DAG: 'graph' is undirected; write 'digraph { a -> b }'")
        i += 1
        if i < len(toks) and toks[i][0] == "name":
            i += 1
        if i >= len(toks) or toks[i] != ("punct", "{"):
            raise GraphError("DAG: expected '{' after 'digraph'")
        body = list(toks[i + 1 :])
        while body and body[-1][0] == "newline":
            body.pop()
        if not body or body[-1] != ("punct", "}"):
            raise GraphError("DAG: the digraph is not closed with '}'")
        body = body[:-1]
    else:
        body = toks[i:]
    edges: list[tuple[str, str]] = []
    stmt: list[tuple[str, str]] = []

    def flush() -> None:
        if not stmt:
            return
        names: list[str] = []
        expect_name = True
        for kind, value in stmt:
            if expect_name and kind == "name":
                names.append(value)
                expect_name = False
            elif not expect_name and kind == "arrow":
                expect_name = True
            else:
                raise GraphError(f"DAG: cannot read the statement {' '.join(v for _, v in stmt)!r}")
        if expect_name:
            raise GraphError(f"DAG: the statement {' '.join(v for _, v in stmt)!r} ends in '->'")
        if names[0] in ("node", "edge", "graph") and len(names) == 1:
            return  # default attribute statements
        if len(names) == 1:
            edges.append((names[0], ""))
        edges.extend(itertools.pairwise(names))
        stmt.clear()

    depth = 0
    for kind, value in body:
        if kind == "punct" and value == "[":
            depth += 1
            continue
        if kind == "punct" and value == "]":
            depth -= 1
            if depth < 0:
                raise GraphError("DAG: ']' without '['")
            continue
        if depth:
            if kind not in ("name", "punct") or value in ("{", "}", "["):
                raise GraphError("DAG: an attribute list holds names and values only")
            continue
        if (kind == "punct" and value in (";", ",")) or kind == "newline":
            flush()
            stmt.clear()
            continue
        if kind == "punct" and value == "=":
            stmt.clear()  # a graph attribute (rankdir=LR): ignored
            continue
        if kind == "punct":
            raise GraphError(f"DAG: unexpected {value!r}; subgraphs are not supported")
        stmt.append((kind, value))
    if depth:
        raise GraphError("DAG: '[' without ']'")
    flush()
    return edges


def graph_from(dag: str | Iterable[Sequence[str]]) -> nx.DiGraph:
    """A NetworkX DAG from DOT text or ``(cause, effect)`` pairs; refuses cycles."""
    pairs = parse_dot(dag) if isinstance(dag, str) else [tuple(map(str, e)) for e in dag]
    g = nx.DiGraph()
    for pair in pairs:
        if len(pair) != 2:
            raise GraphError(f"DAG: an edge is a (cause, effect) pair; got {pair!r}")
        a, b = pair
        g.add_node(a)
        if b:
            if a == b:
                raise GraphError(f"DAG: the edge {a} -> {a} is a self-loop")
            g.add_edge(a, b)
    if g.number_of_nodes() == 0:
        raise GraphError("DAG: the graph has no nodes")
    if g.number_of_nodes() > MAX_NODES:
        raise GraphError(f"DAG: {g.number_of_nodes()} nodes; at most {MAX_NODES}")
    if not nx.is_directed_acyclic_graph(g):
        cycle = " -> ".join(a for a, _ in nx.find_cycle(g))
        raise GraphError(f"DAG: the graph has a cycle ({cycle}); a causal graph is acyclic")
    return g


# --- identification ---------------------------------------------------------------------
def _without_out_edges(g: nx.DiGraph, t: str) -> nx.DiGraph:
    h = g.copy()
    h.remove_edges_from(list(g.out_edges(t)))
    return h


def is_backdoor_set(g: nx.DiGraph, t: str, y: str, z: Iterable[str]) -> bool:
    """Whether ``z`` satisfies the backdoor criterion for ``(t, y)``."""
    z = set(z)
    if z & (nx.descendants(g, t) | {t, y}):
        return False
    return bool(nx.is_d_separator(_without_out_edges(g, t), {t}, {y}, z))


def causal_nodes(g: nx.DiGraph, t: str, y: str) -> set[str]:
    """Nodes on directed paths from ``t`` to ``y`` (``y`` included, ``t`` not)."""
    return (nx.descendants(g, t) & (nx.ancestors(g, y) | {y})) - {t}


def optimal_set(g: nx.DiGraph, t: str, y: str) -> set[str]:
    r"""Henckel et al.'s O-set ``pa(cn) \ (de(cn) ∪ {t})`` (all nodes, observed or not)."""
    cn = causal_nodes(g, t, y)
    forb = {t} | cn | set().union(*(nx.descendants(g, c) for c in cn)) if cn else {t}
    parents = set().union(*(set(g.predecessors(c)) for c in cn)) if cn else set()
    return parents - forb


def minimal_set(g: nx.DiGraph, t: str, y: str, observed: set[str]) -> set[str] | None:
    """A smallest valid backdoor set of observed nodes (``None``: none exists)."""
    eligible = sorted(observed - nx.descendants(g, t) - {t, y})
    if is_backdoor_set(g, t, y, ()):
        return set()
    if not is_backdoor_set(g, t, y, eligible):
        return None
    if len(eligible) > MAX_MINIMAL_CANDIDATES:
        found = nx.find_minimal_d_separator(
            _without_out_edges(g, t), {t}, {y}, restricted=set(eligible)
        )
        return set(found) if found is not None else None
    for k in range(1, len(eligible) + 1):
        for combo in itertools.combinations(eligible, k):
            if is_backdoor_set(g, t, y, combo):
                return set(combo)
    return None


def frontdoor_set(g: nx.DiGraph, t: str, y: str, observed: set[str]) -> set[str] | None:
    """The mediators when they satisfy the front-door criterion and are observed."""
    m = causal_nodes(g, t, y) - {y}
    if not m or not m <= observed:
        return None
    h = g.copy()
    h.remove_nodes_from(m)
    if nx.has_path(h, t, y):
        return None  # a directed path avoids the mediators
    no_out = _without_out_edges(g, t)
    if not all(nx.is_d_separator(no_out, {t}, {x}, set()) for x in m):
        return None
    h = g.copy()
    h.remove_edges_from([e for x in m for e in g.out_edges(x)])
    if not nx.is_d_separator(h, m, {y}, {t}):
        return None
    return m


def instruments(g: nx.DiGraph, t: str, y: str) -> set[str]:
    """DoWhy's graphical instruments of ``t`` for ``y`` (see the module docstring)."""
    parents = set(g.predecessors(t))
    h = g.copy()
    h.remove_edges_from(list(g.in_edges(t)))
    anc_y = nx.ancestors(h, y)
    candidates = parents - anc_y
    children = set().union(*(nx.descendants(h, v) for v in anc_y)) if anc_y else set()
    return candidates - children


@dataclass(frozen=True)
class Identification:
    """What the graph identifies for ``(treatment, outcome)`` and why."""

    strategy: str  # "backdoor", "iv", "frontdoor" or "none"
    adjustment: tuple[str, ...] | None
    minimal: tuple[str, ...] | None
    optimal: tuple[str, ...] | None
    instruments: tuple[str, ...]
    frontdoor: tuple[str, ...] | None
    unobserved: tuple[str, ...]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "strategy": self.strategy,
            "adjustment": list(self.adjustment) if self.adjustment is not None else None,
            "minimal": list(self.minimal) if self.minimal is not None else None,
            "optimal": list(self.optimal) if self.optimal is not None else None,
            "instruments": list(self.instruments),
            "frontdoor": list(self.frontdoor) if self.frontdoor is not None else None,
            "unobserved": list(self.unobserved),
            "reasons": list(self.reasons),
        }


def identify(g: nx.DiGraph, t: str, y: str, observed: Iterable[str]) -> Identification:
    """Backdoor (optimal, else minimal), else instruments, else front-door."""
    for role, node in (("treatment", t), ("outcome", y)):
        if node not in g:
            raise GraphError(
                f"DAG: the {role} '{node}' is not a node of the graph "
                f"(nodes: {', '.join(sorted(g.nodes)[:12])})",
                details={"role": role},
            )
    obs = set(observed) & set(g.nodes)
    hidden = tuple(sorted(set(g.nodes) - obs))
    reasons: list[str] = []
    if y not in nx.descendants(g, t):
        reasons.append(f"the graph has no directed path {t} → {y}: the effect is 0 by assumption")
    opt = optimal_set(g, t, y)
    optimal = tuple(sorted(opt)) if opt <= obs and is_backdoor_set(g, t, y, opt) else None
    small = minimal_set(g, t, y, obs)
    minimal = tuple(sorted(small)) if small is not None else None
    inst = tuple(sorted(instruments(g, t, y) & obs))
    front = frontdoor_set(g, t, y, obs)
    frontdoor = tuple(sorted(front)) if front is not None else None
    if optimal is not None or minimal is not None:
        adjustment = optimal if optimal is not None else minimal
        which = "optimal (Henckel et al. 2022)" if optimal is not None else "minimal"
        reasons.append(
            f"backdoor: adjusting for {{{', '.join(adjustment or ())}}} blocks every backdoor "
            f"path from {t} to {y} ({which} set"
            + (f"; a smallest valid set is {{{', '.join(minimal)}}}" if minimal is not None else "")
            + ")"
        )
        strategy = "backdoor"
    elif inst:
        adjustment = None
        reasons.append(
            f"no observed set blocks the backdoor paths from {t} to {y}; "
            f"{', '.join(inst)} {'is an instrument' if len(inst) == 1 else 'are instruments'}"
        )
        strategy = "iv"
    elif frontdoor is not None:
        adjustment = None
        reasons.append(
            f"no observed set blocks the backdoor paths; the mediators {', '.join(frontdoor)} "
            "satisfy the front-door criterion (estimated by the front-door plug-in, "
            "cqox.estimators.frontdoor.twostage)"
        )
        strategy = "frontdoor"
    else:
        adjustment = None
        reasons.append(
            f"the graph does not identify the effect of {t} on {y} from the observed "
            f"columns by backdoor, instruments or front-door (unobserved: {', '.join(hidden)})"
        )
        strategy = "none"
    return Identification(strategy, adjustment, minimal, optimal, inst, frontdoor, hidden, reasons)


# --- testable implications ----------------------------------------------------------------
def implied_independences(
    g: nx.DiGraph, observed: Iterable[str]
) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(u, v, S)``: non-adjacent observed pairs with ``u ⟂ v | S``, ``S = pa(u) ∪ pa(v)``."""
    obs = set(observed) & set(g.nodes)
    out = []
    for u, v in itertools.combinations(sorted(obs), 2):
        if g.has_edge(u, v) or g.has_edge(v, u):
            continue
        s = (set(g.predecessors(u)) | set(g.predecessors(v))) - {u, v}
        if s <= obs and nx.is_d_separator(g, {u}, {v}, s):
            out.append((u, v, tuple(sorted(s))))
        if len(out) >= MAX_TESTS:
            break
    return out


def partial_corr_p(df: pd.DataFrame, u: str, v: str, s: Sequence[str]) -> tuple[float, float, int]:
    """Fisher z test of the partial correlation of ``u`` and ``v`` given ``s``."""
    block = df[[u, v, *s]].apply(pd.to_numeric, errors="coerce").dropna()
    n = len(block)
    if n < len(s) + 5:
        return float("nan"), float("nan"), n
    Z = np.column_stack([np.ones(n), block[list(s)].to_numpy(float)]) if s else np.ones((n, 1))
    res = []
    for c in (u, v):
        x = block[c].to_numpy(float)
        beta, *_ = np.linalg.lstsq(Z, x, rcond=None)
        res.append(x - Z @ beta)
    a, b = res
    denom = float(np.sqrt((a @ a) * (b @ b)))
    r = float(a @ b / denom) if denom > 0 else 0.0
    r = max(min(r, 1 - 1e-12), -1 + 1e-12)
    z = np.arctanh(r) * np.sqrt(n - len(s) - 3)
    return r, float(2 * stats.norm.sf(abs(z))), n


def independence_gate(df: pd.DataFrame, g: nx.DiGraph, level: float = 0.05) -> Gate:
    """The graph's testable independences against the data (Holm-corrected)."""
    tests = implied_independences(g, [str(c) for c in df.columns])
    rows: list[dict[str, Any]] = []
    for u, v, s in tests:
        r, p, n = partial_corr_p(df, u, v, s)
        if np.isfinite(p):
            rows.append({"u": u, "v": v, "given": list(s), "partial_r": r, "p_value": p, "n": n})
    if not rows:
        return Gate.not_applicable(
            "dag_independences", "the graph implies no independence among observed columns"
        )
    rows.sort(key=lambda x: x["p_value"])
    m = len(rows)
    rejected = []
    for k, row in enumerate(rows):
        holm = min(1.0, (m - k) * row["p_value"])
        row["p_holm"] = holm
        if holm < level:
            rejected.append(row)
        else:
            break
    worst = rows[0]
    if rejected:
        shown = "; ".join(
            f"{x['u']} ⟂ {x['v']} | {{{', '.join(x['given'])}}} (r = {x['partial_r']:+.2f})"
            for x in rejected[:3]
        )
        return Gate(
            "dag_independences",
            float(worst["p_holm"]),
            level,
            "warn",
            f"the data contradict {len(rejected)} of {m} independences the graph implies: "
            f"{shown}; the graph may miss an edge",
            {"tests": rows},
        )
    return Gate(
        "dag_independences",
        float(worst.get("p_holm", 1.0)),
        level,
        "pass",
        f"the data agree with the {m} independences the graph implies (smallest Holm p = "
        f"{worst.get('p_holm', 1.0):.3g})",
        {"tests": rows},
    )


def to_dot(g: nx.DiGraph) -> str:
    """The graph as DOT text (for the report and the JSON)."""
    lines = ["digraph {"]
    lines += [f'  "{a}" -> "{b}";' for a, b in g.edges]
    lines += [f'  "{n}";' for n in g.nodes if g.degree(n) == 0]
    return "\n".join([*lines, "}"])


@dataclass
class GraphPlan:
    """What a graph changes in an analysis: roles, designs left out, notes and gates."""

    graph: nx.DiGraph
    identification: Identification
    roles: Any
    notes: list[str]
    gates: list[Gate]

    def designs(self, designs: list[Any]) -> list[Any]:
        """The designs the graph supports: no backdoor when it does not identify one.

        Every design that rests on the treatment–outcome backdoor paths being blocked by
        observed covariates goes with it: mediation (sequential ignorability, Imai,
        Keele & Tingley 2010), dose-response (weak unconfoundedness of the dose,
        Hirano & Imbens 2004) and unit-level effects.
        """
        from cqox.core.design import Design

        if self.identification.strategy == "backdoor":
            return designs
        unconfounded = (Design.BACKDOOR, Design.MEDIATION, Design.DOSE_RESPONSE, Design.CATE)
        kept = [d for d in designs if d not in unconfounded]
        if self.identification.strategy == "frontdoor":
            kept.append(Design.FRONTDOOR)
        return kept

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the ``dag`` section of the Analysis)."""
        return {
            "dot": to_dot(self.graph),
            "edges": [list(e) for e in self.graph.edges],
            "nodes": list(self.graph.nodes),
            "identification": self.identification.to_dict(),
        }


def plan_from_graph(
    df: pd.DataFrame, roles: Any, given: Any, dag: str | Iterable[Sequence[str]], level: float
) -> GraphPlan:
    """Apply a graph to inferred ``roles`` (``given``: the roles the user named).

    The adjustment set of the graph replaces inferred covariates (named covariates are
    kept and checked against the backdoor criterion); an instrument the graph finds is
    used when the backdoor fails and none was named.
    """
    from cqox.core.roles import RoleGuess

    g = graph_from(dag)
    if roles.treatment is None or roles.outcome is None:
        raise GraphError(
            "DAG: name the treatment and the outcome (the graph says how they relate, "
            "not which columns they are)",
            details={"role": "treatment" if roles.treatment is None else "outcome"},
        )
    columns = [str(c) for c in df.columns]
    ident = identify(g, roles.treatment, roles.outcome, columns)
    notes = [f"graph: {r}" for r in ident.reasons]
    guesses = [x for x in roles.guesses if x.role != "covariates" or x.source == "explicit"]
    changes: dict[str, Any] = {}
    if given.covariates is not None:
        named = [
            c for c in (given.covariates if isinstance(given.covariates, tuple) else ()) if c in g
        ]
        if isinstance(given.covariates, tuple):
            ok = is_backdoor_set(g, roles.treatment, roles.outcome, named)
            notes.append(
                "graph: the named covariates "
                + ("satisfy" if ok else "do NOT satisfy")
                + " the backdoor criterion"
            )
    elif ident.strategy == "backdoor":
        adj = ident.adjustment or ()
        changes["covariates"] = tuple(adj) or None
        guesses.append(
            RoleGuess("covariates", ", ".join(adj) or "(none)", 1.0, ident.reasons[-1], "dag")
        )
    else:
        changes["covariates"] = None
    if ident.strategy == "iv" and given.instrument is None:
        changes["instrument"] = ident.instruments
        guesses.append(
            RoleGuess("instrument", ", ".join(ident.instruments), 1.0, ident.reasons[-1], "dag")
        )
    if ident.strategy != "backdoor":
        notes.append("graph: the backdoor design is left out (the graph does not identify it)")
    new_roles = roles.with_roles(**changes, guesses=tuple(guesses))
    gates = [independence_gate(df, g, level)]
    return GraphPlan(g, ident, new_roles, notes, gates)


__all__ = [
    "GraphPlan",
    "Identification",
    "frontdoor_set",
    "graph_from",
    "identify",
    "implied_independences",
    "independence_gate",
    "instruments",
    "is_backdoor_set",
    "minimal_set",
    "optimal_set",
    "parse_dot",
    "plan_from_graph",
    "to_dot",
]
