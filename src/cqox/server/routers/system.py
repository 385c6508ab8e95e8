"""Health, readiness and metrics (the dashboard is :mod:`cqox.server.routers.ui`)."""

from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from cqox._version import __version__
from cqox.server.db import ping
from cqox.server.deps import ServicesDep, SettingsDep
from cqox.server.problems import NotFoundError, UnauthorizedError
from cqox.server.storage import datasets_dir

router = APIRouter(tags=["system"])


@router.get("/health")
def health() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/ready")
def ready(services: ServicesDep, settings: SettingsDep) -> Response:
    """Database and storage reachable, worker slots alive (503 otherwise)."""
    folder = datasets_dir(settings.data_dir)
    checks = {
        "database": ping(services.engine),
        "storage": folder.is_dir() and os.access(folder, os.W_OK),
        "workers": services.runner.workers_alive(),
    }
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics")
def metrics(request: Request, services: ServicesDep, settings: SettingsDep) -> Response:
    """Prometheus metrics, for the bearer of ``CQOX_METRICS_TOKEN``.

    Without a token configured this route answers 404: metrics name routes, error
    rates and queue depth, which are nobody else's business.  ``CQOX_METRICS_ADDRESS``
    serves them on a separate (private) listener instead.
    """
    token = settings.metrics_token
    if token is None:
        raise NotFoundError(
            "metrics are not exposed on this address: set CQOX_METRICS_TOKEN (and scrape "
            "with it as a bearer token) or CQOX_METRICS_ADDRESS (a separate listener)"
        )
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise UnauthorizedError("metrics need 'Authorization: Bearer <CQOX_METRICS_TOKEN>'")
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
