"""The mediation design over HTTP: the generic analysis route with a ``mediator`` role."""

from __future__ import annotations

from cqox.simulate.mediation import mediation_linear
from tests.api.conftest import Api


def test_comprehensive_analysis_with_a_mediator_returns_the_decomposition(api: Api) -> None:
    h = api.headers("analyst")
    df, _ = mediation_linear(n=500, seed=4)
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "t", "mediator": "m",
                      "covariates": ["x1", "x2", "x3"]},
            "estimators": ["mediation", "mediation_dml"],
            "options": {"params": {"mediation_dml": {"learner": "linear"}}, "wait_s": 60},
        },
    )  # fmt: skip
    answer = api.finished(r, h)
    result = answer["result"]
    got = {(e["estimator"], e["estimand"]) for e in result["estimates"]}
    assert got == {(n, e) for n in ("mediation", "mediation_dml") for e in ("NIE", "NDE")}
    assert {"NIE", "NDE"} <= set(result["consensus"])
    figures = api.client.get(answer["links"]["figures"], headers=h).json()["figures"]
    names = {f["name"] for f in figures}
    assert {"mediation_decomposition", "mediation_sensitivity"} <= names
