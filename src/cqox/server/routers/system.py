"""Health, readiness, metrics and the dashboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from cqox._version import __version__
from cqox.server.db import ping
from cqox.server.deps import ServicesDep, SettingsDep
from cqox.server.problems import NotFoundError
from cqox.server.storage import datasets_dir

router = APIRouter(tags=["system"])
STATIC = Path(__file__).resolve().parents[1] / "static"
_ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}


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
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
def dashboard() -> FileResponse:
    """The web dashboard."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    """Dashboard assets; Plotly.js comes from the installed plotly package (works offline)."""
    if name == "plotly.min.js":
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript")
    if name not in _ASSETS:
        raise NotFoundError(f"no asset {name[:40]!r}")
    return FileResponse(STATIC / name, media_type=_ASSETS[name])
