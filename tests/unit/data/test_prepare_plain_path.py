"""The plain preparation (numeric, complete columns read once as arrays) equals the general one.

:func:`cqox.data.prepare._prepare_plain` serves the common case — text labels, every
column in use NumPy-numeric and finite — and hands everything else to the general path.
These tests prove that on every kind of table both give the same ``CausalData`` (arrays,
names, dropped covariates, warnings, counts, the frame when read) or the same error, and
that an estimate is the same whichever path prepared its data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.data import prepare as prep
from cqox.data.prepare import CausalData, RowsInUse, prepare
from cqox.errors import CqoxError

T = TypeVar("T")


def _table(n: int = 120, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "y": rng.standard_normal(n),
            "t": (rng.random(n) < 0.4).astype(np.int64),
            "a": rng.standard_normal(n),
            "b": rng.standard_normal(n) * 10 + 3,
            "k": rng.integers(0, 4, n),
            "flag": rng.random(n) < 0.5,
            "f32": rng.standard_normal(n).astype(np.float32),
        }
    )
    df["c"] = rng.standard_normal(n)  # a float column in another pandas block
    return df


def _general(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` with the plain path switched off (every preparation takes the general one)."""

    def run() -> T:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(prep, "_prepare_plain", lambda *args, **kwargs: None)
            return fn()

    return run


