"""The network edge table is checked against the units, with errors that name the culprits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox.errors import DataError, RoleError
from cqox.estimators.network.graph_input import build_graph, exposure_matrix

IDS = ["a", "b", "c", "d"]


def edges(rows: list[tuple[object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "target"])


def test_unknown_ids_are_named() -> None:
    with pytest.raises(DataError, match=r"not units of the main table: 'zz', 'x'"):
        build_graph(edges([("a", "x"), ("zz", "b")]), IDS)


def test_self_loops_are_named() -> None:
    with pytest.raises(DataError, match=r"self-loop.*'c'"):
        build_graph(edges([("a", "b"), ("c", "c")]), IDS)


def test_duplicate_edges_are_named_and_reversed_pairs_count_when_undirected() -> None:
    with pytest.raises(DataError, match=r"duplicate edge.*'a'–'b'"):
        build_graph(edges([("a", "b"), ("a", "b")]), IDS)
    with pytest.raises(DataError, match=r"1 duplicate edge.*listed once"):
        build_graph(edges([("a", "b"), ("b", "a")]), IDS)
    g = build_graph(edges([("a", "b"), ("b", "a")]), IDS, directed=True)
    assert g.number_of_edges() == 2


def test_missing_column_names_the_column() -> None:
    with pytest.raises(RoleError, match=r"target column 'to'"):
        build_graph(edges([("a", "b")]), IDS, target="to")


def test_missing_endpoint_and_bad_weight_are_reported() -> None:
    with pytest.raises(DataError, match="missing source or target"):
        build_graph(edges([("a", None)]), IDS)
    e = edges([("a", "b"), ("b", "c")]).assign(w=[1.0, -2.0])
    with pytest.raises(DataError, match=r"weights in column 'w' must be positive"):
        build_graph(e, IDS, weight="w")


def test_repeated_unit_ids_are_rejected() -> None:
    with pytest.raises(DataError, match=r"repeated ids: 'a'"):
        build_graph(edges([("a", "b")]), ["a", "b", "a"])


def test_exposure_matrix_rows_list_the_units_that_reach_each_unit() -> None:
    g = build_graph(edges([("a", "b"), ("c", "b")]), IDS, directed=True)
    a = exposure_matrix(g, IDS).toarray()
    # b is reached by a and c; nobody reaches a, c or d
    np.testing.assert_array_equal(a[1], [1, 0, 1, 0])
    assert a[[0, 2, 3]].sum() == 0
    u = exposure_matrix(build_graph(edges([("a", "b")]), IDS), IDS).toarray()
    np.testing.assert_array_equal(u, u.T)
