"""The transportability design over HTTP: the generic analysis route with a ``sample`` role."""

from __future__ import annotations

from cqox.simulate.transport import nested_trial
from tests.api.conftest import Api


def test_comprehensive_analysis_with_a_sample_returns_target_effects_and_the_overlap(
    api: Api,
) -> None:
    h = api.headers("analyst")
    df, _ = nested_trial(n=2000, seed=4)
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "t", "sample": "s",
                      "covariates": ["x1", "x2", "x3"]},
            "estimators": ["transport_iosw", "transport_dr"],
            "options": {"wait_s": 60},
        },
    )  # fmt: skip
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    got = {(e["estimator"], e["estimand"]) for e in result["estimates"]}
    assert got == {("transport_iosw", "TATE"), ("transport_dr", "TATE")}
    assert "TATE" in result["consensus"]
    figures = api.client.get(r.json()["links"]["figures"], headers=h).json()["figures"]
    assert "transport_overlap" in {f["name"] for f in figures}
