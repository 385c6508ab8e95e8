"""Graphical identification against DoWhy 0.14 on 24 graphs (and the DOT reader).

For every graph: the optimal (efficient) backdoor set equals DoWhy's
``efficient-adjustment`` set (fully observed graphs, where it is defined); the smallest
valid set has the size of DoWhy's ``minimal-adjustment`` set and both are valid by the
backdoor criterion; the instruments equal DoWhy's.  Graphs with an unobserved node
(``U``) are compared on the observed nodes.
"""

from __future__ import annotations

import logging

import networkx as nx
import pytest

from cqox.analysis.dag import (
    frontdoor_set,
    graph_from,
    instruments,
    is_backdoor_set,
    minimal_set,
    optimal_set,
)

dowhy = pytest.importorskip("dowhy")

#: (name, DOT) pairs: textbook graphs (confounding, M-bias, butterfly, mediation,
#: instruments, colliders, descendants of the treatment, front-door) and mixtures.
GRAPHS = [
    ("confounder", "x -> t; x -> y; t -> y"),
    ("two confounders", "a -> t; a -> y; b -> t; b -> y; t -> y"),
    ("chain confounder", "a -> b; b -> t; a -> y; t -> y"),
    ("m-bias", "u1 -> m; u2 -> m; u1 -> t; u2 -> y; t -> y"),
    ("butterfly", "a -> m; b -> m; a -> t; b -> y; m -> t; m -> y; t -> y"),
    ("mediator", "x -> t; x -> y; t -> m; m -> y"),
    ("mediator and direct", "x -> t; x -> y; t -> m; m -> y; t -> y"),
    ("instrument", "z -> t; x -> t; x -> y; t -> y"),
    ("two instruments", "z1 -> t; z2 -> t; x -> t; x -> y; t -> y"),
    ("precision variable", "x -> t; x -> y; w -> y; t -> y"),
    ("collider after", "t -> c; y -> c; x -> t; x -> y; t -> y"),
    ("descendant of t", "x -> t; x -> y; t -> d; t -> y"),
    ("proxy of confounder", "x -> t; x -> y; x -> p; t -> y"),
    ("confounded mediator path", "x -> t; x -> m; t -> m; m -> y; t -> y"),
    ("long backdoor", "a -> b; b -> c; c -> t; a -> d; d -> y; t -> y"),
    ("two paths", "a -> t; a -> y; b -> t; c -> b; c -> y; t -> y"),
    ("iv with confounder of z", "w -> z; w -> y; z -> t; x -> t; x -> y; t -> y"),
    ("mediators two", "x -> t; x -> y; t -> m1; t -> m2; m1 -> y; m2 -> y"),
    ("parent of outcome only", "p -> y; x -> t; x -> y; t -> y"),
    ("treatment parents many", "a -> t; b -> t; c -> t; a -> y; t -> y"),
    ("nested", "a -> b; a -> t; b -> t; b -> y; c -> y; c -> b; t -> y"),
    ("mixed", "z -> t; x1 -> t; x1 -> y; x2 -> x1; x2 -> y; t -> m; m -> y; w -> y"),
    ("latent confounder, observed proxy", "U -> x; U -> t; x -> y; t -> y"),
    ("front door", "U -> t; U -> y; t -> m; m -> y"),
]


def _dowhy_identify(g: nx.DiGraph, observed: list[str], method: str):  # type: ignore[no-untyped-def]
    from dowhy.causal_identifier.auto_identifier import BackdoorAdjustment, identify_effect_auto
    from dowhy.causal_identifier.identify_effect import EstimandType

    logging.disable(logging.WARNING)
    try:
        return identify_effect_auto(
            g,
            ["t"],
            ["y"],
            observed,
            EstimandType.NONPARAMETRIC_ATE,
            backdoor_adjustment=BackdoorAdjustment(method),
        )
    finally:
        logging.disable(logging.NOTSET)


def _observed(g: nx.DiGraph) -> list[str]:
    return sorted(n for n in g.nodes if not n.startswith("U"))


@pytest.mark.parametrize(("name", "dot"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_minimal_sets_and_instruments_agree_with_dowhy(name: str, dot: str) -> None:
    g = graph_from(dot)
    observed = _observed(g)
    theirs = _dowhy_identify(g, observed, "minimal-adjustment")
    ours = minimal_set(g, "t", "y", set(observed))
    their_set = theirs.backdoor_variables.get("backdoor")
    if their_set is None:
        assert ours is None
    else:
        assert ours is not None and len(ours) == len(their_set)
        assert is_backdoor_set(g, "t", "y", their_set) and is_backdoor_set(g, "t", "y", ours)
    assert instruments(g, "t", "y") & set(observed) == set(theirs.instrumental_variables)


@pytest.mark.parametrize(
    ("name", "dot"),
    [x for x in GRAPHS if "U" not in x[1]],
    ids=[x[0] for x in GRAPHS if "U" not in x[1]],
)
def test_optimal_set_is_dowhys_efficient_adjustment(name: str, dot: str) -> None:
    g = graph_from(dot)
    theirs = _dowhy_identify(g, sorted(g.nodes), "efficient-adjustment")
    assert optimal_set(g, "t", "y") == set(theirs.backdoor_variables["backdoor"])


def test_front_door_is_found_when_backdoor_fails() -> None:
    g = graph_from("U -> t; U -> y; t -> m; m -> y")
    observed = {"t", "y", "m"}
    assert minimal_set(g, "t", "y", observed) is None
    assert frontdoor_set(g, "t", "y", observed) == {"m"}
    theirs = _dowhy_identify(g, sorted(observed), "minimal-adjustment")
    assert set(theirs.frontdoor_variables) == {"m"}


def test_elements_of_causal_inference_figure_6_5() -> None:
    """Peters, Janzing & Schölkopf (2017), *Elements of Causal Inference*, Fig. 6.5, as
    used in the ``caugi`` R package's adjustment-set documentation: the parents of X
    ({A, C}) are a valid set, and the optimal (O-) set is {K}."""
    g = graph_from("C -> X; X -> F; X -> D; A -> X; A -> K; K -> Y; D -> Y; D -> G; Y -> H")
    assert is_backdoor_set(g, "X", "Y", {"A", "C"})
    assert optimal_set(g, "X", "Y") == {"K"}
    assert minimal_set(g, "X", "Y", set(g.nodes)) in ({"A"}, {"K"})
