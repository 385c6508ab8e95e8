"""The profile: size, types, missingness, statistics and candidate roles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cqox.core.jsonable import to_jsonable
from cqox.data.io import read_table
from cqox.data.profile import column_kind, profile
from tests.conftest import dataset_path


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "treated": [0, 1, 1, 0, 1],
            "y": [1.0, np.nan, 3.0, 4.0, 5.0],
            "city": ["東京", "大阪", "東京", None, "東京"],
            "when": pd.to_datetime(["2020-01-01"] * 5),
            "empty": [np.nan] * 5,
        }
    )


def test_counts_and_missingness() -> None:
    p = profile(table())
    assert (p["rows"], p["columns"], p["complete_rows"], p["missing_cells"]) == (5, 5, 0, 7)
    by_name = {c["name"]: c for c in p["column_profiles"]}
    assert by_name["y"]["missing"] == 1
    assert by_name["y"]["missing_share"] == pytest.approx(0.2)
    assert by_name["empty"]["kind"] == "empty"


def test_statistics_match_pandas() -> None:
    df = table()
    y = profile(df)["column_profiles"][1]
    assert y["mean"] == pytest.approx(df["y"].mean())
    assert y["sd"] == pytest.approx(df["y"].std())
    assert (y["min"], y["median"], y["max"]) == (1.0, df["y"].median(), 5.0)
    city = profile(df)["column_profiles"][2]
    assert city["top"] == {"東京": 3, "大阪": 1}


def test_kinds() -> None:
    df = table()
    assert [column_kind(df[c]) for c in df.columns] == [
        "binary",
        "numeric",
        "categorical",
        "datetime",
        "empty",
    ]
    assert profile(df)["kinds"] == {
        "binary": 1,
        "numeric": 1,
        "categorical": 1,
        "datetime": 1,
        "empty": 1,
    }


def test_profile_is_json_serialisable_and_has_candidate_roles() -> None:
    df = read_table(dataset_path("lalonde_nsw_dw.csv")).frame
    p = profile(df)
    json.dumps(to_jsonable(p), allow_nan=False)
    assert p["candidate_roles"]["treatment"][0]["column"] == "treat"
    assert p["candidate_roles"]["outcome"][0]["column"] == "re78"
    assert p["dtypes"]["re78"] == "float64"


def test_profile_can_skip_roles() -> None:
    assert "candidate_roles" not in profile(table(), roles=False)


def test_counts_without_a_table_sized_mask() -> None:
    """Complete rows and missing cells are counted column by column: same numbers."""
    df = table().drop(columns="empty").assign(z=[1.0, 2.0, 3.0, 4.0, np.nan])
    p = profile(df)
    assert p["complete_rows"] == int(df.notna().all(axis=1).sum())
    assert p["missing_cells"] == int(df.isna().sum().sum())
