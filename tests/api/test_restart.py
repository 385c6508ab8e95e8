"""Restart durability: a real ``cqox serve`` process killed with SIGKILL loses nothing.

Upload, analyse, start a long job, SIGKILL the service, start it again on the same
data folder and database: the datasets (byte-identical, checksum intact) and the
finished analysis are there, and the interrupted job is marked failed.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cqox
from tests.api.conftest import BACKENDS, PASSWORD, SECRET, database_url, small_frame

#: How long a service may take to start (imports, migrations, a worker process).
START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, db_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CQOX_") or k == "CQOX_TEST_POSTGRES_URL"
    }
    env.update(
        CQOX_DATA_DIR=str(data_dir),
        CQOX_SECRET_KEY=SECRET,
        CQOX_WORKERS="1",
        CQOX_WORKER_WARM_UP="false",
        CQOX_RATE_LIMIT_PER_MINUTE="0",
        CQOX_RATE_LIMIT_IP_PER_MINUTE="0",
        OMP_NUM_THREADS="1",
    )
    if db_url:
        env["CQOX_DATABASE_URL"] = db_url
    return env


class Server:
    """A ``cqox serve`` subprocess."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cqox.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the service did not become ready:\n" + log.read_text())

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, pg_schema_factory: Any) -> Iterator[str | None]:
    yield database_url(str(request.param), pg_schema_factory)


@pytest.mark.ci_bounded
def test_sigkill_loses_nothing_and_marks_the_interrupted_job_failed(
    tmp_path: Path, backend_url: str | None
) -> None:
    env = _env(tmp_path / "data", backend_url)
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "cqox.cli.main",
            "users",
            "create",
            "ops",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    server = Server(env, port, tmp_path / "server.log")
    try:
        c = httpx.Client(base_url=server.url, timeout=120)
        token = c.post("/api/auth/login", json={"username": "ops", "password": PASSWORD}).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        csv = small_frame().to_csv(index=False).encode()
        ds = c.post("/api/upload", headers=h, files={"file": ("d.csv", csv)}).json()
        done = c.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={"dataset_id": ds["dataset_id"], "estimators": ["ipw"], "options": {"wait_s": 60}},
        ).json()
        assert done["status"] == "succeeded"
        big, _ = cqox.simulate.confounded_binary(n=60_000, p=5, seed=1)
        buf = io.BytesIO()
        big.to_parquet(buf, index=False)
        big_ds = c.post(
            "/api/upload", headers=h, files={"file": ("big.parquet", buf.getvalue())}
        ).json()
        running = c.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={"dataset_id": big_ds["dataset_id"], "options": {"wait_s": 0}},
        ).json()
        deadline = time.monotonic() + 60
        while c.get(f"/api/jobs/{running['job_id']}", headers=h).json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.get(f"/api/jobs/{running['job_id']}", headers=h).json()["status"] == "running"
        server.kill()
    finally:
        server.stop()

    server = Server(env, port, tmp_path / "server.log")
    try:
        c = httpx.Client(base_url=server.url, timeout=120)
        token = c.post("/api/auth/login", json={"username": "ops", "password": PASSWORD}).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        listed = {d["dataset_id"]: d for d in c.get("/api/datasets", headers=h).json()["datasets"]}
        assert set(listed) == {ds["dataset_id"], big_ds["dataset_id"]}
        for d in listed.values():
            path = tmp_path / "data" / "datasets" / f"{d['dataset_id']}.parquet"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == d["checksum"]
        assert not list((tmp_path / "data" / "datasets").glob(".*.tmp"))
        analysis = c.get(f"/api/analyses/{done['analysis_id']}", headers=h).json()
        assert analysis["result"] == done["result"]
        assert c.get(f"/api/analyses/{done['analysis_id']}/report", headers=h).status_code == 200
        job = c.get(f"/api/jobs/{running['job_id']}", headers=h).json()
        assert job["status"] == "failed" and "interrupted" in job["error"]["message"]
        # and the service works after the restart
        again = c.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={"dataset_id": ds["dataset_id"], "estimators": ["ipw"], "options": {"wait_s": 60}},
        ).json()
        assert again["result"]["estimates"] == done["result"]["estimates"] or all(
            abs(a["estimate"] - b["estimate"]) < 1e-9
            for a, b in zip(again["result"]["estimates"], done["result"]["estimates"], strict=True)
        )
    finally:
        server.stop()
