"""Reading tables.

CSV/TSV (delimiter sniffing, encoding detection), Parquet, Excel, JSON/NDJSON, or a
DataFrame passed directly.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cqox.errors import DataError, FileFormatError, NoDataError

FORMATS = ("csv", "tsv", "parquet", "excel", "json", "ndjson")
_SUFFIX = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


@dataclass(frozen=True)
class Table:
    """A table read from a file, with how it was read."""

    frame: pd.DataFrame
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    source: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """How the table was read (JSON-ready)."""
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "source": self.source,
            "rows": len(self.frame),
            "columns": len(self.frame.columns),
            "notes": list(self.notes),
        }


def detect_format(name: str, head: bytes) -> str:
    """Format from the file name's suffix, else from the first bytes."""
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "excel"
    stripped = head.lstrip()
    if stripped.startswith(b"[") or stripped.startswith(b"{"):
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        return "ndjson" if len(lines) > 1 and lines[0].rstrip().endswith(b"}") else "json"
    return "csv"


def decode(raw: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes: the given encoding, else UTF-8 (with or without BOM), else detected."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise FileFormatError(f"cannot decode the file as {encoding!r}: {exc}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise FileFormatError(
            "cannot detect the text encoding of the file (not UTF-8, and no other encoding "
            "fits); save it as UTF-8 or pass the encoding explicitly"
        )
    return str(best), str(best.encoding)


def sniff_delimiter(text: str) -> str:
    """The delimiter of a delimited text (comma, tab, semicolon, pipe)."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",\t;|"}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_table(
    source: str | Path | bytes | pd.DataFrame,
    *,
    name: str | None = None,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = 0,
) -> Table:
    """Read a table from a path, raw bytes (with ``name`` for the format), or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return Table(source, "dataframe")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise DataError(f"file not found: '{path}'", details={"path": str(path)})
        if path.is_dir():
            raise DataError(f"'{path}' is a folder, not a data file", details={"path": str(path)})
        raw = path.read_bytes()
        name = name or path.name
    else:
        raw = source
        name = name or "upload"
    if len(raw.strip()) == 0:
        raise NoDataError(f"the file '{name}' is empty")
    fmt = format or detect_format(name, raw[:4096])
    if fmt not in FORMATS:
        raise FileFormatError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    enc: str | None = None
    delim: str | None = None
    try:
        if fmt in ("csv", "tsv"):
            text, enc = decode(raw, encoding)
            delim = "\t" if fmt == "tsv" else sniff_delimiter(text)
            frame = pd.read_csv(io.StringIO(text), sep=delim, skipinitialspace=True)
        elif fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        elif fmt == "excel":
            frame = pd.read_excel(io.BytesIO(raw), sheet_name=sheet if sheet is not None else 0)
        elif fmt == "ndjson":
            text, enc = decode(raw, encoding)
            frame = pd.read_json(io.StringIO(text), lines=True)
        else:
            text, enc = decode(raw, encoding)
            frame = pd.read_json(io.StringIO(text))
    except (FileFormatError, NoDataError):
        raise
    except pd.errors.EmptyDataError:
        raise NoDataError(f"the file '{name}' has no data") from None
    except Exception as exc:
        raise FileFormatError(
            f"cannot read '{name}' as {fmt}: {type(exc).__name__}: {exc}",
            details={"format": fmt},
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, fmt, enc, delim, name)
