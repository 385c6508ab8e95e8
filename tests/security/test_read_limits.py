"""Reading limits of the library and the CLI (issue #10, part 3): refused before decoding.

``read_table`` refuses a hostile file from what is cheap to read — a Parquet footer, a
zip directory, the header line — before the rows are decoded.  Each test proves the
"before": the decoder it would have run (``pd.read_parquet``, ``pd.read_excel``,
``pd.read_csv``) is replaced by one that fails the test, or the memory the attack
aims at is measured with :mod:`tracemalloc`.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cqox.cli import main as cli
from cqox.data.io import ReadLimits, read_table
from cqox.errors import FileFormatError, LimitExceededError
from tests.security import attacks
from tests.security.budgets import REFUSAL_BUDGET_S

#: Memory a refused decompression bomb may cost (the caps stop it long before).
BOMB_MEMORY_BUDGET = 256 * 1024 * 1024
#: Limits of these tests (the service's defaults, with a small decompression cap).
LIMITS = ReadLimits(max_cells=50_000_000, max_columns=5_000, max_expanded_bytes=64 << 20)


def _never(what: str) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{what} was called: the file was decoded before it was refused")

    return fail


def _refused(raw: bytes, name: str, limits: ReadLimits = LIMITS) -> LimitExceededError:
    start = time.process_time()  # CPU time: what the refusal costs, whatever the load
    with pytest.raises(LimitExceededError) as info:
        read_table(raw, name=name, limits=limits)
    assert time.process_time() - start < REFUSAL_BUDGET_S
    return info.value


def test_parquet_rows_times_columns_are_checked_from_the_footer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = attacks.constant_parquet()
    assert len(raw) < 1_000_000  # the 871 KB file of 100M constant rows
    monkeypatch.setattr(pd, "read_parquet", _never("pd.read_parquet"))
    err = _refused(raw, "constant.parquet")
    assert "100000000 rows × 2 columns" in err.message and "max_cells" in err.message
    assert err.details["limit"] == "max_cells" and err.details["max"] == 50_000_000


def test_parquet_string_dictionary_bomb_is_measured_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = attacks.dictionary_string_parquet()
    assert len(raw) < 4096  # 1,500 rows pointing at one 1 MB string: 1.5 GB decoded
    monkeypatch.setattr(pd, "read_parquet", _never("pd.read_parquet"))
    err = _refused(raw, "strings.parquet")
    assert err.details["limit"] == "max_expanded_bytes"
    assert int(err.details["got"]) >= 1500 * (1 << 20)


def test_parquet_with_nested_columns_is_refused_by_name(tmp_path: Path) -> None:
    table = pa.table({"y": [1.0, 2.0], "deep": [[1, 2, 3], [4]]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with pytest.raises(FileFormatError, match=r"'deep'.*nested"):
        read_table(buf.getvalue(), name="nested.parquet")


def test_xlsx_ratio_bomb_is_refused_from_the_zip_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = attacks.xlsx(deflated_zeros=100 << 20)
    monkeypatch.setattr(pd, "read_excel", _never("pd.read_excel"))
    # the ratio cap alone refuses it: the absolute cap is out of the way
    err = _refused(raw, "bomb.xlsx", ReadLimits(max_expanded_bytes=1 << 40))
    assert err.details["limit"] == "max_expansion_ratio"


def test_xlsx_absolute_cap_applies_even_at_a_modest_ratio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = attacks.xlsx(deflated_zeros=80 << 20, random_bytes=500_000)
    expanded = 80 << 20
    assert expanded / len(raw) < LIMITS.max_expansion_ratio  # the ratio cap lets it pass
    monkeypatch.setattr(pd, "read_excel", _never("pd.read_excel"))
    err = _refused(raw, "big.xlsx")
    assert err.details["limit"] == "max_expanded_bytes"


def test_gzip_bomb_is_inflated_only_up_to_the_cap() -> None:
    raw = attacks.gzip_bomb(1 << 30)  # 1 MB that inflates to 1 GB
    tracemalloc.start()
    try:
        err = _refused(raw, "bomb.csv.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.details["limit"] in ("max_expansion_ratio", "max_expanded_bytes")
    assert peak < BOMB_MEMORY_BUDGET


def test_gzip_under_the_caps_is_still_read() -> None:
    import gzip

    frame = pd.DataFrame({"y": [1.5, 2.5, 3.5], "t": [0, 1, 0]})
    table = read_table(gzip.compress(frame.to_csv(index=False).encode()), name="ok.csv.gz")
    pd.testing.assert_frame_equal(table.frame, frame)


def test_csv_column_cap_is_checked_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = attacks.wide_csv()  # 20,000 columns × 20 rows took 64 s in the service
    monkeypatch.setattr(pd, "read_csv", _never("pd.read_csv"))
    err = _refused(raw, "wide.csv")
    assert "20000 columns" in err.message and err.details["limit"] == "max_columns"


def test_one_huge_header_line_is_not_split_into_millions_of_fields() -> None:
    raw = attacks.long_header_csv(50 << 20)  # 50 MB, no newline: 17 million fields
    tracemalloc.start()
    try:
        err = _refused(raw, "line.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.details["limit"] == "max_columns"
    # the decoded text itself (50 MB) plus a bounded window, never a list of fields
    assert peak < 3 * len(raw)


def test_csv_rows_past_the_cells_cap_are_never_parsed() -> None:
    raw = b"y,t\n" + b"0,1\n" * 400_000
    err = _refused(raw, "long.csv", ReadLimits(max_cells=100_000))
    assert err.details["limit"] == "max_cells"
    assert "more than 50000 rows × 2 columns" in err.message


def test_a_table_exactly_at_the_limits_is_read() -> None:
    raw = b"y,t,x\n" + b"0,1,2\n" * 1000
    table = read_table(raw, name="edge.csv", limits=ReadLimits(max_cells=3000, max_columns=3))
    assert table.frame.shape == (1000, 3)
    with pytest.raises(LimitExceededError):
        read_table(raw, name="edge.csv", limits=ReadLimits(max_cells=2999))
    with pytest.raises(LimitExceededError):
        read_table(raw, name="edge.csv", limits=ReadLimits(max_columns=2))


def test_json_records_are_counted_before_the_frame_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pd.DataFrame, "from_records", _never("DataFrame.from_records"))
    err = _refused(attacks.wide_json_records(), "wide.json")
    assert err.details["limit"] == "max_columns"


def test_ndjson_lines_times_columns_refused_before_parsing_every_line() -> None:
    raw = attacks.long_ndjson(500_000, 3)
    err = _refused(raw, "long.ndjson", ReadLimits(max_cells=1_000_000))
    assert err.details["limit"] == "max_cells" and "500000 rows × 3 columns" in err.message


def test_limit_messages_use_the_callers_names_for_the_limits() -> None:
    limits = ReadLimits(max_columns=3, names={"max_columns": "CQOX_MAX_COLUMNS"})
    err = _refused(b"a,b,c,d\n1,2,3,4\n", "w.csv", limits)
    assert err.message.endswith("(CQOX_MAX_COLUMNS)") and err.details["limit"] == "CQOX_MAX_COLUMNS"


def test_cli_refuses_a_parquet_bomb_with_one_line_naming_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "constant.parquet"
    path.write_bytes(attacks.constant_parquet())
    import cqox.analysis.compose
    import cqox.cli.display  # noqa: F401 - the engine's import time is not the refusal's

    start = time.process_time()
    code = cli.main(["analyze", str(path)])
    assert time.process_time() - start < REFUSAL_BUDGET_S
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("cqox: error:") and "max_cells" in err and "\n" not in err
