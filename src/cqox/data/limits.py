"""Reading limits: caps that keep a hostile file from exhausting memory or time.

A small file can describe a huge table: a Parquet footer can declare 100 million rows
of one constant (871 KB on disk), a 2 MB ``.xlsx`` or ``.gz`` can inflate to gigabytes
(a "decompression bomb"), and a CSV header can name 20,000 columns.  Each check here
reads only what is cheap and bounded — a Parquet footer, a zip archive's directory, the
first record of a text — and refuses the file *before* the expensive decoding, with a
:class:`~cqox.errors.LimitExceededError` that names the limit.

The limits, with their library defaults (:class:`ReadLimits`):

- ``max_cells`` — rows × columns of the table (Parquet: from the footer; CSV, Excel and
  NDJSON: at most ``max_cells // columns`` rows are parsed, one more row refuses);
- ``max_columns`` — columns, read from the header (or footer) before any row;
- ``max_expanded_bytes`` — decompressed size of a gzip stream, of the members of an
  ``.xlsx`` archive, of the uncompressed Parquet pages, and of the decoded text of a
  Parquet file's string columns;
- ``max_expansion_ratio`` — decompressed / compressed size of a gzip stream or an
  ``.xlsx`` archive (zip bombs reach ratios of 1,000; spreadsheets and CSV files
  rarely pass 20).  The absolute and the ratio cap are applied independently.

Example
-------
>>> from cqox.data.limits import ReadLimits
>>> limits = ReadLimits(max_columns=3, names={"max_columns": "CQOX_MAX_COLUMNS"})
>>> limits.check_columns(5, "w.csv")
Traceback (most recent call last):
...
cqox.errors.LimitExceededError: 'w.csv' has 5 columns, more than the limit of 3 (CQOX_MAX_COLUMNS)
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cqox.errors import FileFormatError, LimitExceededError

#: Longest column name in characters; bounds how far the header of a text is read.
MAX_NAME_CHARS = 256
#: Bytes inflated at a time when a gzip stream is decompressed under a cap.
GZIP_CHUNK = 1 << 20
#: Inflated bytes after which a gzip stream's running ratio is checked (below it, the
#: cost of inflating is negligible and a highly compressible header is no evidence).
RATIO_CHECK_FLOOR = 16 << 20


def _mb(n: float) -> str:
    return f"{n / (1024 * 1024):,.0f} MB"


@dataclass(frozen=True)
class ReadLimits:
    """Caps applied while a table is read (see the module docstring for each).

    Parameters
    ----------
    max_cells : int
        Largest rows × columns.
    max_columns : int
        Largest number of columns.
    max_expanded_bytes : int
        Largest decompressed (gzip, xlsx members, Parquet pages) or decoded (Parquet
        strings) size in bytes.
    max_expansion_ratio : float
        Largest decompressed / compressed size of a gzip stream or an xlsx archive.
    names : mapping
        How messages name each limit (e.g. ``{"max_cells": "CQOX_MAX_CELLS"}`` in the
        service); by default the parameter's own name.
    """

    max_cells: int = 100_000_000
    max_columns: int = 10_000
    max_expanded_bytes: int = 2 * 1024**3
    max_expansion_ratio: float = 200.0
    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, limit: str) -> str:
        """How messages name ``limit`` (a setting, or the parameter itself)."""
        return self.names.get(limit, limit)

    def refuse(self, limit: str, message: str, got: Any, **details: Any) -> LimitExceededError:
        """The error for a file over ``limit``: ``message`` then the limit's name."""
        return LimitExceededError(
            f"{message} ({self.name(limit)})",
            details={"limit": self.name(limit), "max": getattr(self, limit), "got": got, **details},
        )

    @property
    def max_header_chars(self) -> int:
        """Characters read to find the header: ``max_columns`` names and delimiters."""
        return self.max_columns * (MAX_NAME_CHARS + 3) + 4096

    def check_columns(self, n_columns: int, name: str) -> None:
        """Refuse more than ``max_columns`` columns."""
        if n_columns > self.max_columns:
            raise self.refuse(
                "max_columns",
                f"'{name}' has {n_columns} columns, more than the limit of {self.max_columns}",
                n_columns,
                source=name,
            )

    def max_rows(self, n_columns: int) -> int:
        """Most rows a table of ``n_columns`` may have under ``max_cells``."""
        return self.max_cells // max(n_columns, 1)

    def check_cells(self, n_rows: int, n_columns: int, name: str) -> None:
        """Refuse more than ``max_cells`` rows × columns."""
        if n_rows * n_columns > self.max_cells:
            raise self.refuse(
                "max_cells",
                f"'{name}' has {n_rows} rows × {n_columns} columns = {n_rows * n_columns} "
                f"cells, more than the limit of {self.max_cells}",
                n_rows * n_columns,
                source=name,
            )

    def check_rows_read(self, n_rows_read: int, n_columns: int, name: str) -> None:
        """Refuse a table whose reading stopped one row past ``max_rows(n_columns)``."""
        cap = self.max_rows(n_columns)
        if n_rows_read > cap:
            raise self.refuse(
                "max_cells",
                f"'{name}' has more than {cap} rows × {n_columns} columns, more than the "
                f"limit of {self.max_cells} cells",
                n_rows_read * n_columns,
                source=name,
            )

    def check_expanded(
        self, expanded: int, compressed: int | None, name: str, what: str, *, at_least: bool = False
    ) -> None:
        """Refuse ``expanded`` bytes over the absolute cap, or over the ratio cap.

        The two caps are independent: a 100 MB file with a modest ratio can still
        expand past the absolute cap, and a tiny file past the ratio.  ``at_least``
        says that ``expanded`` is a lower bound (decompression stopped there).
        """
        size = f"{'at least ' if at_least else ''}{_mb(expanded)} ({expanded} bytes)"
        if expanded > self.max_expanded_bytes:
            raise self.refuse(
                "max_expanded_bytes",
                f"'{name}': {what} expands to {size}, more than the limit of "
                f"{_mb(self.max_expanded_bytes)}; refused as a possible decompression bomb",
                expanded,
                source=name,
            )
        if compressed is not None and expanded > self.max_expansion_ratio * max(compressed, 1):
            ratio = expanded / max(compressed, 1)
            raise self.refuse(
                "max_expansion_ratio",
                f"'{name}': {what} expands {'at least ' if at_least else ''}{ratio:,.0f}-fold "
                f"({compressed} bytes to {size}), more than the limit of "
                f"{self.max_expansion_ratio:g}; refused as a possible decompression bomb",
                round(ratio, 1),
                source=name,
            )


