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
from scipy.signal import lfilter

import cqox
from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.core.tables import Tables
from cqox.data.prepare import prepare
from cqox.estimators.its.estimator import ITS, SeriesData
from cqox.simulate.its import its_ar1

# one comparison of two estimates' reports, shared with the two-segment route's tests
from tests.unit.test_its_two_segments import _answer, _close


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
    assert isinstance(data, SeriesData) and data.y is not None and not data.y.flags.writeable
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


def _qr_hac(y: np.ndarray, s0: int, lag: int, correction: bool) -> Any:
    """Newey–West through the QR of the design (the general route)."""
    from cqox.estimators.its.segmented import its_design, ols_hac, thin_qr

    Z, _ = its_design(len(y), s0)
    return ols_hac(y, Z, lag, correction, thin_qr(Z))


def _hac_series(n: int, s0: int, lag: int) -> np.ndarray:
    rng = np.random.default_rng(n + s0 + lag)
    s = np.arange(n, dtype=float)
    return 10.0 + 0.02 * s + 1.5 * (s >= s0) + np.cumsum(rng.normal(size=n)) * 0.3


def _lag(rule: str, n: int) -> int:
    from cqox.estimators.its.segmented import auto_lag, llsw_lag

    return {"zero": 0, "one": 1, "auto": auto_lag(n), "llsw": llsw_lag(n), "long": n + 3}[rule]


LAG_RULES = ["zero", "one", "auto", "llsw", "long"]


@pytest.mark.parametrize(
    ("n", "s0"), [(5, 3), (6, 3), (12, 6), (60, 36), (200, 120), (1000, 600), (1000, 998)]
)
@pytest.mark.parametrize("lag_rule", LAG_RULES)
@pytest.mark.parametrize("correction", [False, True])
def test_hac_two_segments_give_the_qr_route_answer(
    n: int, s0: int, lag_rule: str, correction: bool
) -> None:
    """Newey–West of the scores a_j ε̂: the QR route's fit and covariance (1e-10)."""
    from cqox.estimators.its.two_segments import hac_two_segments

    lag = _lag(lag_rule, n)
    y = _hac_series(n, s0, lag)
    new, old = hac_two_segments(y, s0, lag, correction), _qr_hac(y, s0, lag, correction)
    scale = float(np.abs(old.cov).max())
    np.testing.assert_allclose(new.cov, old.cov, rtol=1e-10, atol=1e-10 * scale)
    for name in ("coef", "se", "resid", "fitted"):
        a, b = getattr(new, name), getattr(old, name)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * float(np.abs(b).max()))
    assert (new.lag, new.kernel, new.factor) == (lag, "bartlett", None)


def _long_double_hac(y: np.ndarray, s0: int, lag: int) -> np.ndarray:
    """Newey–West covariance of the bare design's coefficients in long double.

    The rows ``a_j`` of ``(Z'Z)⁻¹Z'`` from the segment fits and the Bartlett sum of the
    scores ``a_j(s) ε̂_s`` written out (the definition, no shortcut).
    """
    LD = np.longdouble
    n, p, r = len(y), s0, len(y) - s0
    s = np.arange(n).astype(LD)
    pre = s < s0
    c = np.where(pre, s - LD(p - 1) / 2, s - (LD(s0) + LD(r - 1) / 2))
    rows = np.stack([pre.astype(LD), (~pre).astype(LD), c * pre, c * ~pre])
    norms = np.array([p, r, LD(p) * (p * p - 1) / 12, LD(r) * (r * r - 1) / 12], dtype=LD)
    sums = rows @ y.astype(LD)
    e = y.astype(LD) - (sums / norms) @ rows
    dp, dr, one = LD(p + 1) / 2 / norms[2], -LD(r - 1) / 2 / norms[3], LD(1)
    A = np.array(
        [
            [one / p, 0, dp, 0],
            [0, 0, one / norms[2], 0],
            [-one / p, one / r, -dp, dr],
            [0, 0, -one / norms[2], one / norms[3]],
        ],
        dtype=LD,
    )
    U = (A @ rows) * e
    S = U @ U.T
    L = min(lag, n - 1)  # a lag beyond the series is cut to n − 1, weights included
    for j in range(1, L + 1):
        g = U[:, j:] @ U[:, : n - j].T
        S += (1 - LD(j) / (L + 1)) * (g + g.T)
    return S


