"""Steps that avoid copies of the data give the same answers as the copying ones.

At a million rows an ``n × p`` copy of the covariates is as large as the table: the
preparation hands estimators a view of the caller's values, strata and targets are
read by blocks of rows, and matching searches its queries in blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox.estimators.backdoor.matching as matching
from cqox.core.roles import Roles
from cqox.data.prepare import prepare
from cqox.errors import CqoxWarning
from cqox.estimators.backdoor.stratification import _stratum_regression
from cqox.nuisance.blocked import RowsOf, column_mean


def _table(n: int = 400, p: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    df.insert(0, "t", (rng.random(n) < 0.4).astype(np.int64))
    df.insert(0, "y", X[:, 0] + df["t"] + rng.standard_normal(n))
    return df


def test_prepare_hands_out_a_read_only_view_of_one_float_block() -> None:
    df = _table()
    cov = [c for c in df.columns if c.startswith("x")]
    data = prepare(df, Roles.from_mapping(outcome="y", treatment="t", covariates=cov))
    np.testing.assert_array_equal(data.X, df[cov].to_numpy())
    assert np.shares_memory(data.X, df["x0"].to_numpy())
    assert not data.X.flags.writeable  # the caller's values cannot be changed through it


def test_prepare_copies_scattered_or_incomplete_covariates_once_and_alike() -> None:
    df = _table()
    df.loc[3, "x2"] = np.nan
    cov = ["x4", "x0", "x2"]
    with pytest.warns(CqoxWarning, match="removed 1 of 400 rows"):
        data = prepare(df, Roles.from_mapping(outcome="y", treatment="t", covariates=cov))
    complete = df.drop(index=3)
    np.testing.assert_array_equal(data.X, complete[cov].to_numpy())
    np.testing.assert_array_equal(data.y, complete["y"].to_numpy())
    assert data.n == len(df) - 1


def test_infinite_covariate_is_still_refused_with_its_row() -> None:
    df = _table()
    df.loc[7, "x1"] = np.inf
    with pytest.raises(ValueError, match=r"'x1' has infinite values \(first in row 7"):
        prepare(df, Roles.from_mapping(outcome="y", treatment="t", covariates=["x0", "x1"]))


def test_rows_of_and_column_mean_equal_the_copies() -> None:
    rng = np.random.default_rng(1)
    X = np.asfortranarray(rng.standard_normal((50_000, 4)))
    idx = np.flatnonzero(rng.random(len(X)) < 0.3)
    mask = rng.random(len(idx)) < 0.5
    rows = RowsOf(X, idx)
    assert rows.shape == (len(idx), 4)
    np.testing.assert_array_equal(rows[5:900], X[idx][5:900])
    np.testing.assert_allclose(column_mean(rows, mask), X[idx][mask].mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(column_mean(X), X.mean(axis=0), rtol=1e-13)


def test_stratum_regression_on_rows_equals_it_on_a_copy() -> None:
    df = _table(n=3000, p=5, seed=2)
    X = df[[f"x{j}" for j in range(5)]].to_numpy()
    y, t = df["y"].to_numpy(), df["t"].to_numpy().astype(float)
    rows = np.flatnonzero(X[:, 1] > -0.3)
    g = t[rows] == 1
    tau_copy, infl_copy = _stratum_regression(y[rows], t[rows], X[rows], g)
    tau_view, infl_view = _stratum_regression(y[rows], t[rows], RowsOf(X, rows), g)
    assert tau_view == pytest.approx(tau_copy, rel=1e-12)
    np.testing.assert_allclose(infl_view, infl_copy, rtol=1e-10, atol=1e-15)


def test_matching_in_blocks_finds_the_same_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    s_q = np.round(rng.standard_normal(3000), 2)  # rounded: many ties
    s_r = np.round(rng.standard_normal(4000), 2)
    c_q, c_r = rng.integers(0, 3, 3000), rng.integers(0, 3, 4000)

    def all_sets() -> list[matching.Matches]:
        return [
            matching.match_scores(s_q, s_r, 2),
            matching.match_scores(s_q, s_r, 1, np.inf, c_q, c_r),
            matching.match_within(s_r, 3),
            matching.match_within(s_r, 2, c_r),
        ]

    whole = all_sets()
    monkeypatch.setattr(matching, "MATCH_BLOCK", 333)
    for a, b in zip(whole, all_sets(), strict=True):
        np.testing.assert_array_equal(a.ptr, b.ptr)
        np.testing.assert_array_equal(a.idx, b.idx)
