"""Analyses: comprehensive (inline and as a job), ate, did, a design route, sensitivity,
listing, figures (Plotly JSON and PNG), the HTML report; jobs: status, failure, time
limit, cancellation."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest

import cqox
from tests.api.conftest import Api, assert_error, small_frame

#: |estimate − truth| ≤ 4·SE: the simulated effect is 2; four SEs keep a false alarm
#: below 1e-4 while still catching a wrong column or sign.
SE_MULTIPLE = 4.0
#: Longest a test waits for a job (a worker may have to start after a kill).
JOB_WAIT_S = 120.0


def _poll(api: Api, h: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        job = api.client.get(f"/api/jobs/{job_id}", headers=h).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        assert 0.0 <= job["progress"] <= 1.0
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def _big_parquet(n: int = 20_000) -> bytes:
    df, _ = cqox.simulate.confounded_binary(n=n, p=5, seed=3)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_comprehensive_answers_inline_with_estimates_gates_consensus(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "mapping": {}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded" and body["analysis_id"]
    result = body["result"]
    assert {"roles", "designs", "estimates", "consensus", "sensitivity", "elapsed_s"} <= set(result)
    assert "backdoor" in result["designs"]
    names = {e["estimator"] for e in result["estimates"]}
    assert {"ipw", "regression_adjustment"} <= names
    for e in result["estimates"]:
        assert {"estimator", "estimand", "estimate", "se", "ci", "p_value", "gates"} <= set(e)
    ate = result["consensus"]["ATE"]
    assert abs(ate["estimate"] - 2.0) < SE_MULTIPLE * max(
        e["se"] for e in result["estimates"] if e["estimand"] == "ATE"
    )
    assert result["quality"]["verdict"] in ("pass", "warn", "fail")
    assert body["links"]["report"].endswith("/report")


def test_mapping_accepts_role_names_and_the_y_and_unit_id_aliases(api: Api) -> None:
    h = api.headers("analyst")
    df = small_frame().assign(person=np.arange(400))
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {
                "y": "y",
                "treatment": "t",
                "unit_id": "person",
                "covariates": ["x1", "x2", "x3"],
            },
            "estimators": ["ipw"],
        },
    )
    assert r.status_code == 200, r.text
    roles = r.json()["result"]["roles"]
    assert roles["outcome"] == "y" and roles["unit"] == "person"
    assert roles["covariates"] == ["x1", "x2", "x3"]


def test_bad_mappings_are_invalid_mapping(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    for mapping in (
        {"outcome": "no_such_column"},
        {"outcome": "y", "colour": "t"},
        {"outcome": ["y", "t"]},
        {"treatment": "../../etc/passwd"},
        {"covariates": ["x1", "/etc/shadow"]},
    ):
        r = api.client.post(
            "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "mapping": mapping}
        )
        assert_error(r, 400, "INVALID_MAPPING")
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "mapping": {"outcome": "yy"}},
    )
    assert "did you mean 'y'" in r.json()["error"]["message"]


def test_unknown_estimator_and_threshold_are_refused(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipww"]}
    )
    err = assert_error(r, 400, "INVALID_PARAMETER")
    assert "ipw" in err["message"]
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "quality_gates": {"thresholds": {"nonsense": 1}}},
    )
    assert_error(r, 400, "INVALID_PARAMETER")


def test_slow_analysis_answers_202_then_the_job_gives_the_result(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "estimators": ["ipw"], "options": {"wait_s": 0}},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.headers["Location"] == f"/api/jobs/{job_id}"
    job = _poll(api, h, job_id)
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    assert job["result"]["estimates"][0]["estimator"] == "ipw"
    a = api.client.get(f"/api/analyses/{job['analysis_id']}", headers=h).json()
    assert a["result"] == job["result"]
    jobs = api.client.get("/api/jobs", headers=h).json()["jobs"]
    assert job_id in [j["job_id"] for j in jobs]


def test_ate_runs_one_estimator_for_one_estimand(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/ate",
        headers=h,
        json={"dataset_id": ds, "mapping": {"outcome": "y", "treatment": "t"}, "estimator": "ipw"},
    )
    assert r.status_code == 200, r.text
    est = r.json()["result"]["estimates"]
    assert [(e["estimator"], e["estimand"]) for e in est] == [("ipw", "ATE")]
    direct = cqox.analyze(small_frame(), outcome="y", treatment="t", estimators=["ipw"])
    assert est[0]["estimate"] == pytest.approx(direct.estimate_for("ipw", "ATE").estimate)


def test_did_route_runs_difference_in_differences_estimators(api: Api) -> None:
    from cqox.estimators import registry
    from cqox.simulate.panel import two_period_panel

    h = api.headers("analyst")
    df, _ = two_period_panel(n_units=150, seed=2)
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/did",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "unit": "unit", "time": "time", "treatment": "d"},
            "options": {"infer": False},
        },
    )
    did = {
        n for n, c in registry.all_estimators().items() if {"did", "staggered_did"} & set(c.designs)
    }
    if not did:
        assert_error(r, 400, "INVALID_MAPPING")
        return
    assert r.status_code == 200, r.text
    names = {e["estimator"] for e in r.json()["result"]["estimates"]}
    assert names and names <= did


def test_design_route_and_unknown_design(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/design/backdoor",
        headers=h,
        json={"dataset_id": ds, "estimators": ["regression_adjustment"]},
    )
    assert r.status_code == 200, r.text
    r = api.client.post("/api/analyze/design/astrology", headers=h, json={"dataset_id": ds})
    assert_error(r, 404, "NOT_FOUND")


def test_sensitivity_gives_evalue_and_rosenbaum_bounds(api: Api) -> None:
    h = api.headers("analyst")
    r = api.client.post(
        "/api/analyze/sensitivity",
        headers=h,
        json={"estimate": 3.9, "ci": [1.8, 8.45], "scale": "risk_ratio", "n_pairs": 200},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # VanderWeele & Ding (2017), worked example: E-value 7.26, CI limit 3.00
    assert body["evalue"]["evalue"] == pytest.approx(7.26, abs=0.005)
    assert body["evalue"]["evalue_ci"] == pytest.approx(3.0, abs=0.005)
    ros = body["rosenbaum"]
    assert ros["applicable"] and ros["gamma_star"] > 1
    p = [row["p_upper"] for row in ros["bounds"]]
    assert p == sorted(p)
    r = api.client.post(
        "/api/analyze/sensitivity",
        headers=h,
        json={
            "estimate": 0.5,
            "ci": [0.2, 0.8],
            "sd_outcome": 1.0,
            "pair_differences": [1, 2, 0.5, -0.2, 1.1, 0.9],
        },
    )
    assert r.status_code == 200 and r.json()["rosenbaum"]["test"] == "wilcoxon_signed_rank"
    r = api.client.post("/api/analyze/sensitivity", headers=h, json={"estimate": 1, "ci": [0, 2]})
    assert_error(r, 400, "INVALID_PARAMETER")
    r = api.client.post(
        "/api/analyze/sensitivity", headers=h, json={"estimate": 1, "ci": [2, 0], "sd_outcome": 1}
    )
    assert_error(r, 422, "INVALID_REQUEST")


def test_analyses_list_get_figures_report_delete(api: Api) -> None:
    h = api.user("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipw"]}
    )
    aid = r.json()["analysis_id"]
    listed = api.client.get("/api/analyses", headers=h).json()["analyses"]
    assert [a["analysis_id"] for a in listed] == [aid]
    assert api.client.get(f"/api/analyses?dataset_id={ds}", headers=h).json()["analyses"]
    detail = api.client.get(f"/api/analyses/{aid}", headers=h).json()
    assert detail["result"]["estimates"][0]["estimator"] == "ipw"
    figs = api.client.get(f"/api/analyses/{aid}/figures", headers=h).json()["figures"]
    assert {"forest", "overlap"} <= {f["name"] for f in figs}
    for f in figs:
        fig = api.client.get(f["json"], headers=h)
        assert fig.status_code == 200 and fig.headers["content-type"] == "application/json"
        assert fig.json()["data"] and "layout" in fig.json(), f["name"]
        png = api.client.get(f["png"], headers=h)
        assert png.headers["content-type"] == "image/png", f["name"]
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n", f["name"]
    forest_png = api.client.get(f"/api/analyses/{aid}/figures/forest.png", headers=h)
    assert forest_png.content[:4] == b"\x89PNG"
    forest = api.client.get(f"/api/analyses/{aid}/figures/forest", headers=h).json()
    plotted = [x for trace in forest["data"] if trace.get("mode") == "markers" for x in trace["x"]]
    assert sorted(plotted) == pytest.approx(
        sorted(e["estimate"] for e in detail["result"]["estimates"])
    )
    assert_error(api.client.get(f"/api/analyses/{aid}/figures/pie", headers=h), 404, "NOT_FOUND")
    report = api.client.get(f"/api/analyses/{aid}/report", headers=h)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "CQOx analysis report" in report.text
    assert api.client.delete(f"/api/analyses/{aid}", headers=h).status_code == 200
    assert_error(api.client.get(f"/api/analyses/{aid}", headers=h), 404, "NOT_FOUND")


def test_enforced_quality_gates_fail_the_request(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    body = {
        "dataset_id": ds,
        "estimators": ["ipw"],
        "quality_gates": {"enforce": True, "fail_on": "warn", "thresholds": {"ess_ratio": 0.999}},
    }
    err = assert_error(
        api.client.post("/api/analyze/comprehensive", headers=h, json=body),
        422,
        "QUALITY_GATE_FAILED",
    )
    assert err["details"]["analysis_id"]
    body["quality_gates"] = {"enforce": False, "thresholds": {"ess_ratio": 0.999}}
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=body)
    assert r.status_code == 200 and r.json()["result"]["quality"]["verdict"] == "warn"


def test_a_failing_job_ends_failed_and_the_service_keeps_serving(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "x1"},
            "estimators": ["ipw"],
        },
    )
    assert r.status_code in (400, 422), r.text
    job_id = r.json()["error"]["details"]["job_id"]
    job = api.client.get(f"/api/jobs/{job_id}", headers=h).json()
    assert job["status"] == "failed" and job["error"]["message"]
    ok = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipw"]}
    )
    assert ok.status_code == 200


def test_time_limit_fails_the_job_and_a_new_worker_takes_over(api: Api) -> None:
    h = api.headers("analyst")
    r = api.upload(h, raw=_big_parquet(), name="big.parquet")
    ds = r.json()["dataset_id"]
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "options": {"time_limit_s": 0.05}},
    )
    err = assert_error(r, 504, "TIME_LIMIT_EXCEEDED")
    job = api.client.get(f"/api/jobs/{err['details']['job_id']}", headers=h).json()
    assert job["status"] == "failed"
    ok = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": api.dataset(h), "estimators": ["ipw"]},
    )
    assert ok.status_code == 200, ok.text


def test_cancel_a_running_job(api: Api) -> None:
    h = api.headers("analyst")
    r = api.upload(h, raw=_big_parquet(), name="big.parquet")
    ds = r.json()["dataset_id"]
    r = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "options": {"wait_s": 0}}
    )
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + JOB_WAIT_S
    while api.client.get(f"/api/jobs/{job_id}", headers=h).json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = api.client.delete(f"/api/jobs/{job_id}", headers=h)
    assert r.status_code == 200, r.text
    job = _poll(api, h, job_id)
    assert job["status"] == "cancelled" and job["error"]["code"] == "CANCELLED"
    assert_error(api.client.delete(f"/api/jobs/{job_id}", headers=h), 409, "CONFLICT")
    assert_error(api.client.get("/api/jobs/" + "f" * 32, headers=h), 404, "NOT_FOUND")


def test_cancel_a_queued_job(api: Api) -> None:
    h = api.headers("analyst")
    big = api.upload(h, raw=_big_parquet(), name="big.parquet").json()["dataset_id"]
    first = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": big, "options": {"wait_s": 0}}
    ).json()["job_id"]
    second = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": api.dataset(h), "estimators": ["ipw"], "options": {"wait_s": 0}},
    ).json()["job_id"]
    assert api.client.delete(f"/api/jobs/{second}", headers=h).status_code == 200
    assert _poll(api, h, second)["status"] == "cancelled"
    api.client.delete(f"/api/jobs/{first}", headers=h)
    assert _poll(api, h, first)["status"] in ("cancelled", "succeeded")


def test_deleted_dataset_keeps_its_analyses(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    aid = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipw"]}
    ).json()["analysis_id"]
    api.client.delete(f"/api/datasets/{ds}", headers=h)
    assert api.client.get(f"/api/analyses/{aid}", headers=h).status_code == 200
    r = api.client.post("/api/analyze/comprehensive", headers=h, json={"dataset_id": ds})
    assert_error(r, 404, "NOT_FOUND")


def test_no_design_is_422_with_suggestions(api: Api) -> None:
    h = api.headers("analyst")
    df = small_frame()[["y", "x1", "x2"]]
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "mapping": {"outcome": "y"}, "options": {"infer": False}},
    )
    err = assert_error(r, 422, "NO_DESIGN")
    assert "no design found" in err["message"]
    assert [s["role"] for s in err["details"]["suggestions"]] == ["treatment"]


def test_dag_field_identifies_the_adjustment_set_and_bad_dot_is_400(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t"},
            "estimators": ["regression_adjustment"],
            "dag": "digraph { x1 -> t; x1 -> y; x2 -> t; x2 -> y; x3 -> t; x3 -> y; t -> y }",
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["dag"]["identification"]["optimal"] == ["x1", "x2", "x3"]
    assert any(g["name"] == "dag_independences" for g in result["gates"])
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={"dataset_id": ds, "mapping": {"outcome": "y", "treatment": "t"}, "dag": "t -- y"},
    )
    err = assert_error(r, 400, "INVALID_MAPPING")
    assert "undirected" in err["message"]
