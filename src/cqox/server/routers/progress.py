"""Live progress of a job as Server-Sent Events (``GET /api/jobs/{job_id}/events``).

The worker reports ``(step, fraction)`` to the job's row (:mod:`cqox.server.jobs`); this
route reads the row a few times a second and sends an event whenever it changed, so the
browser shows the stage, the estimator running and the percentage without polling, and
the final event carries the analysis id or the error.  The stream ends with the job.

Each event is one ``data:`` line of JSON (:func:`progress_event`).  The dashboard reads
the stream with ``fetch`` (it sends the bearer token, which ``EventSource`` cannot).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cqox.estimators import registry
from cqox.server.access import owned
from cqox.server.db import transaction
from cqox.server.deps import DbSession, ServicesDep, Viewer
from cqox.server.jobs import FINISHED
from cqox.server.models import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

#: Seconds between two reads of the job's row.
POLL_S = 0.25
#: Seconds between two keep-alive comments while nothing changes (proxies close idle streams).
KEEPALIVE_S = 15.0
#: A stream lasts at most the job's time limit plus this margin.
MARGIN_S = 60.0


def progress_event(job: Job) -> dict[str, Any]:
    """One event: status, stage, estimator and estimand running, fraction and percent.

    The engine names its step ``"<estimator> <estimand>"`` while estimating
    (:func:`cqox.analysis.compose.analyze`); other steps (``queued``, ``starting``,
    ``done``, ``cancelled``…) are stages of their own.
    """
    step = str(job.step or "")
    words = step.split()
    estimator = words[0] if words and words[0] in registry.all_estimators() else None
    if job.status in FINISHED:
        stage = job.status
    elif estimator is not None:
        stage = "estimating"
    else:
        stage = step or job.status
    fraction = max(0.0, min(1.0, float(job.progress or 0.0)))
    return {
        "job_id": job.id,
        "status": job.status,
        "stage": stage,
        "step": step,
        "estimator": estimator,
        "estimand": (" ".join(words[1:]) or None) if estimator is not None else None,
        "progress": fraction,
        "percent": round(100 * fraction),
        "analysis_id": job.analysis_id,
        "error": job.error,
    }


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "progress events"}},
)
def job_events(
    job_id: str, request: Request, user: Viewer, session: DbSession, services: ServicesDep
) -> StreamingResponse:
    """Progress of a job as Server-Sent Events (one JSON object per ``data:`` line)."""
    job = owned(session, Job, job_id, user)
    limit = float(job.time_limit_s) + MARGIN_S
    factory = services.factory

    def read() -> dict[str, Any] | None:
        with transaction(factory) as s:
            row = s.get(Job, job_id)
            return progress_event(row) if row is not None else None

    async def stream() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        started = quiet_since = time.monotonic()
        while time.monotonic() - started < limit:
            event = await run_in_threadpool(read)
            if event is None:  # deleted with its owner
                return
            if event != last:
                yield f"data: {json.dumps(event)}\n\n"
                last, quiet_since = event, time.monotonic()
                if event["status"] in FINISHED:
                    return
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