def gunzip(raw: bytes, name: str, limits: ReadLimits) -> bytes:
    """Decompress a gzip stream, never holding more than the caps allow.

    Inflates at most ``min(max_expanded_bytes, max_expansion_ratio × len(raw)) + 1``
    bytes.  The ratio is also checked as the stream inflates, once
    :data:`RATIO_CHECK_FLOOR` bytes have come out: a bomb shows its ratio from its first
    megabytes, so it is refused after inflating 16 MB rather than 200 times its size.
    """
    cap = min(limits.max_expanded_bytes, int(limits.max_expansion_ratio * len(raw)))
    source = io.BytesIO(raw)
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=source) as gz:
            while out.tell() <= cap:
                chunk = gz.read(min(GZIP_CHUNK, cap + 1 - out.tell()))
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() >= RATIO_CHECK_FLOOR:
                    # against the compressed bytes read so far (read-ahead only lowers it)
                    limits.check_expanded(
                        out.tell(), source.tell(), name, "the start of the gzip stream"
                    )
    except (OSError, EOFError) as exc:
        raise FileFormatError(
            f"cannot decompress '{name}': {exc}", details={"source": name}
        ) from None
    if out.tell() > cap:
        limits.check_expanded(out.tell(), len(raw), name, "the gzip stream", at_least=True)
    return out.getvalue()


def check_zip(raw: bytes, name: str, limits: ReadLimits) -> None:
    """Refuse an ``.xlsx`` archive whose members expand past the caps.

    Sizes come from the archive's central directory.  They can lie, but never to our
    cost: :mod:`zipfile` (which openpyxl uses) stops a member at its declared size.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FileFormatError(
            f"cannot read '{name}' as Excel: not a valid .xlsx archive ({exc})",
            details={"source": name},
        ) from None
    limits.check_expanded(total, len(raw), name, "the Excel archive")


def check_parquet(source: Any, name: str, limits: ReadLimits) -> None:
    """Refuse a Parquet file from its footer, before any page is decoded.

    Checks the columns, rows × columns and the uncompressed size of the pages
    (``max_expanded_bytes``; no ratio: dictionary and run-length encodings make high
    ratios normal, and the cells cap bounds them); refuses nested columns (a list
    column's rows can hold any number of values); then adds up the decoded size: rows ×
    width for fixed-width columns and, for string and binary columns, the lengths of the
    values, read *as dictionaries* — a 500-byte file can hold 1,500 rows that all point
    to one 1 MB string, 1.5 GB once decoded.

    The footer is the writer's word: a lying one is caught later, by the service's
    memory limit on the parsing process.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        schema = parquet.schema_arrow
    except Exception as exc:
        raise FileFormatError(
            f"cannot read '{name}' as parquet: {type(exc).__name__}: {exc}",
            details={"format": "parquet", "source": name},
        ) from None
    limits.check_columns(meta.num_columns, name)
    limits.check_cells(meta.num_rows, meta.num_columns, name)
    pages = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    limits.check_expanded(pages, None, name, "the Parquet file (uncompressed pages)")
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise FileFormatError(
            f"cannot read '{name}': column(s) {', '.join(repr(c) for c in nested)} hold nested "
            "values (lists, structs or maps); CQOX reads flat tables",
            details={"columns": nested, "source": name},
        )
    decoded = 0
    text: list[str] = []
    for f in schema:
        kind = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_fixed_size_binary(kind):
            decoded += meta.num_rows * kind.byte_width
        elif pa.types.is_primitive(kind) or pa.types.is_decimal(kind):
            decoded += meta.num_rows * max(kind.bit_width // 8, 1)
        elif pa.types.is_null(kind):
            decoded += meta.num_rows * 8  # one pointer to None per row
        elif any(
            is_text(kind)
            for is_text in (
                pa.types.is_string,
                pa.types.is_large_string,
                pa.types.is_binary,
                pa.types.is_large_binary,
            )
        ):
            text.append(f.name)
    limits.check_expanded(decoded, None, name, "the Parquet file (fixed-width columns)")
    if not text:
        return
    table = pq.ParquetFile(source, read_dictionary=text).read(columns=text)
    for column in table.columns:
        for chunk in column.chunks:
            if isinstance(chunk, pa.DictionaryArray):
                lengths = pc.binary_length(chunk.dictionary)
                decoded += int(pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0)
            else:
                decoded += chunk.nbytes
        if decoded > limits.max_expanded_bytes:
            break
    limits.check_expanded(decoded, None, name, "the Parquet file (decoded columns)")
