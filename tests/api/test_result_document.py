"""An analysis result is encoded once by the worker, stored as that text and served as is.

Every answer that carries the result (the inline answer of ``POST /api/analyze/*``,
``GET /api/jobs/{id}``, ``GET /api/analyses/{id}``) has the same JSON value, equal to
the stored Analysis's ``to_dict()``; the stored text appears in the answers byte for
byte (nothing decoded and encoded again), and the answers' keys keep their order.
"""

from __future__ import annotations

import json
import pickle

from cqox.server.access import result_text
from cqox.server.db import transaction
from tests.api.conftest import Api

JOB_KEYS = [
    "job_id",
    "kind",
    "status",
    "progress",
    "step",
    "dataset_id",
    "analysis_id",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "links",
    "result",
]
ANALYSIS_KEYS = [
    "analysis_id",
    "kind",
    "dataset_id",
    "job_id",
    "created_at",
    "elapsed_s",
    "estimates",
    "consensus",
    "verdict",
    "links",
    "result",
    "dataset_name",
    "request",
]


def test_every_answer_serves_the_stored_result_text_unchanged(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive",
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "t"},
            "estimators": ["ipw", "stratification"],
            "options": {"seed": 0, "wait_s": 60},
        },
        headers=h,
    )
    body = api.finished(r, h)
    analysis_id = body["analysis_id"]
    with transaction(api.app.state.services.factory) as s:
        stored = result_text(s, analysis_id)
    assert stored is not None

    job = api.client.get(f"/api/jobs/{body['job_id']}", headers=h)
    detail = api.client.get(f"/api/analyses/{analysis_id}", headers=h)
    for answer in (r, job, detail):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
    answers = [job] + ([r] if r.status_code == 200 and r.json()["status"] == "succeeded" else [])
    for answer in answers:
        assert list(answer.json()) == JOB_KEYS
        assert answer.json()["links"]["report"] == f"/api/analyses/{analysis_id}/report"
    assert list(detail.json()) == ANALYSIS_KEYS

    # the stored text, byte for byte, in every answer: not decoded and encoded again
    for answer in (*answers, detail):
        assert f'"result":{stored}'.encode() in answer.content

    # one JSON value everywhere, and it is the stored Analysis's to_dict()
    result = json.loads(stored)
    assert all(a.json()["result"] == result for a in (*answers, detail))
    artefact = api.settings.data_dir / "analyses" / f"{analysis_id}.pkl"
    analysis = pickle.loads(artefact.read_bytes())  # written by the service itself
    assert result == json.loads(json.dumps(analysis.to_dict()))
    names = {e["estimator"] for e in result["estimates"]}
    assert {"ipw", "stratification"} <= names
    strata = next(e for e in result["estimates"] if e["estimator"] == "stratification")
    assert strata["tables"]["strata"]  # tables travel as before

    # the summary fields read from the same document
    summary = detail.json()
    assert summary["estimates"] == len(result["estimates"])
    assert summary["consensus"] == result["consensus"]
    assert summary["verdict"] == result["quality"]["verdict"]
    listed = api.client.get("/api/analyses", headers=h).json()["analyses"]
    mine = next(a for a in listed if a["analysis_id"] == analysis_id)
    assert mine["estimates"] == len(result["estimates"])
    assert mine["consensus"] == result["consensus"]
