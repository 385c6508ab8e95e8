"""The fast paths of data preparation give the same answer as the general ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.data.prepare import _complete_rows, prepare
from cqox.estimators.did.panel import _codes
from cqox.estimators.did.two_by_two import did_2x2_regression


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, 3, 3, 9, -2, 5]),
        np.array([2001, 1999, 2001, 2000], dtype=np.int32),
        np.array([0, 10**12, 7]),  # range too wide for the presence table
        np.array([1.5, 0.5, 1.5]),
    ],
)
def test_codes_equal_numpy_unique(values: np.ndarray) -> None:
    uniques, codes = _codes(values)
    ref_uniques, ref_codes = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(uniques, ref_uniques)
    np.testing.assert_array_equal(codes, ref_codes)
    assert uniques.dtype == ref_uniques.dtype


def test_complete_rows_handles_every_kind_of_column() -> None:
    df = pd.DataFrame(
        {
            "i": [1, 2, 3, 4],
            "f": [1.0, np.nan, 3.0, 4.0],
            "b": [True, False, True, True],
            "s": ["a", "b", None, "d"],
            "n": pd.array([1, 2, 3, None], dtype="Int64"),
            "t": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]),
        }
    )
    np.testing.assert_array_equal(_complete_rows(df), df.notna().all(axis=1).to_numpy())


def test_prepare_never_changes_the_callers_table() -> None:
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "t": [0, 1, 0, 1], "x": [0.1, 0.4, 0.2, 0.3]})
    before = df.copy()
    data = prepare(df, Roles.from_mapping(outcome="y", treatment="t", covariates=["x"]))
    data.frame.loc[0, "y"] = 99.0
    pd.testing.assert_frame_equal(df, before)


def test_prepare_resets_a_non_range_index() -> None:
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "t": [0, 1, 0, 1]}, index=[10, 11, 12, 13])
    data = prepare(df, Roles.from_mapping(outcome="y", treatment="t"))
    assert list(data.frame.index) == [0, 1, 2, 3]
    np.testing.assert_array_equal(data.row_index, [0, 1, 2, 3])


def test_saturated_2x2_equals_the_explicit_regression() -> None:
    """Cell-sum algebra without covariates = OLS on [1, G, Post, G·Post] with CR1."""
    rng = np.random.default_rng(4)
    n_units, n_t = 60, 4
    unit = np.repeat(np.arange(n_units), n_t)
    g = (unit < 25).astype(float)
    post = np.tile((np.arange(n_t) >= 2).astype(float), n_units)
    y = rng.standard_normal(len(unit)) + g * post
    w = rng.uniform(0.5, 2.0, len(unit))
    for weights in (None, w):
        fast = did_2x2_regression(y, g, post, np.empty((len(y), 0)), unit, weights)
        Z = np.column_stack([np.ones_like(y), g, post, g * post])
        ww = np.ones_like(y) if weights is None else weights
        bread = np.linalg.inv(Z.T @ (Z * ww[:, None]))
        coef = bread @ (Z.T @ (ww * y))
        e = y - Z @ coef
        S = np.stack([np.bincount(unit, weights=ww * e * Z[:, j]) for j in range(4)], axis=1)
        n, k, G = len(y), 4, n_units
        V = G / (G - 1) * (n - 1) / (n - k) * bread @ S.T @ S @ bread
        np.testing.assert_allclose(fast.coef, coef, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast.se, np.sqrt(V[3, 3]), rtol=1e-10)


def test_did_2x2_reports_cell_means_as_a_table() -> None:
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(6), 2),
            "time": np.tile([1, 2], 6),
            "y": [1.0, 2.0, 1.5, 2.5, 1.0, 2.0, 0.0, 3.0, 0.5, 3.5, 0.0, 3.0],
            "g": np.repeat([0, 0, 0, 1, 1, 1], 2),
        }
    )
    est = cqox.estimate(
        "did_2x2", df, outcome="y", treatment="g", roles={"unit": "unit", "time": "time"}
    )
    table = est.tables["cell_means"]
    assert list(table["group"]) == ["control", "treated"]
    np.testing.assert_allclose(table["pre"], [7 / 6, 1 / 6])
    np.testing.assert_allclose(table["post"], [13 / 6, 19 / 6])
    assert est.estimate == pytest.approx((19 / 6 - 1 / 6) - (13 / 6 - 7 / 6))
