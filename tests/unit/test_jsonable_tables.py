"""A DataFrame becomes the same JSON records whether its columns go whole or value by value.

:func:`cqox.core.jsonable.to_jsonable` converts NumPy numeric columns at once (the
matched pairs of ``psm`` are a 10,000-row table in every served analysis) and the
others through ``to_dict(orient="records")``; the result must be the record-by-record
conversion, value and type, for every dtype a table may hold.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.jsonable import to_jsonable


def _by_record(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): to_jsonable(v) for k, v in row.items()} for row in df.to_dict("records")]


def _mixed(n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "row": np.arange(n),
            "int32": rng.integers(1, 4, n).astype(np.int32),
            "uint8": np.arange(n, dtype=np.uint8),
            "float": rng.normal(size=n),
            "float32": rng.normal(size=n).astype(np.float32),
            "missing": np.where(rng.random(n) < 0.3, np.nan, 1.0),
            "infinite": np.r_[np.inf, -np.inf, np.zeros(n - 2)],
            "bool": rng.random(n) < 0.5,
            "text": ["a"] * n,
            "object": [1, "x", None, np.nan, 2.5, np.int64(3), True, [1, 2], {"a": 1}, 1.5],
            "Int64": pd.array([1, None] * (n // 2), dtype="Int64"),
            "Float64": pd.array([1.5, None] * (n // 2), dtype="Float64"),
            "boolean": pd.array([True, None] * (n // 2), dtype="boolean"),
            "string": pd.array(["q", None] * (n // 2), dtype="string"),
            "category": pd.Categorical(["x", "y"] * (n // 2)),
            "datetime": pd.date_range("2020", periods=n, freq="h"),
            "timedelta": pd.to_timedelta(np.arange(n), unit="s"),
            3: np.full(n, 1.5),
        }
    )


def test_columns_converted_whole_equal_the_record_by_record_conversion() -> None:
    df = _mixed()
    got, want = to_jsonable(df), _by_record(df)
    assert got == want
    assert json.dumps(got) == json.dumps(want)
    for g, w in zip(got, want, strict=True):
        assert list(g) == list(w)
        assert [type(v) for v in g.values()] == [type(v) for v in w.values()]


def test_each_dtype_alone_and_edge_shapes() -> None:
    df = _mixed()
    for name in df.columns:
        one = df[[name]]
        assert json.dumps(to_jsonable(one)) == json.dumps(_by_record(one)), name
    assert to_jsonable(pd.DataFrame()) == []
    assert to_jsonable(df.iloc[:0]) == []
    duplicated = pd.DataFrame([[1, 2.5]], columns=["a", "a"])
    assert to_jsonable(duplicated) == _by_record(duplicated)
