"""Datasets: upload (stored as Parquet), list, detail, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from sqlalchemy import select

from cqox.data.domain import detect_domain
from cqox.data.infer import infer_roles
from cqox.data.profile import column_kind, profile
from cqox.server.access import dataset_detail, dataset_summary, owned, visible
from cqox.server.deps import Analyst, DbSession, Deleter, SettingsDep, Viewer
from cqox.server.models import Dataset, new_id
from cqox.server.problems import PayloadTooLargeError
from cqox.server.storage import check_filename, dataset_path, parse_upload, write_dataset

router = APIRouter(prefix="/api", tags=["datasets"])

#: Bytes read from the upload at a time while counting towards the limit.
CHUNK = 1 << 20


@router.post("/upload", status_code=201)
def upload(
    request: Request,
    file: Annotated[UploadFile, File(description="CSV/TSV, Parquet, Excel or JSON table")],
    user: Analyst,
    session: DbSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Upload a table; it is validated, profiled, its roles inferred, and stored as Parquet."""
    name = check_filename(file.filename)
    limit = settings.max_upload_bytes
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = file.file.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the upload exceeds the limit of {settings.max_upload_mb:g} MB "
                "(CQOX_MAX_UPLOAD_MB)",
                details={"limit_bytes": limit},
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    table = parse_upload(raw, name, limit, settings.max_cells)
    frame = table.frame
    roles = infer_roles(frame)
    dataset_id = new_id()
    stored = write_dataset(settings.data_dir, dataset_id, frame)
    row = Dataset(
        id=dataset_id,
        owner_id=user.id,
        name=name,
        format=table.format,
        encoding=table.encoding,
        rows=len(frame),
        n_columns=len(frame.columns),
        size_bytes=size,
        stored_bytes=stored.size,
        checksum=stored.checksum,
        file=stored.file,
        columns=[
            {"name": str(c), "dtype": str(frame[c].dtype), "kind": column_kind(frame[c])}
            for c in frame.columns
        ],
        roles=roles.to_dict(),
        domain=detect_domain([str(c) for c in frame.columns]).to_dict(),
        profile=_jsonable(profile(frame)),
    )
    session.add(row)
    try:
        session.commit()
    except Exception:
        dataset_path(settings.data_dir, stored.file).unlink(missing_ok=True)
        raise
    return dataset_summary(row)


def _jsonable(value: Any) -> Any:
    from cqox.core.jsonable import to_jsonable

    return to_jsonable(value)


@router.get("/datasets")
def list_datasets(user: Viewer, session: DbSession) -> dict[str, Any]:
    """The datasets the user may see, newest first."""
    rows = session.scalars(visible(Dataset, user)).all()
    return {"datasets": [dataset_summary(d) for d in rows]}


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, user: Viewer, session: DbSession) -> dict[str, Any]:
    """A dataset: schema, statistics, inferred roles, domain."""
    return dataset_detail(owned(session, Dataset, dataset_id, user))


@router.delete("/datasets/{dataset_id}")
def delete_dataset(
    dataset_id: str, user: Deleter, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """Delete a dataset and its file (its analyses stay)."""
    row = owned(session, Dataset, dataset_id, user)
    path = dataset_path(settings.data_dir, row.file)
    session.delete(row)
    session.commit()
    path.unlink(missing_ok=True)
    return {"deleted": dataset_id}


def count_datasets(session: Any) -> int:
    """Number of stored datasets (for the metrics gauge)."""
    return len(session.scalars(select(Dataset.id)).all())
