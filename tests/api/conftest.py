"""Fixtures of the API tests: one running app per database backend.

Every test that takes ``api`` runs on SQLite and — when ``CQOX_TEST_POSTGRES_URL`` is
set (``.ci/run`` sets it after starting PostgreSQL on loopback) — on PostgreSQL, in a
fresh schema dropped at the end.  One app (with one worker process) per backend is
shared by the session (by each pytest-xdist worker), because starting a worker costs seconds.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import cqox
from cqox.server import Settings, create_app
from cqox.server.db import transaction
from cqox.server.security import create_user

SECRET = "test-secret-" + "x" * 40
#: The bearer token that lets the tests scrape /metrics.
METRICS_TOKEN = "test-metrics-" + "m" * 24
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
PASSWORD = "correct horse battery"
BACKENDS = ("sqlite", "postgresql")
#: The ``api`` fixture's backends: also PostgreSQL with ``CQOX_SHARED_STATE`` (the
#: scale-out service: the app queues jobs in the database, a ``cqox worker`` runs them).
API_BACKENDS = (*BACKENDS, "shared")


def postgres_url() -> str | None:
    """The PostgreSQL URL of the test server, if one is configured."""
    return os.environ.get("CQOX_TEST_POSTGRES_URL") or None


def with_schema(url: str, schema: str) -> str:
    """``url`` with libpq's ``search_path`` option set to ``schema``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema_factory() -> Iterator[Any]:
    """Create fresh PostgreSQL schemas; drop them at the end of the session."""
    import psycopg

    url = postgres_url()
    created: list[str] = []

    def make() -> str:
        assert url is not None
        schema = "cqox_test_" + uuid.uuid4().hex[:12]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        created.append(schema)
        return with_schema(url, schema)

    yield make
    if url and created:
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in created:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def database_url(backend: str, pg_schema_factory: Any) -> str | None:
    """The database URL of a backend (None: SQLite in the data folder)."""
    if backend == "sqlite":
        return None
    if postgres_url() is None:
        pytest.skip("PostgreSQL pass: set CQOX_TEST_POSTGRES_URL (.ci/run does)")
    url: str = pg_schema_factory()
    return url


def make_settings(data_dir: Path, db_url: str | None, **overrides: Any) -> Settings:
    """Settings for a test app: fast workers, no rate limits unless asked."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": db_url,
        "secret_key": SECRET,
        "metrics_token": METRICS_TOKEN,
        "env": "test",
        "workers": 1,
        "worker_warm_up": False,
        "inline_wait_s": 60.0,
        "rate_limit_per_minute": 0,
        "rate_limit_ip_per_minute": 0,
        "max_upload_mb": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


#: Longest an analysis test waits for a job that answered 202 (a loaded machine).
FINISH_WAIT_S = 300.0


@dataclass
class Api:
    """A running app, its client and helpers to make users and data."""

    app: FastAPI
    client: TestClient
    settings: Settings
    backend: str
    users: dict[str, dict[str, str]] = field(default_factory=dict)

    def user(self, role: str = "analyst", name: str | None = None) -> dict[str, str]:
        """Headers of a fresh user with ``role`` (Bearer access token)."""
        name = name or f"{role}_{secrets.token_hex(4)}"
        with transaction(self.app.state.services.factory) as s:
            create_user(s, name, role, PASSWORD)
        r = self.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def headers(self, role: str) -> dict[str, str]:
        """Headers of the session's shared user with ``role``."""
        if role not in self.users:
            self.users[role] = self.user(role)
        return self.users[role]

    def upload(
        self,
        headers: dict[str, str],
        df: pd.DataFrame | None = None,
        name: str = "data.csv",
        raw: bytes | None = None,
    ) -> Any:
        """Upload a table (CSV by default); returns the response."""
        if raw is None:
            frame = df if df is not None else small_frame()
            raw = frame.to_csv(index=False).encode()
        return self.client.post("/api/upload", files={"file": (name, raw)}, headers=headers)

    def dataset(self, headers: dict[str, str], df: pd.DataFrame | None = None) -> str:
        """Upload and return the dataset id."""
        r = self.upload(headers, df)
        assert r.status_code == 201, r.text
        return str(r.json()["dataset_id"])

    def finished(self, response: Any, headers: dict[str, str]) -> dict[str, Any]:
        """The answer of an analysis request once its job has succeeded.

        An analysis answers inline (200) when it ends within ``wait_s``; on a loaded
        machine it may answer 202 instead, and then the job is polled until it ends
        (at most ``FINISH_WAIT_S``), so that the tests prove what is computed, not how
        fast the machine was.
        """
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        deadline = time.monotonic() + FINISH_WAIT_S
        while body["status"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"job {body['job_id']} did not finish"
            time.sleep(0.1)
            body = self.client.get(f"/api/jobs/{body['job_id']}", headers=headers).json()
        assert body["status"] == "succeeded", body
        return body

    def stored_files(self) -> list[str]:
        """Names of the dataset files on disk."""
        folder = self.settings.data_dir / "datasets"
        return sorted(p.name for p in folder.iterdir())


def small_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small confounded data set (y, t, x1..x3) with a known effect of 2."""
    df, _ = cqox.simulate.confounded_binary(n=n, p=3, seed=seed)
    return df


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV bytes of a frame."""
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its lowest cost in tests (the production cost is a deliberate ~0.5 s)."""
    from argon2 import PasswordHasher

    from cqox.server import security

    saved = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = saved


@pytest.fixture(scope="session")
def api_apps(
    tmp_path_factory: pytest.TempPathFactory, pg_schema_factory: Any
) -> Iterator[Callable[[str], Api]]:
    """The app of a backend, started on first use and kept until the session ends.

    pytest finalises a session fixture whenever its parameter changes; under pytest-xdist
    (``make test``: whole files per worker) the files' tests come backend by backend, so
    without this cache each file would start its apps again (seconds each).
    """
    apps: dict[str, Api] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Api:
            if backend not in apps:
                url = database_url(backend, pg_schema_factory)
                shared = backend == "shared"
                folder = tmp_path_factory.mktemp(f"cqox-{backend}")
                settings = make_settings(folder, url, shared_state=shared)
                app = create_app(settings)
                client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
                stack.enter_context(worker_service(settings))
                apps[backend] = Api(app, client, settings, backend)
            return apps[backend]

        yield get


@pytest.fixture(scope="session", params=API_BACKENDS)
def api(request: pytest.FixtureRequest, api_apps: Callable[[str], Api]) -> Api:
    """The app on one backend (session-wide)."""
    return api_apps(str(request.param))


@contextmanager
def worker_service(settings: Settings) -> Iterator[None]:
    """A ``cqox worker`` (in a thread) when ``settings`` share state, else nothing."""
    if not settings.shared_state:
        yield
        return
    from cqox.server.worker_service import run_worker

    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the error shape, status and code; return the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details", "request_id"}, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    assert err["request_id"] == response.headers["X-Request-ID"]
    return dict(err)


def client_can_encode(method: str, path: str, call: dict[str, Any]) -> bool:
    """Whether an HTTP client can encode this fuzzed request at all.

    Schemathesis may draw a multipart body whose file part is a number; httpx fails
    while writing such a body.  A real client fails before sending anything, but the
    in-process test client raises from inside the server's ``receive()``, which would
    read as a server error.  Such cases never reach a server, so the fuzzers skip them.
    """
    body = {k: call[k] for k in ("json", "files", "data", "content") if k in call}
    try:
        httpx.Request(method, "http://testserver" + path, **body).read()
    except (TypeError, AttributeError, ValueError):
        return False
    return True
