"""The shared-work paths of its, iv_2sls and rd equal the direct computations they replace.

Each fast path (one QR shared by a fit and its diagnostics, kernel windows found by
binary search on sorted rows, order statistics read off sorted rows, LAPACK's Cholesky
inverse) is checked here against the straightforward formula on the same data, so a
speed-up cannot silently change a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import fft

import cqox
from cqox.errors import DesignError, EstimationError

RTOL = 1e-10


# --------------------------------------------------------------------------- its
def test_toeplitz_plus_hankel_windows_equal_the_indexed_matrix() -> None:
    from cqox.estimators.its.segmented import _toeplitz_plus_hankel

    rng = np.random.default_rng(0)
    nu = 9
    cm = rng.normal(size=(3, 2 * nu + 1))
    v = np.arange(1, nu + 1)
    direct = cm[:, np.abs(v[:, None] - v[None, :])] + cm[:, v[:, None] + v[None, :]]
    np.testing.assert_array_equal(_toeplitz_plus_hankel(cm, nu), direct)


def test_ewc_transforms_from_products_of_q_equal_the_direct_dcts() -> None:
    from cqox.estimators.its.segmented import _ewc_transforms, cosine_transform, its_design, ols_ewc

    n, nu = 240, 15
    Z, _ = its_design(n, 150, 12, "fourier", 1)
    fit = ols_ewc(np.random.default_rng(1).normal(size=n), Z, nu)
    assert fit.Q is not None and fit.Rinv is not None
    A = fit.Rinv @ fit.Q.T
    cm_direct = 0.5 * fft.dct(A * A, type=2, axis=1)[:, : 2 * nu + 1]
    qg_direct = cosine_transform(fit.Q.T[None, :, :] * A[:, None, :], nu)
    cm, qg = _ewc_transforms(fit.Q, fit.Rinv, nu)
    scale = np.abs(cm_direct).max()
    np.testing.assert_allclose(cm, cm_direct, rtol=0, atol=RTOL * scale)
    np.testing.assert_allclose(qg, qg_direct, rtol=0, atol=RTOL * np.abs(qg_direct).max())


def test_its_refuses_a_design_whose_covariate_is_the_time_trend() -> None:
    df = cqox.simulate.its.its_ar1(n_pre=30, n_post=30, seed=3)[0]
    df = df.assign(trend=2.0 * df["t"] + 1.0)
    with pytest.raises(DesignError, match="rank-deficient"):
        cqox.estimate(
            "its", df, outcome="y", covariates=["trend"], roles={"time": "t"}, interruption=30
        )


# --------------------------------------------------------------------------- iv
def _iv_data(n: int = 400, seed: int = 2):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    W = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    Zx = rng.normal(size=(n, 2)) + 0.3 * W[:, 1:3]
    u = rng.normal(size=n) * (1 + 0.5 * np.abs(W[:, 1]))  # heteroskedastic
    D = (Zx @ [0.8, -0.5] + W[:, 1] + u + rng.normal(size=n))[:, None]
    y = 1.5 * D[:, 0] + W @ [1.0, 0.5, -0.2, 0.1] + u
    return y, W, D, Zx


def _ols(A: np.ndarray, y: np.ndarray, se_method: str) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their HC0 (or homoskedastic) covariance, straight from the formula."""
    bread = np.linalg.inv(A.T @ A)
    coef = bread @ A.T @ y
    e = y - A @ coef
    if se_method == "unadjusted":
        return coef, bread * (e @ e) / len(y)
    meat = (A * e[:, None]).T @ (A * e[:, None])
    return coef, bread @ meat @ bread


@pytest.mark.parametrize("se_method", ["robust", "unadjusted"])
def test_first_stage_from_the_shared_qr_equals_its_own_regression(se_method: str) -> None:
    from cqox.estimators.iv.diagnostics import first_stages
    from cqox.estimators.iv.kclass import iv_arrays

    y, W, D, Zx = _iv_data()
    a = iv_arrays(y, W, D, Zx)
    fs = first_stages(a, ["d"], se_method, False)[0]
    coef, cov = _ols(np.column_stack([W, Zx]), D[:, 0], se_method)
    np.testing.assert_allclose(fs.pi, coef[-2:], rtol=RTOL)
    np.testing.assert_allclose(fs.se, np.sqrt(np.diag(cov)[-2:]), rtol=RTOL)
    Zt = Zx - W @ np.linalg.lstsq(W, Zx, rcond=None)[0]
    dt = D[:, 0] - W @ np.linalg.lstsq(W, D[:, 0], rcond=None)[0]
    resid = dt - Zt @ np.linalg.lstsq(Zt, dt, rcond=None)[0]
    assert fs.partial_r2 == pytest.approx(1 - resid @ resid / (dt @ dt), rel=RTOL)
    np.testing.assert_allclose(a.partialled_instruments(), Zt, rtol=0, atol=RTOL * np.abs(Zt).max())


@pytest.mark.parametrize("se_method", ["robust", "unadjusted"])
def test_2sls_from_the_r_factor_equals_the_textbook_sandwich(se_method: str) -> None:
    from cqox.estimators.iv.kclass import iv_arrays, kclass

    y, W, D, Zx = _iv_data()
    res = kclass(iv_arrays(y, W, D, Zx), 1.0, se_method=se_method)
    X, Z = np.column_stack([W, D]), np.column_stack([W, Zx])
    PX = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]  # the first-stage fitted values
    bread = np.linalg.inv(PX.T @ X)
    beta = bread @ PX.T @ y
    e = y - X @ beta
    if se_method == "unadjusted":
        cov = bread * (e @ e) / len(y)
    else:
        cov = bread @ ((PX * e[:, None]).T @ (PX * e[:, None])) @ bread.T
    np.testing.assert_allclose(res.params, beta, rtol=RTOL)
    np.testing.assert_allclose(res.resid, e, rtol=0, atol=RTOL * np.abs(e).max())
    np.testing.assert_allclose(res.se, np.sqrt(np.diag(cov)), rtol=RTOL)


