"""Tried as an attacker would: a fresh ``cqox serve`` process with its default limits.

An analyst account (nothing more) asks for ``n_boot = 2e7`` — refused with 422 at
once, no job created — and then runs a bootstrap with a process pool past its time
limit: afterwards no process of that job is left, and the workers never saw the
service's secret key.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from cqox.server.sandbox import group_members
from tests.api.conftest import PASSWORD, SECRET, small_frame
from tests.api.service_process import Server, create_user_cli, free_port, service_env
from tests.security.conftest import proc_file

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")


def _workers(service_pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = proc_file(int(entry.name), "stat")
                cmd = proc_file(int(entry.name), "cmdline")
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            if ppid == service_pid and "cqox.server.worker" in cmd:
                out.append(int(entry.name))
    return out


@pytest.mark.ci_bounded
def test_an_analyst_attacking_a_fresh_service(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data", None, AWS_SECRET_ACCESS_KEY="planted-aws-secret")
    create_user_cli(env, "mallory", "analyst", PASSWORD)
    server = Server(env, free_port(), tmp_path / "server.log")
    try:
        c = httpx.Client(base_url=server.url, timeout=120)
        token = c.post("/api/auth/login", json={"username": "mallory", "password": PASSWORD})
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        csv = small_frame(n=2000, seed=3).to_csv(index=False).encode()
        ds = c.post("/api/upload", headers=h, files={"file": ("d.csv", csv)}).json()["dataset_id"]

        start = time.monotonic()
        r = c.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={
                "dataset_id": ds,
                "estimators": ["bootstrap"],
                "options": {"params": {"bootstrap": {"n_boot": 2e7}}},
            },
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["parameter"] == "n_boot"
        assert time.monotonic() - start < 5  # at request time, not after a job ran
        assert c.get("/api/jobs", headers=h).json()["jobs"] == []

        workers = _workers(server.proc.pid)
        assert workers
        for pid in workers:
            text = proc_file(pid, "environ")
            assert SECRET not in text and "planted-aws-secret" not in text

        r = c.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={
                "dataset_id": ds,
                "estimators": ["bootstrap"],
                "options": {
                    "params": {"bootstrap": {"n_boot": 50_000, "n_jobs": 2}},
                    "wait_s": 0,
                    "time_limit_s": 8,
                },
            },
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        seen: set[int] = set()
        status = "queued"
        deadline = time.monotonic() + 120
        while status in ("queued", "running") and time.monotonic() < deadline:
            for w in workers:
                seen |= set(group_members(w))
            status = c.get(f"/api/jobs/{job_id}", headers=h).json()["status"]
            time.sleep(0.05)
        assert status == "failed"
        assert len(seen - set(workers)) >= 2, "the bootstrap started no process pool"
        time.sleep(1)
        left = [p for w in workers for p in group_members(w)]
        assert left == [], f"processes of the timed-out job survive: {left}"
    finally:
        server.stop()