@pytest.mark.parametrize(("n", "s0"), [(60, 3), (200, 3), (200, 6), (200, 20), (1000, 3)])
@pytest.mark.parametrize("lag_rule", LAG_RULES)
def test_where_the_hac_routes_differ_the_long_double_reference_sides_with_two_segments(
    n: int, s0: int, lag_rule: str
) -> None:
    """A short pre segment: the QR route loses digits (up to 7e-4 at n = 1,000, s0 = 3).

    Its scores ``z_s ε̂_s`` carry the uncentred trend column and the sandwich undoes
    the cancellation only to rounding of ``(Z'Z)⁻¹``; the segment route centres each
    segment.  Against the definition in long double the segment route is exact to
    1e-12, which bounds how far the two routes may differ.
    """
    from cqox.estimators.its.two_segments import hac_two_segments

    lag = _lag(lag_rule, n)
    y = _hac_series(n, s0, lag)
    ref = _long_double_hac(y, s0, lag).astype(float)
    new = hac_two_segments(y, s0, lag).cov
    np.testing.assert_allclose(new, ref, rtol=1e-12, atol=1e-12 * float(np.abs(ref).max()))
    old = _qr_hac(y, s0, lag, False).cov
    scale = float(np.abs(ref).max())
    assert np.abs(new - ref).max() <= np.abs(old - ref).max() + 1e-13 * scale


def test_two_pre_periods_keep_the_qr_route_for_normal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pre periods leave the pre line no residual: the QR route, as before."""
    from cqox.estimators.its import estimator as its_estimator

    def refuse(*args: Any) -> None:
        raise AssertionError("the two-segment route was taken")

    monkeypatch.setattr(its_estimator, "hac_two_segments", refuse)
    df, _ = its_ar1(n_pre=40, n_post=30, seed=13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cqox.estimate(
            "its", df, outcome="y", roles={"time": "t"}, interruption=2, se_method="normal"
        )


@pytest.mark.parametrize("params", [{}, {"hac_lag": 3}, {"small_sample": True, "hac_lag": 7}])
def test_normal_estimate_is_the_qr_routes_estimate(
    params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """se_method='normal' on the bare design: every number as through the QR route."""
    from cqox.estimators.its import estimator as its_estimator

    df, _ = its_ar1(n_pre=72, n_post=48, seed=12)
    kw: dict[str, Any] = {
        "outcome": "y",
        "roles": {"time": "t"},
        "interruption": 72,
        "se_method": "normal",
    }
    new = cqox.estimate("its", df, **kw, **params)
    monkeypatch.setattr(its_estimator, "hac_two_segments", _qr_hac)
    old = cqox.estimate("its", df, **kw, **params)
    _close(_answer(old), _answer(new))
    for name in ("coefficients", "fit"):
        for column in old.tables[name].columns:
            u, v = old.tables[name][column].to_numpy(), new.tables[name][column].to_numpy()
            if u.dtype.kind == "f":
                np.testing.assert_allclose(v, u, rtol=1e-10, atol=1e-10 * float(np.abs(u).max()))
            else:
                np.testing.assert_array_equal(v, u)


@pytest.mark.parametrize("k", [1, 4, 9])
@pytest.mark.parametrize(("n", "lag"), [(3, 2), (50, 0), (50, 7), (200, 4), (999, 15)])
def test_newey_west_meat_is_the_bartlett_sum(k: int, n: int, lag: int) -> None:
    """Both branches of the meat against the definition Σ_{|j|≤L} (1 − |j|/(L+1)) Γ_j."""
    from cqox.estimators.its.segmented import newey_west_meat

    U = np.random.default_rng(k * n + lag).normal(size=(k, n))
    ref = U @ U.T
    for j in range(1, lag + 1):
        g = U[:, j:] @ U[:, : n - j].T
        ref += (1.0 - j / (lag + 1.0)) * (g + g.T)
    got = newey_west_meat(U, lag)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * float(np.abs(ref).max()))
    np.testing.assert_array_equal(got, got.T)


def test_period_steps_that_wrap_around_are_not_taken_for_order() -> None:
    """Equal int64 steps after a wrap-around: not in order, sorted as by the comparison."""
    from cqox.estimators.its.estimator import _period_order, _period_order_and_notes

    d = 2**62 + 2**61
    t0 = -(2**63) + 5
    times = np.array([t0, t0 + d, t0 + 2 * d, 0], dtype=np.int64)
    with np.errstate(over="ignore"):
        times[3] = times[2] + np.int64(d)  # wraps (NumPy integer arithmetic)
    steps = times[1:] - times[:-1]
    assert steps.min() == steps.max() == d  # the steps alone look equal and positive
    order, _ = _period_order_and_notes(times, "t")
    expected = _period_order(times, "t")
    assert order is not None and expected is not None
    np.testing.assert_array_equal(order, expected)
    for series, notes in (
        (np.arange(5, 50, 3), []),
        (np.array([1, 2, 4, 5]), ["not equally spaced"]),
        (np.array([3.0, 1.0, 2.0]), []),
    ):
        order, got = _period_order_and_notes(series, "t")
        assert [n for n in notes if not any(n in g for g in got)] == []
        assert len(got) == len(notes)


def _qr_route(y: np.ndarray, s0: int, terms: int, correction: bool) -> Any:
    """The fit and the fixed-b law of the default inference through the design's QR."""
    from cqox.estimators.its.segmented import fixed_b, its_design, ols_ewc, thin_qr

    Z, _ = its_design(len(y), s0)
    fit = ols_ewc(y, Z, terms, correction, thin_qr(Z))
    return fit, fixed_b(fit, correction)


