"""Ownership and serialisation: a user sees their own rows (admins see all).

Another user's id answers 404 exactly like an id that does not exist, so ids cannot be
probed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.orm import Session

from cqox.server.json_documents import with_document
from cqox.server.models import AnalysisRecord, Dataset, Job, User
from cqox.server.problems import NotFoundError
from cqox.server.storage import check_id

M = TypeVar("M", Dataset, Job, AnalysisRecord)
_WHAT = {Dataset: "dataset", Job: "job", AnalysisRecord: "analysis"}


def owned(session: Session, model: type[M], id_: str, user: User) -> M:
    """The row ``id_`` if it exists and ``user`` may see it, else 404."""
    what = _WHAT[model]
    check_id(id_, f"{what}_id")
    row = session.get(model, id_)
    if row is None or (user.role != "admin" and row.owner_id != user.id):
        raise NotFoundError(f"{what} {id_!r} not found", details={f"{what}_id": id_})
    return row


def visible(model: type[M], user: User) -> Select[M]:
    """Query of the rows ``user`` may see, newest first."""
    q = select(model).order_by(model.created_at.desc())
    if user.role != "admin":
        q = q.where(model.owner_id == user.id)
    return q


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 text of a timestamp."""
    return ts.isoformat() if ts is not None else None


def _flat_roles(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Roles as the analysis JSON has them: role → column, plus ``inferred`` guesses.

    Datasets stored before the rename nest the mapping as ``{"roles": {...}, "inferred"}``.
    """
    stored = dict(stored or {})
    nested = stored.pop("roles", None)
    return {**nested, **stored} if isinstance(nested, dict) else stored


def dataset_summary(d: Dataset) -> dict[str, Any]:
    """A dataset in lists and in the upload answer."""
    return {
        "dataset_id": d.id,
        "name": d.name,
        "format": d.format,
        "encoding": d.encoding,
        "rows": d.rows,
        "columns": d.n_columns,
        "size": d.size_bytes,
        "stored_size": d.stored_bytes,
        "checksum": d.checksum,
        "roles": _flat_roles(d.roles),
        "domain": d.domain,
        "created_at": iso(d.created_at),
    }


def dataset_detail(d: Dataset) -> dict[str, Any]:
    """A dataset with its schema and statistics."""
    out = dataset_summary(d)
    out["schema"] = d.columns
    out["statistics"] = d.profile
    return out


def analysis_links(a: AnalysisRecord | str) -> dict[str, str]:
    """URLs of an analysis's resources (of the record, or of its id)."""
    base = f"/api/analyses/{a if isinstance(a, str) else a.id}"
    return {
        "self": base,
        "report": f"{base}/report",
        "figures": f"{base}/figures",
    }


def analysis_summary(a: AnalysisRecord, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """An analysis in lists (``result``: its result decoded already, else ``a.result``)."""
    r = (a.result if result is None else result) or {}
    return {
        "analysis_id": a.id,
        "kind": a.kind,
        "dataset_id": a.dataset_id,
        "job_id": a.job_id,
        "created_at": iso(a.created_at),
        "elapsed_s": a.elapsed_s,
        "estimates": len(r.get("estimates") or []),
        "consensus": r.get("consensus") or {},
        "verdict": (r.get("quality") or {}).get("verdict"),
        "links": analysis_links(a),
    }


def job_detail(j: Job, analysis: AnalysisRecord | None = None) -> dict[str, Any]:
    """A job with its status, progress, and result or error."""
    out: dict[str, Any] = {
        "job_id": j.id,
        "kind": j.kind,
        "status": j.status,
        "progress": j.progress,
        "step": j.step,
        "dataset_id": j.dataset_id,
        "analysis_id": j.analysis_id,
        "error": j.error,
        "created_at": iso(j.created_at),
        "started_at": iso(j.started_at),
        "finished_at": iso(j.finished_at),
        "links": {"self": f"/api/jobs/{j.id}"},
    }
    if analysis is not None:
        out["result"] = analysis.result
        out["links"].update(analysis_links(analysis))
    return out


def result_text(session: Session, analysis_id: str) -> str | None:
    """The stored result of an analysis as JSON text, as stored: not decoded.

    ``CAST(… AS TEXT)`` in SQL, so that no driver decodes it (psycopg would); the
    text of a PostgreSQL ``json`` value is the text stored.
    """
    text = session.scalar(
        select(cast(AnalysisRecord.result, Text)).where(AnalysisRecord.id == analysis_id)
    )
    return None if text is None else str(text)


def job_detail_json(j: Job, document: str | None = None) -> bytes:
    """:func:`job_detail` as a response body, the result given as its stored text.

    The same JSON as ``job_detail(j, analysis)`` (``result`` last), without decoding and
    encoding the result again (:mod:`cqox.server.json_documents`).
    """
    out = job_detail(j)
    if document is None or j.analysis_id is None:
        return _plain_json(out)
    out["links"].update(analysis_links(j.analysis_id))
    return with_document(out, "result", document)


def _plain_json(value: dict[str, Any]) -> bytes:
    from starlette.responses import JSONResponse

    return bytes(JSONResponse(value).body)
