"""Load on the scaled-out service: API and worker processes on PostgreSQL, many clients.

Starts ``--apis`` ``cqox serve`` processes and ``--workers`` ``cqox worker`` processes
on loopback, sharing one fresh PostgreSQL schema (``CQOX_SHARED_STATE=true``) and one
data folder, then runs ``--clients`` concurrent clients.  Each client logs in through
one API process, uploads its own data set (``--rows`` + i rows, effect 1 + 0.01·i)
through the next, asks for an analysis through the third and polls its job through
the fourth.  An upload answered 503 with ``Retry-After`` (every parser busy: the
service's back-pressure) is retried after that delay and counted apart.  Reported:
latency from the analysis request to its result (p50, p95, p99, max), the engine time
per analysis, requests, errors by kind and step (HTTP status or exception), results
that are not the client's own, wall time and the load average::

    CQOX_TEST_POSTGRES_URL=postgresql://user:pw@127.0.0.1:5432/db \\
        python -m benchmarks.service_load --clients 200 --json load.json

Nothing here waits without a bound: every request has a timeout, each client a
deadline (``--deadline``), and the processes are stopped at the end whatever happened.
Run from the repository root (it reuses the process helpers of ``tests/api``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import cqox

#: The analysis: quick estimators, so that the service, not the engine, is measured.
ESTIMATORS = ("ipw", "aipw", "regression_adjustment")
#: Seconds between polls of a job.
POLL_S = 0.1
#: Seconds any one request may take (connect, send, wait for the answer): above what an
#: upload may wait for a parser (``CQOX_PARSE_TIME_LIMIT_S``, 120 s) plus its parse.
REQUEST_TIMEOUT_S = 300.0
PASSWORD = "load-test-password-1"


def client_csv(i: int, rows: int) -> bytes:
    """Client ``i``'s data: ``rows + i`` rows, effect ``1 + 0.01 i`` (its own signature)."""
    df, _ = cqox.simulate.confounded_binary(n=rows + i, p=5, effect=1 + 0.01 * i, seed=1000 + i)
    return df.to_csv(index=False).encode()


@dataclass
class ClientResult:
    """What one client saw."""

    i: int
    codes: list[int] = field(default_factory=list)
    latency_s: float = float("nan")
    job: dict[str, Any] = field(default_factory=dict)
    dataset_id: str | None = None
    error: str | None = None
    step: str = "login"
    retries: int = 0


async def _one_client(
    out: ClientResult,
    urls: list[str],
    user: str,
    password: str,
    raw: bytes,
    estimators: tuple[str, ...],
) -> ClientResult:
    i, n = out.i, len(urls)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout) as c:
        r = await c.post(
            urls[i % n] + "/api/auth/login", json={"username": user, "password": password}
        )
        out.codes.append(r.status_code)
        if r.status_code != 200:
            out.error = f"login {r.status_code}"
            return out
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        out.step = "upload"
        while True:
            r = await c.post(
                urls[(i + 1) % n] + "/api/upload", headers=h, files={"file": (f"c{i}.csv", raw)}
            )
            if r.status_code != 503 or "retry-after" not in r.headers:
                break
            # every parser busy past CQOX_PARSE_TIME_LIMIT_S: back-pressure, not an error;
            # a client retries after the time the service names (the deadline bounds it)
            out.retries += 1
            await asyncio.sleep(float(r.headers["retry-after"]))
        out.codes.append(r.status_code)
        if r.status_code != 201:
            out.error = f"upload {r.status_code}"
            return out
        out.dataset_id = r.json()["dataset_id"]
        start = time.perf_counter()
        out.step = "analyze"
        r = await c.post(
            urls[(i + 2) % n] + "/api/analyze/comprehensive",
            headers=h,
            json={"dataset_id": out.dataset_id, "estimators": list(estimators)},
        )
        out.codes.append(r.status_code)
        body = r.json()
        while r.status_code == 202 or body.get("status") in ("queued", "running"):
            await asyncio.sleep(POLL_S)
            out.step = "poll"
            r = await c.get(f"{urls[(i + 3) % n]}/api/jobs/{body['job_id']}", headers=h)
            out.codes.append(r.status_code)
            if r.status_code != 200:
                out.error = f"poll {r.status_code}"
                return out
            body = r.json()
        out.latency_s = time.perf_counter() - start
        out.job = body
    return out


async def _bounded_client(
    i: int,
    urls: list[str],
    user: str,
    password: str,
    raw: bytes,
    estimators: tuple[str, ...],
    deadline_s: float,
) -> ClientResult:
    """One client within its deadline; an exception becomes the client's ``error``."""
    out = ClientResult(i)
    try:
        return await asyncio.wait_for(
            _one_client(out, urls, user, password, raw, estimators), deadline_s
        )
    except TimeoutError:
        out.error = f"{out.step}: no answer within the client's {deadline_s:g} s"
    except httpx.HTTPError as exc:
        out.error = f"{out.step}: {type(exc).__name__} {exc}".rstrip()
    return out


