"""The default ``its`` route (two segment fits, one DCT) gives the QR route's answer.

:func:`cqox.estimators.its.two_segments.ewc_two_segments` computes the OLS fit, the EWC
standard errors and the design-adjusted fixed-b law of the bare design from the segment
sums and one batch of cosine transforms; the QR route
(:func:`~cqox.estimators.its.segmented.ols_ewc` with
:func:`~cqox.estimators.its.segmented.fixed_b`) computes them from the QR of the design.
Both are compared here to 1e-10, and where they differ by more (a short pre segment
with few cosine terms) with a long-double evaluation of the same formulas, which sides
with the new route: the QR route's SE carries the cancellation of the uncentred trend
column in ``z_s ε̂_s`` and the sandwich ``(Z'Z)⁻¹ S (Z'Z)⁻¹``.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import fft

import cqox
from cqox.errors import EstimationError
from cqox.estimators.its import estimator as its_estimator
from cqox.estimators.its.segmented import (
    FixedB,
    HACFit,
    ewc_terms,
    fixed_b,
    its_design,
    ols_ewc,
    thin_qr,
)
from cqox.estimators.its.two_segments import (
    CLOSED_FORMS_FROM,
    ewc_two_segments,
    segment_cosine_sums,
)
from cqox.simulate.its import its_ar1

LD = np.longdouble


def _qr_route(y: np.ndarray, s0: int, terms: int, correction: bool) -> tuple[HACFit, FixedB]:
    """The fit and the fixed-b law through the QR of the design (the general route)."""
    Z, _ = its_design(len(y), s0)
    fit = ols_ewc(y, Z, terms, correction, thin_qr(Z))
    return fit, fixed_b(fit, correction)


def _series(n: int, s0: int) -> np.ndarray:
    rng = np.random.default_rng(n + s0)
    s = np.arange(n, dtype=float)
    return 10.0 + 0.01 * s + 1.5 * (s >= s0) + rng.normal(size=n)


def _agree(new: np.ndarray, old: np.ndarray, rtol: float = 1e-10) -> None:
    np.testing.assert_allclose(new, old, rtol=rtol, atol=rtol * float(np.abs(old).max()))


#: (n, s0, ν): the default ν = round(0.4 n^{2/3}) and the largest ν of this route, (n − 1)/2
DESIGNS = [
    (n, s0, nu)
    for n, s0 in ((5, 3), (24, 12), (60, 36), (200, 120), (1000, 600), (3000, 2700), (10_000, 6000))
    for nu in sorted({ewc_terms(n), (n - 1) // 2 if n <= 1000 else ewc_terms(n)})
]


@pytest.mark.parametrize(("n", "s0", "nu"), DESIGNS)
@pytest.mark.parametrize("correction", [False, True])
def test_two_segments_give_the_qr_route_answer(n: int, s0: int, nu: int, correction: bool) -> None:
    y = _series(n, s0)
    new, law = ewc_two_segments(y, s0, nu, correction)
    old, ref = _qr_route(y, s0, nu, correction)
    for name in ("coef", "se", "fitted", "resid"):
        _agree(getattr(new, name), getattr(old, name))
    _agree(new.cov, old.cov)
    assert (new.lag, new.kernel) == (old.lag, old.kernel) == (nu, "ewc")
    _agree(law.scale, ref.scale)
    _agree(law.df, ref.df)
    _agree(law.critical_value(0.95), ref.critical_value(0.95))
    _agree(law.p_value(new.coef / new.se), ref.p_value(old.coef / old.se))


def test_two_segments_need_two_periods_per_segment_and_few_enough_terms() -> None:
    y = _series(20, 10)
    for s0, nu in ((1, 3), (19, 3), (10, 10)):
        with pytest.raises(ValueError, match="2ν"):
            ewc_two_segments(y, s0, nu)


def _long_double_law(y: np.ndarray, s0: int, nu: int) -> dict[str, np.ndarray]:
    """EWC SEs and fixed-b law in long double, from explicit cosines and projections.

    The formulas of :func:`~cqox.estimators.its.segmented.fixed_b` written out: the rows
    ``a_j`` of ``(Z'Z)⁻¹Z'`` from the segment fits, the n × ν cosine basis ``Φ``, and
    ``C_j = (D_{a_j}Φ)' M (D_{a_j}Φ)`` with ``M`` the residual projection.
    """
    n, p, r = len(y), s0, len(y) - s0
    s = np.arange(n).astype(LD)
    pre = s < s0
    c = np.where(pre, s - LD(p - 1) / 2, s - (LD(s0) + LD(r - 1) / 2))
    rows = np.stack([pre.astype(LD), (~pre).astype(LD), c * pre, c * ~pre])
    norms = np.array([p, r, LD(p) * (p * p - 1) / 12, LD(r) * (r * r - 1) / 12], dtype=LD)
    sums = rows @ y.astype(LD)
    e = y.astype(LD) - (sums / norms) @ rows
    dp, dr = LD(p + 1) / 2 / norms[2], -LD(r - 1) / 2 / norms[3]
    one = LD(1)
    A = np.array(
        [
            [one / p, 0, dp, 0],
            [0, 0, one / norms[2], 0],
            [-one / p, one / r, -dp, dr],
            [0, 0, -one / norms[2], one / norms[3]],
        ],
        dtype=LD,
    )
    a = A @ rows
    pi = LD("3.14159265358979323846264338327950288")
    Phi = np.sqrt(LD(2)) * np.cos(np.outer(s + LD("0.5"), np.arange(1, nu + 1).astype(LD)) * pi / n)
    Gamma = (a * e) @ Phi
    se = np.sqrt(np.diagonal(Gamma @ Gamma.T) / nu)
    Q = rows / np.sqrt(norms)[:, None]
    trA, trA2 = np.empty(4, dtype=LD), np.empty(4, dtype=LD)
    for j in range(4):
        DPhi = a[j][:, None] * Phi
        C = DPhi.T @ (DPhi - Q.T @ (Q @ DPhi))
        trA[j], trA2[j] = np.trace(C) / nu, np.sum(C * C) / nu**2
    scale = np.sqrt((a * a).sum(axis=1) / trA)
    return {"coef": A @ sums, "se": se, "scale": scale, "df": trA**2 / trA2}


@pytest.mark.parametrize("nu", [3, 40])
def test_where_the_routes_differ_the_long_double_reference_sides_with_two_segments(
    nu: int,
) -> None:
    """A short pre segment (50 of 1,000 periods): the QR route's SE is off by 1e-10–1e-7."""
    n, s0 = 1000, 50
    y = _series(n, s0)
    ref = {k: v.astype(float) for k, v in _long_double_law(y, s0, nu).items()}
    new, law = ewc_two_segments(y, s0, nu)
    old, _ = _qr_route(y, s0, nu, False)
    np.testing.assert_allclose(new.coef, ref["coef"], rtol=1e-13)
    np.testing.assert_allclose(new.se, ref["se"], rtol=1e-11)
    np.testing.assert_allclose(law.scale, ref["scale"], rtol=1e-11)
    np.testing.assert_allclose(law.df, ref["df"], rtol=1e-11)
    # the general route's SE is the one that moved (documented, not a tolerance)
    old_error = float(np.max(np.abs(old.se - ref["se"]) / ref["se"]))
    new_error = float(np.max(np.abs(new.se - ref["se"]) / ref["se"]))
    assert new_error < old_error


def _answer(est: Any) -> dict[str, Any]:
    out = est.to_dict()
    out.pop("elapsed_s")
    return dict(out)


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal structure and text; numbers to 1e-10 (arrays relative to their largest entry)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple) and a and isinstance(a[0], dict):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _close(u, v, f"{path}[{i}]")
    elif isinstance(a, float) or (isinstance(a, list | tuple) and a and isinstance(a[0], float)):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=path)
    else:
        assert a == b, path


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"small_sample": True},
        {"estimand": "slope_change", "ci_level": 0.9},
        {"ewc_terms": 5},
        {"control": "c"},
    ],
)
def test_default_estimate_is_the_qr_routes_estimate(
    params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every number of the estimate, its tables included, as through the QR route."""
    df, _ = its_ar1(n_pre=72, n_post=48, with_control=True, seed=12)
    kw = {"outcome": "y", "roles": {"time": "t"}, "interruption": 72, **params}
    new = cqox.estimate("its", df, **kw)
    monkeypatch.setattr(its_estimator, "ewc_two_segments", _qr_route)
    old = cqox.estimate("its", df, **kw)
    _close(_answer(old), _answer(new))
    for name in ("coefficients", "fit"):
        for column in old.tables[name].columns:
            a, b = old.tables[name][column].to_numpy(), new.tables[name][column].to_numpy()
            if a.dtype.kind == "f":
                _agree(b, a)
            else:
                np.testing.assert_array_equal(b, a)


def test_other_inferences_and_designs_keep_the_qr_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seasons, covariates, Newey–West, two pre periods and ν > (n − 1)/2: not this route."""

    def refuse(*args: Any) -> None:
        raise AssertionError("the two-segment route was taken")

    monkeypatch.setattr(its_estimator, "ewc_two_segments", refuse)
    df, _ = its_ar1(n_pre=40, n_post=30, with_control=True, seed=13)
    kw: dict[str, Any] = {"outcome": "y", "roles": {"time": "t"}, "interruption": 40}
    for params in (
        {"season_period": 12},
        {"se_method": "fixed_b"},
        {"se_method": "normal"},
        {"ewc_terms": 35},
    ):
        cqox.estimate("its", df, **kw, **params)
    cqox.estimate("its", df.assign(x=np.arange(70.0) % 7), covariates=["x"], **kw)
    # a two-period pre segment's law is degenerate: the QR route words it
    with warnings.catch_warnings(), contextlib.suppress(EstimationError):
        warnings.simplefilter("ignore")
        cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=2)


