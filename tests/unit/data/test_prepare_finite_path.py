"""Preparation of an all-numeric, finite table reads the covariates straight from pandas.

Proves that this path gives exactly what the general path (one block of every column in
use, a missing-value mask) gives, on tables whose covariates span several of pandas'
blocks, come in another order than the table's or include integers and booleans; that
a missing or infinite value anywhere, or a row whose sum overflows, takes the general
path with its messages; and that the caller's storage never changes through the
design (where the design is a view of it, the view is read-only).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest

from cqox.core.roles import Roles
from cqox.data import prepare as prep
from cqox.data.prepare import CausalData, prepare
from cqox.errors import RoleError


def _table(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * [1.0, 10.0, 0.1, 1e6] + [0.0, 5.0, -3.0, 1e9]
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df.insert(0, "y", rng.standard_normal(n))
    df["t"] = (rng.random(n) < 0.4).astype(np.int64)
    df["k"] = rng.integers(0, 5, n)  # another pandas block
    df["flag"] = rng.random(n) < 0.5
    return df


def _prepared(df: pd.DataFrame, covariates: tuple[str, ...], general: bool) -> CausalData:
    roles = Roles(outcome="y", treatment="t", covariates=covariates)
    if not general:
        return prepare(df, roles)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prep, "_prepare_plain", lambda *args, **kwargs: None)
        mp.setattr(prep, "_finite_columns", lambda sub, cols: None)
        return prepare(df, roles)


@pytest.mark.parametrize(
    "covariates",
    [("a", "b", "c", "d"), ("d", "k", "a", "flag"), ("k",), ("c",)],
)
def test_the_finite_path_equals_the_general_path(covariates: tuple[str, ...]) -> None:
    df = _table()
    fast, general = _prepared(df, covariates, False), _prepared(df, covariates, True)
    np.testing.assert_array_equal(fast.X, general.X)
    np.testing.assert_array_equal(fast.y, general.y)
    np.testing.assert_array_equal(fast.t, general.t)
    assert fast.covariate_names == general.covariate_names
    # covariates that are one float64 block of the table are handed out as a view of it
    # (no n × k copy at scale), read-only, so nothing can change the caller's values
    # through it; otherwise X is the one copy
    if any(np.shares_memory(fast.X, df[c].to_numpy()) for c in df.columns):
        assert not fast.X.flags.writeable


def test_the_design_never_changes_the_callers_storage() -> None:
    df = _table()
    before = df.copy()
    data = _prepared(df, ("c",), False)
    # a view of the caller's values is read-only (copy-on-write): writing raises
    with contextlib.suppress(ValueError):
        data.X[:] = 0.0
    pd.testing.assert_frame_equal(df, before)


def test_a_missing_value_takes_the_general_path() -> None:
    df = _table()
    df.loc[5, "b"] = np.nan
    df.loc[9, "y"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = _prepared(df, ("a", "b"), False)
    assert data.n == len(df) - 2 and data.n_missing_dropped == 2
    assert 5 not in data.row_index and 9 not in data.row_index


def test_an_infinite_covariate_is_still_named() -> None:
    df = _table()
    df.loc[7, "c"] = np.inf
    with pytest.raises(RoleError, match="'c' has infinite values"):
        _prepared(df, ("a", "c"), False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the correlation check overflows too
def test_a_row_whose_sum_overflows_takes_the_exact_path() -> None:
    df = _table()
    df["a"] = 1e308
    df["e"] = 1e308  # finite, but a + e overflows in a row sum
    assert prep._finite_columns(df[["y", "t", "a", "e", "b"]], [2, 3, 4]) is None
    fast, general = _prepared(df, ("a", "e", "b"), False), _prepared(df, ("a", "e", "b"), True)
    np.testing.assert_array_equal(fast.X, general.X)
    assert fast.n == len(df)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the tiny column has no usable SD
def test_constant_and_dependent_columns_are_dropped_as_before() -> None:
    df = _table()
    df["const"] = 3.0
    df["dup"] = 2 * df["a"] - df["b"]
    # varies, though its squared deviations underflow to zero: kept, as max > min says
    df["tiny"] = 1e-170 * (np.arange(len(df)) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = _prepared(df, ("a", "const", "b", "dup", "tiny"), False)
    assert data.dropped == {
        "const": "constant (3) in the rows in use",
        "dup": "linearly dependent on other covariates",
    }
    assert data.covariate_names == ["a", "b", "tiny"]
