"""A real ``cqox serve`` process on a loopback port, for restart and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import METRICS_TOKEN, SECRET

#: How long a service may take to start (imports, migrations, a worker process).
START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(data_dir: Path, db_url: str | None, **extra: str) -> dict[str, str]:
    """Environment of a test service: no inherited CQOX_* settings, one thread per worker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CQOX_") or k == "CQOX_TEST_POSTGRES_URL"
    }
    env.update(
        CQOX_DATA_DIR=str(data_dir),
        CQOX_SECRET_KEY=SECRET,
        CQOX_METRICS_TOKEN=METRICS_TOKEN,
        CQOX_WORKERS="1",
        CQOX_WORKER_WARM_UP="false",
        CQOX_RATE_LIMIT_PER_MINUTE="0",
        CQOX_RATE_LIMIT_IP_PER_MINUTE="0",
        OMP_NUM_THREADS="1",
    )
    if db_url:
        env["CQOX_DATABASE_URL"] = db_url
    env.update(extra)
    return env


def create_user_cli(env: dict[str, str], name: str, role: str, password: str) -> None:
    """``cqox users create`` in a subprocess (the documented way to make the first admin)."""
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "cqox.cli.main",
            "users",
            "create",
            name,
            "--role",
            role,
            "--password-stdin",
        ],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr


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
        # no caller gets this object to stop: stop the process here, or it outlives the run
        # (a loaded CI machine left three such servers and their worker pools behind)
        self.stop()
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