@pytest.mark.parametrize("se_method", ["robust", "unadjusted"])
def test_wooldridge_test_by_fwl_equals_the_control_function_regression(se_method: str) -> None:
    from cqox.estimators.iv.diagnostics import endogeneity_tests
    from cqox.estimators.iv.kclass import iv_arrays, kclass

    y, W, D, Zx = _iv_data()
    a = iv_arrays(y, W, D, Zx)
    endo = endogeneity_tests(a, kclass(a, 1.0, se_method=se_method), se_method, False)
    Z = np.column_stack([W, Zx])
    V = D - Z @ np.linalg.lstsq(Z, D, rcond=None)[0]  # first-stage residuals
    coef, cov = _ols(np.column_stack([W, D, V]), y, se_method)
    assert endo.wooldridge.statistic == pytest.approx(coef[-1] ** 2 / cov[-1, -1], rel=RTOL)


@pytest.mark.parametrize("se_method", ["robust", "unadjusted"])
@pytest.mark.parametrize("q", [1, 2])
def test_anderson_rubin_statistic_equals_the_test_regression(se_method: str, q: int) -> None:
    from cqox.estimators.iv.diagnostics import _ARParts
    from cqox.estimators.iv.kclass import iv_arrays

    y, W, D, Zx = _iv_data()
    Zx = Zx[:, :q]
    parts = _ARParts(iv_arrays(y, W, D, Zx), se_method, False)
    Z = np.column_stack([W, Zx])
    for b in (-3.0, 0.0, 1.5, 7.0):
        coef, cov = _ols(Z, y - b * D[:, 0], se_method)
        pi, C = coef[-q:], cov[-q:, -q:]
        wald = pi @ np.linalg.solve(C, pi)
        if se_method == "unadjusted":  # the F form: s² on n − L degrees of freedom
            wald = wald / q * (len(y) - Z.shape[1]) / len(y)
        assert parts.stat(b) == pytest.approx(wald, rel=RTOL)


def test_instrument_rank_from_r_names_the_spanning_covariate() -> None:
    from cqox.estimators.iv.rank import check_instrument_rank_qr

    def r_factor(A: np.ndarray) -> np.ndarray:
        return np.asarray(np.linalg.qr(A, mode="r"))

    _, W, _, Zx = _iv_data()
    z = (2.0 * W[:, 2] - W[:, 3])[:, None]
    R = r_factor(np.column_stack([W, z]))
    with pytest.raises(EstimationError, match="linear combination of 'w2', 'w3'"):
        check_instrument_rank_qr(R, W, z, ["(intercept)", "w1", "w2", "w3"], ["z"])
    R_ok = r_factor(np.column_stack([W, Zx]))
    check_instrument_rank_qr(R_ok, W, Zx, ["(intercept)", "w1", "w2", "w3"], ["z1", "z2"])
    const = np.full((len(W), 1), 3.0)
    with pytest.raises(EstimationError, match="constant"):
        check_instrument_rank_qr(
            r_factor(np.column_stack([W, const])), W, const, ["(intercept)"] * 4, ["c"]
        )


# --------------------------------------------------------------------------- rd
# the kernel window and the Cholesky inverse: tests/unit/test_rd_compiled_fits.py


def test_density_floors_by_position_equal_the_partitions() -> None:
    from cqox.estimators.rd.density import _kth, _kth_sorted

    xs = np.sort(np.random.default_rng(7).normal(size=301))
    nl = int(np.searchsorted(xs, 0.0))
    for k in (1, 5, 40, 500):
        assert _kth_sorted(-xs[:nl], k, True) == _kth(-xs[:nl], k)
        assert _kth_sorted(xs[nl:], k, False) == _kth(xs[nl:], k)


def test_presorted_helpers_equal_their_sorting_forms() -> None:
    from cqox.estimators.rd.bandwidth import quantile_type2
    from cqox.estimators.rd.binned import binned_columns

    rng = np.random.default_rng(8)
    x = np.round(rng.normal(size=500), 2)
    y = x + rng.normal(size=500)
    order = np.argsort(x, kind="stable")
    for prob in (0.25, 0.5, 0.75):
        assert quantile_type2(x[order], prob, is_sorted=True) == quantile_type2(x, prob)
    (b1, f1), (b2, f2) = (
        (pd.DataFrame(c) for c in binned_columns(x, y, 0.0)),
        (pd.DataFrame(c) for c in binned_columns(x[order], y[order], 0.0, presorted=True)),
    )
    np.testing.assert_allclose(b1[["x", "y", "n"]], b2[["x", "y", "n"]], rtol=1e-12)
    np.testing.assert_allclose(f1["coef"], f2["coef"], rtol=1e-9)
    assert b1["side"].tolist() == b2["side"].tolist()


def test_rd_with_covariates_is_unchanged_by_row_order() -> None:
    df, _ = cqox.simulate.rd_sharp(n=1500, seed=9)
    df = df.assign(w=np.random.default_rng(9).normal(size=len(df)))
    kw = {"outcome": "y", "covariates": ["w"], "roles": {"running": "x", "cutoff": 0.0}}
    a = cqox.estimate("rd", df, **kw)
    b = cqox.estimate("rd", df.sample(frac=1.0, random_state=1), **kw)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    ga, gb = ({g.name: g.value for g in e.gates} for e in (a, b))
    assert ga.keys() == gb.keys()
    for name in ga:
        assert ga[name] == pytest.approx(gb[name], rel=1e-9, abs=1e-12)
