"""Spatial designs over HTTP: ``lat``/``lon`` roles, ring DiD and the geographic RD."""

from __future__ import annotations

from cqox.simulate.spatial import boundary_rd, ring_spillover_panel
from tests.api.conftest import Api


def test_lat_lon_roles_on_a_panel_run_the_ring_did_for_both_estimands(api: Api) -> None:
    h = api.headers("analyst")
    df, _ = ring_spillover_panel(n_units=200, n_periods=4, cohorts=(3,), seed=3)
    body = {
        "dataset_id": api.dataset(h, df),
        "roles": {
            "outcome": "y", "treatment": "d", "unit": "unit", "time": "time",
            "lat": "lat", "lon": "lon",
        },
        "estimators": ["ring_did"],
        "options": {"params": {"ring_did": {"ring_edges_km": [1, 2, 3]}}, "wait_s": 60},
    }  # fmt: skip
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=body)
    result = api.finished(r, h)["result"]
    assert "spatial" in result["designs"]
    got = {e["estimand"]: e for e in result["estimates"]}
    assert set(got) == {"direct", "spillover"}
    assert got["spillover"]["params"]["ring_edges_km"] == [1.0, 2.0, 3.0]


def test_geo_rd_takes_a_geojson_boundary_in_the_request(api: Api) -> None:
    h = api.headers("analyst")
    df, truth = boundary_rd(n=800, seed=2)
    line = {"type": "LineString", "coordinates": truth["boundary"]}
    body = {
        "dataset_id": api.dataset(h, df),
        "roles": {"outcome": "y", "treatment": "t", "lat": "lat", "lon": "lon"},
        "estimators": ["geo_rd"],
        "options": {"params": {"geo_rd": {"boundary": line, "gates": False}}, "wait_s": 60},
    }
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=body)
    (est,) = api.finished(r, h)["result"]["estimates"]
    assert est["estimator"] == "geo_rd" and est["estimand"] == "ATE(c)"
    assert est["ci"][0] < truth["ATE(c)"] < est["ci"][1]
