"""Graphical identification against DoWhy 0.14 on 35 graphs (and the DOT reader).

For every graph: the optimal (efficient) backdoor set equals DoWhy's
``efficient-adjustment`` set (fully observed graphs, where it is defined); the smallest
valid set has the size of DoWhy's ``minimal-adjustment`` set and both are valid by the
backdoor criterion; the instruments equal DoWhy's; the front-door mediators equal
DoWhy's wherever DoWhy looks for them (no observed backdoor set).  Graphs with an
unobserved node (``U``) are compared on the observed nodes.

Eight graphs are dagitty's published examples (``getExample`` / the web tool's example
list, ``r/inst/js/example-dags.js`` of jtextor/dagitty), and for four of them the
adjustment sets worked out by hand are asserted too.
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
    ("front door, two mediators", "U -> t; U -> y; t -> m1; t -> m2; m1 -> y; m2 -> y"),
    ("front door, chain", "U -> t; U -> y; t -> m1; m1 -> m2; m2 -> y"),
    ("front door, covariate", "U -> t; U -> y; x -> t; x -> y; t -> m; m -> y"),
    ("no front door: confounded mediator", "U -> t; U -> y; U -> m; t -> m; m -> y"),
]

#: dagitty's published example graphs (exposure ``t``, outcome ``y``; dagitty's own names
#: in the comments), in its edge-list notation turned into DOT.
DAGITTY = [
    # "The M-bias graph": E -> D, E <-> Z <-> D (bidirected edges as latent parents)
    ("M-bias", "t -> y; U1 -> t; U1 -> z; U2 -> z; U2 -> y"),
    # "Extended confounding triangle": E D / A E Z / B D Z / Z E D
    ("extended confounding triangle", "t -> y; a -> t; a -> z; b -> y; b -> z; z -> t; z -> y"),
    # "Small model with mediator": Z X I / X I Y / I Y (X exposure, Y outcome)
    ("small model with mediator", "z -> t; z -> i; t -> i; t -> y; i -> y"),
    # "Schipf et al., 2010": TT exposure, T2DM outcome (its node U written u: observed);
    # the example has no edge TT -> T2DM (the effect is the question): it is added, which
    # leaves the backdoor sets unchanged and gives DoWhy a causal path to identify
    (
        "Schipf et al. 2010",
        "t -> y; A -> S; A -> PA; A -> WC; A -> u; A -> t; S -> t; S -> y; WC -> t; WC -> u; "
        "WC -> y; u -> t; u -> y; PA -> WC; PA -> y",
    ),
    # "Shrier & Platt, 2008": WarmUpExercises exposure, Injury outcome
    (
        "Shrier & Platt 2008",
        "Coach -> Fitness; Coach -> Motivation; Genetics -> Fitness; Genetics -> Fatigue; "
        "Genetics -> Tissue; Motivation -> Previous; Motivation -> t; Pregame -> t; "
        "Tissue -> Weakness; Tissue -> Fatigue; Contact -> Intragame; Contact -> Previous; "
        "Weakness -> y; Intragame -> y; Fitness -> Pregame; Fitness -> Fatigue; "
        "Fatigue -> Intragame; Fatigue -> y; t -> Intragame",
    ),
    # "Acid & de Campos, 1996": x3 exposure, x15 outcome
    (
        "Acid & de Campos 1996",
        "x4 -> x5; x5 -> x7; x5 -> x11; x6 -> x7; x6 -> x14; x7 -> x9; x8 -> x14; x8 -> y; "
        "x9 -> x10; x10 -> x12; x10 -> y; x11 -> x12; x12 -> x13; x14 -> x16; x16 -> x17; "
        "x1 -> x4; x1 -> t; x2 -> t; y -> x17; y -> x18; t -> x6; t -> x5",
    ),
    # "van Kampen, 2014": SUS exposure, EGC outcome
    (
        "van Kampen 2014",
        "AFF -> ALN; AFF -> APA; AFF -> CDR; AIS -> AFF; AIS -> y; AIS -> t; ALN -> APA; "
        "ALN -> DET; ALN -> FTW; ALN -> PER; ALN -> t; CDR -> DET; y -> HOS; FTW -> DET; "
        "FTW -> y; SAN -> ALN; SAN -> AFF; SAN -> AIS; SAN -> APA; SAN -> CDR; t -> y; "
        "t -> FTW; t -> HOS; PER -> DET",
    ),
    # "Many variables but few paths": 1 E / 2 1 / … / 7 6 E / 8 7 D / … / 15 14 D / E D
    (
        "many variables but few paths",
        "n1 -> t; n2 -> n1; n3 -> n2; n4 -> n3; n5 -> n4; n6 -> n5; n7 -> n6; n7 -> t; "
        "n8 -> n7; n8 -> y; n9 -> n8; n10 -> n9; n11 -> n10; n12 -> n11; n13 -> n12; "
        "n14 -> n13; n15 -> n14; n15 -> y; t -> y",
    ),
]
GRAPHS += [(f"dagitty: {name}", dot) for name, dot in DAGITTY]


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
    # DoWhy lists latent instruments too (U1 of the M-bias graph): compare observed ones
    their_iv = set(theirs.instrumental_variables) & set(observed)
    assert instruments(g, "t", "y") & set(observed) == their_iv


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


@pytest.mark.parametrize(("name", "dot"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_front_door_mediators_agree_with_dowhy(name: str, dot: str) -> None:
    g = graph_from(dot)
    observed = _observed(g)
    theirs = _dowhy_identify(g, observed, "minimal-adjustment")
    ours = frontdoor_set(g, "t", "y", set(observed))
    assert (ours or set()) == set(theirs.frontdoor_variables)


def test_front_door_graphs_are_identified_only_by_the_front_door() -> None:
    names = [n for n, _ in GRAPHS if n.startswith("front door")]
    assert len(names) == 4
    for name, dot in GRAPHS:
        if name in names:
            g = graph_from(dot)
            obs = set(_observed(g))
            assert minimal_set(g, "t", "y", obs) is None and frontdoor_set(g, "t", "y", obs)


def test_dagitty_examples_worked_by_hand() -> None:
    """Adjustment sets of dagitty's examples derived by hand from the backdoor criterion."""
    graphs = dict(DAGITTY)

    def sets(name: str) -> tuple[set[str] | None, set[str]]:
        g = graph_from(graphs[name])
        return minimal_set(g, "t", "y", set(_observed(g))), optimal_set(g, "t", "y")

    # M-bias: adjusting for the collider z opens t <- U1 -> z <- U2 -> y; the empty set
    # is the adjustment set (dagitty's documentation: "empty set")
    assert sets("M-bias")[0] == set()
    # extended triangle: z blocks t <- z -> y but opens t <- a -> z <- b -> y, so a or
    # b must join it; the O-set is the outcome's parents {b, z}
    small, opt = sets("extended confounding triangle")
    assert small in ({"a", "z"}, {"b", "z"}) and opt == {"b", "z"}
    # small model with mediator: z confounds through the mediator i
    assert sets("small model with mediator") == ({"z"}, {"z"})
    # Schipf et al.: S, WC, u each confound directly; conditioning on WC (a collider of
    # A -> WC <- PA) needs A or PA too; the O-set is the outcome's parents but t
    small, opt = sets("Schipf et al. 2010")
    assert small in ({"A", "S", "u", "WC"}, {"PA", "S", "u", "WC"})
    assert opt == {"PA", "S", "u", "WC"}
