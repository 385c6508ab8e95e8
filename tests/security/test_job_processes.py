"""A timed-out or cancelled job leaves no process behind.

The ``bootstrap`` estimator with ``n_jobs=2`` starts a process pool inside the
worker.  Killing only the worker (as the runner did) left those children running,
still burning the cores; the runner now kills the worker's whole process group.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from cqox.server.sandbox import group_members
from tests.api.conftest import Api, small_frame
from tests.security.conftest import JOB_WAIT_S, poll_job, proc_file, wait_for_workers

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")


def _alive(pid: int) -> bool:
    try:
        stat = proc_file(pid, "stat")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _start_pool_job(api: Api, h: dict[str, str], time_limit_s: float) -> tuple[str, int, set[int]]:
    """Start a bootstrap with a process pool; its job id, worker pid and the pool's pids."""
    worker = wait_for_workers(api)[0]
    ds = api.dataset(h, small_frame(n=2000, seed=3))
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "estimators": ["bootstrap"],
            "options": {
                "params": {"bootstrap": {"n_boot": 50_000, "n_jobs": 2, "base_estimator": "ipw"}},
                "wait_s": 0,
                "time_limit_s": time_limit_s,
            },
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    children: set[int] = set()
    deadline = time.monotonic() + JOB_WAIT_S
    job: dict[str, Any] = {}
    while time.monotonic() < deadline and len(children) < 2:
        children |= set(group_members(worker)) - {worker}
        job = api.client.get(f"/api/jobs/{job_id}", headers=h).json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.02)
    assert len(children) >= 2, f"the bootstrap started no process pool: {job}"
    return job_id, worker, children


def _assert_nothing_left(worker: int, children: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (group_members(worker) or any(map(_alive, children))):
        time.sleep(0.05)
    assert group_members(worker) == []
    assert [p for p in children if _alive(p)] == []
    assert not _alive(worker)


def test_a_timed_out_job_leaves_no_process_behind(secure_api: Api) -> None:
    h = secure_api.user("analyst")
    job_id, worker, children = _start_pool_job(secure_api, h, time_limit_s=6)
    job: dict[str, Any] = poll_job(secure_api, h, job_id, lambda j: j["status"] != "running")
    assert job["status"] == "failed" and job["error"]["code"] == "TIME_LIMIT_EXCEEDED", job
    _assert_nothing_left(worker, children)
    # the service replaced the worker and still runs jobs
    r = secure_api.client.post(
        "/api/analyze/ate",
        headers=h,
        json={"dataset_id": job["dataset_id"], "estimator": "ipw"},
    )
    assert r.status_code == 200, r.text


def test_a_cancelled_job_leaves_no_process_behind(secure_api: Api) -> None:
    h = secure_api.user("analyst")
    job_id, worker, children = _start_pool_job(secure_api, h, time_limit_s=300)
    r = secure_api.client.delete(f"/api/jobs/{job_id}", headers=h)
    assert r.status_code == 200, r.text
    job = poll_job(secure_api, h, job_id, lambda j: j["status"] != "running")
    assert job["status"] == "cancelled", job
    _assert_nothing_left(worker, children)