def _outcome(fn: Callable[[], CausalData]) -> tuple[str, Any, list[str]]:
    """What ``fn`` gives: ("ok", data, warnings) or ("error", (type, message), warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = fn()
            kind = "ok"
        except CqoxError as exc:
            result, kind = (type(exc), str(exc)), "error"
    return kind, result, [str(w.message) for w in caught]


def _assert_same(df: pd.DataFrame, roles: Roles, **kwargs: Any) -> tuple[str, Any]:
    """Prepare both ways; assert equal results; return (kind, plain result)."""

    def run() -> CausalData:
        return prepare(df, roles, **kwargs)

    kind, plain, notes = _outcome(run)
    kind_g, general, notes_g = _outcome(_general(run))
    assert (kind, notes) == (kind_g, notes_g)
    if kind == "error":
        assert plain == general
        return kind, plain
    for name in ("y", "t"):
        a, b = getattr(plain, name), getattr(general, name)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
    np.testing.assert_array_equal(plain.X, general.X)
    assert plain.X.dtype == general.X.dtype and plain.X.shape == general.X.shape
    np.testing.assert_array_equal(plain.row_index, general.row_index)
    assert plain.covariate_names == general.covariate_names
    assert plain.dropped == general.dropped
    assert plain.warnings == general.warnings
    assert plain.counts() == general.counts()
    assert (plain.n, plain.n_input, plain.roles) == (general.n, general.n_input, general.roles)
    for col in general.frame.columns:
        np.testing.assert_array_equal(plain.values(col), general.frame[col].to_numpy())
    pd.testing.assert_frame_equal(plain.frame, general.frame)
    return kind, plain


def _took_plain_path(data: CausalData) -> bool:
    return isinstance(data.__dict__["frame"], RowsInUse)


def test_a_complete_numeric_table_takes_the_plain_path_with_the_same_result() -> None:
    df = _table()
    df["const"] = 2.0
    df["dup"] = df["a"] - 2 * df["c"]
    roles = Roles(outcome="y", treatment="t", covariates=("a", "const", "k", "flag", "dup", "c"))
    kind, data = _assert_same(df, roles)
    assert kind == "ok" and _took_plain_path(data)
    assert data.dropped == {
        "const": "constant (2) in the rows in use",
        "c": "linearly dependent on other covariates",  # a − 2c = dup, the later one goes
    }


def test_covariates_given_as_a_list_are_used_as_a_tuple_would_be() -> None:
    # a Roles built directly keeps the caller's list; the plain path once read only a
    # tuple and prepared no covariates at all (regression adjustment became the naive
    # difference of means)
    df = _table()
    as_list = prepare(df, Roles(outcome="y", treatment="t", covariates=["a", "c"]))
    as_tuple = prepare(df, Roles(outcome="y", treatment="t", covariates=("a", "c")))
    assert _took_plain_path(as_list)
    assert as_list.covariate_names == as_tuple.covariate_names == ["a", "c"]
    np.testing.assert_array_equal(as_list.X, as_tuple.X)


def test_roles_keep_covariates_and_instruments_as_tuples() -> None:
    roles = Roles(outcome="y", treatment="t", covariates=["a", "c"], instrument=["z"])
    assert roles.covariates == ("a", "c") and roles.instrument == ("z",)
    assert roles.columns() == ["y", "t", "z", "a", "c"]
    assert Roles(covariates="a + c").covariates == "a + c"  # a formula stays text


def _with_nan(df: pd.DataFrame) -> None:
    df.loc[[3, 8], "a"] = np.nan


def _with(values: Callable[[pd.DataFrame], Any]) -> Callable[[pd.DataFrame], None]:
    def change(df: pd.DataFrame) -> None:
        df["s"] = values(df)

    return change


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_with_nan, id="nan"),
        pytest.param(_with(lambda df: np.where(df["k"] > 1, "u", "v")), id="text"),
        pytest.param(_with(lambda df: pd.Categorical(df["k"])), id="categorical"),
        pytest.param(_with(lambda df: pd.array(df["k"], dtype="Int64")), id="Int64"),
        pytest.param(_with(lambda df: "same"), id="constant-text"),
        pytest.param(_with(lambda df: pd.to_datetime(df["k"] * 10**9)), id="dates"),
        pytest.param(_with(lambda df: df["f32"].astype(np.float16)), id="float16"),
        pytest.param(_with(lambda df: df["k"].astype(np.uint8)), id="uint8"),
    ],
)
def test_every_kind_of_covariate_gives_the_same_data(
    change: Callable[[pd.DataFrame], None],
) -> None:
    df = _table()
    change(df)
    cols = ("a", "b", "s") if "s" in df.columns else ("a", "b")
    _assert_same(df, Roles(outcome="y", treatment="t", covariates=cols))


@pytest.mark.parametrize(
    ("column", "value"),
    [("y", np.inf), ("y", np.nan), ("t", np.nan), ("a", -np.inf), ("a", np.nan)],
)
def test_non_finite_values_take_the_general_path(column: str, value: float) -> None:
    df = _table()
    df[column] = df[column].astype(np.float64)
    df.loc[7, column] = value
    kind, data = _assert_same(df, Roles(outcome="y", treatment="t", covariates=("a", "b")))
    if kind == "ok":
        assert not _took_plain_path(data)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("y", 1.5),  # constant outcome
        ("t", 1),  # constant treatment
        ("t", np.r_[np.ones(119, np.int64), 0]),  # one control row
        ("t", np.r_[np.ones(60, np.int64), np.full(60, 2)]),  # coded 1/2
        ("t", np.arange(120) % 3),  # three levels
        ("t", np.r_[np.ones(60, bool), np.zeros(60, bool)]),  # bool treatment
        ("y", np.r_[np.ones(60, bool), np.zeros(60, bool)]),  # bool outcome
    ],
)
def test_outcome_and_treatment_checks_answer_as_before(column: str, values: Any) -> None:
    df = _table()
    df[column] = values
    _assert_same(df, Roles(outcome="y", treatment="t", covariates=("a",)))


def test_a_continuous_treatment_and_its_checks_answer_as_before() -> None:
    df = _table()
    kind, _ = _assert_same(df, Roles(outcome="y", treatment="b"), binary_treatment=False)
    assert kind == "ok"
    df["b"] = 4.0
    kind, _ = _assert_same(df, Roles(outcome="y", treatment="b"), binary_treatment=False)
    assert kind == "error"


@pytest.mark.parametrize(
    "roles",
    [
        Roles(outcome="y", treatment="missing"),
        Roles(outcome="y"),  # treatment required
        Roles(outcome="y", treatment="t", covariates=("a", "y")),  # outcome as covariate
        Roles(outcome="y", treatment="t", covariates="a + I(b**2)"),  # a formula
        Roles(outcome="y", treatment="t", time="k", instrument=("c",)),
    ],
)
def test_roles_answer_as_before(roles: Roles) -> None:
    _assert_same(_table(), roles)


def test_extra_columns_non_range_index_and_unnamed_labels_answer_as_before() -> None:
    df = _table().set_index(np.arange(1000, 1120))
    kind, data = _assert_same(df, Roles(outcome="y", treatment="t"), extra_columns=["k", "c"])
    assert kind == "ok" and list(data.frame.index) == list(range(120))
    _assert_same(df, Roles(outcome="y", treatment="t"), extra_columns=["nope"])
    numbered = _table()
    numbered.columns = ["y", "t", 0, 1, 2, 3, 4, 5]
    _assert_same(numbered, Roles(outcome="y", treatment="t", covariates=("0", "1")))


def test_the_frame_is_built_only_when_read_and_then_kept() -> None:
    df = _table()
    data = prepare(df, Roles(outcome="y", treatment="t", covariates=("a", "b")))
    source = data.__dict__["frame"]
    assert isinstance(source, RowsInUse) and source._built is None
    np.testing.assert_array_equal(data.values("a"), df["a"].to_numpy())
    assert source._built is None  # values() of a column in use needs no frame
    assert data.frame is data.frame
    assert list(data.frame.columns) == ["y", "t", "a", "b"]
    data.frame.loc[0, "y"] = 99.0  # copy-on-write: the caller's table is unchanged
    assert df.loc[0, "y"] != 99.0
    for col in ("y", "a"):
        with pytest.raises(ValueError, match="read-only"):
            data.values(col)[0] = 1.0


def test_replace_keeps_the_stored_rows_without_building_the_frame() -> None:
    df = _table()
    data = prepare(df, Roles(outcome="y", treatment="t", covariates=("a", "b")))
    source = data.source
    assert isinstance(source, RowsInUse)
    changed = data.replace(t=1.0 - data.t)
    assert changed.source is source and source._built is None
    np.testing.assert_array_equal(changed.t, 1.0 - data.t)
    np.testing.assert_array_equal(changed.X, data.X)
    assert changed.frame.equals(data.frame)


def test_one_float_block_of_covariates_is_a_read_only_view_of_the_callers_table() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.standard_normal((300, 4)), columns=["x0", "x1", "x2", "x3"])
    df.insert(0, "t", (rng.random(300) < 0.5).astype(np.int64))
    df.insert(0, "y", rng.standard_normal(300))
    data = prepare(df, Roles(outcome="y", treatment="t", covariates=("x1", "x2", "x3")))
    assert np.shares_memory(data.X, df["x1"].to_numpy()) and not data.X.flags.writeable
    np.testing.assert_array_equal(data.X, df[["x1", "x2", "x3"]].to_numpy())
    # out of order: not one block in order, so one copy
    other = prepare(df, Roles(outcome="y", treatment="t", covariates=("x3", "x1")))
    assert not np.shares_memory(other.X, df["x1"].to_numpy())
    np.testing.assert_array_equal(other.X, df[["x3", "x1"]].to_numpy())


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("ipw", lambda: cqox.simulate.confounded_binary(n=400, seed=1)),
        ("its", None),
        ("iv_2sls", None),
    ],
)
def test_estimates_are_the_same_whichever_path_prepared_the_data(name: str, make: Any) -> None:
    from benchmarks import datagen

    if name == "ipw":
        df = make()[0]
        kwargs: dict[str, Any] = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}
    elif name == "its":
        d = datagen.its_series(n_pre=60, n_post=40, seed=7)
        df = d.frame
        kwargs = {**d.roles, "interruption": d.extra["interruption"]}
    else:
        d = datagen.iv(n=300, seed=2)
        df, kwargs = d.frame, dict(d.roles)

    def run() -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = cqox.estimate(name, df, seed=0, **kwargs).to_dict()
        out.pop("elapsed_s")
        return out

    assert run() == _general(run)()


def test_period_checks_read_an_array_as_its_column() -> None:
    from cqox.data.prepare import check_ordered_periods
    from cqox.errors import RoleError

    for good in (np.arange(3), np.array(["2020-01-01"], dtype="datetime64[ns]")):
        check_ordered_periods(good, "time")
        check_ordered_periods(pd.Series(good), "time")
    text = pd.Series(["10", "2"], dtype=object)
    messages = []
    for values in (text, text.to_numpy()):
        with pytest.raises(RoleError) as caught:
            check_ordered_periods(values, "time")
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "'10'" in messages[0]


def test_prepared_data_pickles_with_the_rows_in_use_only() -> None:
    import pickle

    df = _table()
    df["unused"] = np.arange(len(df)).astype(str)
    data = prepare(df, Roles(outcome="y", treatment="t", covariates=("a", "b")))
    back = pickle.loads(pickle.dumps(data))
    assert isinstance(back.__dict__["frame"], pd.DataFrame)
    pd.testing.assert_frame_equal(back.frame, data.frame)
    assert "unused" not in back.frame.columns
    np.testing.assert_array_equal(back.X, data.X)
    np.testing.assert_array_equal(back.values("a"), data.values("a"))
