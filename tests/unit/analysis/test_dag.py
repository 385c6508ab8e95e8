"""A causal graph as input: the DOT reader's closed grammar, identification in an
analysis, the implied-independence gate, the CLI flag and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.analysis.dag import graph_from, parse_dot
from cqox.errors import GraphError

#: |estimate − truth| ≤ 4·SE (false alarm below 1e-4).
SE_MULTIPLE = 4.0

GRAPH = """
// the simulation below
digraph G {
  rankdir=LR; node [shape=box];
  x -> t; x -> y [weight=2];
  t -> m -> y;
  t -> c; y -> c   # a collider
}
"""


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    m = 0.8 * t + rng.normal(size=n)
    y = 1.0 * m + x + rng.normal(size=n)
    c = t + y + rng.normal(size=n)
    return pd.DataFrame({"x": x, "t": t, "med": m, "y": y, "c": c}).rename(columns={"med": "m"})


def test_dot_reader_reads_chains_attributes_and_comments() -> None:
    edges = [e for e in parse_dot(GRAPH) if e[1]]
    assert edges == [("x", "t"), ("x", "y"), ("t", "m"), ("m", "y"), ("t", "c"), ("y", "c")]
    assert parse_dot('"a b" -> c') == [("a b", "c")]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("graph { a -- b }", "undirected"),
        ("digraph { a -> b", "not closed"),
        ("a -> b -> a", "cycle"),
        ("digraph { a -> ; }", "ends in '->'"),
        ("digraph { subgraph { a -> b } }", "subgraphs"),
        ("a -> b; __import__('os')", "unexpected"),
        ("a -> a", "self-loop"),
    ],
)
def test_dot_reader_refuses_what_it_does_not_know(text: str, words: str) -> None:
    with pytest.raises(GraphError) as info:
        graph_from(text)
    assert words in str(info.value)


def test_graph_adjustment_set_replaces_inferred_covariates() -> None:
    df = _table()
    plain = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    assert "c" in (plain.roles.covariates or ())  # the collider is inferred without a graph
    an = cqox.analyze(
        df, outcome="y", treatment="t", estimators=["regression_adjustment"], dag=GRAPH
    )
    assert an.roles.covariates == ("x",)
    est = an.estimate_for("regression_adjustment", "ATE")
    assert abs(est.estimate - 0.8) <= SE_MULTIPLE * est.se
    gate = next(g for g in an.gates if g.name == "dag_independences")
    assert gate.status == "pass"
    assert any(w.startswith("graph: backdoor: adjusting for {x}") for w in an.warnings)
    assert an.to_dict()["dag"]["identification"]["optimal"] == ["x"]


def test_a_graph_that_misses_an_edge_is_contradicted_by_the_data() -> None:
    an = cqox.analyze(
        _table(),
        outcome="y",
        treatment="t",
        estimators=["regression_adjustment"],
        dag=[("x", "t"), ("t", "y"), ("x", "m")],
    )
    gate = next(g for g in an.gates if g.name == "dag_independences")
    assert gate.status == "warn" and "the graph may miss an edge" in gate.message


def test_a_latent_confounder_with_an_instrument_uses_the_instrument() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    u, z = rng.normal(size=n), rng.integers(0, 2, n)
    d = 0.8 * z + u + rng.normal(size=n)
    y = 1.5 * d + u + rng.normal(size=n)
    df = pd.DataFrame({"z": z, "d": d, "y": y})
    an = cqox.analyze(df, outcome="y", treatment="d", dag="z -> d; U -> d; U -> y; d -> y")
    assert an.roles.instrument == ("z",)
    assert "backdoor" not in [x.value for x in an.designs]
    est = an.estimate_for("iv_2sls")
    assert abs(est.estimate - 1.5) <= SE_MULTIPLE * est.se


def test_a_graph_without_the_treatment_node_names_it() -> None:
    with pytest.raises(GraphError) as info:
        cqox.analyze(_table(), outcome="y", treatment="t", dag="x -> y")
    assert "the treatment 't' is not a node of the graph" in str(info.value)


def test_cli_dag_flag_and_report(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from cqox.cli.main import main

    data = tmp_path / "d.csv"
    _table(800).to_csv(data, index=False)
    dot = tmp_path / "g.dot"
    dot.write_text(GRAPH, encoding="utf-8")
    out = tmp_path / "a.json"
    report = tmp_path / "r.html"
    code = main(
        [
            "analyze",
            str(data),
            "--outcome",
            "y",
            "--treatment",
            "t",
            "--dag",
            str(dot),
            "--estimators",
            "regression_adjustment",
            "--json",
            str(out),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    import json

    doc = json.loads(out.read_text())
    assert (
        doc["roles"]["covariates"] == ["x"]
        and doc["dag"]["identification"]["strategy"] == "backdoor"
    )
    page = report.read_text()
    assert "Causal graph" in page and "data:image/png;base64" in page
