"""Assemble the CQOx service: ``create_app(settings)`` builds everything, import builds nothing.

Run it with ``cqox serve`` or ``uvicorn --factory cqox.server.main:create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from cqox._version import __version__
from cqox.estimators import registry
from cqox.server.artefacts import ArtefactCache
from cqox.server.db import make_engine, migrate, session_factory, transaction
from cqox.server.deps import Services
from cqox.server.headers import install_security_headers
from cqox.server.jobs import JobRunner
from cqox.server.metrics import Metrics
from cqox.server.middleware import install_middleware
from cqox.server.models import AnalysisRecord, Dataset, Job
from cqox.server.parsing import UploadParser
from cqox.server.problems import NotFoundError, install_handlers
from cqox.server.routers import (
    analyses,
    auth,
    datasets,
    estimators,
    jobs,
    progress,
    sharing,
    system,
    ui,
    users,
)
from cqox.server.routers.docs import docs_router
from cqox.server.settings import Settings
from cqox.server.shared_limits import SharedLoginThrottle, SharedRateLimiter
from cqox.server.shared_queue import SharedJobs
from cqox.server.signing import with_signing_key
from cqox.server.storage import (
    analyses_dir,
    clean_temporaries,
    dataset_path,
    datasets_dir,
    remove_orphans,
)
from cqox.server.throttle import LoginThrottle

log = logging.getLogger("cqox.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from the ``CQOX_*`` environment)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = with_signing_key(settings)
    datasets_dir(settings.data_dir).mkdir(exist_ok=True)
    analyses_dir(settings.data_dir).mkdir(exist_ok=True)
    engine = make_engine(
        settings.sqlalchemy_url, settings.database_pool_size, settings.database_max_overflow
    )
    factory = session_factory(engine)
    metrics = Metrics()

    def on_finished(job: Job, result: dict[str, Any] | None) -> None:
        metrics.observe_result(job.kind, job.status, result)

    runner: JobRunner | SharedJobs
    if settings.shared_state:
        # the queue is the jobs table; `cqox worker` processes run the jobs
        runner = SharedJobs(settings, factory)
    else:
        runner = JobRunner(settings, factory, payload_builder(settings, factory), None)
    runner.on_finished = on_finished

    def count_datasets() -> int:
        with transaction(factory) as s:
            return int(s.scalar(select(func.count()).select_from(Dataset)) or 0)

    metrics.bind(runner.queue_depth, count_datasets)
    upload_parser = UploadParser(settings)
    services = Services(
        engine=engine,
        factory=factory,
        runner=runner,
        metrics=metrics,
        artefacts=ArtefactCache(int(settings.artefact_cache_mb * 1024 * 1024)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(engine)
        clean_temporaries(settings.data_dir)
        with transaction(factory) as s:
            known = set(s.scalars(select(Dataset.file)).all())
            analyses = set(s.scalars(select(AnalysisRecord.id)).all())
            # a running job's artefact is written before its row: none runs at start-up
        orphans = remove_orphans(settings.data_dir, known, analyses)
        if orphans:
            log.warning("removed %d dataset file(s) without a database row", orphans)
        upload_parser.start()
        interrupted = runner.recover()
        if interrupted:
            log.warning("marked %d interrupted job(s) failed", interrupted)
        runner.start()
        # the request checks price every default estimator (cqox.server.budget), which
        # imports every estimator family: 0.4 s of CPU that the first analysis request
        # would wait for; done here, while the workers warm up, before /ready answers
        await run_in_threadpool(registry.load_all)
        listener = start_metrics_listener(settings, metrics)
        try:
            yield
        finally:
            if listener is not None:
                listener.shutdown()
                listener.server_close()
            runner.shutdown()
            engine.dispose()

    app = FastAPI(
        title="CQOx",
        version=__version__,
        description="Causal inference as a service: upload a table, map roles, get every "
        "applicable estimate with gates, sensitivity, consensus, figures and a report.",
        lifespan=lifespan,
        # /docs is served from the installed Swagger UI package (routers/docs.py); FastAPI's
        # own pages load scripts from a CDN, and no package ships ReDoc
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.upload_parser = upload_parser
    backoff = (settings.login_free_attempts, settings.login_backoff_s, settings.login_backoff_max_s)
    app.state.login_throttle = (
        SharedLoginThrottle(factory, *backoff) if settings.shared_state else LoginThrottle(*backoff)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    install_middleware(app, settings)
    if settings.shared_state:  # every API process counts against the same budgets
        app.state.limiters = (
            SharedRateLimiter(factory, settings.rate_limit_ip_per_minute),
            SharedRateLimiter(factory, settings.rate_limit_per_minute),
        )
    install_security_headers(app)
    install_handlers(app)
    routers = (auth, users, datasets, analyses, sharing, estimators, jobs, progress, system, ui)
    for module in routers:
        app.include_router(module.router)
    app.include_router(estimators.designs_router)
    app.include_router(docs_router(app.title))
    return app


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's proxy options for ``CQOX_TRUSTED_PROXIES``.

    Uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 unless told otherwise, so behind
    no proxy any local client could pick its own address (and its rate-limit bucket).
    With no trusted proxy the headers are ignored; with some, only those peers are
    believed.
    """
    trusted = settings.trusted_proxy_list
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def start_metrics_listener(settings: Settings, metrics: Metrics) -> Any:
    """Serve ``/metrics`` on ``CQOX_METRICS_ADDRESS`` too, when configured."""
    address = settings.metrics_host_port
    if address is None:
        return None
    from prometheus_client import start_http_server

    host, port = address
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    log.info("metrics listener on http://%s:%d/metrics", host, port)
    return server


def payload_builder(settings: Settings, factory: Any) -> Any:
    """The function that turns a job row into its worker payload (paths stay here)."""
    from cqox.server.models import new_id
    from cqox.server.routers.analyses import artifact_path

    def payload_for(job: Job) -> dict[str, Any]:
        with transaction(factory) as s:
            dataset = s.get(Dataset, job.dataset_id) if job.dataset_id else None
            if dataset is None:
                raise NotFoundError("the job's dataset was deleted before the job ran")
            path = dataset_path(settings.data_dir, dataset.file)
            network: dict[str, str] = {}
            network_id = job.request.get("network_dataset_id")
            if network_id is not None:
                edges = s.get(Dataset, network_id)
                if edges is None:
                    raise NotFoundError("the job's network dataset was deleted before the job ran")
                network["network_dataset_path"] = str(dataset_path(settings.data_dir, edges.file))
        analysis_id = new_id()
        return {
            **job.request,
            **network,
            "kind": job.kind,
            "dataset_path": str(path),
            "analysis_id": analysis_id,
            "artifact_path": str(artifact_path(settings, analysis_id)),
        }

    return payload_for
