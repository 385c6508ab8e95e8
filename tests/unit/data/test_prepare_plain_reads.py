"""The plain preparation's reads and checks equal what they replace (issue #15).

The covariate block as a view from pandas' block placement equals pandas' own
``to_numpy`` of those columns (same values, column-major, no copy, read-only); one
finiteness check of a block (a sum) decides as the per-value check does, overflow
included; the role columns read from the ``Roles`` fields equal those of ``given()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox.core.roles import Roles
from cqox.data.prepare import _all_finite, _block_view, _is_constant, _role_columns


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.standard_normal((300, 5)), columns=[f"x{j}" for j in range(5)])
    return df.assign(y=rng.standard_normal(300), z=rng.integers(0, 2, 300))


@pytest.mark.parametrize("cols", [["x0", "x1", "x2", "x3", "x4"], ["x1", "x2"], ["x3"]])
def test_the_block_view_is_pandas_own_storage_read_only(cols: list[str]) -> None:
    df = _frame()
    X = _block_view(df, [df.columns.get_loc(c) for c in cols])
    assert X is not None
    expected = df[cols].to_numpy()
    np.testing.assert_array_equal(X, expected)
    assert X.flags.f_contiguous and not X.flags.writeable
    assert np.shares_memory(X, df._get_column_array(df.columns.get_loc(cols[0])))


@pytest.mark.parametrize("cols", [["x0", "x2"], ["x2", "x1"], ["x4", "y"], ["x0", "z"]])
def test_columns_that_are_not_consecutive_rows_of_one_float_block_get_none(
    cols: list[str],
) -> None:
    df = _frame()
    assert _block_view(df, [df.columns.get_loc(c) for c in cols]) is None


def test_one_sum_decides_finiteness_as_the_per_value_check() -> None:
    v = np.array([1.0, 2.0, 3.0])
    assert _all_finite(v)
    for bad in (np.nan, np.inf, -np.inf):
        w = v.copy()
        w[1] = bad
        assert not _all_finite(w)
    both = np.array([np.inf, -np.inf, 1.0])  # the sum is NaN: not finite
    assert not _all_finite(both)
    huge = np.array([1e308, 1e308, -1.0])  # finite values whose sum overflows
    assert _all_finite(huge)
    assert not _all_finite(np.array([[1e308, 1e308], [1.0, np.nan]], order="F"))
    assert _is_constant(np.full(4, 2.5)) and not _is_constant(np.array([2.5, 2.5, 2.6]))


def _role_columns_by_given(roles: Roles) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for role, value in roles.given().items():
        if role == "cutoff" or (role == "covariates" and isinstance(value, str)):
            continue
        if isinstance(value, list):
            out.extend((role, v) for v in value)
        else:
            out.append((role, value))
    return out


@pytest.mark.parametrize(
    "roles",
    [
        Roles(outcome="y", treatment="d", covariates=("a", "b"), instrument=("z",)),
        Roles(outcome="y", running="r", cutoff=0.5, covariates="a + I(b**2)", cluster="g"),
        Roles(outcome="y", treatment="t", weight="w", lat="la", lon="lo"),
    ],
)
def test_role_columns_from_the_fields_equal_those_of_given(roles: Roles) -> None:
    assert _role_columns(roles) == _role_columns_by_given(roles)
