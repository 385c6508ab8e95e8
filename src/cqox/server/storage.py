"""Dataset files: validation of uploads, atomic Parquet storage, checksums.

An upload is read with :func:`cqox.read_table` only after cheap structural checks
(nesting depth of JSON, decompressed size of Excel/Parquet, binary content in text
formats), so hostile files are refused before they can cost memory.  A table is
written as Parquet to a temporary file in the datasets folder, flushed with ``fsync``
and renamed into place: a crash leaves either no file or the whole file, and the
database row that makes a dataset visible is committed only after the rename.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cqox.data.io import Table, detect_format, read_table
from cqox.errors import CqoxError, NoDataError
from cqox.server.problems import InvalidDataError, InvalidMappingError, InvalidRequestError

#: Deepest JSON nesting accepted (a table is 2–3 levels; hostile files nest thousands).
MAX_JSON_DEPTH = 20
#: Largest decompressed / compressed size ratio of an Excel or Parquet upload (zip bombs
#: reach ratios in the thousands; real spreadsheets stay below ~20).
MAX_COMPRESSION_RATIO = 200
#: Share of control characters above which a "text" upload is taken as binary.
MAX_CONTROL_SHARE = 0.01
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_PATH_LIKE = re.compile(r"(^|[\\/])\.\.([\\/]|$)|^[\\/]|^[A-Za-z]:[\\/]|^~[\\/]|^file:|\x00")
_TEXT_FORMATS = ("csv", "tsv", "json", "ndjson")


def is_path_like(value: str) -> bool:
    """True for values that look like file-system paths or traversal (``../``, ``/etc``)."""
    return bool(_PATH_LIKE.search(value)) or "/" in value or "\\" in value


def check_id(value: str, what: str = "dataset_id") -> str:
    """Refuse anything but a service-issued id (paths and traversal in particular)."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        hint = (
            " (datasets are referred to by id, never by a path)" if is_path_like(str(value)) else ""
        )
        raise InvalidRequestError(
            f"invalid {what} {str(value)[:80]!r}: expected an id given by the service{hint}",
            details={"field": what},
        )
    return value


def check_mapping_value(role: str, value: Any) -> None:
    """Refuse path-like values in a mapping (columns are names, never paths)."""
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, str) and bool(_PATH_LIKE.search(v)):
            raise InvalidMappingError(
                f"role '{role}': {v[:80]!r} looks like a file path; mapping values name "
                "columns of the dataset",
                details={"role": role},
            )


def check_filename(name: str | None) -> str:
    """A safe display name for an upload; path-like names are refused."""
    if not name:
        return "upload"
    if "/" in name or "\\" in name or ".." in name or "\x00" in name or len(name) > 255:
        raise InvalidRequestError(
            f"invalid file name {name[:80]!r}: give a plain file name, not a path",
            details={"field": "file"},
        )
    return name


def _json_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _precheck(raw: bytes, fmt: str, max_bytes: int) -> None:
    if fmt in _TEXT_FORMATS:
        if b"\x00" in raw[:65536] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InvalidDataError("the file is binary, not a text table (NUL bytes found)")
        sample = raw[:65536]
        control = sum(1 for b in sample if b < 9 or 13 < b < 32)
        if sample and control / len(sample) > MAX_CONTROL_SHARE:
            raise InvalidDataError("the file looks binary, not a text table (control characters)")
    if fmt in ("json", "ndjson"):
        depth = _json_depth(raw)
        if depth > MAX_JSON_DEPTH:
            raise InvalidDataError(
                f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep; upload a flat "
                "table (records or columns)",
                details={"max_depth": MAX_JSON_DEPTH},
            )
    limit = max(MAX_COMPRESSION_RATIO * len(raw), max_bytes)
    if fmt == "excel" and raw.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                total = sum(info.file_size for info in zf.infolist())
        except zipfile.BadZipFile:
            raise InvalidDataError("the Excel file is not a valid .xlsx archive") from None
        if total > limit:
            raise InvalidDataError(
                f"the Excel archive expands to {total} bytes (over {limit}); refused as a "
                "possible zip bomb",
                details={"expanded_bytes": total},
            )
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(io.BytesIO(raw)).metadata
        except Exception:
            raise InvalidDataError("the file is not valid Parquet") from None
        total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if total > limit:
            raise InvalidDataError(
                f"the Parquet file expands to {total} bytes (over {limit}); refused",
                details={"expanded_bytes": total},
            )


