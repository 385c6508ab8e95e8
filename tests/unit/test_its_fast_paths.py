"""The fast paths of ``its`` give the general paths' answers and keep their checks.

A complete numeric series is read column by column (no general preparation), periods
already in order are not sorted, and the tables are handed as columns (built on first
read).  Each is compared here with the path it short-cuts, on the same data.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.core.tables import Tables
from cqox.data.prepare import prepare
from cqox.estimators.its.estimator import ITS, SeriesData
from cqox.simulate.its import its_ar1


def _answer(est: Any) -> dict[str, Any]:
    """Everything an estimate reports except its run time."""
    out = est.to_dict()
    out.pop("elapsed_s")
    return dict(out)


def _both_paths(df: pd.DataFrame, roles: Roles, **params: Any) -> tuple[Any, Any]:
    """The estimate from the fast preparation and from the general one, same data."""
    est = ITS(**params)
    resolved = est.resolved_params()
    fast = est.prepare(df, roles, resolved)
    assert isinstance(fast, SeriesData)
    extra = [resolved["control"]] if resolved["control"] else []
    general = prepare(df, roles, require=est.requires, extra_columns=extra)
    assert not isinstance(general, SeriesData)
    ctx = Context(seed=0)
    return est._fit(fast, resolved, ctx), est._fit(general, resolved, ctx)


@pytest.mark.parametrize(
    "params",
    [
        {"interruption": 40},
        {"interruption": 40, "se_method": "normal", "hac_lag": 3},
        {"interruption": 40, "season_period": 12, "se_method": "fixed_b"},
        {"interruption": 40, "control": "c"},
    ],
)
def test_fast_preparation_gives_the_general_answer(params: dict[str, Any]) -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, with_control=True, seed=3)
    a, b = _both_paths(df, Roles(outcome="y", time="t"), **params)
    assert _answer(a) == _answer(b)
    for name in ("coefficients", "fit"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])


def test_fast_preparation_reads_the_treatment_role() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=4)
    a, b = _both_paths(df, Roles(outcome="y", time="t", treatment="post"))
    assert _answer(a) == _answer(b) and a.diagnostics["interruption"] == 40


@pytest.mark.parametrize(
    ("change", "general"),
    [
        (lambda d: d.assign(y=d["y"].where(d["t"] != 5)), "removed 1 of 70 rows"),
        (lambda d: d.assign(post=d["post"].astype(bool)), None),
        (lambda d: d.assign(t=d["t"].astype(float).where(d["t"] != 7)), "removed 1 of 70 rows"),
        (lambda d: d.assign(y=pd.array(d["y"], dtype="Float64")), None),
    ],
)
def test_other_tables_take_the_general_preparation(change: Any, general: str | None) -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=5)
    changed = change(df)
    roles = Roles(outcome="y", time="t", treatment="post")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cqox.CqoxWarning)
        data = ITS().prepare(changed, roles, {"control": None})
    assert not isinstance(data, SeriesData)
    if general:
        assert any(general in w for w in data.warnings)


def test_general_checks_still_fire_on_the_fast_route() -> None:
    df, _ = its_ar1(n_pre=20, n_post=20, seed=6)
    with pytest.raises(cqox.RoleError, match="infinite"):
        cqox.estimate(
            "its",
            df.assign(y=df["y"].where(df["t"] != 3, np.inf)),
            outcome="y",
            roles={"time": "t"},
            interruption=20,
        )
    with pytest.raises(cqox.RoleError, match="constant"):
        cqox.estimate("its", df.assign(y=1.0), outcome="y", roles={"time": "t"}, interruption=20)
    with pytest.raises(cqox.RoleError, match="numeric periods or dates"):
        cqox.estimate(
            "its",
            df.assign(t=df["t"].astype(str)),
            outcome="y",
            roles={"time": "t"},
            interruption=20,
        )


@pytest.mark.parametrize("fast", [True, False])
def test_duplicated_and_gapped_periods_on_both_routes(fast: bool) -> None:
    df, _ = its_ar1(n_pre=30, n_post=30, seed=7)
    if not fast:  # a missing value in a used column sends the table to prepare()
        df = df.assign(y=df["y"].where(df["t"] != 59))
    dup = pd.concat([df, df.iloc[[10]]], ignore_index=True)
    with pytest.raises(cqox.DataError, match="appears more than once"):
        cqox.estimate("its", dup, outcome="y", roles={"time": "t"}, interruption=30)
    gapped = df.drop(index=[4, 17]).reset_index(drop=True)
    est = cqox.estimate("its", gapped, outcome="y", roles={"time": "t"}, interruption=30)
    assert any("not equally spaced" in w for w in est.warnings)
    shuffled = cqox.estimate(
        "its",
        gapped.sample(frac=1.0, random_state=1),
        outcome="y",
        roles={"time": "t"},
        interruption=30,
    )
    assert _answer(shuffled) == _answer(est)


def test_sorted_and_shuffled_periods_give_identical_tables() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, with_control=True, seed=8)
    kw: dict[str, Any] = {"outcome": "y", "roles": {"time": "t"}, "interruption": 40}
    a = cqox.estimate("its", df, control="c", **kw)
    b = cqox.estimate("its", df.sample(frac=1.0, random_state=2), control="c", **kw)
    assert _answer(a) == _answer(b)
    pd.testing.assert_frame_equal(a.tables["fit"], b.tables["fit"])


def test_tables_are_built_on_first_read_and_do_not_follow_the_callers_table() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=9)
    table = df.copy()
    est = cqox.estimate("its", table, outcome="y", roles={"time": "t"}, interruption=40)
    assert isinstance(est.tables, Tables) and not est.tables.is_built("fit")
    table.loc[0, "y"] = 1e6  # the caller changes its table in place afterwards
    table.loc[0, "t"] = -5
    fit = est.tables["fit"]
    assert fit["observed"].iloc[0] == df["y"].iloc[0] and fit["time"].iloc[0] == 0
    assert list(est.tables["coefficients"]["term"][:4]) == [
        "intercept",
        "time",
        "level_change",
        "slope_change",
    ]


def test_a_control_equal_to_the_outcome_is_a_role_error() -> None:
    """y − c constant: a worded error (it was a ZeroDivisionError in R²)."""
    df, _ = its_ar1(n_pre=30, n_post=30, with_control=True, seed=10)
    for table in (df, df.assign(c=df["y"])):
        control = "y" if table is df else "c"
        with pytest.raises(cqox.RoleError, match="minus control"):
            cqox.estimate(
                "its", table, outcome="y", roles={"time": "t"}, interruption=30, control=control
            )


def test_fast_preparation_without_pandas_internal_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pandas without ``DataFrame._get_column_array``: the public read, same answer."""
    df, _ = its_ar1(n_pre=40, n_post=30, with_control=True, seed=11)
    df = df.assign(day=pd.date_range("2001-01-01", periods=len(df), freq="D"))
    kw: dict[str, Any] = {"outcome": "y", "roles": {"time": "day"}, "control": "c"}
    kw["interruption"] = pd.Timestamp("2001-02-10")
    a = cqox.estimate("its", df, **kw)
    monkeypatch.setattr(pd.DataFrame, "_get_column_array", None, raising=False)
    data = ITS(control="c").prepare(df, Roles(outcome="y", time="day"), {"control": "c"})
    assert isinstance(data, SeriesData) and not data.y.flags.writeable
    assert _answer(cqox.estimate("its", df, **kw)) == _answer(a)


