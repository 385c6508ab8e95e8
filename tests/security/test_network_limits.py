"""Network input over HTTP is checked on arrival: limits, ownership and the edges themselves.

A request naming an edge dataset is refused before any job exists when the network has
more edges than ``CQOX_MAX_EDGES`` (413), would make the variance visit more unit pairs
than ``CQOX_MAX_NETWORK_PAIRS`` (413, a hub), belongs to another user (404), links ids
that are not units, has self-loops or duplicate edges (400, naming them), or makes the
estimated work exceed ``CQOX_MAX_WORK`` (422, edges counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from cqox.simulate.network import network_interference
from tests.api.conftest import Api, assert_error

FAST = {"network_exposure": {"n_draws": 300, "n_perm": 20}}


@pytest.fixture
def net(secure_api: Api) -> Iterator[tuple[Api, dict[str, str], str, str]]:
    """The service, a fresh analyst, their units and edges; limits restored after."""
    s = secure_api.settings
    saved = (s.max_edges, s.max_network_pairs, s.max_work)
    h = secure_api.user("analyst")
    units, edges, _ = network_interference(n=200, mean_degree=2.0, seed=2)
    yield secure_api, h, secure_api.dataset(h, units), secure_api.dataset(h, edges)
    s.max_edges, s.max_network_pairs, s.max_work = saved


def _post(api: Api, h: dict[str, str], units: str, edges: str, **params: Any) -> Any:
    return api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": units,
            "network_dataset_id": edges,
            "roles": {"outcome": "y", "treatment": "t", "unit": "id"},
            "options": {
                "params": {"network_exposure": {**FAST["network_exposure"], **params}},
                "wait_s": 0,
            },
        },
    )


def _no_jobs(api: Api, h: dict[str, str]) -> None:
    assert api.client.get("/api/jobs", headers=h).json()["jobs"] == []


def test_more_edges_than_max_edges_is_413_before_any_job(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, edges = net
    api.settings.max_edges = 10
    err = assert_error(_post(api, h, units, edges), 413, "PAYLOAD_TOO_LARGE")
    assert "CQOX_MAX_EDGES" in err["message"] and err["details"]["max"] == 10
    _no_jobs(api, h)


def test_a_hub_beyond_max_network_pairs_is_413_before_any_job(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, _ = net
    star = api.dataset(h, pd.DataFrame({"source": 0, "target": range(1, 200)}))
    api.settings.max_network_pairs = 10_000  # the star alone makes 200² pairs
    err = assert_error(_post(api, h, units, star), 413, "PAYLOAD_TOO_LARGE")
    assert "CQOX_MAX_NETWORK_PAIRS" in err["message"] and err["details"]["got"] > 40_000
    _no_jobs(api, h)


@pytest.mark.parametrize(
    ("edges", "needle"),
    [
        ({"source": [0, 1], "target": [1, 123456]}, "123456"),
        ({"source": [0, 3], "target": [1, 3]}, "self-loop"),
        ({"source": [0, 1, 2], "target": [1, 0, 5]}, "duplicate edge"),
        ({"source": [0, None], "target": [1, 2]}, "missing source or target"),
    ],
)
def test_bad_edges_are_named_with_400_before_any_job(
    net: tuple[Api, dict[str, str], str, str], edges: dict[str, list[Any]], needle: str
) -> None:
    api, h, units, _ = net
    bad = api.dataset(h, pd.DataFrame(edges))
    err = assert_error(_post(api, h, units, bad), 400, "INVALID_DATA")
    assert needle in err["message"]
    _no_jobs(api, h)


def test_edge_columns_that_do_not_exist_are_refused(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, edges = net
    r = _post(api, h, units, edges, source="from_id")
    assert r.status_code == 400 and "from_id" in r.json()["error"]["message"]
    _no_jobs(api, h)


def test_another_users_edge_dataset_is_404(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, _ = net
    other = api.user("analyst")
    theirs = api.dataset(other, pd.DataFrame({"source": [0], "target": [1]}))
    err = assert_error(_post(api, h, units, theirs), 404, "NOT_FOUND")
    assert theirs in err["message"]
    _no_jobs(api, h)


def test_a_network_without_the_unit_role_is_refused(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, edges = net
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": units,
            "network_dataset_id": edges,
            "roles": {"outcome": "y", "treatment": "t"},
            "options": {"params": FAST, "wait_s": 0},
        },
    )
    assert r.status_code == 400 and "'unit' role" in r.json()["error"]["message"]
    _no_jobs(api, h)


def test_network_work_counts_edges_and_adds_draws_to_permutations(
    net: tuple[Api, dict[str, str], str, str],
) -> None:
    api, h, units, edges = net
    # 200 units × 3 columns + ~200 edges, (n_draws + n_perm) = 1,000,000 + 100,000 draws,
    # three estimands: about 2.4e9; a budget of 1e9 refuses it, naming n_draws
    api.settings.max_work = 1e9
    err = assert_error(
        _post(api, h, units, edges, n_draws=1_000_000, n_perm=100_000),
        422,
        "WORK_BUDGET_EXCEEDED",
    )
    assert err["details"]["parameter"] == "n_draws"
    assert err["details"]["estimator"] == "network_exposure"
    _no_jobs(api, h)
    # the same network with the default counts fits in the budget (draws add, not multiply)
    r = _post(api, h, units, edges, n_draws=4000, n_perm=1000)
    assert r.status_code in (200, 202), r.text


def test_the_library_refuses_a_hub_before_forming_its_pairs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cqox
    from cqox.errors import LimitExceededError
    from cqox.estimators.network import estimator

    units, _, _ = network_interference(n=200, mean_degree=2.0, seed=2)
    star = pd.DataFrame({"source": 0, "target": range(1, 200)})
    monkeypatch.setattr(estimator, "MAX_PAIRS", 10_000)
    with pytest.raises(LimitExceededError, match="hub"):
        cqox.estimate(
            "network_exposure",
            units,
            outcome="y",
            treatment="t",
            unit="id",
            network=star,
            n_draws=200,
            n_perm=0,
        )
