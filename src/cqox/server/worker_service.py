"""``cqox worker``: a process that runs analysis jobs from the shared queue.

With ``CQOX_SHARED_STATE`` the API processes (``cqox serve``) only queue jobs; any
number of worker processes, on one or many machines, take them from the database and
run them — each in ``CQOX_WORKERS`` sandboxed worker processes of its own
(:mod:`cqox.server.sandbox`: scrubbed environment, unprivileged user, memory and time
limits).  A worker process needs the same ``CQOX_DATABASE_URL`` and ``CQOX_DATA_DIR``
(a shared volume: it reads datasets and writes the analyses' files) as the API, and
no signing key: it never sees a token.

It also sweeps the shared state: jobs of workers that stopped reporting are failed and
idle rate-limit and login rows are removed (:mod:`cqox.server.shared_queue`).  Its
metrics are served on
``CQOX_METRICS_ADDRESS`` when set — the queue depth and the stored data sets (jobs and
their durations are counted by the API process that queued them) — which also serves
as its liveness probe.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from sqlalchemy import func, select

from cqox.server.db import make_engine, migrate, session_factory, transaction
from cqox.server.main import payload_builder, start_metrics_listener
from cqox.server.metrics import Metrics
from cqox.server.models import Dataset
from cqox.server.settings import Settings
from cqox.server.shared_limits import SharedLoginThrottle, SharedRateLimiter
from cqox.server.shared_queue import SharedJobRunner
from cqox.server.storage import analyses_dir, datasets_dir

log = logging.getLogger("cqox.server.worker_service")


class SharedStateRequiredError(RuntimeError):
    """``cqox worker`` was started without ``CQOX_SHARED_STATE``."""


def build_runner(settings: Settings) -> tuple[SharedJobRunner, Metrics, Any]:
    """The worker process's runner, metrics and database engine (nothing started)."""
    if not settings.shared_state:
        raise SharedStateRequiredError(
            "cqox worker takes jobs from the shared queue: set CQOX_SHARED_STATE=true here "
            "and for every `cqox serve` (which then runs no workers of its own)"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    datasets_dir(settings.data_dir).mkdir(exist_ok=True)
    analyses_dir(settings.data_dir).mkdir(exist_ok=True)
    engine = make_engine(
        settings.sqlalchemy_url, settings.database_pool_size, settings.database_max_overflow
    )
    migrate(engine)
    factory = session_factory(engine)
    metrics = Metrics()
    sweeps = (
        SharedRateLimiter(factory, settings.rate_limit_ip_per_minute).prune,
        SharedLoginThrottle(
            factory,
            settings.login_free_attempts,
            settings.login_backoff_s,
            settings.login_backoff_max_s,
        ).prune,
    )

    # the jobs are counted by the API process that queued them (its /metrics), so that
    # a job is counted once whichever worker ran it
    runner = SharedJobRunner(
        settings, factory, payload_builder(settings, factory), None, sweeps=sweeps
    )

    def count_datasets() -> int:
        with transaction(factory) as s:
            return int(s.scalar(select(func.count()).select_from(Dataset)) or 0)

    metrics.bind(runner.queue_depth, count_datasets)
    return runner, metrics, engine


def run_worker(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run jobs until SIGTERM/SIGINT (or ``stop``); unfinished jobs go back to the queue."""
    runner, metrics, engine = build_runner(settings)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    listener = start_metrics_listener(settings, metrics)
    try:
        failed = runner.recover()
        if failed:
            log.warning("failed %d job(s) whose worker stopped reporting", failed)
        runner.start()
        log.info(
            "cqox worker %s: %d worker process(es), taking jobs from the shared queue",
            runner.worker_id,
            settings.workers,
        )
        print(f"cqox worker {runner.worker_id} ready ({settings.workers} slots)", flush=True)
        stop.wait()
    finally:
        runner.shutdown()
        if listener is not None:
            listener.shutdown()
            listener.server_close()
        engine.dispose()
    return 0
