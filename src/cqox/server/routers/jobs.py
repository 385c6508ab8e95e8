"""Jobs: status, progress, result or error; cancellation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cqox.server.access import job_detail, job_detail_json, owned, result_text, visible
from cqox.server.deps import DbSession, Deleter, ServicesDep, Viewer
from cqox.server.jobs import FINISHED, mark_cancelled_if_queued
from cqox.server.models import Job
from cqox.server.problems import ConflictError

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("")
def list_jobs(
    user: Viewer, session: DbSession, limit: int = Query(default=100, ge=1, le=1000)
) -> dict[str, Any]:
    """The jobs the user may see, newest first."""
    return {"jobs": [job_detail(j) for j in session.scalars(visible(Job, user).limit(limit)).all()]}


@router.get("/{job_id}", response_model=dict[str, Any])
def get_job(job_id: str, user: Viewer, session: DbSession) -> Response:
    """A job: status, progress 0–1 with the current step, and the result or the error.

    Statuses: queued, running, succeeded, failed, cancelled.
    """
    job = owned(session, Job, job_id, user)
    ok = job.status == "succeeded" and job.analysis_id is not None
    document = result_text(session, str(job.analysis_id)) if ok else None
    # the result as stored, not decoded and encoded again
    return Response(job_detail_json(job, document), media_type="application/json")


@router.delete("/{job_id}")
def cancel_job(
    job_id: str, user: Deleter, session: DbSession, services: ServicesDep
) -> dict[str, Any]:
    """Cancel a queued or running job (a running job's worker process is stopped)."""
    job = owned(session, Job, job_id, user)
    if job.status in FINISHED:
        raise ConflictError(f"job {job_id!r} has already ended ({job.status})")
    session.close()
    services.runner.cancel(job_id)
    mark_cancelled_if_queued(services.factory, job_id)
    return {"job_id": job_id, "status": "cancelling"}
