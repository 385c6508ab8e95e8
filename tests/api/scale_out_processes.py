"""A scaled-out service on loopback: ``cqox serve`` API processes and ``cqox worker`` processes.

They share one PostgreSQL schema (``CQOX_SHARED_STATE=true``) and one data folder, as
processes on several machines would share a database and a volume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.api.conftest import postgres_url
from tests.api.service_process import START_TIMEOUT_S, Server, free_port, service_env


def shared_env(data_dir: Path, db_url: str, **extra: str) -> dict[str, str]:
    """Environment of every process of the cluster (API and workers alike)."""
    env = service_env(
        data_dir,
        db_url,
        CQOX_SHARED_STATE="true",
        # 4 API + 2 worker processes on one PostgreSQL (max_connections 100 by default):
        # 4 × 20 for the API processes, a handful for the workers
        CQOX_DATABASE_POOL_SIZE="4",
        CQOX_DATABASE_MAX_OVERFLOW="16",
    )
    env.update(extra)
    return env


def require_postgres() -> str:
    """The PostgreSQL URL of the tests, or skip."""
    url = postgres_url()
    if url is None:
        pytest.skip("scale-out tests need PostgreSQL: set CQOX_TEST_POSTGRES_URL (.ci/run does)")
    return url


def new_schema() -> tuple[str, str]:
    """A fresh PostgreSQL schema of the test database: (a URL that uses it, its name)."""
    import uuid

    import psycopg

    url = require_postgres()
    schema = "cqox_scale_" + uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    """Drop a schema made by :func:`new_schema`."""
    import psycopg

    url = os.environ.get("CQOX_TEST_POSTGRES_URL")
    if url:
        with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Worker:
    """A ``cqox worker`` subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cqox.cli.main", "worker"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            if b" ready (" in log.read_bytes():
                return
            time.sleep(0.2)
        raise AssertionError("the worker did not start:\n" + log.read_text())

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@dataclass
class Cluster:
    """API processes and worker processes sharing one database and data folder."""

    apis: list[Server] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.apis]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        for a in self.apis:
            a.stop()


def start_cluster(env: dict[str, str], tmp: Path, apis: int, workers: int) -> Cluster:
    """Start ``apis`` API processes and ``workers`` worker processes, one after another.

    (At once they would also race for the migration lock, but on a loaded 2-core
    machine six processes importing the engine together can miss the start timeout.)
    """
    cluster = Cluster()
    try:
        for k in range(apis):
            cluster.apis.append(Server(env, free_port(), tmp / f"api{k}.log"))
        for k in range(workers):
            cluster.workers.append(Worker(env, tmp / f"worker{k}.log"))
    except BaseException:
        cluster.stop()
        raise
    return cluster
