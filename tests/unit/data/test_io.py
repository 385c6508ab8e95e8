"""Reading tables: every format and encoding round-trips exactly, including non-ASCII."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cqox.data.io import decode, detect_format, read_table, sniff_delimiter
from cqox.errors import DataError, FileFormatError, NoDataError

#: Texts per encoding (column names and values in the encoding's script).  Twelve rows
#: give the encoding detector enough bytes to decide, as in real files.
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "ja": (["名前", "年齢", "処置", "結果"], ["山田太郎", "佐藤花子", "鈴木一郎", "高橋美咲"]),
    "zh_hans": (["姓名", "年龄", "处理", "结果"], ["张伟", "王芳", "李娜", "刘洋"]),
    "zh_hant": (["姓名", "年齡", "處理", "結果"], ["陳大文", "林美麗", "黃志明", "張家豪"]),
    "ko": (["이름", "나이", "처리", "결과"], ["김철수", "이영희", "박민수", "최지우"]),
    "latin": (["nom", "âge", "traité", "résultat"], ["José", "Françoise", "Zoë", "Müller-Øst"]),
}
#: (encoding, script) pairs that must round-trip through detection.
ENCODINGS = [
    ("utf-8", "ja"),
    ("utf-8-sig", "zh_hans"),
    ("utf-16", "ko"),
    ("utf-16-le", "latin"),
    ("cp1252", "latin"),
    ("latin-1", "latin"),
    ("shift_jis", "ja"),
    ("euc_jp", "ja"),
    ("gbk", "zh_hans"),
    ("gb18030", "zh_hans"),
    ("euc_kr", "ko"),
    ("big5", "zh_hant"),
]


def frame_for(script: str, n: int = 12) -> pd.DataFrame:
    """A small table with non-ASCII names and values, plus numbers with decimals."""
    cols, names = SCRIPTS[script]
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            cols[0]: [names[i % len(names)] for i in range(n)],
            cols[1]: rng.integers(18, 80, n),
            cols[2]: rng.integers(0, 2, n),
            cols[3]: np.round(rng.normal(10, 2, n), 3),
        }
    )


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for c in want.columns:
        if pd.api.types.is_numeric_dtype(want[c]):
            np.testing.assert_array_equal(got[c].to_numpy(float), want[c].to_numpy(float))
        else:
            assert got[c].astype(str).tolist() == want[c].astype(str).tolist()


@pytest.mark.parametrize(("encoding", "script"), ENCODINGS)
def test_csv_in_each_encoding_reads_back_exactly(
    tmp_path: Path, encoding: str, script: str
) -> None:
    df = frame_for(script)
    path = tmp_path / f"data_{encoding}.csv"
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    if encoding == "utf-16-le":  # no byte-order mark: recognised from the NUL pattern
        assert not path.read_bytes().startswith(b"\xff\xfe")
    table = read_table(path)
    assert_same(table.frame, df)
    assert table.format == "csv"
    assert table.delimiter == ","


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    df = frame_for("latin")
    path = tmp_path / "data.txt"
    path.write_text(df.to_csv(index=False, sep=delimiter), encoding="utf-8")
    table = read_table(path)
    assert table.delimiter == delimiter
    assert_same(table.frame, df)


def test_tsv_suffix_reads_tabs(tmp_path: Path) -> None:
    df = frame_for("ja")
    path = tmp_path / "data.tsv"
    path.write_text(df.to_csv(index=False, sep="\t"), encoding="utf-8")
    assert_same(read_table(path).frame, df)


def test_semicolon_file_with_decimal_commas_reads_numbers(tmp_path: Path) -> None:
    path = tmp_path / "euro.csv"
    path.write_text(
        "région;revenu;traité;code\nÎle-de-France;1.234,5;1;A,B\nBretagne;987,25;0;C\n"
        "Alsace;-3,5;1;D\n",
        encoding="cp1252",
    )
    table = read_table(path)
    assert table.delimiter == ";"
    assert table.frame["revenu"].tolist() == [1234.5, 987.25, -3.5]
    assert table.frame["code"].tolist() == ["A,B", "C", "D"]  # text stays text
    assert table.frame["région"].tolist()[0] == "Île-de-France"
    assert any("revenu" in note for note in table.notes)


def test_parquet_round_trip(tmp_path: Path) -> None:
    df = frame_for("zh_hans")
    path = tmp_path / "data.parquet"
    df.to_parquet(path)
    table = read_table(path)
    assert table.format == "parquet"
    assert_same(table.frame, df)


def test_excel_round_trip(tmp_path: Path) -> None:
    df = frame_for("ja")
    path = tmp_path / "data.xlsx"
    df.to_excel(path, index=False)
    table = read_table(path)
    assert table.format == "excel"
    assert_same(table.frame, df)


@pytest.mark.parametrize("orient", ["records", "columns", "split", "lists"])
def test_json_orientations_round_trip(tmp_path: Path, orient: str) -> None:
    df = frame_for("ko")
    path = tmp_path / "data.json"
    if orient == "lists":
        text = json.dumps({c: df[c].tolist() for c in df.columns}, ensure_ascii=False)
    elif orient == "split":
        text = df.to_json(orient="split", index=False, force_ascii=False)
    else:
        text = df.to_json(orient=orient, force_ascii=False)
    path.write_text(text, encoding="utf-8")
    table = read_table(path)
    assert table.format == "json"
    assert_same(table.frame, df)


def test_ndjson_round_trip(tmp_path: Path) -> None:
    df = frame_for("zh_hant")
    path = tmp_path / "data.jsonl"
    path.write_text(df.to_json(orient="records", lines=True, force_ascii=False), encoding="utf-8")
    table = read_table(path)
    assert table.format == "ndjson"
    assert_same(table.frame, df)


def test_gzip_compressed_csv(tmp_path: Path) -> None:
    df = frame_for("latin")
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(df.to_csv(index=False).encode("utf-8")))
    assert_same(read_table(path).frame, df)


def test_dataframe_passes_through_unchanged() -> None:
    df = frame_for("ja")
    before = df.copy()
    table = read_table(df)
    assert table.frame is df
    assert table.format == "dataframe"
    pd.testing.assert_frame_equal(df, before)


def test_bytes_with_a_name_read_like_a_file() -> None:
    df = frame_for("latin")
    table = read_table(df.to_csv(index=False, sep=";").encode("cp1252"), name="upload.csv")
    assert_same(table.frame, df)
    assert table.to_dict()["rows"] == len(df)


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("x.csv", b"a,b", "csv"),
        ("x.TSV", b"a\tb", "tsv"),
        ("x.csv.gz", b"", "csv"),
        ("x", b"PAR1....", "parquet"),
        ("x", b"PK\x03\x04", "excel"),
        ("x", b'[{"a": 1}]', "json"),
        ("x", b'{"a": 1}\n{"a": 2}\n', "ndjson"),
        ("x", b"a;b\n1;2", "csv"),
    ],
)
def test_format_detection(name: str, head: bytes, fmt: str) -> None:
    assert detect_format(name, head) == fmt


def test_sniffing_prefers_the_consistent_delimiter() -> None:
    # commas inside quoted fields must not win over the semicolon
    text = 'a;b;c\n"1,2";3;4\n"5,6";7;8\n'
    assert sniff_delimiter(text) == ";"


def test_explicit_encoding_is_used_and_a_wrong_one_is_refused() -> None:
    raw = "名前\n山田\n".encode("shift_jis")
    assert decode(raw, "shift_jis")[0] == "名前\n山田\n"
    with pytest.raises(FileFormatError, match="utf-8"):
        decode(raw, "utf-8")


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"", NoDataError, "empty"),
        (b"\n\n  \n", NoDataError, "empty"),
        (b"a,b,c\n", NoDataError, "no rows"),
        (b"a,b,a\n1,2,3\n", DataError, "duplicate column names: 'a'"),
        (bytes(range(256)) * 20, FileFormatError, "binary"),
    ],
)
def test_unreadable_files_raise_typed_errors(
    tmp_path: Path, content: bytes, error: type[Exception], match: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(error, match=match):
        read_table(path)


def test_missing_file_and_folder_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="folder"):
        read_table(tmp_path)


def test_json_with_duplicate_keys_or_wrong_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[{"a": 1, "a": 2}]', encoding="utf-8")
    with pytest.raises(DataError, match="duplicate column names: 'a'"):
        read_table(path)
    path.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(FileFormatError, match="list of records"):
        read_table(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(FileFormatError, match="as JSON"):
        read_table(path)


def test_excel_with_duplicate_headers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    pd.DataFrame([[1, 2], [3, 4]], columns=["x", "y"]).rename(columns={"y": "x"}).to_excel(
        path, index=False
    )
    with pytest.raises(DataError, match="duplicate column names: 'x'"):
        read_table(path)
