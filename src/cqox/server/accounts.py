"""Deleting a user together with everything they own, at once.

The database rows go in one transaction (the user; their API keys, datasets, jobs and
analyses by ``ON DELETE CASCADE``); the files those rows named — dataset Parquet files,
pickled analyses, cached reports — are removed right after the commit, not at the next
start.  A file is removed only once no row can name it, so a crash in between leaves
orphans, which the start-up sweep (:func:`cqox.server.storage.remove_orphans`) removes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cqox.server.models import AnalysisRecord, Dataset, Job, User
from cqox.server.storage import analyses_dir, dataset_path

#: Suffixes of the files an analysis leaves in the analyses folder.
ANALYSIS_SUFFIXES = (".pkl", ".html")
_ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class Removed:
    """What deleting a user removed."""

    datasets: int
    analyses: int
    jobs: int
    files: int


def delete_account(
    session: Session,
    data_dir: Path,
    user: User,
    cancel: Callable[[str], None] | None = None,
) -> Removed:
    """Delete ``user``, their rows and their files; commit ``session``.

    Parameters
    ----------
    session
        The session ``user`` was loaded in; it is committed here.
    data_dir
        The service's data folder (``CQOX_DATA_DIR``).
    user
        The account to delete.
    cancel
        Called with the id of each of the user's queued or running jobs, before the
        rows go (the job runner's ``cancel``), so no worker writes an artefact for an
        owner that no longer exists.
    """
    files = list(session.scalars(select(Dataset.file).where(Dataset.owner_id == user.id)))
    analyses = list(
        session.scalars(select(AnalysisRecord.id).where(AnalysisRecord.owner_id == user.id))
    )
    jobs = list(session.scalars(select(Job.id).where(Job.owner_id == user.id)))
    if cancel is not None:
        active = session.scalars(
            select(Job.id).where(Job.owner_id == user.id, Job.status.in_(_ACTIVE))
        )
        for job_id in active:
            cancel(job_id)
    session.delete(user)
    session.commit()
    removed = 0
    paths = [dataset_path(data_dir, f) for f in files] + [
        analyses_dir(data_dir) / f"{a}{suffix}" for a in analyses for suffix in ANALYSIS_SUFFIXES
    ]
    for path in paths:
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return Removed(datasets=len(files), analyses=len(analyses), jobs=len(jobs), files=removed)
