"""Bounded loopback load test: 50 concurrent clients, each uploading and analysing its own
10,000-row data set against a real ``cqox serve`` process.

Pass: zero errors (every answer 200/201/202), and no lost or mixed-up results — each
client's data set has its own row count ``10,000 + i`` and its own effect ``1 + 0.05·i``,
and its analysis must report exactly that row count and an effect near its own.  The
latencies of the comprehensive analysis (request to result, polling the job when the
answer is 202) are reported; with ``CQOX_LOAD_REPORT=path`` they are also written there
as JSON (the numbers in docs/service.md come from this test).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import cqox
from tests.api.conftest import METRICS_AUTH, PASSWORD
from tests.api.service_process import Server, create_user_cli, free_port, service_env

CLIENTS = 50
ROWS = 10_000
USERS = 5
#: |consensus ATE − own effect|: the SE at 10,000 rows is about 0.03, so 0.2 is > 6 SE;
#: the row-count check below is the exact guard against mixed-up results.
EFFECT_TOLERANCE = 0.2
#: Sequential (unloaded) comprehensive analyses timed for the single-client latency.
SEQUENTIAL = 15


def _csv(i: int) -> bytes:
    df, _ = cqox.simulate.confounded_binary(n=ROWS + i, p=5, effect=1 + 0.05 * i, seed=100 + i)
    return df.to_csv(index=False).encode()


async def _analyse(
    c: httpx.AsyncClient, h: dict[str, str], dataset_id: str, estimators: list[str] | None = None
) -> tuple[float, dict[str, Any], list[int]]:
    codes: list[int] = []
    start = time.perf_counter()
    body: dict[str, Any] = {"dataset_id": dataset_id}
    if estimators is not None:
        body["estimators"] = estimators
    r = await c.post("/api/analyze/comprehensive", headers=h, json=body)
    codes.append(r.status_code)
    body = r.json()
    while r.status_code == 202 or body.get("status") in ("queued", "running"):
        await asyncio.sleep(0.1)
        r = await c.get(f"/api/jobs/{body['job_id']}", headers=h)
        codes.append(r.status_code)
        body = r.json()
    return time.perf_counter() - start, body, codes


async def _client(i: int, base: str, user: str, raw: bytes) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=600) as c:
        codes: list[int] = []
        r = await c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        codes.append(r.status_code)
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await c.post("/api/upload", headers=h, files={"file": (f"client{i}.csv", raw)})
        codes.append(r.status_code)
        ds = r.json()
        if r.status_code != 201:
            return {"i": i, "codes": codes, "dataset": ds, "job": ds, "latency": float("nan")}
        latency, job, more = await _analyse(c, h, ds["dataset_id"])
        codes.extend(more)
        return {"i": i, "codes": codes, "dataset": ds, "job": job, "latency": latency}


async def _run(base: str, data: list[bytes]) -> list[dict[str, Any]]:
    users = [f"load{k}" for k in range(USERS)]
    clients = (_client(i, base, users[i % USERS], data[i]) for i in range(CLIENTS))
    return list(await asyncio.gather(*clients))


def _percentiles(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)} | {
        "max": round(float(a.max()), 3),
        "n": len(xs),
    }


@pytest.mark.ci_bounded
def test_fifty_concurrent_clients_upload_and_analyse_without_errors(tmp_path: Path) -> None:
    env = service_env(
        tmp_path / "data",
        None,
        CQOX_WORKERS="2",
        CQOX_WORKER_WARM_UP="true",
        CQOX_RATE_LIMIT_IP_PER_MINUTE="100000",
        CQOX_RATE_LIMIT_PER_MINUTE="100000",
        # every client logs in at once: ten parallel password logins per account would
        # trip the per-account login back-off, which is tested in tests/security
        CQOX_LOGIN_FREE_ATTEMPTS="1000",
        # ten clients share each user: allow them all a job at once (the default is 4)
        CQOX_MAX_JOBS_PER_USER=str(CLIENTS // USERS),
    )
    create_user_cli(env, "loadadmin", "admin", PASSWORD)
    server = Server(env, free_port(), tmp_path / "server.log")
    try:
        admin = httpx.post(
            server.url + "/api/auth/login", json={"username": "loadadmin", "password": PASSWORD}
        ).json()
        ah = {"Authorization": f"Bearer {admin['access_token']}"}
        for k in range(USERS):
            r = httpx.post(
                server.url + "/api/users",
                headers=ah,
                json={"username": f"load{k}", "password": PASSWORD, "role": "analyst"},
            )
            assert r.status_code == 201, r.text

        # single client, unloaded: the latency a user sees
        ds = httpx.post(
            server.url + "/api/upload", headers=ah, files={"file": ("solo.csv", _csv(0))}
        ).json()

        default_estimators: set[str] = set()

        async def sequential(estimators: list[str] | None) -> list[tuple[float, float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=600) as c:
                out = []
                for _ in range(SEQUENTIAL):
                    latency, job, _codes = await _analyse(c, ah, ds["dataset_id"], estimators)
                    assert job.get("status") == "succeeded", job
                    out.append((latency, float(job["result"]["elapsed_s"])))
                    default_estimators.update(e["estimator"] for e in job["result"]["estimates"])
                return out

        solo = asyncio.run(sequential(None))
        fast = sorted(set(default_estimators) - {n for n in default_estimators if "dml" in n})
        solo_fast = asyncio.run(sequential(fast))

        data = [_csv(i) for i in range(CLIENTS)]  # made before the clock starts
        start = time.perf_counter()
        results = asyncio.run(_run(server.url, data))
        wall = time.perf_counter() - start
        metrics = httpx.get(server.url + "/metrics", headers=METRICS_AUTH).text
    finally:
        server.stop()
        if os.environ.get("CQOX_LOAD_REPORT"):
            log = Path(os.environ["CQOX_LOAD_REPORT"]).with_suffix(".server.log")
            log.write_bytes((tmp_path / "server.log").read_bytes())

    errors = [
        (r["i"], c, r["job"]) for r in results for c in r["codes"] if c not in (200, 201, 202)
    ]
    assert errors == [], errors
    seen_datasets = set()
    for r in results:
        i, job = r["i"], r["job"]
        assert job["status"] == "succeeded", job
        assert job["dataset_id"] == r["dataset"]["dataset_id"]
        assert r["dataset"]["rows"] == ROWS + i
        result = job["result"]
        assert result["profile"]["rows"] == ROWS + i
        assert all(e["n"] == ROWS + i for e in result["estimates"] if e["estimand"] == "ATE")
        assert abs(result["consensus"]["ATE"]["estimate"] - (1 + 0.05 * i)) < EFFECT_TOLERANCE
        seen_datasets.add(job["dataset_id"])
    assert len(seen_datasets) == CLIENTS
    assert "cqox_analysis_duration_seconds_count" in metrics

    report = {
        "clients": CLIENTS,
        "rows": ROWS,
        "workers": 2,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "wall_s": round(wall, 2),
        "concurrent_comprehensive_latency_s": _percentiles([r["latency"] for r in results]),
        "single_client_comprehensive_latency_s": _percentiles([a for a, _ in solo]),
        "single_client_engine_time_s": _percentiles([b for _, b in solo]),
        "single_client_service_overhead_s": _percentiles([a - b for a, b in solo]),
        "single_client_without_dml_latency_s": _percentiles([a for a, _ in solo_fast]),
        "without_dml_estimators": fast,
        "engine_time_s": _percentiles([r["job"]["result"]["elapsed_s"] for r in results]),
        "estimators": sorted({e["estimator"] for e in results[0]["job"]["result"]["estimates"]}),
    }
    print(json.dumps(report, indent=2))
    if os.environ.get("CQOX_LOAD_REPORT"):
        Path(os.environ["CQOX_LOAD_REPORT"]).write_text(json.dumps(report, indent=2))
