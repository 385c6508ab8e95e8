"""Security: roles, ownership, hostile ids, names and files, injection, limits, request ids."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pandas as pd
import pytest

from tests.api.conftest import METRICS_AUTH, PASSWORD, Api, assert_error, small_frame

PATH_LIKE = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "C:\\boot.ini",
    "a/../b",
]


def test_viewer_may_view_but_not_run_or_delete(api: Api) -> None:
    analyst = api.headers("analyst")
    viewer = api.headers("viewer")
    ds = api.dataset(analyst)
    for url, body in [
        ("/api/analyze/comprehensive", {"dataset_id": ds}),
        ("/api/analyze/ate", {"dataset_id": ds}),
        ("/api/analyze/did", {"dataset_id": ds}),
        ("/api/analyze/sensitivity", {"estimate": 1, "ci": [0, 2], "sd_outcome": 1}),
    ]:
        assert_error(api.client.post(url, headers=viewer, json=body), 403, "FORBIDDEN")
    r = api.client.post("/api/upload", headers=viewer, files={"file": ("d.csv", b"y,t\n1,0\n")})
    assert_error(r, 403, "FORBIDDEN")
    assert_error(api.client.delete(f"/api/datasets/{ds}", headers=viewer), 403, "FORBIDDEN")
    assert api.client.get("/api/datasets", headers=viewer).status_code == 200
    assert api.client.get("/api/analyses", headers=viewer).status_code == 200


def test_only_admins_manage_users(api: Api) -> None:
    admin = api.headers("admin")
    for role in ("analyst", "viewer"):
        h = api.headers(role)
        assert_error(api.client.get("/api/users", headers=h), 403, "FORBIDDEN")
        r = api.client.post(
            "/api/users", headers=h, json={"username": "x1", "password": PASSWORD, "role": "admin"}
        )
        assert_error(r, 403, "FORBIDDEN")
    r = api.client.post(
        "/api/users",
        headers=admin,
        json={"username": f"new_{api.backend}", "password": PASSWORD, "role": "viewer"},
    )
    assert r.status_code == 201, r.text
    assert f"new_{api.backend}" in [
        u["username"] for u in api.client.get("/api/users", headers=admin).json()["users"]
    ]
    assert "password_hash" not in json.dumps(api.client.get("/api/users", headers=admin).json())
    r = api.client.post(
        "/api/users",
        headers=admin,
        json={"username": f"new_{api.backend}", "password": PASSWORD, "role": "viewer"},
    )
    assert_error(r, 409, "CONFLICT")
    assert api.client.delete(f"/api/users/new_{api.backend}", headers=admin).status_code == 200
    assert_error(
        api.client.delete(f"/api/users/new_{api.backend}", headers=admin), 404, "NOT_FOUND"
    )


def test_other_users_resources_answer_404(api: Api) -> None:
    a, b = api.user("analyst"), api.user("analyst")
    ds = api.dataset(a)
    r = api.client.post(
        "/api/analyze/comprehensive", headers=a, json={"dataset_id": ds, "estimators": ["ipw"]}
    )
    aid, job = r.json()["analysis_id"], r.json()["job_id"]
    for url in (
        f"/api/datasets/{ds}",
        f"/api/analyses/{aid}",
        f"/api/analyses/{aid}/report",
        f"/api/analyses/{aid}/figures",
        f"/api/analyses/{aid}/figures/forest",
        f"/api/jobs/{job}",
    ):
        err = assert_error(api.client.get(url, headers=b), 404, "NOT_FOUND")
        assert "permission" not in err["message"]
    assert_error(api.client.delete(f"/api/datasets/{ds}", headers=b), 404, "NOT_FOUND")
    assert_error(api.client.delete(f"/api/analyses/{aid}", headers=b), 404, "NOT_FOUND")
    r = api.client.post("/api/analyze/comprehensive", headers=b, json={"dataset_id": ds})
    assert_error(r, 404, "NOT_FOUND")
    assert api.client.get("/api/datasets", headers=b).json()["datasets"] == []
    assert api.client.get("/api/analyses", headers=b).json()["analyses"] == []
    assert api.client.get(f"/api/datasets/{ds}", headers=a).status_code == 200


@pytest.mark.parametrize("value", PATH_LIKE)
def test_path_like_dataset_ids_are_refused(api: Api, value: str) -> None:
    h = api.headers("analyst")
    r = api.client.post("/api/analyze/comprehensive", headers=h, json={"dataset_id": value})
    err = assert_error(r, 400, "INVALID_REQUEST")
    assert "id" in err["message"]
    r = api.client.get(f"/api/datasets/{value.replace('/', '%2F')}", headers=h)
    assert r.status_code in (400, 404) and "error" in r.json()
    assert "root:" not in r.text


def test_traversal_in_path_parameters_is_refused(api: Api) -> None:
    h = api.headers("analyst")
    for url in ("/api/datasets/..%5C..%5Cetc", "/api/analyses/....", "/api/jobs/%2e%2e"):
        r = api.client.get(url, headers=h)
        assert r.status_code in (400, 404), url
        assert set(r.json()) == {"error"}
    r = api.client.get("/api/analyses/" + "a" * 32 + "/figures/..%2F..%2Fetc%2Fpasswd", headers=h)
    assert r.status_code == 404


@pytest.mark.parametrize("name", ["../../evil.csv", "/tmp/abs.csv", "dir\\evil.csv", "..csv"])
def test_path_like_file_names_are_refused_and_nothing_is_stored(api: Api, name: str) -> None:
    h = api.headers("analyst")
    before = api.stored_files()
    r = api.upload(h, raw=b"y,t\n1,0\n2,1\n", name=name)
    assert_error(r, 400, "INVALID_REQUEST")
    assert api.stored_files() == before


def test_oversized_upload_is_413_and_nothing_is_stored(api: Api) -> None:
    h = api.headers("analyst")
    before = api.stored_files()
    limit = api.settings.max_upload_bytes
    big = b"y,t\n" + b"1.0,0\n" * (limit // 6 + 100_000)
    assert_error(api.upload(h, raw=big, name="big.csv"), 413, "PAYLOAD_TOO_LARGE")
    # just over the limit: passes the Content-Length guard, stopped while reading
    edge = b"y,t\n" + b"1.0,0\n" * (limit // 6 + 10)
    assert limit < len(edge) < limit + 64 * 1024
    assert_error(api.upload(h, raw=edge, name="edge.csv"), 413, "PAYLOAD_TOO_LARGE")
    assert api.stored_files() == before


def _deep_json(depth: int = 5000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


HOSTILE: dict[str, tuple[str, bytes, str]] = {
    "binary_csv": ("data.csv", os.urandom(4096) + b"\x00" * 10, "INVALID_DATA"),
    "binary_no_suffix": ("blob", bytes(range(256)) * 20, "INVALID_DATA"),
    "fake_parquet": ("data.parquet", b"PAR1" + os.urandom(2000), "INVALID_DATA"),
    "fake_excel": ("data.xlsx", b"PK\x03\x04" + os.urandom(2000), "INVALID_DATA"),
    "deep_json": ("deep.json", _deep_json(), "INVALID_DATA"),
    "deep_json_arrays": ("deep.json", b"[" * 100_000 + b"]" * 100_000, "INVALID_DATA"),
    "nested_records": (
        "nested.json",
        json.dumps([{"y": {"a": [1, 2]}, "t": 1}, {"y": {"a": [3]}, "t": 0}]).encode(),
        "INVALID_DATA",
    ),
    "scalar_json": ("x.json", b"42", "INVALID_DATA"),
    "broken_json": ("x.json", b'[{"y": 1, "t": ', "INVALID_DATA"),
    "one_column": ("one.csv", b"y\n1\n2\n3\n", "INVALID_DATA"),
    "header_only": ("h.csv", b"y,t\n", "INSUFFICIENT_DATA"),
    "empty": ("e.csv", b"", "INSUFFICIENT_DATA"),
    "duplicate_columns": ("d.json", b'[{"y":1,"t":0}]'.replace(b"t", b"y", 1), "INVALID_DATA"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_malformed_uploads_are_400_with_the_error_shape_and_nothing_stored(
    api: Api, case: str
) -> None:
    h = api.user("analyst")
    before = api.stored_files()
    name, raw, code = HOSTILE[case]
    r = api.upload(h, raw=raw, name=name)
    err = assert_error(r, 400, code)
    assert "Traceback" not in err["message"]
    assert api.stored_files() == before
    assert api.client.get("/api/datasets", headers=h).json()["datasets"] == []


INJECTION = "x'); DROP TABLE users; --"


def test_sql_injection_strings_stay_inert_data(api: Api) -> None:
    h = api.user("analyst")
    df = small_frame().rename(columns={"x1": INJECTION})
    df["note"] = ["' OR '1'='1"] * len(df)
    r = api.upload(h, df, name="'; DROP TABLE datasets; --.csv")
    assert r.status_code == 201, r.text
    ds = r.json()["dataset_id"]
    detail = api.client.get(f"/api/datasets/{ds}", headers=h).json()
    assert detail["name"] == "'; DROP TABLE datasets; --.csv"
    assert INJECTION in [c["name"] for c in detail["schema"]]
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t", "covariates": [INJECTION, "x2", "x3"]},
            "estimators": ["ipw"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]["roles"]["covariates"][0] == INJECTION
    r = api.client.post(
        "/api/auth/login", json={"username": "admin' OR '1'='1", "password": "' OR '1'='1"}
    )
    assert_error(r, 401, "UNAUTHORIZED")
    r = api.client.get("/api/analyses?dataset_id=1%27%20OR%20%271%27%3D%271", headers=h)
    assert_error(r, 400, "INVALID_REQUEST")
    # the tables are intact: users can still log in and the dataset is still listed
    assert api.client.get("/api/datasets", headers=h).json()["datasets"][0]["dataset_id"] == ds
    assert api.client.get("/api/auth/me", headers=api.headers("admin")).status_code == 200


@pytest.fixture
def low_limits(api: Api) -> Iterator[None]:
    ip_limiter, user_limiter = api.app.state.limiters
    saved = (ip_limiter.limit, user_limiter.limit)
    ip_limiter.reset()
    user_limiter.reset()
    yield
    ip_limiter.limit, user_limiter.limit = saved
    ip_limiter.reset()
    user_limiter.reset()


def test_rate_limit_per_user_answers_429_with_retry_after(api: Api, low_limits: None) -> None:
    h, other = api.user("viewer"), api.user("viewer")
    api.app.state.limiters[1].limit = 5
    codes = [api.client.get("/api/datasets", headers=h).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    r = api.client.get("/api/datasets", headers=h)
    err = assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and err["details"]["retry_after_s"] >= 1
    assert api.client.get("/api/datasets", headers=other).status_code == 200


def test_rate_limit_per_ip(api: Api, low_limits: None) -> None:
    api.app.state.limiters[0].limit = 3
    codes = [api.client.get("/api/auth/me").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert api.client.get("/health").status_code == 200  # probes are not limited


def test_every_response_carries_a_request_id(api: Api) -> None:
    h = api.headers("viewer")
    responses = [
        api.client.get("/health"),
        api.client.get("/ready"),
        api.client.get("/metrics", headers=METRICS_AUTH),
        api.client.get("/"),
        api.client.get("/openapi.json"),
        api.client.get("/api/datasets", headers=h),
        api.client.get("/api/datasets"),
        api.client.get("/api/nowhere", headers=h),
        api.client.put("/api/datasets", headers=h),
        api.client.post(
            "/api/analyze/comprehensive", headers=api.headers("analyst"), json={"x": 1}
        ),
    ]
    ids = [r.headers["X-Request-ID"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    assert_error(responses[7], 404, "NOT_FOUND")
    assert_error(responses[8], 405, "METHOD_NOT_ALLOWED")
    assert_error(responses[9], 422, "INVALID_REQUEST")
    mine = api.client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert mine.headers["X-Request-ID"] == "trace-123"
    evil = api.client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert evil.headers["X-Request-ID"] != "bad id\twith spaces"


def test_uploaded_frame_is_not_changed_by_validation(api: Api) -> None:
    df = small_frame()
    copy = df.copy()
    api.upload(api.headers("analyst"), df)
    pd.testing.assert_frame_equal(df, copy)
