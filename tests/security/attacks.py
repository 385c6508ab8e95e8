"""Hostile upload files, built small and fast: each is tiny on disk and huge once read.

Every builder writes the bytes directly (pyarrow for Parquet, :mod:`zipfile`/:mod:`gzip`
for archives) so that the tests never need the memory the attack is aiming at.  Results
are cached: a file built for one test is reused by the next.
"""

from __future__ import annotations

import base64
import functools
import gzip
import io
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: Rows of the constant-column Parquet file of the issue (871 KB, 5.4 GB once read).
CONSTANT_ROWS = 100_000_000


@functools.cache
def constant_parquet(n_rows: int = CONSTANT_ROWS, row_group: int = 10_000_000) -> bytes:
    """Parquet of ``n_rows`` rows × 2 int64 columns of zeros (under 1 MB on disk).

    Run-length encoding makes it tiny; decoded it needs ``n_rows`` × 16 bytes (1.6 GB),
    and several times that on the way to a validated, profiled frame.
    """
    zeros = pa.array(np.zeros(row_group, np.int64))
    chunk = pa.table({"y": zeros, "t": zeros})
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, chunk.schema, compression="zstd") as writer:
        for _ in range(n_rows // row_group):
            writer.write_table(chunk, row_group_size=row_group)
    return buf.getvalue()


@functools.cache
def dictionary_string_parquet(n_rows: int = 1500, value_bytes: int = 1 << 20) -> bytes:
    """Parquet whose ``n_rows`` rows all point to one ``value_bytes`` string.

    The dictionary holds the string once (a few hundred bytes after compression);
    without the Arrow schema in the file a reader decodes every row: 1.5 GB.
    """
    values = pa.array(["x" * value_bytes])
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n_rows, np.int32)), values)
    table = pa.table({"s": column, "t": pa.array(np.zeros(n_rows, np.int8))})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=False)
    return buf.getvalue()


def sheet_rows(n_rows: int, n_cols: int) -> bytes:
    """Sheet XML rows of numbered cells (what openpyxl reads at ~100,000 cells a second)."""
    cells = "".join(f'<c t="n"><v>{j}</v></c>' for j in range(n_cols))
    return f"<row>{cells}</row>".encode() * n_rows


@functools.cache
def xlsx(
    sheet_xml_body: bytes | None = None, *, deflated_zeros: int = 0, random_bytes: int = 0
) -> bytes:
    """A minimal .xlsx archive (openpyxl opens it) with the given sheet rows.

    ``deflated_zeros`` appends that many ``0`` bytes inside the sheet XML (in an XML
    comment), written through the deflate stream in 1 MB steps: a bomb that expands
    about 1,000-fold.  ``random_bytes`` of base64 noise in the same comment barely
    compress, which brings the archive's overall ratio down to any value wanted.
    """
    body = sheet_xml_body if sheet_xml_body is not None else sheet_rows(3, 2)
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="application'
            '/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
            '"http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
            'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name='
            '"Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
            '"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"'
            ' Target="worksheets/sheet1.xml"/></Relationships>'
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>' + body
            )
            if deflated_zeros or random_bytes:
                sheet.write(b"<!--")
                zeros = b"0" * (1 << 20)
                for _ in range(deflated_zeros >> 20):
                    sheet.write(zeros)
                noise = np.random.default_rng(0).integers(0, 256, random_bytes * 3 // 4, np.uint8)
                sheet.write(base64.b64encode(noise.tobytes()))
                sheet.write(b"-->")
            sheet.write(b"</sheetData></worksheet>")
    return buf.getvalue()


@functools.cache
def wide_csv(n_cols: int = 20_000, n_rows: int = 20) -> bytes:
    """A CSV of ``n_cols`` integer columns × ``n_rows`` rows (20,000 × 20 took 64 s)."""
    rng = np.random.default_rng(0)
    header = ",".join(f"c{j}" for j in range(n_cols))
    rows = [",".join(map(str, r)) for r in rng.integers(0, 9, size=(n_rows, n_cols))]
    return ("\n".join([header, *rows]) + "\n").encode()


@functools.cache
def long_header_csv(n_bytes: int) -> bytes:
    """One line of ``n_bytes`` of short comma-separated names, no newline: all header."""
    unit = b"ab,"
    return unit * (n_bytes // len(unit))


@functools.cache
def gzip_bomb(expanded: int, member: int = 8 << 20) -> bytes:
    """A gzip stream of ``expanded`` bytes of ``0,0`` lines: concatenated gzip members.

    One member of ``member`` bytes is compressed once and repeated (gzip readers join
    members), so building it costs milliseconds whatever the expanded size.
    """
    line = b"0,0\n"
    one = gzip.compress(b"y,t\n" + line * (member // len(line)), compresslevel=9)
    return one * max(1, expanded // member)


@functools.cache
def wide_json_records(n_cols: int = 20_000, n_rows: int = 3) -> bytes:
    """JSON records with ``n_cols`` keys each."""
    record = "{" + ",".join(f'"c{j}":{j % 7}' for j in range(n_cols)) + "}"
    return ("[" + ",".join([record] * n_rows) + "]").encode()


@functools.cache
def long_ndjson(n_rows: int, n_cols: int = 2) -> bytes:
    """NDJSON of ``n_rows`` short records."""
    record = "{" + ",".join(f'"c{j}":0' for j in range(n_cols)) + "}\n"
    return record.encode() * n_rows
