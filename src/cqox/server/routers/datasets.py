"""Datasets: upload (stored as Parquet), list, detail, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.datastructures import UploadFile

from cqox.server.access import dataset_detail, dataset_summary, owned, visible
from cqox.server.deps import Analyst, DbSession, Deleter, SettingsDep, Viewer
from cqox.server.models import Dataset, User, new_id
from cqox.server.parsing import UploadParser
from cqox.server.preview import preview_rows
from cqox.server.problems import InvalidRequestError, PayloadTooLargeError
from cqox.server.settings import Settings
from cqox.server.storage import (
    check_filename,
    dataset_path,
    publish_dataset,
    upload_temporaries,
)

router = APIRouter(prefix="/api", tags=["datasets"])

#: Bytes copied from the upload at a time while counting towards the limit.
CHUNK = 1 << 20
#: Multipart limits of the upload form: one file, a few small text fields at most
#: (Starlette's defaults are 1,000 files and 1,000 fields of 1 MB).
MAX_FILES, MAX_FIELDS, MAX_FIELD_BYTES = 1, 8, 64 * 1024
#: Most rows ``GET /api/datasets/{id}/preview`` answers.
MAX_PREVIEW_ROWS = 200
#: The upload form as OpenAPI describes it (the form is parsed by :func:`upload_form`).
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "CSV/TSV, Parquet, Excel or JSON table (gzip accepted)",
                    }
                },
            }
        }
    },
}


async def upload_form(request: Request) -> AsyncIterator[UploadFile]:
    """The uploaded file, from a form parsed under explicit multipart limits.

    Parsed here rather than by a ``File()`` parameter so that the limits are set on
    every FastAPI version, and so that the route's authentication (declared before
    this dependency) runs before the body is read.  Over a limit, Starlette answers
    400 with the limit in the message ("Too many files. Maximum number of files is 1.").
    """
    form = await request.form(
        max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
    )
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidRequestError(
                "the upload needs a multipart/form-data body with the table in the field 'file'",
                details={"field": "file"},
            )
        yield file
    finally:
        await form.close()


UploadedFile = Annotated[UploadFile, Depends(upload_form)]


async def parse_turn(request: Request) -> AsyncIterator[None]:
    """Wait for an upload parser on the event loop (:meth:`UploadParser.turn`)."""
    parser: UploadParser = request.app.state.upload_parser
    async with parser.turn():
        yield


ParseTurn = Annotated[None, Depends(parse_turn, scope="function")]


def _copy_upload(source: IO[bytes], target: Path, settings: Settings) -> int:
    """Copy the uploaded file to ``target``, refusing it once past the upload limit."""
    limit = settings.max_upload_bytes
    size = 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"the upload exceeds the limit of {settings.max_upload_mb:g} MB "
                    "(CQOX_MAX_UPLOAD_MB)",
                    details={"limit": "CQOX_MAX_UPLOAD_MB", "limit_bytes": limit},
                )
            out.write(chunk)
    return size


@router.post("/upload", status_code=201, openapi_extra={"requestBody": UPLOAD_BODY})
def upload(
    request: Request,
    user: Analyst,
    file: UploadedFile,
    _turn: ParseTurn,
    session: DbSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Upload a table; it is validated, profiled, its roles inferred, and stored as Parquet.

    The file is parsed in a separate process under memory and time limits
    (:mod:`cqox.server.parsing`); this process only copies bytes and stores metadata.
    """
    name = check_filename(file.filename)
    parser: UploadParser = request.app.state.upload_parser
    dataset_id = new_id()
    raw_tmp, parquet_tmp = upload_temporaries(settings.data_dir, dataset_id)
    try:
        size = _copy_upload(file.file, raw_tmp, settings)
        meta = parser.parse(parser.job(raw_tmp, name, parquet_tmp))
        stored = publish_dataset(
            settings.data_dir, dataset_id, parquet_tmp, meta["stored_bytes"], meta["checksum"]
        )
    finally:
        raw_tmp.unlink(missing_ok=True)
        parquet_tmp.unlink(missing_ok=True)
    row = Dataset(
        id=dataset_id,
        owner_id=user.id,
        name=name,
        format=meta["format"],
        encoding=meta["encoding"],
        rows=meta["rows"],
        n_columns=meta["n_columns"],
        size_bytes=size,
        stored_bytes=stored.size,
        checksum=stored.checksum,
        file=stored.file,
        columns=meta["columns"],
        roles=meta["roles"],
        domain=meta["domain"],
        profile=meta["profile"],
    )
    session.add(row)
    try:
        session.commit()
    except Exception:
        dataset_path(settings.data_dir, stored.file).unlink(missing_ok=True)
        raise
    return dataset_summary(row)


@router.get("/datasets")
def list_datasets(user: Viewer, session: DbSession) -> dict[str, Any]:
    """The datasets the user may see, newest first."""
    rows = session.scalars(visible(Dataset, user)).all()
    ids = {d.owner_id for d in rows}
    owners = dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
    return {"datasets": [{**dataset_summary(d), "owner": owners.get(d.owner_id)} for d in rows]}


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, user: Viewer, session: DbSession) -> dict[str, Any]:
    """A dataset: schema, statistics, inferred roles, domain."""
    row = owned(session, Dataset, dataset_id, user)
    owner = session.get(User, row.owner_id)
    return {**dataset_detail(row), "owner": owner.username if owner is not None else None}


@router.get("/datasets/{dataset_id}/preview")
def preview_dataset(
    dataset_id: str,
    user: Viewer,
    session: DbSession,
    settings: SettingsDep,
    rows: int = Query(default=20, ge=1, le=MAX_PREVIEW_ROWS),
) -> dict[str, Any]:
    """The first ``rows`` rows of a dataset (as stored), for a look at the data."""
    row = owned(session, Dataset, dataset_id, user)
    path = dataset_path(settings.data_dir, row.file)
    session.close()
    return {"dataset_id": dataset_id, **preview_rows(path, rows)}


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
