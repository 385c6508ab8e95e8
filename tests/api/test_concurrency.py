"""Concurrent requests on one app: no lock errors, no lost writes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cqox.server import create_app
from cqox.server.db import transaction
from cqox.server.security import create_user
from tests.api.conftest import PASSWORD, Api, make_settings, small_frame

THREADS = 16


def test_concurrent_uploads_and_reads_all_succeed(api: Api) -> None:
    h = api.user("analyst")
    raw = small_frame(200).to_csv(index=False).encode()

    def work(i: int) -> tuple[int, int]:
        up = api.client.post("/api/upload", headers=h, files={"file": (f"d{i}.csv", raw)})
        listed = api.client.get("/api/datasets", headers=h)
        return up.status_code, listed.status_code

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(work, range(3 * THREADS)))
    assert codes == [(201, 200)] * (3 * THREADS)
    assert len(api.client.get("/api/datasets", headers=h).json()["datasets"]) == 3 * THREADS


@pytest.mark.timeout(120)
def test_authentication_gives_its_connection_back_before_the_shared_rate_limit_takes_one(
    tmp_path: Path,
) -> None:
    """One pooled connection is enough to authenticate under shared rate limits.

    The request's session used to hold its connection while the shared limiter took a
    second one from the same pool: once every pooled connection was held that way (a
    burst of requests in a busy process), each waited for one that never came until
    the pool's 60 s timeout answered 500.  With a pool of one connection, that is the
    first request; now the session's transaction ends before the limiter runs.
    """
    settings = make_settings(
        tmp_path,
        None,
        shared_state=True,
        database_pool_size=1,
        database_max_overflow=0,
        rate_limit_per_minute=1000,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        with transaction(app.state.services.factory) as s:
            create_user(s, "pooled", "analyst", PASSWORD)
        r = client.post("/api/auth/login", json={"username": "pooled", "password": PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        started = time.monotonic()
        for _ in range(3):
            assert client.get("/api/auth/me", headers=h).status_code == 200
        assert time.monotonic() - started < 30
