"""Fixtures of the security tests: apps with chosen settings, served over real HTTP.

Some findings only show over a real connection (a commit that happens after the
response is sent, a proxy header believed by the server), so :func:`serving` runs an
app under uvicorn in a thread on a loopback port.  Apps run on SQLite and — when
``CQOX_TEST_POSTGRES_URL`` is set — on PostgreSQL, like the API tests.

``secure_api`` is a fresh app (SQLite, one worker) started after secret-looking
variables were put into the environment, so the worker tests can check that none of
them reaches a worker.  It is shared by a module; tests that change a limit restore it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cqox.server import create_app
from cqox.server.db import transaction
from cqox.server.security import create_user
from tests.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    BACKENDS,
    PASSWORD,
    Api,
    _cheap_password_hashing,
    database_url,
    make_settings,
    pg_schema_factory,
)
from tests.api.service_process import free_port

#: How long a threaded server may take to start (imports are done; a worker spawns).
START_TIMEOUT_S = 60.0
#: Secrets planted in the service's environment before it starts its workers.
PLANTED = {
    "CQOX_SECRET_KEY": "planted-secret-key-" + "s" * 32,
    "CQOX_DATABASE_URL": "postgresql://cqox:planted-db-password@db.invalid/cqox",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret",
    "AWS_ACCESS_KEY_ID": "planted-aws-key-id",
    "PGPASSWORD": "planted-pg-password",
    "GITHUB_TOKEN": "planted-token",
    "SMTP_PASSWORD": "planted-smtp-password",
}
#: How long a test waits for a job to reach a state.
JOB_WAIT_S = 120.0


def add_user(app: FastAPI, name: str, role: str = "analyst") -> str:
    """Create a user directly in the database; return its id."""
    with transaction(app.state.services.factory) as s:
        return create_user(s, name, role, PASSWORD).id


def login(client: Any, name: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in; return the token answer (asserting success)."""
    r = client.post("/api/auth/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    tokens: dict[str, Any] = r.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, pg_schema_factory: Any) -> str | None:  # noqa: F811
    """The database URL of each backend (None: SQLite in the data folder)."""
    return database_url(str(request.param), pg_schema_factory)


@contextmanager
def running(data_dir: Path, db_url: str | None, **overrides: Any) -> Iterator[TestClient]:
    """A test client of a fresh app with these settings (its lifespan running)."""
    app = create_app(make_settings(data_dir, db_url, **overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@contextmanager
def serving(app: FastAPI, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cqox-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def secure_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A fresh service (one worker) whose environment holds planted secrets."""
    saved = {k: os.environ.get(k) for k in PLANTED}
    os.environ.update(PLANTED)
    try:
        # the settings name the real data folder and database: the planted URL is only
        # in the environment, where a careless worker would inherit it
        settings = make_settings(
            tmp_path_factory.mktemp("cqox-security"),
            None,
            worker_memory_mb=4096,
            max_jobs_per_user=4,
        )
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            api = Api(app, client, settings, "sqlite")
            wait_for_workers(api)
            yield api
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for_workers(api: Api, timeout: float = JOB_WAIT_S) -> list[int]:
    """Process ids of the app's workers, once every worker has started."""
    runner = api.app.state.services.runner
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = runner.worker_pids()
        if len(pids) == api.settings.workers and all(
            w is not None and w.ready for w in runner.workers
        ):
            return list(pids)
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def poll_job(api: Api, headers: dict[str, str], job_id: str, until: Any) -> dict[str, Any]:
    """Poll a job until ``until(job)`` holds (or fail after :data:`JOB_WAIT_S`)."""
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach the expected state")


def proc_file(pid: int, name: str) -> str:
    """A file of ``/proc/<pid>`` as text (NUL separators become new lines)."""
    return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b"\n").decode()