def _check_frame(frame: pd.DataFrame, max_cells: int) -> pd.DataFrame:
    if frame.shape[0] == 0:
        raise NoDataError("the table has no rows")
    if frame.shape[1] < 2:
        raise InvalidDataError(
            f"the table has {frame.shape[1]} column(s); a causal analysis needs at least an "
            "outcome and a treatment column (is the delimiter right?)",
            details={"columns": [str(c) for c in frame.columns]},
        )
    if frame.shape[0] * frame.shape[1] > max_cells:
        raise InvalidDataError(
            f"the table has {frame.shape[0]}×{frame.shape[1]} cells, over the limit "
            f"{max_cells} (CQOX_MAX_CELLS)"
        )
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InvalidDataError(
            f"duplicate column names: {', '.join(dup)}", details={"columns": dup}
        )
    if any(not n.strip() or len(n) > 256 or "\x00" in n for n in names):
        raise InvalidDataError(
            "column names must be non-empty, at most 256 characters and free of NUL bytes"
        )
    for name in frame.columns:
        s = frame[name]
        if s.dtype == object:
            sample = s.dropna().head(1000)
            if any(isinstance(v, dict | list | tuple | set | bytes) for v in sample):
                raise InvalidDataError(
                    f"column '{name}' holds nested values (objects or lists); upload a flat table",
                    details={"column": str(name)},
                )
            text = s.where(s.isna(), s.astype(str))
            if text.str.contains("\x00", regex=False).any():
                raise InvalidDataError(
                    f"column '{name}' contains NUL bytes; is the file binary?",
                    details={"column": str(name)},
                )
            frame[name] = text
    return frame


def parse_upload(raw: bytes, filename: str, max_bytes: int, max_cells: int) -> Table:
    """Validate and read an uploaded file; raise a 400-class error when unusable."""
    if len(raw.strip()) == 0:
        raise NoDataError("the uploaded file is empty")
    fmt = detect_format(filename, raw[:4096])
    _precheck(raw, fmt, max_bytes)
    try:
        table = read_table(raw, name=filename, format=fmt)
    except CqoxError:
        raise
    except RecursionError:
        raise InvalidDataError("the file is nested too deeply to be a table") from None
    except Exception as exc:
        raise InvalidDataError(f"cannot read the file as {fmt}: {type(exc).__name__}") from None
    frame = _check_frame(table.frame.copy(), max_cells)
    return Table(frame, table.format, table.encoding, table.delimiter, filename, table.notes)


@dataclass(frozen=True)
class StoredFile:
    """A dataset file as written: its name in the folder, size and SHA-256."""

    file: str
    size: int
    checksum: str


def datasets_dir(data_dir: Path) -> Path:
    """Folder of the dataset files."""
    return data_dir / "datasets"


def analyses_dir(data_dir: Path) -> Path:
    """Folder of the analysis artefacts (pickled results, rendered figures)."""
    return data_dir / "analyses"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_dataset(data_dir: Path, dataset_id: str, frame: pd.DataFrame) -> StoredFile:
    """Store a table as Parquet, atomically, and return its checksum."""
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)
    except Exception as exc:
        raise InvalidDataError(
            f"the table cannot be stored (mixed types in a column?): {type(exc).__name__}"
        ) from None
    data = buf.getvalue()
    name = f"{check_id(dataset_id)}.parquet"
    atomic_write(datasets_dir(data_dir) / name, data)
    return StoredFile(name, len(data), hashlib.sha256(data).hexdigest())


def dataset_path(data_dir: Path, file: str) -> Path:
    """Path of a stored dataset file (names come from the database, never from a user)."""
    if not re.match(r"^[0-9a-f]{32}\.parquet$", file):
        raise InvalidRequestError("corrupt dataset record")
    return datasets_dir(data_dir) / file


def verify_checksum(path: Path, checksum: str) -> bool:
    """True when the file's SHA-256 is ``checksum``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == checksum


def remove_orphans(data_dir: Path, known: set[str], known_analyses: set[str] | None = None) -> int:
    """Delete files no database row names; return how many.

    Dataset files (a crash between file and row, a deleted user) and, when
    ``known_analyses`` is given, analysis artefacts.
    """
    n = 0
    folder = datasets_dir(data_dir)
    if folder.is_dir():
        for path in folder.glob("*.parquet"):
            if path.name not in known:
                path.unlink(missing_ok=True)
                n += 1
    folder = analyses_dir(data_dir)
    if known_analyses is not None and folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in (".pkl", ".html") and path.stem not in known_analyses:
                path.unlink(missing_ok=True)
                n += 1
    return n


def clean_temporaries(data_dir: Path) -> int:
    """Remove temporary files a crash left behind; return how many."""
    n = 0
    for folder in (datasets_dir(data_dir), analyses_dir(data_dir)):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                n += 1
    return n
