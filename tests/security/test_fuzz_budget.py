"""Bounded fuzzing with an analyst's token: no 500, and no accepted request over budget.

Two parts: schemathesis generates requests for every operation of the OpenAPI schema
(as in ``tests/api/test_fuzz.py``, but with an analyst's token, as an attacker with an
ordinary account has); then Hypothesis aims at the costly corner, drawing real
estimator names, their integer parameters and values up to 10⁹.  Every answer must be
below 500, and every analysis the service accepted must have an estimated work within
``CQOX_MAX_WORK`` — recomputed here from the stored job, not taken from the service.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cqox.estimators import registry
from cqox.server import budget
from cqox.server.db import transaction
from cqox.server.models import Dataset, Job
from tests.api.conftest import Api, client_can_encode

#: Generated requests per operation (bounded: the module stays within a few minutes).
EXAMPLES = 10
#: Requests aimed at the count parameters.
COSTLY_EXAMPLES = 60
#: A small budget, so that the fuzzer meets refusals with ordinary parameters.
BUDGET = 2e8
STATUSES: Counter[int] = Counter()
ACCEPTED: list[str] = []


@pytest.fixture(scope="module")
def fuzzed(secure_api: Api) -> Iterator[Api]:
    """The service with a small budget, short waits and no per-user job limit."""
    s = secure_api.settings
    saved = (s.max_work, s.inline_wait_s, s.max_jobs_per_user, s.job_time_limit_s)
    s.max_work, s.inline_wait_s, s.max_jobs_per_user, s.job_time_limit_s = BUDGET, 0.2, 10_000, 5
    try:
        yield secure_api
    finally:
        s.max_work, s.inline_wait_s, s.max_jobs_per_user, s.job_time_limit_s = saved


def _send(api: Api, method: str, path: str, headers: dict[str, str], **call: Any) -> Any:
    r = api.client.request(method, path, headers=headers, **call)
    STATUSES[r.status_code] += 1
    assert r.status_code < 500, f"{method} {path} → {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "details", "request_id"}, body
    if path.startswith("/api/analyze/") and r.status_code in (200, 202):
        job_id = r.json().get("job_id")
        if job_id:
            ACCEPTED.append(job_id)
    return r


def _check_case(api: Api, kwargs: dict[str, Any], headers: dict[str, str]) -> None:
    kwargs = dict(kwargs)
    kwargs.pop("base_url", None)
    url, method = kwargs.pop("url"), kwargs.pop("method")
    hdrs = {**(kwargs.pop("headers", None) or {}), **headers}
    call: dict[str, Any] = {"params": kwargs.pop("params", None)}
    for key in ("json", "files", "data", "content"):
        if kwargs.get(key) is not None:
            call[key] = kwargs[key]
    path = url.split("://", 1)[-1]
    path = path[path.index("/") :] if "/" in path else "/"
    if client_can_encode(method, path, call):
        _send(api, method, path, hdrs, **call)


def _assert_accepted_within_budget(api: Api) -> None:
    """Recompute the work of every accepted analysis from its stored request."""
    with transaction(api.app.state.services.factory) as s:
        for job_id in ACCEPTED:
            job = s.get(Job, job_id)
            assert job is not None
            dataset = s.get(Dataset, job.dataset_id)
            assert dataset is not None
            req = job.request
            names = [req["estimator"]] if job.kind == "ate" else req.get("estimators")
            classes = budget.planned(job.kind, names, req.get("design"))
            work = budget.estimate_work(
                dataset.rows, dataset.n_columns, classes, req.get("params") or {}
            ).total
            assert work <= BUDGET, (job_id, work, req)


def _fuzz_operation(api: Api, op: Any, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(op.as_strategy())
        _check_case(api, case.as_transport_kwargs(base_url="http://testserver"), headers)

    run()


@pytest.mark.ci_bounded
def test_schema_fuzz_with_an_analyst_token_finds_no_500_and_nothing_over_budget(
    fuzzed: Api,
) -> None:
    api = fuzzed
    headers = api.user("analyst")
    api.dataset(headers)  # a real dataset, so that some analyses reach the engine
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json())
    schema.config.base_url = "http://testserver"
    operations = [op.ok() for op in schema.get_all_operations() if op.ok() is not None]
    assert len(operations) >= 20
    start = time.monotonic()
    for op in operations:
        if op.path == "/api/auth/logout":
            continue  # would revoke the fuzzer's own token
        _fuzz_operation(api, op, headers)
    assert time.monotonic() - start < 300
    assert sum(STATUSES.values()) >= 5 * len(operations), STATUSES
    assert STATUSES[403] > 0  # the analyst met the role matrix (admin routes)
    _assert_accepted_within_budget(api)


def _count_params() -> list[tuple[str, str]]:
    return [
        (name, p.name)
        for name, cls in sorted(registry.all_estimators().items())
        for p in cls.parameters
        if p.kind == "int"
    ]


@pytest.mark.ci_bounded
def test_costly_parameter_fuzz_is_refused_at_request_time_or_within_budget(fuzzed: Api) -> None:
    api = fuzzed
    headers = api.user("analyst")
    ds = api.dataset(headers)
    ACCEPTED.clear()
    targets = _count_params()

    @settings(
        max_examples=COSTLY_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        target=st.sampled_from(targets),
        value=st.one_of(
            st.integers(min_value=-10, max_value=10**9),
            st.floats(min_value=0, max_value=1e9, allow_nan=False),
        ),
        base=st.sampled_from(["ipw", "aipw", "dml_plr", "psm"]),
        named=st.booleans(),
    )
    def run(target: tuple[str, str], value: float, base: str, named: bool) -> None:
        estimator, parameter = target
        params: dict[str, Any] = {estimator: {parameter: value}}
        if estimator == "bootstrap":
            params[estimator]["base_estimator"] = base
        r = _send(
            api,
            "POST",
            "/api/analyze/comprehensive",
            headers,
            json={
                "dataset_id": ds,
                "estimators": [estimator] if named else None,
                "options": {"params": params, "wait_s": 0},
            },
        )
        assert r.status_code in (202, 400, 422), r.text
        if r.status_code == 202:
            api.client.delete(f"/api/jobs/{r.json()['job_id']}", headers=headers)

    run()
    assert STATUSES[422] > 0 and STATUSES[202] > 0, STATUSES
    _assert_accepted_within_budget(api)
