"""The time-varying design over HTTP: the generic analysis route with panel roles."""

from __future__ import annotations

from cqox.simulate.timevarying import time_varying_feedback
from tests.api.conftest import Api


def test_comprehensive_analysis_of_a_treatment_history_returns_both_g_methods(api: Api) -> None:
    h = api.headers("analyst")
    df, _ = time_varying_feedback(n=300, periods=3, seed=6)
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "a", "unit": "id", "time": "time",
                      "covariates": ["l", "v"]},
            "estimators": ["msm_iptw", "gformula"],
            "options": {"params": {"gformula": {"n_boot": 30}}, "wait_s": 60},
        },
    )  # fmt: skip
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    got = {e["estimator"]: e for e in result["estimates"]}
    assert set(got) == {"msm_iptw", "gformula"}
    assert "time_varying" in result["designs"]
    figures = api.client.get(r.json()["links"]["figures"], headers=h).json()["figures"]
    assert {"msm_weights_over_time", "time_varying_regimes"} <= {f["name"] for f in figures}
