r"""Reading tables.

CSV/TSV (delimiter sniffing, decimal commas, encoding detection), Parquet, Excel,
JSON (records, columns or split orientation) and NDJSON, gzip-compressed text, or a
DataFrame passed directly.

Encodings: UTF-8 (with or without byte-order mark) and UTF-16 are recognised from the
bytes; anything else (cp1252/latin-1, Shift_JIS, EUC-JP, GBK/GB18030, EUC-KR, Big5, ...)
is detected with ``charset-normalizer``.  A file that no encoding fits, or that looks
like binary data, is refused with :class:`~cqox.errors.FileFormatError`.

Every read is bounded by :class:`~cqox.data.limits.ReadLimits` (cells, columns,
decompressed size and ratio), checked from the cheap parts of a file — the header, a
Parquet footer, a zip directory — before the rows are decoded; a file over a limit is
refused with :class:`~cqox.errors.LimitExceededError`.

Example
-------
>>> import pandas as pd
>>> from cqox.data.io import read_table
>>> t = read_table(b"a;b\n1,5;x\n2,5;y\n", name="demo.csv")
>>> t.delimiter, t.frame["a"].tolist()
(';', [1.5, 2.5])
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cqox.data.limits import MAX_NAME_CHARS, ReadLimits, check_parquet, check_zip, gunzip
from cqox.errors import DataError, FileFormatError, NoDataError

__all__ = [
    "FORMATS",
    "ReadLimits",
    "Table",
    "decode",
    "detect_format",
    "duplicates",
    "read_table",
    "sniff_delimiter",
]

FORMATS = ("csv", "tsv", "parquet", "excel", "json", "ndjson")
_SUFFIX = {
    ".csv": "csv",
    ".txt": "csv",
    ".dat": "csv",
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
#: Candidate delimiters, in order of preference on ties.
DELIMITERS = (",", ";", "\t", "|")
#: Characters at the start of a text used to sniff its delimiter.
SNIFF_CHARS = 65536
#: Share of control characters above which decoded "text" is taken for binary data.
MAX_CONTROL_SHARE = 0.01
#: Multi-byte encodings that charset-normalizer reports for CJK text (kept as detected).
_CJK = ("cp932", "shift_jis", "euc_j", "gb", "big5", "cp949", "euc_kr", "johab", "hz", "iso2022")
#: Non-letter characters that a cp1252 text commonly holds.
_CP1252_PUNCT = set("°±·×÷€£¥§©®«»–—‘’‚“”„…•¿¡ªº¹²³µ¶¼½¾ ")
#: A line of nothing but spaces (the newline excluded: ``\s`` would run across lines).
_BLANK_LINE = re.compile(r"^[^\S\n]*$", re.MULTILINE)
_DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$|^[+-]?\d+$")


@dataclass(frozen=True)
class Table:
    """A table read from a file, with how it was read.

    Attributes
    ----------
    frame : DataFrame
        The table.
    format : str
        One of :data:`FORMATS`, or ``"dataframe"``.
    encoding, delimiter : str or None
        How a text file was decoded and split.
    source : str or None
        File name.
    notes : list of str
        What the reader did that the user should know (decimal commas converted, ...).
    """

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
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIX:
        return _SUFFIX[suffixes[-1]]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "excel"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"[") or stripped.startswith(b"{"):
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        return "ndjson" if len(lines) > 1 and lines[0].rstrip().endswith(b"}") else "json"
    return "csv"


def _utf16_without_bom(raw: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NUL bytes sit on one parity (ASCII-heavy UTF-16 text)."""
    sample = raw[:4096]
    half = max(1, len(sample) // 2)
    odd = sample[1::2].count(0) / half
    even = sample[0::2].count(0) / half
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:20000]
    control = sum(
        1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\t\r\n"
    )
    return control / len(sample) > MAX_CONTROL_SHARE


def _binary_error(name: str) -> FileFormatError:
    return FileFormatError(
        f"cannot read '{name}': it looks like binary data, not a text table "
        "(expected CSV/TSV, Parquet, Excel, JSON or NDJSON)",
        details={"source": name},
    )


def _prefer_cp1252(raw: bytes, detected: str) -> str | None:
    """cp1252 text when a Western single-byte guess decodes the same bytes to letters.

    charset-normalizer cannot tell cp1252 from cp1250 or iso8859-x on short files;
    Western European text is the common case, so cp1252 wins when every non-ASCII
    character it yields is a letter or usual punctuation.
    """
    if any(detected.lower().startswith(p) for p in _CJK) or detected.lower() in ("utf_8", "ascii"):
        return None
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return None
    extra = [ch for ch in text if ord(ch) > 127]
    if all(unicodedata.category(ch).startswith("L") or ch in _CP1252_PUNCT for ch in extra):
        return text
    return None