@pytest.mark.parametrize(
    ("n", "s0"), [(24, 12), (60, 36), (200, 120), (1000, 600), (1000, 50), (3000, 2700)]
)
@pytest.mark.parametrize("kernel", ["ewc", "bartlett"])
@pytest.mark.parametrize("correction", [False, True])
def test_segment_basis_gives_the_qr_fixed_b_law(
    n: int, s0: int, kernel: str, correction: bool
) -> None:
    """The bare design's closed-form basis: same rows a_j, same fixed-b law (1e-10)."""
    from cqox.estimators.its.segmented import (
        _SEGMENT_PAIRS,
        _segment_basis,
        _segment_coefficients,
        _segment_products,
        ewc_terms,
        fixed_b,
        its_design,
        llsw_lag,
        ols_ewc,
        ols_hac,
        thin_qr,
    )

    Z, _ = its_design(n, s0)
    qr = thin_qr(Z)
    Q, B = _segment_basis(n, s0), _segment_coefficients(n, s0)
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-13)
    ia, ib = _SEGMENT_PAIRS
    np.testing.assert_allclose(_segment_products(n, s0), Q.T[ia] * Q.T[ib], rtol=1e-13, atol=0)
    rows = qr.Rinv @ qr.Q.T  # a_j, the rows of (Z'Z)⁻¹Z'
    np.testing.assert_allclose(B @ Q.T, rows, rtol=0, atol=1e-11 * np.abs(rows).max())
    y = np.random.default_rng(n + s0).normal(size=n)
    if kernel == "ewc":
        fit = ols_ewc(y, Z, ewc_terms(n), correction, qr)
    else:
        fit = ols_hac(y, Z, llsw_lag(n), correction, qr)
    general, bare = fixed_b(fit, correction), fixed_b(fit, correction, s0)
    np.testing.assert_allclose(bare.scale, general.scale, rtol=1e-10)
    np.testing.assert_allclose(bare.df, general.df, rtol=1e-10)
    t = fit.coef / fit.se
    np.testing.assert_allclose(bare.p_value(t), general.p_value(t), rtol=1e-10)
    np.testing.assert_allclose(bare.critical_value(0.95), general.critical_value(0.95), rtol=1e-10)
