"""Fixtures of the security tests: a service with its own settings, as an attacker meets it.

``secure_api`` is a fresh app (SQLite, one worker) started after secret-looking
variables were put into the environment, so the tests can check that none of them
reaches a worker.  It is shared by a module; tests that change a limit restore it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cqox.server import create_app
from tests.api.conftest import Api, make_settings
from tests.api.conftest import _cheap_password_hashing as _cheap_password_hashing

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
