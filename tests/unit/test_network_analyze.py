"""``cqox.analyze(..., network=edges)``: the network design from an edge table in Python."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import cqox
from cqox.errors import ParameterError, RoleError
from cqox.simulate.network import network_interference

FAST = {"network_exposure": {"n_draws": 300, "n_perm": 20}}


@pytest.fixture(scope="module")
def net() -> tuple[pd.DataFrame, pd.DataFrame]:
    units, edges, _ = network_interference(n=300, mean_degree=2.0, seed=6)
    return units, edges


def test_network_replaces_the_backdoor_design_and_runs_both_network_estimators(
    net: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    units, edges = net
    an = cqox.analyze(units, outcome="y", treatment="t", unit="id", network=edges, params=FAST)
    assert [str(d) for d in an.designs] == ["network"]
    assert [(e.estimator, e.estimand) for e in an.estimates] == [
        (name, k)
        for name in ("network_exposure", "network_regression")
        for k in ("direct", "spillover", "total")
    ]
    assert any("assume no interference" in w for w in an.warnings)
    assert an.estimates[0].params["network"] == f"edge table ({len(edges)} edges)"


def test_network_from_a_file_equals_network_from_a_frame(
    net: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    units, edges = net
    path = tmp_path / "edges.csv"
    edges.to_csv(path, index=False)
    kw = {"outcome": "y", "treatment": "t", "unit": "id", "params": FAST, "seed": 3}
    a = cqox.analyze(units, network=edges, **kw)
    b = cqox.analyze(units, network=path, **kw)
    assert [e.estimate for e in a.estimates] == [e.estimate for e in b.estimates]


def test_named_backdoor_estimators_still_run_beside_the_network(
    net: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    units, edges = net
    an = cqox.analyze(
        units,
        outcome="y",
        treatment="t",
        unit="id",
        network=edges,
        estimators=["ipw", "network_exposure"],
        params={**FAST, "network_exposure": {**FAST["network_exposure"], "estimand": "direct"}},
    )
    assert {e.estimator for e in an.estimates} == {"ipw", "network_exposure"}


def test_network_given_twice_is_an_error(net: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    units, edges = net
    with pytest.raises(ParameterError, match="given twice"):
        cqox.analyze(
            units,
            outcome="y",
            treatment="t",
            unit="id",
            network=edges,
            params={"network_exposure": {"network": edges}},
        )


def test_network_without_a_unit_role_names_it(net: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    units, edges = net
    with pytest.raises(RoleError, match="'unit' role"):
        cqox.analyze(units, outcome="y", treatment="t", network=edges, infer=False)
