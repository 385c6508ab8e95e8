"""The scaled-out service on loopback: several ``cqox serve`` and ``cqox worker`` processes.

Real processes sharing one PostgreSQL schema and one data folder
(``CQOX_SHARED_STATE=true``), as on several machines.  Proves:

- rate limits, the login back-off, the per-user job cap and token revocations are one
  state across API processes (a client cannot multiply its budget by switching
  process), and a job queued through one API process is cancelled through another;
- a worker stopped with SIGTERM puts its running job back in the queue, where another
  worker finishes it; a worker killed with SIGKILL has its job failed once it stops
  reporting;
- the load test: 4 API processes × 2 worker processes, many concurrent clients, each
  logging in, uploading, analysing and polling through *different* API processes: zero
  errors, no lost or mixed-up result (each client's data has its own row count and
  effect), with p50/p95/p99 latencies (``CQOX_LOAD_REPORT=path`` writes them as JSON;
  the numbers in docs/service.md come from the full form, ``--run-slow``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks import service_load

from tests.api.conftest import PASSWORD, small_frame
from tests.api.scale_out_processes import (
    Worker,
    drop_schema,
    new_schema,
    require_postgres,
    shared_env,
    start_cluster,
)
from tests.api.service_process import create_user_cli

#: The analysis of the load test: quick estimators, so that the service, not the engine,
#: is what is measured (docs/service.md has the engine-bound numbers of one process).
LOAD_ESTIMATORS = ["ipw", "aipw", "regression_adjustment"]
LOAD_ROWS = 2_000
#: |ATE − own effect|: SE ≈ 0.07 at 2,000 rows, so 0.35 is 5 SE; the row count is the
#: exact guard against mixed-up results.
EFFECT_TOLERANCE = 0.35
#: Seconds to wait for a job to reach a state across processes.
STATE_WAIT_S = 90.0
#: Requests per minute per user in the shared-limits test: above what its other users
#: need while they poll jobs (4 a second at most), so only the burst meets it.
USER_LIMIT = 600


def _login(url: str, user: str, password: str = PASSWORD) -> dict[str, str]:
    r = httpx.post(
        url + "/api/auth/login", json={"username": user, "password": password}, timeout=60
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _make_user(url: str, admin: dict[str, str], name: str) -> None:
    r = httpx.post(
        url + "/api/users",
        headers=admin,
        json={"username": name, "password": PASSWORD, "role": "analyst"},
        timeout=60,
    )
    assert r.status_code == 201, r.text


def _wait_job(
    url: str, h: dict[str, str], job_id: str, statuses: tuple[str, ...]
) -> dict[str, Any]:
    deadline = time.monotonic() + STATE_WAIT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{url}/api/jobs/{job_id}", headers=h, timeout=60).json()
        if job.get("status") in statuses:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def _upload(url: str, h: dict[str, str], raw: bytes, name: str = "d.csv") -> str:
    r = httpx.post(url + "/api/upload", headers=h, files={"file": (name, raw)}, timeout=120)
    assert r.status_code == 201, r.text
    return str(r.json()["dataset_id"])


@pytest.mark.ci_bounded
def test_limits_queue_and_revocations_are_shared_across_processes(tmp_path: Path) -> None:
    env = shared_env(
        tmp_path / "data",
        require_postgres_schema(tmp_path),
        CQOX_RATE_LIMIT_PER_MINUTE=str(USER_LIMIT),
        CQOX_RATE_LIMIT_IP_PER_MINUTE="100000",
        CQOX_LOGIN_FREE_ATTEMPTS="3",
        CQOX_LOGIN_BACKOFF_S="60",
        CQOX_MAX_JOBS_PER_USER="2",
        CQOX_JOB_HEARTBEAT_TIMEOUT_S="5",
    )
    create_user_cli(env, "admin", "admin", PASSWORD)
    cluster = start_cluster(env, tmp_path, apis=2, workers=0)
    a, b = cluster.urls
    try:
        admin = _login(a, "admin")
        for name in ("limited", "guessed", "capped"):
            _make_user(b, admin, name)

        # one rate-limit budget per user, whichever process answers, even under a burst
        h = _login(a, "limited")

        async def spray() -> list[int]:
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(timeout=60, limits=limits) as c:
                answers = await asyncio.gather(
                    *(
                        c.get((a, b)[k % 2] + "/api/auth/me", headers=h)
                        for k in range(USER_LIMIT + 20)
                    )
                )
            return [r.status_code for r in answers]

        codes = asyncio.run(spray())
        assert codes.count(200) == USER_LIMIT and codes.count(429) == 20, codes

        # one login back-off per account
        wrong = [
            httpx.post(
                (a, b)[k % 2] + "/api/auth/login",
                json={"username": "guessed", "password": "no"},
                timeout=60,
            ).status_code
            for k in range(4)
        ]
        assert wrong == [401, 401, 401, 429], wrong

        # one job cap per user: six concurrent requests through both processes, two pass
        hc = _login(b, "capped")
        dataset = _upload(a, hc, small_frame().to_csv(index=False).encode())

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as c:
                body = {
                    "dataset_id": dataset,
                    "estimators": ["ipw"],
                    "options": {"wait_s": 0},
                }
                return list(
                    await asyncio.gather(
                        *(
                            c.post(
                                (a, b)[k % 2] + "/api/analyze/comprehensive", headers=hc, json=body
                            )
                            for k in range(6)
                        )
                    )
                )

        answers = asyncio.run(burst())
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [202, 202, 429, 429, 429, 429], [r.text for r in answers]
        assert all(
            r.json()["error"]["code"] == "TOO_MANY_JOBS" for r in answers if r.status_code == 429
        )
        queued = [r.json()["job_id"] for r in answers if r.status_code == 202]

        # cancelled through the other process before any worker runs
        assert httpx.delete(f"{b}/api/jobs/{queued[0]}", headers=hc, timeout=60).status_code == 200
        assert _wait_job(a, hc, queued[0], ("cancelled",))["status"] == "cancelled"

        # a worker starts and finishes the other; both processes serve the result
        cluster.workers.append(Worker(env, tmp_path / "worker0.log"))
        done = _wait_job(a, hc, queued[1], ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        report = httpx.get(f"{b}/api/analyses/{done['analysis_id']}/report", headers=hc, timeout=60)
        assert report.status_code == 200 and "<html" in report.text.lower()

        # revoked through one process, refused by the other
        assert httpx.post(f"{a}/api/auth/logout", headers=hc, timeout=60).status_code == 200
        assert httpx.get(f"{b}/api/auth/me", headers=hc, timeout=60).status_code == 401

        # SIGTERM: the running job goes back to the queue; another worker finishes it
        hc = _login(a, "capped")
        long_job = {
            "dataset_id": dataset,
            "estimators": ["bootstrap"],
            "options": {"wait_s": 0, "params": {"bootstrap": {"n_boot": 20_000}}},
        }
        r = httpx.post(f"{a}/api/analyze/comprehensive", headers=hc, json=long_job, timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        _wait_job(b, hc, job_id, ("running",))
        cluster.workers[0].stop()
        assert _wait_job(b, hc, job_id, ("queued",))["status"] == "queued"
        cluster.workers.append(Worker(env, tmp_path / "worker1.log"))
        _wait_job(a, hc, job_id, ("running",))

        # SIGKILL: the job fails once its worker has been silent for the heartbeat timeout
        cluster.workers[1].signal(signal.SIGKILL)
        failed = _wait_job(b, hc, job_id, ("failed",))
        assert failed["step"] == "interrupted", failed
        assert "stopped reporting" in failed["error"]["message"]
    finally:
        cluster.stop()


def require_postgres_schema(tmp_path: Path) -> str:
    """A fresh PostgreSQL schema for one cluster (dropped at the end of the module)."""
    url, schema = new_schema()
    _SCHEMAS.append(schema)
    return url


_SCHEMAS: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _drop_schemas() -> Any:
    yield
    for schema in _SCHEMAS:
        drop_schema(schema)
    _SCHEMAS.clear()


# -- load test ---------------------------------------------------------------------------


def _load_env(tmp_path: Path, clients: int, users: int) -> dict[str, str]:
    return shared_env(
        tmp_path / "data",
        require_postgres_schema(tmp_path),
        CQOX_WORKERS="1",  # one sandboxed worker process per `cqox worker`
        CQOX_WORKER_WARM_UP="true",
        CQOX_RATE_LIMIT_PER_MINUTE="100000",
        CQOX_RATE_LIMIT_IP_PER_MINUTE="100000",
        # every client logs in at once: parallel logins of one account would trip the
        # per-account back-off, which the test above checks
        CQOX_LOGIN_FREE_ATTEMPTS="1000",
        CQOX_MAX_JOBS_PER_USER=str(-(-clients // users)),
    )


def _serve_clients(
    tmp_path: Path, apis: int, workers: int, clients: int, users: int, deadline_s: float
) -> dict[str, Any]:
    """Start the cluster, run the clients (each within ``deadline_s``), check every answer."""
    env = _load_env(tmp_path, clients, users)
    create_user_cli(env, "loadadmin", "admin", PASSWORD)
    cluster = start_cluster(env, tmp_path, apis=apis, workers=workers)
    try:
        admin = _login(cluster.urls[0], "loadadmin")
        names = [f"load{k}" for k in range(users)]
        for k, name in enumerate(names):
            _make_user(cluster.urls[k % apis], admin, name)
        data = [service_load.client_csv(i, LOAD_ROWS) for i in range(clients)]
        results, wall = service_load.run_clients(
            cluster.urls, names, data, tuple(LOAD_ESTIMATORS), deadline_s, PASSWORD
        )
    finally:
        cluster.stop()
    report = service_load.summarise(results, wall, LOAD_ROWS, EFFECT_TOLERANCE)
    # every client answered, with its own result (row count and effect), no error
    assert report["errors"] == {} and report["error_statuses"] == {}, report
    assert report["mixed_up"] == {}, report["mixed_up"]
    assert report["answered"] == clients
    assert len({r.job["analysis_id"] for r in results}) == clients
    return report | {"api_processes": apis, "worker_processes": workers, "users": users}


@pytest.mark.ci_bounded
@pytest.mark.timeout(240)
def test_concurrent_clients_each_get_their_own_answer(tmp_path: Path) -> None:
    """Twelve clients at once through two API processes and one worker (bounded)."""
    require_postgres()
    _serve_clients(tmp_path, apis=2, workers=1, clients=12, users=4, deadline_s=150)


@pytest.mark.parametrize(
    ("clients", "users"),
    [
        pytest.param(40, 8, marks=[pytest.mark.ci_bounded, pytest.mark.timeout(600)], id="bounded"),
        pytest.param(200, 20, marks=[pytest.mark.slow, pytest.mark.timeout(1800)], id="full"),
    ],
)
def test_four_api_processes_two_workers_serve_many_clients_without_errors(
    tmp_path: Path, clients: int, users: int
) -> None:
    report = _serve_clients(
        tmp_path, apis=4, workers=2, clients=clients, users=users, deadline_s=1500
    )
    print(json.dumps(report, indent=2))
    if os.environ.get("CQOX_LOAD_REPORT"):
        Path(os.environ["CQOX_LOAD_REPORT"]).write_text(json.dumps(report, indent=2))
