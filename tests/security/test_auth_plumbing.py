"""Authentication plumbing (#10, part 5).

Login back-off per account, proxies trusted only when configured, one rate-limit budget
per user, commits before responses, one winner among concurrent refreshes, and user
deletion that takes the user's files with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

import cqox
from cqox.server import create_app
from cqox.server.models import AnalysisRecord, ApiKey, Dataset
from tests.api.conftest import PASSWORD, assert_error, make_settings
from tests.api.service_process import Server, free_port, service_env
from tests.security.conftest import add_user, bearer, login, serving

#: Delay added to every commit in the ordering tests: a write that is committed only
#: after the response would still be invisible to a request sent right after it.
SLOW_COMMIT_S = 0.4


# -- login back-off per account ------------------------------------------------------------
def test_back_off_doubles_after_the_free_attempts_and_is_capped() -> None:
    from cqox.server.throttle import LoginThrottle

    t = LoginThrottle(free_attempts=5, backoff_s=1.0, backoff_max_s=8.0)
    assert [t.delay(k) for k in range(10)] == [0, 0, 0, 0, 0, 1, 2, 4, 8, 8]
    now = 1000.0
    for _ in range(5):
        assert t.attempt("eve", now) == 0
    assert t.attempt("eve", now + 0.5) == 1  # the sixth must wait 1 s after the fifth
    assert t.attempt("eve", now + 1.0) == 0
    assert t.attempt("eve", now + 2.5) == 1  # then 2 s after the sixth
    assert t.attempt("eve", now + 3.0) == 0
    assert t.attempt("mallory", now + 3.0) == 0  # other names are not affected
    t.succeeded("eve")
    assert all(t.attempt("eve", now + 3.0) == 0 for _ in range(5))


def test_failed_logins_of_one_account_are_throttled_whatever_the_address(
    tmp_path: Path,
) -> None:
    app = create_app(make_settings(tmp_path, None, login_backoff_s=1.0))
    clients = [
        TestClient(app, raise_server_exceptions=False, client=(f"10.0.0.{i}", 40000 + i))
        for i in range(1, 8)
    ]
    with clients[0]:
        add_user(app, "victim")
        wrong = {"username": "victim", "password": "not-the-password"}
        for c in clients[:5]:  # five guesses from five addresses
            assert_error(c.post("/api/auth/login", json=wrong), 401, "UNAUTHORIZED")
        r = clients[5].post("/api/auth/login", json=wrong)  # a sixth address changes nothing
        err = assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert r.headers["Retry-After"] == "1" and err["details"]["retry_after_s"] == 1
        # while the account waits even the right password is not checked
        right = {"username": "victim", "password": PASSWORD}
        assert_error(clients[6].post("/api/auth/login", json=right), 429, "RATE_LIMIT_EXCEEDED")
        # other accounts are not affected
        add_user(app, "bystander")
        login(clients[5], "bystander")
        time.sleep(1.1)
        login(clients[6], "victim")  # success after the back-off ...
        for _ in range(5):  # ... clears the count: five free attempts again
            assert_error(clients[0].post("/api/auth/login", json=wrong), 401, "UNAUTHORIZED")
        assert_error(clients[0].post("/api/auth/login", json=wrong), 429, "RATE_LIMIT_EXCEEDED")


# -- trusted proxies -------------------------------------------------------------------------
def test_cqox_serve_ignores_x_forwarded_for_from_an_untrusted_peer(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data", None, CQOX_RATE_LIMIT_IP_PER_MINUTE="3")
    env.pop("CQOX_TRUSTED_PROXIES", None)
    server = Server(env, free_port(), tmp_path / "serve.log")
    try:
        codes = [
            httpx.get(
                server.url + "/api/auth/me", headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(5)
        ]
    finally:
        server.stop()
    # a new spoofed address per request would have reset the budget every time
    assert codes == [401, 401, 401, 429, 429]


def test_trusted_proxies_are_believed_and_only_they() -> None:
    from cqox.server.main import proxy_options
    from cqox.server.settings import Settings

    seen: list[str] = []

    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    spoof = {"X-Forwarded-For": "203.0.113.9"}
    for proxies, expected in [
        ("", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9"),
        ("10.1.2.3", "127.0.0.1"),
    ]:
        options = proxy_options(Settings(trusted_proxies=proxies, secret_key="k" * 40))
        with serving(echo, **options) as url:  # type: ignore[arg-type]
            assert httpx.get(url + "/", headers=spoof).status_code == 204
        assert seen[-1] == expected, (proxies, seen)


# -- one rate-limit budget per user ---------------------------------------------------------
def test_the_per_user_limit_is_one_budget_for_all_tokens_and_keys(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, None, rate_limit_per_minute=6))
    with TestClient(app, raise_server_exceptions=False) as client:
        add_user(app, "frank")
        token = login(client, "frank")["access_token"]
        keys = []
        for i in range(3):
            r = client.post("/api/auth/api-keys", headers=bearer(token), json={"name": f"k{i}"})
            keys.append(r.json()["key"])  # three requests spent
        credentials = [bearer(token)] + [{"X-API-Key": k} for k in keys]
        codes = [client.get("/api/datasets", headers=h).status_code for h in credentials]
        assert codes == [200, 200, 200, 429], codes
        # another user has a budget of their own
        add_user(app, "grace")
        other = login(client, "grace")["access_token"]
        assert client.get("/api/datasets", headers=bearer(other)).status_code == 200


# -- commits before responses ----------------------------------------------------------------
@pytest.fixture
def slow_commits_app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path, None))
    factory = app.state.services.factory

    def slow(session: Any) -> None:
        time.sleep(SLOW_COMMIT_S)

    event.listen(factory, "before_commit", slow)
    yield app
    event.remove(factory, "before_commit", slow)


def test_mutations_are_committed_before_the_response(slow_commits_app: FastAPI) -> None:
    app = slow_commits_app
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        add_user(app, "admin1", "admin")
        admin = bearer(login(c, "admin1")["access_token"])
        # user create, then log in at once
        r = c.post(
            "/api/users",
            headers=admin,
            json={"username": "henry", "password": PASSWORD, "role": "analyst"},
        )
        assert r.status_code == 201, r.text
        henry = login(c, "henry")
        h = bearer(henry["access_token"])
        # API key create, then use at once
        r = c.post("/api/auth/api-keys", headers=h, json={"name": "ci"})
        key, key_id = r.json()["key"], r.json()["id"]
        assert c.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 200
        # API key revoke, then use at once
        assert c.delete(f"/api/auth/api-keys/{key_id}", headers=h).status_code == 200
        assert_error(c.get("/api/auth/me", headers={"X-API-Key": key}), 401, "UNAUTHORIZED")
        # refresh, then reuse the old refresh token at once
        r = c.post("/api/auth/refresh", json={"refresh_token": henry["refresh_token"]})
        assert r.status_code == 200
        fresh = r.json()
        r = c.post("/api/auth/refresh", json={"refresh_token": henry["refresh_token"]})
        assert_error(r, 401, "UNAUTHORIZED")
        # logout, then use the token at once
        h = bearer(fresh["access_token"])
        assert c.post("/api/auth/logout", headers=h).status_code == 200
        assert_error(c.get("/api/auth/me", headers=h), 401, "UNAUTHORIZED")
        # user delete, then use their token at once
        other = login(c, "henry")
        assert c.delete("/api/users/henry", headers=admin).status_code == 200
        r = c.get("/api/auth/me", headers=bearer(other["access_token"]))
        assert_error(r, 401, "UNAUTHORIZED")


# -- concurrent refreshes -------------------------------------------------------------------
CONCURRENT_REFRESHES = 5


def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(
    tmp_path: Path, backend_url: str | None
) -> None:
    app = create_app(make_settings(tmp_path, backend_url))
    with serving(app) as url:
        add_user(app, "ivan")
        tokens = login(httpx.Client(base_url=url), "ivan")
        barrier = threading.Barrier(CONCURRENT_REFRESHES)
        codes: list[int] = []

        def refresh() -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                barrier.wait()
                r = c.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                codes.append(r.status_code)

        threads = [threading.Thread(target=refresh) for _ in range(CONCURRENT_REFRESHES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(codes) == [200] + [401] * (CONCURRENT_REFRESHES - 1), codes


# -- deleting a user takes their files -----------------------------------------------------
def _files(data_dir: Path) -> set[str]:
    return {
        p.name
        for folder in ("datasets", "analyses")
        if (data_dir / folder).is_dir()
        for p in (data_dir / folder).iterdir()
    }


def test_deleting_a_user_removes_their_datasets_analyses_and_files_at_once(
    tmp_path: Path, backend_url: str | None
) -> None:
    data_dir = tmp_path / "data"
    app = create_app(make_settings(data_dir, backend_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        add_user(app, "root", "admin")
        add_user(app, "judy")
        add_user(app, "kate")
        admin = bearer(login(client, "root")["access_token"])
        judy = bearer(login(client, "judy")["access_token"])
        kate = bearer(login(client, "kate")["access_token"])
        df: pd.DataFrame = cqox.simulate.confounded_binary(n=300, p=3, seed=1)[0]
        raw = df.to_csv(index=False).encode()
        ids = {}
        for name, h in (("judy", judy), ("kate", kate)):
            ds = client.post("/api/upload", headers=h, files={"file": ("d.csv", raw)}).json()
            r = client.post(
                "/api/analyze/comprehensive",
                headers=h,
                json={"dataset_id": ds["dataset_id"], "estimators": ["ipw"]},
            )
            assert r.status_code == 200, r.text
            ids[name] = (ds["dataset_id"], r.json()["analysis_id"])
        client.post("/api/auth/api-keys", headers=judy, json={"name": "k"})
        before = _files(data_dir)
        judy_files = {f"{ids['judy'][0]}.parquet", f"{ids['judy'][1]}.pkl"}
        assert judy_files <= before

        r = client.delete("/api/users/judy", headers=admin)
        assert r.status_code == 200, r.text
        after = _files(data_dir)
        assert not judy_files & after  # gone now, not at the next start
        assert r.json()["datasets"] == 1 and r.json()["analyses"] == 1
        assert {f"{ids['kate'][0]}.parquet", f"{ids['kate'][1]}.pkl"} <= after
        with app.state.services.factory() as s:
            for model in (Dataset, AnalysisRecord):
                owners = set(s.scalars(select(model.owner_id)))
                assert len(owners) == 1, model  # kate's only
            assert s.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert client.get("/api/datasets", headers=kate).json()["datasets"]


def test_cqox_users_delete_removes_the_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cqox.cli.main import main

    data_dir = tmp_path / "data"
    app = create_app(make_settings(data_dir, None))
    with TestClient(app, raise_server_exceptions=False) as client:
        add_user(app, "leo")
        h = bearer(login(client, "leo")["access_token"])
        raw = b"y,t,x\n" + b"".join(f"{i % 7},{i % 2},{i % 5}\n".encode() for i in range(60))
        ds = client.post("/api/upload", headers=h, files={"file": ("d.csv", raw)}).json()
    assert f"{ds['dataset_id']}.parquet" in _files(data_dir)
    for k in [k for k in os.environ if k.startswith("CQOX_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("CQOX_DATA_DIR", str(data_dir))
    assert main(["users", "delete", "leo"]) == 0
    assert f"{ds['dataset_id']}.parquet" not in _files(data_dir)
