"""Tables built on first read (:class:`cqox.core.tables.Tables`): same tables, same JSON."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from cqox.core.estimate import Estimate
from cqox.core.jsonable import to_jsonable
from cqox.core.tables import Tables, tables_jsonable


def _columns() -> dict[str, object]:
    return {
        "term": ["intercept", "t", "x1"],
        "coef": np.array([1.5, np.nan, -np.inf]),
        "count": np.array([1, 2, 3], dtype=np.int32),
        "post": np.array([True, False, True]),
        "small": np.array([0.1, 0.2, 0.3], dtype=np.float32),
    }


#: Columns the JSON takes from pandas (not NumPy numbers, not a list of text).
PANDAS_COLUMNS: dict[str, object] = {
    "python_floats": [1.0, float("nan"), 2.5],
    "with_none": ["a", None, "c"],
    "dates": np.array(["2020-01-01", "2020-02-01", "NaT"], dtype="datetime64[ns]"),
    "objects": np.array([1, "b", None], dtype=object),
    "ints_list": [1, 2, 3],
    "series": pd.Series([4.0, 5.0, 6.0]),
}


def test_no_dataframe_is_built_until_a_table_is_read() -> None:
    tables = Tables(coefficients=_columns())
    assert list(tables) == ["coefficients"]
    assert "coefficients" in tables and len(tables) == 1
    assert not tables.is_built("coefficients")
    first = tables["coefficients"]
    assert tables.is_built("coefficients")
    assert tables["coefficients"] is first  # built once, then kept


def test_a_table_given_as_columns_is_the_dataframe_of_those_columns() -> None:
    tables = Tables({"coefficients": _columns(), "other": PANDAS_COLUMNS})
    pd.testing.assert_frame_equal(tables["coefficients"], pd.DataFrame(_columns()))
    pd.testing.assert_frame_equal(tables["other"], pd.DataFrame(PANDAS_COLUMNS))


def test_a_builder_runs_once_on_first_read() -> None:
    calls: list[int] = []

    def build() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"a": [1, 2]})

    tables = Tables(fit=build)
    assert calls == []
    assert tables["fit"]["a"].tolist() == [1, 2]
    tables["fit"]
    assert calls == [1]


@pytest.mark.parametrize(
    "columns", [_columns(), PANDAS_COLUMNS, {**_columns(), **PANDAS_COLUMNS}, {}]
)
def test_the_json_of_columns_equals_the_json_of_their_dataframe(
    columns: dict[str, object],
) -> None:
    lazy = Tables(t=columns)
    expected = json.dumps(to_jsonable(pd.DataFrame(columns)))
    assert json.dumps(tables_jsonable(lazy)["t"]) == expected


def test_numpy_and_text_columns_reach_the_json_without_a_dataframe() -> None:
    lazy = Tables(t=_columns())
    tables_jsonable(lazy)
    assert not lazy.is_built("t")


def test_an_estimate_with_lazy_tables_serialises_byte_identically() -> None:
    def estimate(tables: object) -> Estimate:
        return Estimate.from_se("x", "ATE", 1.0, 0.5, tables=tables)  # type: ignore[arg-type]

    frames = {"coefficients": pd.DataFrame(_columns()), "other": pd.DataFrame(PANDAS_COLUMNS)}
    lazy = Tables(
        coefficients=_columns(), other=lambda: pd.DataFrame(PANDAS_COLUMNS), given=frames["other"]
    )
    frames["given"] = frames["other"]
    assert json.dumps(estimate(lazy).to_dict()) == json.dumps(estimate(frames).to_dict())


def test_tables_read_as_a_mapping_of_dataframes() -> None:
    lazy = Tables(a={"x": np.arange(3)}, b=lambda: pd.DataFrame({"y": [1.0]}))
    as_dict = dict(lazy)
    assert set(as_dict) == {"a", "b"}
    assert all(isinstance(v, pd.DataFrame) for v in {**lazy}.values())
    assert lazy.get("missing") is None
    with pytest.raises(KeyError):
        lazy["missing"]


def test_tables_pickle_as_their_dataframes() -> None:
    lazy = Tables(a=_columns(), b=lambda: pd.DataFrame({"y": [1.0, 2.0]}))
    back = pickle.loads(pickle.dumps(lazy))
    assert isinstance(back, Tables)
    pd.testing.assert_frame_equal(back["a"], pd.DataFrame(_columns()))
    pd.testing.assert_frame_equal(back["b"], pd.DataFrame({"y": [1.0, 2.0]}))


def test_bad_tables_are_refused_when_given() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        Tables(t={"a": np.arange(3), "b": np.arange(2)})
    with pytest.raises(ValueError, match="1-D"):
        Tables(t={"a": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="not a sequence"):
        Tables(t={"a": 1.0})
    with pytest.raises(TypeError, match="expected a DataFrame"):
        Tables(t=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a DataFrame"):
        Tables(t=lambda: [1, 2])["t"]  # type: ignore[arg-type, return-value]
