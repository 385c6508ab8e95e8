"""The spatial estimators' counts are bounded and bad geometry is refused on arrival.

``ring_did``: each ring is a regressor of the two-way fixed-effects fit and a distance
search, so the number of ring edges is a count the work grows with, capped at
:data:`~cqox.estimators.spatial.rings.MAX_RINGS`.  ``geo_rd``: a boundary has at most
:data:`~cqox.data.boundary.MAX_BOUNDARY_POINTS` points and its distance computation works
in bounded blocks.  A Conley variance accumulates at most
:data:`~cqox.inference.spatial_hac.MAX_CONLEY_PAIRS` pairs of units within its cutoff,
estimated from a sample before the search.  Over HTTP a longer list, a ``ring`` beyond
the cap or a malformed boundary is a 422 naming the parameter before any job exists, and
the message does not echo the list back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from cqox.data import boundary
from cqox.errors import LimitExceededError, ParameterError
from cqox.estimators import registry
from cqox.estimators.spatial.rings import MAX_RINGS, parse_ring_edges
from cqox.inference import spatial_hac
from cqox.simulate.spatial import ring_spillover_panel
from tests.api.conftest import Api, assert_error
from tests.security.budgets import REFUSAL_BUDGET_S

#: A refusal must not depend on the list's length (no parsing of a million items): it
#: takes milliseconds; the bound leaves room for a loaded CI machine.
REFUSAL_SECONDS = 2.0


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


def test_a_boundary_beyond_the_maximum_points_is_refused() -> None:
    m = boundary.MAX_BOUNDARY_POINTS
    lon = np.linspace(0.0, 10.0, m + 1)
    too_long = np.column_stack([lon, np.zeros_like(lon)]).tolist()
    start = time.perf_counter()
    with pytest.raises(ParameterError, match=f"got {m + 1} point"):
        boundary.parse_boundary(too_long)
    assert time.perf_counter() - start < REFUSAL_SECONDS
    with pytest.raises(ParameterError, match="too long"):
        boundary.parse_boundary("[" + "0," * (40 * m) + "0]")


def test_the_distance_computation_works_in_bounded_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # blocks of 50 place-arc pairs give the same distances as one block
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(44, 46, 400), rng.uniform(9, 11, 400)
    line = boundary.parse_boundary([[10.0, 44.0], [10.2, 45.0], [9.9, 46.0]])
    whole = boundary.signed_distance_km(lat, lon, line)
    monkeypatch.setattr(boundary, "_BLOCK", 50)
    blocked = boundary.signed_distance_km(lat, lon, line)
    np.testing.assert_array_equal(whole.signed_km, blocked.signed_km)
    np.testing.assert_array_equal(whole.beyond_end, blocked.beyond_end)


def _globe(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)


def test_a_conley_cutoff_spanning_a_large_table_is_refused_before_the_pair_search() -> None:
    # 300k units within half the Earth's circumference of each other: 9e10 pairs, hours
    # of work; the refusal counts a sample's neighbours only (CPU: the test process's)
    lat, lon = _globe(300_000)
    scores = np.ones(len(lat))
    start = time.process_time()
    with pytest.raises(LimitExceededError, match="conley_cutoff_km=20015") as e:
        spatial_hac.conley_meat(scores, lat, lon, spatial_hac.MAX_CUTOFF_KM)
    assert time.process_time() - start < REFUSAL_BUDGET_S
    assert e.value.details["parameter"] == "conley_cutoff_km"
    assert e.value.details["pairs"] > spatial_hac.MAX_CONLEY_PAIRS


def test_the_pair_estimate_is_exact_for_small_tables_and_close_for_large_ones() -> None:
    from scipy.spatial import cKDTree

    for n, cutoff in ((200, 3000.0), (40_000, 2000.0)):
        lat, lon = _globe(n, seed=n)
        xyz = spatial_hac.unit_vectors(lat, lon)
        radius = 2.0 * np.sin(cutoff / spatial_hac.EARTH_RADIUS_KM / 2.0)
        tree = cKDTree(xyz)
        exact = (tree.count_neighbors(tree, radius) - n) / 2
        estimate = spatial_hac.estimated_pairs(tree, xyz, radius)
        if n <= 256:
            assert estimate == exact
        else:
            assert estimate == pytest.approx(exact, rel=0.1)


def test_a_cutoff_within_the_cap_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the cap refuses by the pairs within the cutoff, not by the table's size or cutoff
    lat, lon = _globe(2_000)
    scores = np.random.default_rng(1).normal(size=len(lat))
    meat = spatial_hac.conley_meat(scores, lat, lon, 500.0)
    assert meat.shape == (1, 1) and np.isfinite(meat[0, 0])
    monkeypatch.setattr(spatial_hac, "MAX_CONLEY_PAIRS", 1_000)
    with pytest.raises(LimitExceededError, match="use a smaller cutoff"):
        spatial_hac.conley_meat(scores, lat, lon, 500.0)


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
        ({"boundary": [[10.0, 45.0]]}, "boundary"),
        ({"boundary": '{"type": "Polygon"}'}, "boundary"),
    ],
)
def test_http_refuses_too_many_or_bad_rings_before_any_job(
    spatial: tuple[Api, dict[str, str], str], params: dict[str, object], parameter: str
) -> None:
    api, h, ds = spatial
    name = "geo_rd" if parameter == "boundary" else "ring_did"
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "estimators": [name],
            "options": {"params": {name: params}, "wait_s": 0},
        },
    )
    err = assert_error(r, 422, "INVALID_PARAMETER")
    assert err["details"]["parameter"] == parameter
    assert len(r.text) < 2000
    assert api.client.get("/api/jobs", headers=h).json()["jobs"] == []
