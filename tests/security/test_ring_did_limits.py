"""``ring_did``'s ring count is bounded: a request for a million rings is refused at once.

Each ring is a regressor of the two-way fixed-effects fit and a distance search, so the
number of ring edges is a count the work grows with.  It is capped at
:data:`~cqox.estimators.spatial.rings.MAX_RINGS`; over HTTP a longer list (or a ``ring``
beyond the cap) is a 422 naming the parameter before any job exists, and the message
does not echo the list back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cqox.errors import ParameterError
from cqox.estimators import registry
from cqox.estimators.spatial.rings import MAX_RINGS, parse_ring_edges
from cqox.simulate.spatial import ring_spillover_panel
from tests.api.conftest import Api, assert_error

#: A refusal must not depend on the list's length (no parsing of a million items).
REFUSAL_SECONDS = 1.0


def test_ring_edges_beyond_the_maximum_are_refused_quickly_without_echo() -> None:
    assert parse_ring_edges(list(range(1, MAX_RINGS + 1))) is not None  # the cap itself is fine
    huge = [float(k) for k in range(1, 1_000_001)]
    ring_did = registry.get("ring_did")
    start = time.perf_counter()
    with pytest.raises(ParameterError, match="'ring_edges_km'") as e:
        ring_did(ring_edges_km=huge).resolved_params()
    assert time.perf_counter() - start < REFUSAL_SECONDS
    assert len(str(e.value)) < 500
    with pytest.raises(ParameterError, match="'ring_edges_km'"):
        parse_ring_edges(",".join(str(k) for k in range(1, 100_001)))


def test_the_ring_parameter_declares_the_same_maximum() -> None:
    ring = next(p for p in registry.get("ring_did").parameters if p.name == "ring")
    assert ring.high == MAX_RINGS
    with pytest.raises(ParameterError, match="'ring' parameter"):
        ring.coerce(MAX_RINGS + 1, "ring_did")


@pytest.fixture
def spatial(secure_api: Api) -> Iterator[tuple[Api, dict[str, str], str]]:
    h = secure_api.user("analyst")
    df, _ = ring_spillover_panel(n_units=60, n_periods=3, cohorts=(3,), seed=1)
    yield secure_api, h, secure_api.dataset(h, df)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"ring_edges_km": list(range(1, 20_001))}, "ring_edges_km"),
        ({"ring_edges_km": "3,2,1"}, "ring_edges_km"),
        ({"ring": MAX_RINGS + 1}, "ring"),
    ],
)
def test_http_refuses_too_many_or_bad_rings_before_any_job(
    spatial: tuple[Api, dict[str, str], str], params: dict[str, object], parameter: str
) -> None:
    api, h, ds = spatial
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "estimators": ["ring_did"],
            "options": {"params": {"ring_did": params}, "wait_s": 0},
        },
    )
    err = assert_error(r, 422, "INVALID_PARAMETER")
    assert err["details"]["parameter"] == parameter
    assert len(r.text) < 2000
    assert api.client.get("/api/jobs", headers=h).json()["jobs"] == []