def _cosine_sums_long_double(n: int, s0: int, M: int) -> np.ndarray:
    """``Σ_s c_s^k cos(πm(s+½)/n)`` per segment in long double, the phase reduced in integers."""
    out = np.empty((6, M), dtype=LD)
    pi = LD("3.14159265358979323846264338327950288")
    m = np.arange(M)
    for g, (a, size) in enumerate(((0, s0), (s0, n - s0))):
        s = np.arange(a, a + size)
        u = s.astype(LD) - (LD(a) + LD(size - 1) / 2)
        phase = np.outer(m, 2 * s + 1) % (4 * n)
        cosines = np.cos(phase.astype(LD) * pi / (2 * n))
        for k in range(3):
            out[2 * k + g] = cosines @ u**k
    return out


@pytest.mark.parametrize(
    ("n", "s0", "M"),
    [
        (1500, 900, 105),
        (1500, 3, 105),
        (1500, 1497, 105),
        (4000, 40, 301),
        (20, 17, 19),
        (10, 5, 9),
    ],
)
def test_closed_form_cosine_sums_match_a_long_double_sum(n: int, s0: int, M: int) -> None:
    """The Dirichlet-kernel closed forms (and their direct-sum branch) to 1e-13 of the scale.

    The scale of row ``k`` is ``Σ |c_s|^k`` over the segment (what bounds every sum);
    the DCT of the rows, the route of short series, is held to the same bound.
    """
    ref = _cosine_sums_long_double(n, s0, M)
    got = segment_cosine_sums(n, s0, M)
    W = np.zeros((6, n))
    for g, (a, size) in enumerate(((0, s0), (s0, n - s0))):
        u = np.arange(size) - (size - 1) / 2
        for k in range(3):
            W[2 * k + g, a : a + size] = u**k
    by_dct = 0.5 * fft.dct(W, type=2, axis=1)[:, :M]
    scale = np.abs(W).sum(axis=1, keepdims=True)
    for values in (got, by_dct):
        err = np.abs(values - ref.astype(float)) / scale
        assert float(err.max()) < 1e-13