def decode(raw: bytes, encoding: str | None = None, name: str = "the file") -> tuple[str, str]:
    """Decode bytes: the given encoding, else UTF-8 (with or without BOM), UTF-16, detected.

    Returns the text and the name of the encoding used.  Raises
    :class:`FileFormatError` when the bytes are binary or no encoding fits.
    """
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise FileFormatError(
                f"cannot decode '{name}' as {encoding!r}: {exc}",
                details={"source": name, "encoding": encoding},
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise FileFormatError(
                f"cannot decode '{name}': it starts with a UTF-8 byte-order mark but is not "
                f"valid UTF-8 ({exc})",
                details={"source": name},
            ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise _binary_error(name) from None
    if b"\x00" in raw[:4096]:
        enc16 = _utf16_without_bom(raw)
        if enc16 is None:
            raise _binary_error(name)
        try:
            return raw.decode(enc16), enc16
        except UnicodeDecodeError:
            raise _binary_error(name) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise FileFormatError(
            f"cannot detect the text encoding of '{name}' (not UTF-8, and no other encoding "
            "fits; is it binary?); save it as UTF-8 or pass the encoding explicitly",
            details={"source": name},
        )
    detected = str(best.encoding)
    western = _prefer_cp1252(raw, detected)
    if western is not None:
        return western, "cp1252"
    return str(best), detected


def sniff_delimiter(text: str) -> str:
    """The delimiter of a delimited text: comma, semicolon, tab or pipe.

    The delimiter is the candidate that splits the first lines into the same number
    (> 1) of fields most consistently; :class:`csv.Sniffer` decides otherwise.
    """
    lines = [ln for ln in text[:SNIFF_CHARS].splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    best: tuple[float, str] = (0.0, ",")
    for d in DELIMITERS:
        counts = [_field_count(ln, d) for ln in lines]
        header = counts[0]
        if header < 2:
            continue
        agree = sum(c == header for c in counts) / len(counts)
        score = agree * 1000 + header
        if score > best[0]:
            best = (score, d)
    if best[0] > 0:
        return best[1]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def _field_count(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter)))
    except (csv.Error, StopIteration):
        return 1


def _header(text: str, delimiter: str, name: str, limits: ReadLimits) -> list[str]:
    """The first non-blank record, found within ``limits.max_header_chars`` characters.

    Reading a bounded window keeps a hostile first line (megabytes of delimiters, no
    newline) from being split into millions of fields before the column cap is checked.
    """
    window = limits.max_header_chars
    head = io.StringIO(text[:window])
    truncated = len(text) > window
    try:
        for row in csv.reader(head, delimiter=delimiter):
            if truncated and head.tell() >= window and not text[:window].endswith("\n"):
                break  # the record runs past the window
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    except csv.Error:
        if not truncated:
            raise
    if not truncated:
        return []
    fields = text[:window].count(delimiter) + 1
    raise limits.refuse(
        "max_columns",
        f"'{name}': the header runs past its first {window} characters ({fields} fields so "
        f"far), the room for {limits.max_columns} column names of up to {MAX_NAME_CHARS} "
        "characters",
        fields,
        source=name,
    )


def duplicates(names: list[str]) -> list[str]:
    """Names that occur more than once (sorted)."""
    seen: set[str] = set()
    dupes: set[str] = set()
    for n in names:
        (dupes if n in seen else seen).add(n)
    return sorted(dupes)


def _duplicate_error(name: str, dupes: list[str]) -> DataError:
    return DataError(
        f"'{name}' has duplicate column names: {', '.join(repr(d) for d in dupes)}; "
        "rename them so each role names one column",
        details={"columns": dupes, "source": name},
    )


def _decimal_commas(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Convert text columns written with decimal commas (``1,5``; ``1.234,5``) to numbers."""
    converted: list[str] = []
    out = frame
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        values = s.dropna().astype(str).str.strip()
        if values.empty or not values.str.contains(",", regex=False).any():
            continue
        if not values.map(lambda v: bool(_DECIMAL_COMMA.match(v))).all():
            continue
        numbers = pd.to_numeric(
            s.astype("string").str.strip().str.replace(".", "", regex=False).str.replace(",", "."),
            errors="coerce",
        )
        if out is frame:
            out = frame.copy()
        out[col] = numbers.astype("float64")
        converted.append(str(col))
    return out, converted


def _read_delimited(
    text: str, delimiter: str, name: str, limits: ReadLimits
) -> tuple[pd.DataFrame, list[str]]:
    header = _header(text, delimiter, name, limits)
    if not header:
        raise NoDataError(f"the file '{name}' is empty", details={"source": name})
    limits.check_columns(len(header), name)
    dupes = duplicates(header)
    if dupes:
        raise _duplicate_error(name, dupes)
    # one row past the cap is enough to refuse: the rest is never parsed
    max_rows = limits.max_rows(len(header))
    frame = pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True, nrows=max_rows + 1)
    limits.check_columns(len(frame.columns), name)
    limits.check_rows_read(len(frame), len(frame.columns), name)
    notes: list[str] = []
    if delimiter != ",":
        frame, converted = _decimal_commas(frame)
        if converted:
            notes.append(f"read decimal commas as decimal points in: {', '.join(converted)}")
    return frame, notes


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = duplicates(keys)
    if dupes:
        raise _DuplicateKeysError(dupes)
    return dict(pairs)


class _DuplicateKeysError(ValueError):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


def _record_keys(records: list[dict[str, Any]], limits: ReadLimits, name: str) -> int:
    """Number of distinct keys of the records, stopping once past ``max_columns``."""
    keys: set[str] = set()
    for record in records:
        keys.update(record)
        if len(keys) > limits.max_columns:
            break
    return len(keys)


def _frame_from_json(obj: Any, name: str, limits: ReadLimits) -> pd.DataFrame:
    """Records (list of objects), columns (object of lists/objects) or split orientation.

    Columns and cells are counted on the parsed JSON, before the DataFrame is built.
    """
    if isinstance(obj, list):
        if obj and not all(isinstance(r, dict) for r in obj):
            raise FileFormatError(
                f"cannot read '{name}' as JSON: expected a list of records (objects), "
                f"got a list of {type(next(r for r in obj if not isinstance(r, dict))).__name__}",
                details={"source": name},
            )
        n_columns = _record_keys(obj, limits, name)
        limits.check_columns(n_columns, name)
        limits.check_cells(len(obj), n_columns, name)
        return pd.DataFrame.from_records(obj) if obj else pd.DataFrame()
    if isinstance(obj, dict):
        if {"columns", "data"} <= set(obj) and isinstance(obj["data"], list):
            if isinstance(obj["columns"], list):
                limits.check_columns(len(obj["columns"]), name)
                limits.check_cells(len(obj["data"]), len(obj["columns"]), name)
            return pd.DataFrame(obj["data"], columns=obj["columns"])
        for key in ("data", "records", "rows"):
            if len(obj) == 1 and key in obj and isinstance(obj[key], list):
                return _frame_from_json(obj[key], name, limits)
        if obj and all(isinstance(v, list) for v in obj.values()):
            lengths = {len(v) for v in obj.values()}
            if len(lengths) > 1:
                raise FileFormatError(
                    f"cannot read '{name}' as JSON columns: the columns have different "
                    f"lengths ({sorted(lengths)})",
                    details={"source": name},
                )
            limits.check_columns(len(obj), name)
            limits.check_cells(lengths.pop(), len(obj), name)
            return pd.DataFrame(obj)
        if obj and all(isinstance(v, dict) for v in obj.values()):
            limits.check_columns(len(obj), name)
            limits.check_cells(max(len(v) for v in obj.values()), len(obj), name)
            frame = pd.DataFrame(obj)
            try:
                frame.index = pd.Index([int(i) for i in frame.index])
                frame = frame.sort_index()
            except ValueError:
                pass
            return frame.reset_index(drop=True)
    raise FileFormatError(
        f"cannot read '{name}' as JSON: expected a list of records or an object of columns",
        details={"source": name},
    )


def _text_lines(text: str) -> Iterator[str]:
    """The non-blank lines of a text, one at a time (no list, no copy of the text)."""
    pos, end_of_text = 0, len(text)
    while pos < end_of_text:
        end = text.find("\n", pos)
        end = end_of_text if end < 0 else end
        line = text[pos:end]
        if line.strip():
            yield line
        pos = end + 1


def _read_ndjson(text: str, name: str, limits: ReadLimits) -> list[Any]:
    """Parse NDJSON lines; refuse from the first record's width × the line count.

    The records are counted without splitting the text: lines (a count of newlines)
    minus blank lines (a regex over the text, at C speed).
    """
    lines = _text_lines(text)
    first_line = next(lines, None)
    if first_line is None:
        return []
    first = json.loads(first_line, object_pairs_hook=_strict_object)
    if isinstance(first, dict):
        limits.check_columns(len(first), name)
        n_lines = text.count("\n") + 1
        if n_lines * len(first) > limits.max_cells:
            n_lines -= len(_BLANK_LINE.findall(text))
            limits.check_cells(n_lines, len(first), name)
    return [first, *(json.loads(ln, object_pairs_hook=_strict_object) for ln in lines)]


def _read_json(text: str, name: str, lines: bool, limits: ReadLimits) -> pd.DataFrame:
    try:
        if lines:
            return _frame_from_json(_read_ndjson(text, name, limits), name, limits)
        obj = json.loads(text, object_pairs_hook=_strict_object)
        return _frame_from_json(obj, name, limits)
    except _DuplicateKeysError as exc:
        raise _duplicate_error(name, exc.keys) from None
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"cannot read '{name}' as {'NDJSON' if lines else 'JSON'}: {exc}",
            details={"source": name},
        ) from None


def _read_excel(raw: bytes, sheet: str | int | None, name: str, limits: ReadLimits) -> pd.DataFrame:
    if raw.startswith(b"PK"):
        check_zip(raw, name, limits)
    sheet_name = sheet if sheet is not None else 0
    head = pd.read_excel(io.BytesIO(raw), sheet_name=sheet_name, header=None, nrows=1)
    limits.check_columns(len(head.columns), name)
    names = ["" if pd.isna(v) else str(v).strip() for v in head.iloc[0]] if len(head) else []
    dupes = duplicates([n for n in names if n])
    if dupes:
        raise _duplicate_error(name, dupes)
    # the sheet is read row by row: stop one row past the cells cap
    max_rows = limits.max_rows(len(head.columns))
    frame = pd.read_excel(io.BytesIO(raw), sheet_name=sheet_name, nrows=max_rows + 1)
    limits.check_columns(len(frame.columns), name)
    limits.check_rows_read(len(frame), len(frame.columns), name)
    return frame


def _read_parquet(raw: bytes, name: str, limits: ReadLimits) -> pd.DataFrame:
    check_parquet(io.BytesIO(raw), name, limits)
    return pd.read_parquet(io.BytesIO(raw))


def read_table(
    source: str | Path | bytes | pd.DataFrame,
    *,
    name: str | None = None,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = 0,
    limits: ReadLimits | None = None,
) -> Table:
    """Read a table from a path, raw bytes (with ``name`` for the format), or a DataFrame.

    Parameters
    ----------
    source : path, bytes or DataFrame
        What to read.  A DataFrame is returned as it is (not copied, never changed).
    name : str, optional
        File name used for the format and in messages (bytes input).
    format : str, optional
        One of :data:`FORMATS`; by default from the suffix, else from the first bytes.
    encoding : str, optional
        Text encoding; by default detected.
    sheet : str or int
        Excel sheet.
    limits : ReadLimits, optional
        Caps on cells, columns and decompressed size (default :class:`ReadLimits()`),
        checked before the rows are decoded.

    Raises
    ------
    LimitExceededError
        The file is over a limit (cells, columns, decompressed size or ratio).
    NoDataError
        Empty file, or a header without rows.
    FileFormatError
        Unreadable format or encoding, binary data.
    DataError
        Missing file, duplicate column names.
    """
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
    elif isinstance(source, bytes | bytearray):
        raw = bytes(source)
        name = name or "upload"
    else:
        raise DataError(
            f"cannot read a table from {type(source).__name__}; pass a path, bytes or a DataFrame"
        )
    limits = limits if limits is not None else ReadLimits()
    if raw.startswith(b"\x1f\x8b"):
        raw = gunzip(raw, name, limits)
    if len(raw.strip()) == 0:
        raise NoDataError(f"the file '{name}' is empty", details={"source": name})
    fmt = format or detect_format(name, raw[:4096])
    if fmt not in FORMATS:
        raise FileFormatError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    enc: str | None = None
    delim: str | None = None
    notes: list[str] = []
    try:
        if fmt in ("csv", "tsv"):
            text, enc = decode(raw, encoding, name)
            if _looks_binary(text):
                raise _binary_error(name)
            delim = "\t" if fmt == "tsv" else sniff_delimiter(text)
            frame, notes = _read_delimited(text, delim, name, limits)
        elif fmt == "parquet":
            frame = _read_parquet(raw, name, limits)
        elif fmt == "excel":
            frame = _read_excel(raw, sheet, name, limits)
        else:
            text, enc = decode(raw, encoding, name)
            frame = _read_json(text, name, fmt == "ndjson", limits)
    except (DataError, NoDataError, MemoryError):
        # a memory failure is not a format error: the caller (the service's parsing
        # process) reports it against its memory limit
        raise
    except pd.errors.EmptyDataError:
        raise NoDataError(f"the file '{name}' has no data", details={"source": name}) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise FileFormatError(
            f"cannot read '{name}' as {fmt}: {type(exc).__name__}: {first}",
            details={"format": fmt, "source": name},
        ) from None
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    if len(frame.columns) == 0:
        raise NoDataError(f"the file '{name}' has no columns", details={"source": name})
    dupes = duplicates(list(frame.columns))
    if dupes:
        raise _duplicate_error(name, dupes)
    if len(frame) == 0:
        raise NoDataError(
            f"the file '{name}' has a header ({len(frame.columns)} columns) but no rows",
            details={"source": name, "columns": list(frame.columns)},
        )
    return Table(frame, fmt, enc, delim, name, notes)
