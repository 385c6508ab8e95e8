"""Restart durability: a real ``cqox serve`` process killed with SIGKILL loses nothing.

Upload, analyse, start a long job, SIGKILL the service, start it again on the same
data folder and database: the datasets (byte-identical, checksum intact) and the
finished analysis are there, and the interrupted job is marked failed.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cqox
from tests.api.conftest import BACKENDS, PASSWORD, database_url, small_frame
from tests.api.service_process import Server, create_user_cli, free_port, service_env


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, pg_schema_factory: Any) -> Iterator[str | None]:
    yield database_url(str(request.param), pg_schema_factory)


@pytest.mark.ci_bounded
def test_sigkill_loses_nothing_and_marks_the_interrupted_job_failed(
    tmp_path: Path, backend_url: str | None
) -> None:
    env = service_env(tmp_path / "data", backend_url)
    create_user_cli(env, "ops", "analyst", PASSWORD)
    port = free_port()
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