@pytest.mark.parametrize(("n", "s0"), [(1499, 900), (1500, 900), (3000, 300)])
def test_both_sides_of_the_closed_form_switch_give_the_qr_route_answer(n: int, s0: int) -> None:
    """Series just below and at :data:`CLOSED_FORMS_FROM` (the DCT rows, the closed forms)."""
    assert CLOSED_FORMS_FROM == 1500
    y = _series(n, s0)
    nu = ewc_terms(n)
    new, law = ewc_two_segments(y, s0, nu)
    old, ref = _qr_route(y, s0, nu, False)
    _agree(new.se, old.se)
    _agree(law.scale, ref.scale)
    _agree(law.df, ref.df)


@pytest.fixture
def empty_caches() -> Any:
    """The kept laws, segment constants and t quantiles emptied before and after a test."""
    from cqox.estimators.its import segmented, two_segments

    kept = (two_segments._LAWS, two_segments._CONSTANTS, segmented._T_QUANTILES)
    for cache in kept:
        cache.clear()
    yield kept
    for cache in kept:
        cache.clear()


@pytest.mark.parametrize(("n", "s0"), [(24, 12), (200, 120), (1000, 600), (3000, 2700)])
@pytest.mark.parametrize("correction", [False, True])
def test_a_kept_law_gives_the_numbers_computed_afresh(
    n: int, s0: int, correction: bool, empty_caches: Any
) -> None:
    """A second series of the same design reuses the law: every number bit-identical."""
    from cqox.estimators.its import segmented, two_segments

    nu = ewc_terms(n)
    first = _series(n, s0)
    second = 0.5 * first[::-1].copy() + np.sin(np.arange(n))
    _, law_first = ewc_two_segments(first, s0, nu, correction)
    crit_first = law_first.critical_value(0.95)
    fit, law = ewc_two_segments(second, s0, nu, correction)  # the law as kept
    assert law is law_first
    crit = law.critical_value(0.95)
    for cache in empty_caches:
        cache.clear()
    fresh, fresh_law = ewc_two_segments(second, s0, nu, correction)
    for name in ("coef", "cov", "se", "resid", "fitted"):
        np.testing.assert_array_equal(getattr(fit, name), getattr(fresh, name))
    np.testing.assert_array_equal(law.scale, fresh_law.scale)
    np.testing.assert_array_equal(law.df, fresh_law.df)
    np.testing.assert_array_equal(crit, fresh_law.critical_value(0.95))
    np.testing.assert_array_equal(crit, crit_first)
    # kept arrays are shared by every later caller: read-only
    assert not law.scale.flags.writeable and not law.df.flags.writeable
    assert not two_segments._CONSTANTS[(s0, n - s0)].flags.writeable
    assert all(not q.flags.writeable for q in segmented._T_QUANTILES.values())


def test_kept_laws_and_quantiles_stay_bounded(empty_caches: Any) -> None:
    from cqox.estimators.its import segmented, two_segments

    for n in range(40, 40 + two_segments.CACHE_SIZE + 6):
        _, law = ewc_two_segments(_series(n, 20), 20, ewc_terms(n))
        law.critical_value(0.95)
    assert len(two_segments._LAWS) == two_segments.CACHE_SIZE
    assert len(two_segments._CONSTANTS) == two_segments.CACHE_SIZE
    assert len(segmented._T_QUANTILES) == segmented.T_QUANTILES_KEPT
    # the oldest went first: the last design is kept, the first is not
    last = 40 + two_segments.CACHE_SIZE + 5
    assert (last, 20, ewc_terms(last), False) in two_segments._LAWS
    assert (40, 20, ewc_terms(40), False) not in two_segments._LAWS
