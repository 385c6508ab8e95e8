"""Property-based fuzzing of the OpenAPI schema (schemathesis): no request makes a 500.

Every operation of ``/openapi.json`` gets generated requests (valid and invalid
bodies, parameters and ids), sent with an admin's token so that authorisation does
not stop them at the door.  Each answer must be below 500, and every error must have
the error shape.  Bounded: ``EXAMPLES`` requests per operation.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api, client_can_encode

#: Generated requests per operation (bounded so the run stays well under a minute).
EXAMPLES = 12
STATUSES: Counter[int] = Counter()


def _check(api: Api, kwargs: dict[str, Any], headers: dict[str, str]) -> None:
    kwargs = dict(kwargs)
    kwargs.pop("base_url", None)
    url = kwargs.pop("url")
    method = kwargs.pop("method")
    hdrs = {**(kwargs.pop("headers", None) or {}), **headers}
    call: dict[str, Any] = {"headers": hdrs, "params": kwargs.pop("params", None)}
    for key in ("json", "files", "data", "content"):
        if kwargs.get(key) is not None:
            call[key] = kwargs[key]
    cookies = kwargs.pop("cookies", None)
    if cookies:
        api.client.cookies.update(cookies)
    path = url.split("://", 1)[-1]
    path = path[path.index("/") :] if "/" in path else "/"
    if not client_can_encode(method, path, call):
        return
    r = api.client.request(method, path, **call)
    STATUSES[r.status_code] += 1
    assert r.status_code < 500, f"{method} {path} → {r.status_code}: {r.text[:500]}"
    assert r.headers.get("X-Request-ID")
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {
            "code",
            "message",
            "details",
            "request_id",
        }, body


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
        _check(api, case.as_transport_kwargs(base_url="http://testserver"), headers)

    run()


@pytest.mark.ci_bounded
def test_openapi_fuzz_finds_no_server_errors(api: Api) -> None:
    saved_wait = api.settings.inline_wait_s
    api.settings.inline_wait_s = 0.5
    try:
        _fuzz(api)
    finally:
        api.settings.inline_wait_s = saved_wait


def _fuzz(api: Api) -> None:
    headers = api.headers("admin")
    # a real dataset, so that some generated analyses reach the engine
    api.dataset(headers)
    spec = api.client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.base_url = "http://testserver"
    start = time.monotonic()
    operations = [op.ok() for op in schema.get_all_operations() if op.ok() is not None]
    assert len(operations) >= 20
    for op in operations:
        if op.path in ("/api/auth/logout",):
            continue  # would revoke the fuzzer's own token

        _fuzz_operation(api, op, headers)
    elapsed = time.monotonic() - start
    assert elapsed < 300, elapsed
    # the fuzzer really reached the handlers: many requests, some of them successful
    assert sum(STATUSES.values()) >= 5 * len(operations), STATUSES
    assert sum(n for code, n in STATUSES.items() if code < 300) >= len(operations), STATUSES


@pytest.mark.parametrize("dataset_id", ["", " ", "\x00", "%00", "a" * 300, "😀" * 10, "1 OR 1=1"])
def test_odd_ids_are_answered_without_server_errors(api: Api, dataset_id: str) -> None:
    h = api.headers("admin")
    r = api.client.post("/api/analyze/comprehensive", headers=h, json={"dataset_id": dataset_id})
    assert 400 <= r.status_code < 500
    assert set(r.json()) == {"error"}
