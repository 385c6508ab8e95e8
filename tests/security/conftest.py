"""Fixtures of the security tests: apps with chosen settings, served over real HTTP.

Some findings only show over a real connection (a commit that happens after the
response is sent, a proxy header believed by the server), so :func:`serving` runs an
app under uvicorn in a thread on a loopback port.  Apps run on SQLite and — when
``CQOX_TEST_POSTGRES_URL`` is set — on PostgreSQL, like the API tests.
"""

from __future__ import annotations

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
    _cheap_password_hashing,
    database_url,
    make_settings,
    pg_schema_factory,
)
from tests.api.service_process import free_port

#: How long a threaded server may take to start (imports are done; a worker spawns).
START_TIMEOUT_S = 60.0


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