def run_clients(
    urls: list[str],
    users: list[str],
    data: list[bytes],
    estimators: tuple[str, ...] = ESTIMATORS,
    deadline_s: float = 600.0,
    password: str = PASSWORD,
) -> tuple[list[ClientResult], float]:
    """Run one client per data set at once (client ``i`` as ``users[i % len(users)]``).

    Returns the results and the wall time.
    """

    async def run_all() -> list[ClientResult]:
        return list(
            await asyncio.gather(
                *(
                    _bounded_client(
                        i, urls, users[i % len(users)], password, raw, estimators, deadline_s
                    )
                    for i, raw in enumerate(data)
                )
            )
        )

    start = time.perf_counter()
    results = asyncio.run(run_all())
    return results, time.perf_counter() - start


def mixed_up(result: ClientResult, rows: int, tolerance: float) -> str | None:
    """Why a finished job is not the client's own (row count, effect), else None."""
    job = result.job
    if job.get("status") != "succeeded":
        return f"job {job.get('status')}"
    if job.get("dataset_id") != result.dataset_id:
        return "another data set"
    res = job["result"]
    if res["profile"]["rows"] != rows + result.i:
        return f"{res['profile']['rows']} rows, not {rows + result.i}"
    effect = res["consensus"]["ATE"]["estimate"]
    if abs(effect - (1 + 0.01 * result.i)) >= tolerance:
        return f"effect {effect:.3f}, not {1 + 0.01 * result.i:.2f}"
    return None


def percentiles(xs: list[float]) -> dict[str, float]:
    """p50, p95, p99, max and count of the finite values."""
    a = np.asarray([x for x in xs if np.isfinite(x)])
    if a.size == 0:
        return {"n": 0}
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)} | {
        "max": round(float(a.max()), 3),
        "n": int(a.size),
    }


def summarise(
    results: list[ClientResult], wall_s: float, rows: int, tolerance: float
) -> dict[str, Any]:
    """The report: latencies, errors by kind, mixed-up results."""
    errors = Counter(r.error for r in results if r.error)
    statuses = Counter(c for r in results for c in r.codes if c not in (200, 201, 202))
    mixed = {r.i: why for r in results if not r.error if (why := mixed_up(r, rows, tolerance))}
    engine = [r.job["result"]["elapsed_s"] for r in results if r.job.get("status") == "succeeded"]
    return {
        "clients": len(results),
        "answered": sum(1 for r in results if r.job.get("status") == "succeeded"),
        "errors": dict(errors),
        "error_statuses": {str(k): v for k, v in statuses.items()},
        "mixed_up": mixed,
        "wall_s": round(wall_s, 2),
        "analyses_per_s": round(len(results) / wall_s, 2),
        "latency_s": percentiles([r.latency_s for r in results]),
        "engine_time_s": percentiles(engine),
        "requests": sum(len(r.codes) for r in results),
        "upload_retries_after_503": sum(r.retries for r in results),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the cluster, run the clients, print (and save) the report."""
    from tests.api.scale_out_processes import drop_schema, new_schema, shared_env, start_cluster
    from tests.api.service_process import create_user_cli

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--apis", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--rows", type=int, default=2_000)
    p.add_argument("--deadline", type=float, default=900.0, help="seconds per client")
    p.add_argument("--json", type=Path, help="write the report here")
    args = p.parse_args(argv)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"cqox-load-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    db_url, schema = new_schema()
    env = shared_env(
        work / "data",
        db_url,
        CQOX_WORKERS="1",
        CQOX_WORKER_WARM_UP="true",
        CQOX_RATE_LIMIT_PER_MINUTE="100000",
        CQOX_RATE_LIMIT_IP_PER_MINUTE="100000",
        CQOX_LOGIN_FREE_ATTEMPTS="100000",
        CQOX_MAX_JOBS_PER_USER=str(max(1, -(-args.clients // args.users))),
    )
    create_user_cli(env, "loadadmin", "admin", PASSWORD)
    cluster = start_cluster(env, work, apis=args.apis, workers=args.workers)
    try:  # the processes are stopped and the schema dropped whatever happens
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as c:
            r = c.post(
                cluster.urls[0] + "/api/auth/login",
                json={"username": "loadadmin", "password": PASSWORD},
            )
            admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
            users = [f"load{k}" for k in range(args.users)]
            for k, name in enumerate(users):
                c.post(
                    cluster.urls[k % args.apis] + "/api/users",
                    headers=admin,
                    json={"username": name, "password": PASSWORD, "role": "analyst"},
                ).raise_for_status()
        data = [client_csv(i, args.rows) for i in range(args.clients)]
        results, wall = run_clients(cluster.urls, users, data, deadline_s=args.deadline)
    finally:
        cluster.stop()
        drop_schema(schema)
    report = {
        "api_processes": args.apis,
        "worker_processes": args.workers,
        "users": args.users,
        "rows": args.rows,
        "estimators": list(ESTIMATORS),
        **summarise(results, wall, args.rows, tolerance=0.35),
        "logs": str(work),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if not report["errors"] and not report["mixed_up"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
