"""Storage helpers: ids, path-like values, atomic writes, crash leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqox.server.problems import InvalidRequestError
from cqox.server.storage import (
    _json_depth,
    atomic_write,
    check_id,
    clean_temporaries,
    datasets_dir,
    is_path_like,
    remove_orphans,
)


@pytest.mark.parametrize(
    "value", ["../x", "/etc/passwd", "a\\b", "C:\\x", "~/x", "x/../../y", "file:///etc"]
)
def test_path_like_values_are_recognised(value: str) -> None:
    assert is_path_like(value)
    with pytest.raises(InvalidRequestError):
        check_id(value)


def test_service_ids_pass() -> None:
    assert check_id("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef"
    for bad in ("0123456789ABCDEF0123456789ABCDEF", "x" * 32, "", "1"):
        with pytest.raises(InvalidRequestError):
            check_id(bad)


def test_atomic_write_leaves_the_whole_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.bin"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]


def test_crash_leftovers_are_cleaned_at_start(tmp_path: Path) -> None:
    folder = datasets_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / ".x.parquet.123.tmp").write_bytes(b"half")
    (folder / ("a" * 32 + ".parquet")).write_bytes(b"kept")
    (folder / ("b" * 32 + ".parquet")).write_bytes(b"orphan")
    assert clean_temporaries(tmp_path) == 1
    assert remove_orphans(tmp_path, {"a" * 32 + ".parquet"}) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a" * 32 + ".parquet"]
    runs = tmp_path / "analyses"
    runs.mkdir()
    for name in ("c" * 32 + ".pkl", "c" * 32 + ".html", "d" * 32 + ".pkl"):
        (runs / name).write_bytes(b"x")
    assert remove_orphans(tmp_path, {"a" * 32 + ".parquet"}, {"c" * 32}) == 1
    assert sorted(p.name for p in runs.iterdir()) == ["c" * 32 + ".html", "c" * 32 + ".pkl"]


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert _json_depth(b'[{"a": "[[[[{{{{"}]') == 2
    assert _json_depth(b"[" * 50 + b"]" * 50) > 20