#: (n, interruption, estimand, ci_level): 20 to 5,000 periods, short and long segments
#: on either side, both sides of the closed-form switch (1,500), both estimands
MANY_DESIGNS = [
    (n, s0, estimand, level)
    for i, (n, s0) in enumerate(
        [
            (20, 4),
            (20, 10),
            (20, 18),
            (37, 30),
            (200, 20),
            (200, 120),
            (999, 500),
            (1000, 600),
            (1000, 997),
            (1499, 150),
            (1500, 1200),
            (5000, 2500),
            (4000, 400),
        ]
    )
    for estimand, level in [(("level_change", "slope_change")[i % 2], (0.9, 0.95, 0.99)[i % 3])]
]


@pytest.mark.parametrize(("n", "s0", "estimand", "level"), MANY_DESIGNS)
def test_default_route_on_many_designs_is_the_qr_routes_answer(
    n: int, s0: int, estimand: str, level: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cold default call (nothing kept) gives the QR route's numbers to 1e-10.

    Guards the rewritten arithmetic of the default route (halved weights, one buffer
    for the Toeplitz and Hankel views, the pocketfft binding): estimate, SE, interval,
    p-value, df and critical value of both coefficients.
    """
    from cqox.estimators.its import estimator as its_estimator
    from cqox.estimators.its.two_segments import clear_caches

    s = np.arange(n, dtype=float)
    rng = np.random.default_rng(n + s0)
    e = lfilter([1.0], [1.0, -0.5], rng.normal(size=n))  # AR(1) errors, φ = 0.5
    df = pd.DataFrame({"t": np.arange(n), "y": 3.0 + 0.02 * s + 1.0 * (s >= s0) + e})
    kw: dict[str, Any] = {
        "outcome": "y",
        "roles": {"time": "t"},
        "interruption": s0,
        "estimand": estimand,
        "ci_level": level,
    }
    clear_caches()
    new = _answer(cqox.estimate("its", df, **kw))
    monkeypatch.setattr(its_estimator, "ewc_two_segments", _qr_route)
    old = _answer(cqox.estimate("its", df, **kw))
    clear_caches()
    _close(old, new)
    assert new["diagnostics"]["df"] > 0 and new["diagnostics"]["critical_value"] > 0


@pytest.mark.parametrize(("rows", "n"), [(1, 5), (4, 1000), (10, 999), (10, 1024), (3, 20_000)])
def test_pocketfft_binding_gives_fftpack_dct(rows: int, n: int) -> None:
    """The pocketfft binding of ``_dct2`` is ``fftpack.dct``'s transform to the last bit."""
    from scipy import fftpack

    from cqox.estimators.its import two_segments

    x = np.random.default_rng(rows * n).normal(size=(rows, n))
    want = fftpack.dct(x, type=2, axis=1)
    assert two_segments._POCKETFFT_DCT is not None  # this SciPy has it
    np.testing.assert_array_equal(two_segments._dct2(x.copy()), want)


def test_the_pocketfft_binding_is_not_taken_when_scipy_moves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SciPy without ``scipy.fft._pocketfft`` (a private module) gets ``fftpack.dct``."""
    import sys

    from cqox.estimators.its import two_segments

    assert two_segments._pocketfft_dct() is not None
    monkeypatch.setitem(sys.modules, "scipy.fft._pocketfft", None)  # import fails
    assert two_segments._pocketfft_dct() is None


def test_default_route_without_the_pocketfft_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the binding (another SciPy) ``fftpack.dct`` runs: the same numbers."""
    from cqox.estimators.its import two_segments

    y = np.random.default_rng(8).normal(size=1000).cumsum()
    two_segments.clear_caches()
    fit, law = two_segments.ewc_two_segments(y, 600, 40)
    monkeypatch.setattr(two_segments, "_POCKETFFT_DCT", None)
    two_segments.clear_caches()
    fit2, law2 = two_segments.ewc_two_segments(y, 600, 40)
    two_segments.clear_caches()
    for a, b in ((fit.coef, fit2.coef), (fit.cov, fit2.cov), (law.scale, law2.scale)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(law.df, law2.df)


@pytest.mark.parametrize(("p", "r"), [(2, 2), (3, 17), (600, 400), (12_000, 8000)])
def test_dct_weights_are_half_the_cosine_sum_weights(p: int, r: int) -> None:
    """Below the closed-form switch the weights carry the DCT's ½: exactly half, bit for bit."""
    from cqox.estimators.its.two_segments import _SUMS, _WEIGHTS, _segment_constants

    closed, dct = _segment_constants(p, r, True), _segment_constants(p, r, False)
    assert dct.size == _SUMS
    np.testing.assert_array_equal(dct[:_WEIGHTS], closed[:_WEIGHTS])
    np.testing.assert_array_equal(dct[_WEIGHTS:], 0.5 * closed[_WEIGHTS:_SUMS])


@pytest.mark.parametrize("nu", [1, 2, 7, 40, 186])
def test_ewc_cross_moments_are_the_trace_and_norm_of_the_formed_matrices(nu: int) -> None:
    """``tr C_j/ν`` and ``‖C_j‖²/ν²`` for ``C_j = G_j − H_j'H_j``, G indexed directly."""
    from cqox.estimators.its.segmented import ewc_cross_moments

    rng = np.random.default_rng(nu)
    cm = rng.normal(size=(4, 2 * nu + 3))  # wider than 2ν + 1: only the first 2ν + 1 count
    H = rng.normal(size=(4, 4, nu))
    v = np.arange(1, nu + 1)
    G = cm[:, np.abs(v[:, None] - v[None, :])] + cm[:, v[:, None] + v[None, :]]
    C = G - np.einsum("jav,jaw->jvw", H, H)
    trA, trA2 = ewc_cross_moments(cm, H, nu)
    np.testing.assert_allclose(trA, np.trace(C, axis1=1, axis2=2) / nu, rtol=1e-13)
    np.testing.assert_allclose(trA2, (C * C).sum(axis=(1, 2)) / nu**2, rtol=1e-13)


@pytest.mark.parametrize(
    ("roles", "control"),
    [
        (Roles(outcome="nope", time="t"), None),
        (Roles(outcome="y", time="nope"), None),
        (Roles(outcome="y", time="t", treatment="nope"), None),
        (Roles(outcome="y", time="t"), "nope"),
    ],
)
def test_an_absent_column_takes_the_general_preparation(roles: Roles, control: str | None) -> None:
    """A role or control naming no column: no fast read (its lookup says so); prepare() words it."""
    from cqox.errors import CqoxError
    from cqox.estimators.its.estimator import _complete_numeric_series

    df, _ = its_ar1(n_pre=40, n_post=30, with_control=True, seed=6)
    assert _complete_numeric_series(df, roles, control) is None
    est = ITS(control=control) if roles.treatment else ITS(control=control, interruption=40)
    with pytest.raises(CqoxError, match="nope"):
        est.prepare(df, roles, est.resolved_params())


def test_series_data_keeps_the_dataclass_behaviour() -> None:
    """The written-out ``__init__``: fresh defaults, frozen, ``replace`` and equality as before."""
    import dataclasses

    df, _ = its_ar1(n_pre=40, n_post=30, seed=9)
    data = ITS().prepare(df, Roles(outcome="y", time="t"), ITS(interruption=40).resolved_params())
    assert isinstance(data, SeriesData) and data.control is None and data.dropped == {}
    a = SeriesData(df, data.roles, data.y, None, data.X, [], data.row_index, len(df))
    b = SeriesData(df, data.roles, data.y, None, data.X, [], data.row_index, len(df))
    assert a.warnings == [] and a.warnings is not b.warnings and a.dropped is not b.dropped
    assert a.time.shape == (0,) and a.control is None and a.gram is None
    moved = dataclasses.replace(data, n_input=99)
    assert isinstance(moved, SeriesData) and moved.n_input == 99
    assert moved.time is data.time and moved.y is data.y
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.n_input = 1  # type: ignore[misc]
