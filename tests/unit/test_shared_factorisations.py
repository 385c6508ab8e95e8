"""The shared-work paths of its, iv_2sls and rd equal the direct computations they replace.

Each fast path (one QR shared by a fit and its diagnostics, kernel windows found by
binary search on sorted rows, order statistics read off sorted rows, LAPACK's Cholesky
inverse) is checked here against the straightforward formula on the same data, so a
speed-up cannot silently change a number.
"""

from __future__ import annotations

import numpy as np
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
def _iv_data(n: int = 500, seed: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    W = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    Zx = rng.normal(size=(n, 2)) + 0.3 * W[:, 1:3]
    u = rng.normal(size=n)
    D = (Zx @ [0.8, -0.5] + W[:, 1] + u + rng.normal(size=n))[:, None]
    y = 1.5 * D[:, 0] + W @ [1.0, 0.5, -0.2, 0.1] + u
    return y, W, D, Zx


@pytest.mark.parametrize("se_method", ["robust", "unadjusted"])
def test_first_stage_from_the_shared_qr_equals_its_own_regression(se_method: str) -> None:
    from cqox.estimators.iv.diagnostics import first_stages
    from cqox.estimators.iv.kclass import iv_arrays, ols_cov, project

    y, W, D, Zx = _iv_data()
    a = iv_arrays(y, W, D, Zx)
    fs = first_stages(a, ["d"], se_method, False)[0]
    coef, cov, _ = ols_cov(a.Z, D[:, 0], None, se_method, False)
    np.testing.assert_allclose(fs.pi, coef[-2:], rtol=RTOL)
    np.testing.assert_allclose(fs.se, np.sqrt(np.diag(cov)[-2:]), rtol=RTOL)
    Zt = Zx - project(np.linalg.qr(W)[0], Zx)
    dt = D[:, 0] - project(np.linalg.qr(W)[0], D[:, 0])
    resid = dt - Zt @ np.linalg.lstsq(Zt, dt, rcond=None)[0]
    assert fs.partial_r2 == pytest.approx(1 - resid @ resid / (dt @ dt), rel=RTOL)
    np.testing.assert_allclose(a.Zt, Zt, rtol=0, atol=RTOL * np.abs(Zt).max())


def test_instrument_rank_from_r_names_the_spanning_covariate() -> None:
    from cqox.estimators.iv.kclass import thin_qr
    from cqox.estimators.iv.rank import check_instrument_rank_qr

    _, W, _, Zx = _iv_data()
    z = (2.0 * W[:, 2] - W[:, 3])[:, None]
    R = thin_qr(np.column_stack([W, z]))[1]
    with pytest.raises(EstimationError, match="linear combination of 'w2', 'w3'"):
        check_instrument_rank_qr(R, W, z, ["(intercept)", "w1", "w2", "w3"], ["z"])
    R_ok = thin_qr(np.column_stack([W, Zx]))[1]
    check_instrument_rank_qr(R_ok, W, Zx, ["(intercept)", "w1", "w2", "w3"], ["z1", "z2"])
    const = np.full((len(W), 1), 3.0)
    with pytest.raises(EstimationError, match="constant"):
        check_instrument_rank_qr(
            thin_qr(np.column_stack([W, const]))[1], W, const, ["(intercept)"] * 4, ["c"]
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
    from cqox.estimators.rd.binned import binned_means

    rng = np.random.default_rng(8)
    x = np.round(rng.normal(size=500), 2)
    y = x + rng.normal(size=500)
    order = np.argsort(x, kind="stable")
    for prob in (0.25, 0.5, 0.75):
        assert quantile_type2(x[order], prob, is_sorted=True) == quantile_type2(x, prob)
    (b1, f1), (b2, f2) = (
        binned_means(x, y, 0.0),
        binned_means(x[order], y[order], 0.0, presorted=True),
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
