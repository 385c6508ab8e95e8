"""Network interference over HTTP: the edge table is a dataset the request names."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cqox.simulate.network import network_interference
from tests.api.conftest import Api, assert_error

#: Few draws: the wiring is tested here, the numbers in tests/truth.
FAST = {"network_exposure": {"n_draws": 300, "n_perm": 20}}


def _network(api: Api, h: dict[str, str], n: int = 300) -> tuple[str, str, pd.DataFrame]:
    units, edges, _ = network_interference(n=n, mean_degree=2.0, seed=4)
    return api.dataset(h, units), api.dataset(h, edges), edges


def _body(units: str, edges: str, **extra: Any) -> dict[str, Any]:
    return {
        "dataset_id": units,
        "network_dataset_id": edges,
        "roles": {"outcome": "y", "treatment": "t", "unit": "id"},
        "options": {"params": FAST, "wait_s": 60},
        **extra,
    }


def test_network_dataset_runs_both_network_estimators_for_three_estimands(api: Api) -> None:
    h = api.headers("analyst")
    units, edges, table = _network(api, h)
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=_body(units, edges))
    result = api.finished(r, h)["result"]
    assert result["designs"] == ["network"]
    got = {(e["estimator"], e["estimand"]) for e in result["estimates"]}
    assert got == {
        (name, k)
        for name in ("network_exposure", "network_regression")
        for k in ("direct", "spillover", "total")
    }
    assert all(e["counts"]["n_edges"] == len(table) for e in result["estimates"])


def test_network_design_route_takes_the_edge_dataset(api: Api) -> None:
    h = api.headers("analyst")
    units, edges, _ = _network(api, h)
    body = _body(units, edges)
    body["options"]["params"] = {
        "network_exposure": {**FAST["network_exposure"], "estimand": "spillover"}
    }
    body["estimators"] = ["network_exposure"]
    r = api.client.post("/api/analyze/design/network", headers=h, json=body)
    (est,) = api.finished(r, h)["result"]["estimates"]
    assert est["estimand"] == "spillover"


def test_unknown_ids_in_the_edge_dataset_are_named_before_any_job(api: Api) -> None:
    h = api.headers("analyst")
    units, _, _ = _network(api, h)
    bad = api.dataset(h, pd.DataFrame({"source": [0, 1, 5], "target": [1, 77777, 88888]}))
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=_body(units, bad))
    err = assert_error(r, 400, "INVALID_DATA")
    assert "77777" in err["message"] and "88888" in err["message"]
    assert "job_id" not in err["details"]
