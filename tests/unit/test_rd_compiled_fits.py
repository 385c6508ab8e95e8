"""The compiled RD fits (``cqox.estimators.rd._lp_kernel``) equal the matrix formulas.

The references here are the NumPy matrix forms the compiled loops replaced (CCT 2014,
eq. 9; ``rdrobust_bw``'s V, B and R steps).  The loops add the same terms in another
order, so results move by rounding only.  How far rounding carries depends on the
conditioning of the Gram matrix ``G = RᵀWR`` of raw powers of ``x − c``: up to order 3
(the defaults p = 1, q = 2 and the selector's order-4 pilot) results agree to 1e-10
relative; with p = 3 (q = 4, a pilot of order 6) ``cond(G)`` reaches ~1e12 and the
coefficients of highest order, and what depends on them, agree to ~1e-8 relative — the
same spread a different BLAS kernel (another CPU) gives the NumPy form.
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.rd import _lp_kernel as kernels
from cqox.estimators.rd.local_poly import KERNEL_CODE, VCE_CODE, fit_side, tie_groups

# ------------------------------------------------------------------ NumPy references


def _weights(xc: np.ndarray, h: float, kernel: str) -> np.ndarray:
    u = np.abs(xc / h)
    inside = u <= 1
    if kernel == "uniform":
        return 0.5 * inside / h
    if kernel == "epanechnikov":
        return 0.75 * (1 - u * u) * inside / h
    return (1 - u) * inside / h


def _vander(u: np.ndarray, p: int) -> np.ndarray:
    return np.vander(u, p + 1, increasing=True)


def _residuals(x, Y, R, beta, invG, RW, vce, nnmatch):  # type: ignore[no-untyped-def]
    if vce == "nn":
        from cqox.estimators.rd._lp_kernel import nn_residuals

        return nn_residuals(x, Y, *tie_groups(x), nnmatch)
    e = Y - R @ beta
    n, d = R.shape
    if vce == "hc0":
        return e
    if vce == "hc1":
        return e * np.sqrt(n / (n - d))
    hii = np.sum((R @ invG) * RW, axis=1)
    one_minus = np.maximum(1 - hii, 1e-8)
    return e * (np.sqrt(1 / one_minus) if vce == "hc2" else 1 / one_minus)[:, None]


def _reference_side(xc, Y, h, b, p, q, kernel, vce, nnmatch):  # type: ignore[no-untyped-def]
    w_h_all, w_b_all = _weights(xc, h, kernel), _weights(xc, b, kernel)
    ind = w_h_all > 0 if h > b else w_b_all > 0
    ex, eY, W_h, W_b = xc[ind], Y[ind], w_h_all[ind], w_b_all[ind]
    R_q = _vander(ex, q)
    R_p = R_q[:, : p + 1]
    RW_p, RW_q = R_p * W_h[:, None], R_q * W_b[:, None]
    inv_g_p, invG_q = np.linalg.inv(R_p.T @ RW_p), np.linalg.inv(R_q.T @ RW_q)
    L = RW_p.T @ (ex / h) ** (p + 1)
    m = (R_q @ invG_q[p + 1, :]) * W_b
    Q_q = RW_p - h ** (p + 1) * m[:, None] * L[None, :]
    beta_p, beta_q = inv_g_p @ (RW_p.T @ eY), invG_q @ (RW_q.T @ eY)
    beta_bc = inv_g_p @ (Q_q.T @ eY)
    res_h = _residuals(ex, eY, R_p, beta_p, inv_g_p, RW_p, vce, nnmatch)
    res_b = res_h if vce == "nn" else _residuals(ex, eY, R_q, beta_q, invG_q, RW_q, vce, nnmatch)
    A, B = RW_p * res_h[:, :1], Q_q * res_b[:, :1]
    V = [(inv_g_p @ (M.T @ M) @ inv_g_p)[0, 0] for M in (A, B)]
    return beta_p, beta_bc, np.flatnonzero(ind), V


def _side_data(seed: int, n: int = 600, fuzzy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xc = np.sort(rng.uniform(0, 1, n))
    y = 1 + xc - 2 * xc**2 + 0.3 * rng.standard_normal(n)
    if not fuzzy:
        return xc, y[:, None]
    t = (rng.random(n) < 0.3 + 0.4 * xc).astype(float)
    return xc, np.column_stack([y, t])


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("kernel", ["triangular", "uniform", "epanechnikov"])
@pytest.mark.parametrize("vce", ["nn", "hc0", "hc1", "hc2", "hc3"])
@pytest.mark.parametrize(("p", "h", "b"), [(0, 0.3, 0.5), (1, 0.4, 0.3), (2, 0.5, 0.7)])
def test_side_fit_equals_the_matrix_formulas(kernel: str, vce: str, p: int, h: float, b: float):
    xc, Y = _side_data(p)
    fit = fit_side(xc, Y, h, b, p, p + 1, kernel, vce, 3)
    beta_p, beta_bc, rows, (v_cl, v_rb) = _reference_side(xc, Y, h, b, p, p + 1, kernel, vce, 3)
    np.testing.assert_array_equal(fit.rows, rows)
    np.testing.assert_allclose(fit.beta_p, beta_p, rtol=1e-10)
    np.testing.assert_allclose(fit.beta_bc, beta_bc, rtol=1e-10)
    np.testing.assert_allclose(fit.variances(np.ones(1)), (v_cl, v_rb), rtol=1e-10)


def test_high_order_side_fit_agrees_to_its_conditioning() -> None:
    """p = 3, q = 4 on a window of width 0.3: cond(G_q) ~ 1e12, agreement ~1e-8."""
    xc, Y = _side_data(11)
    fit = fit_side(xc, Y, 0.3, 0.3, 3, 4, "triangular", "nn", 3)
    beta_p, beta_bc, _, (v_cl, v_rb) = _reference_side(xc, Y, 0.3, 0.3, 3, 4, "triangular", "nn", 3)
    R = _vander(xc[xc <= 0.3], 4)
    assert np.linalg.cond(R.T @ (R * _weights(xc[xc <= 0.3], 0.3, "triangular")[:, None])) > 1e9
    np.testing.assert_allclose(fit.beta_p[0], beta_p[0], rtol=1e-10)  # the intercept
    np.testing.assert_allclose(fit.beta_p, beta_p, rtol=1e-7)
    np.testing.assert_allclose(fit.beta_bc, beta_bc, rtol=1e-7)
    np.testing.assert_allclose(fit.variances(np.ones(1)), (v_cl, v_rb), rtol=1e-8)


@pytest.mark.parametrize("vce", ["nn", "hc1", "hc3"])
def test_fuzzy_side_fit_has_both_columns(vce: str) -> None:
    xc, Y = _side_data(3, fuzzy=True)
    fit = fit_side(xc, Y, 0.4, 0.5, 1, 2, "triangular", vce, 3)
    beta_p, beta_bc, _, _ = _reference_side(xc, Y, 0.4, 0.5, 1, 2, "triangular", vce, 3)
    np.testing.assert_allclose(fit.beta_p, beta_p, rtol=1e-10)
    np.testing.assert_allclose(fit.beta_bc, beta_bc, rtol=1e-10)


@pytest.mark.parametrize("vce", ["nn", "hc2"])
@pytest.mark.parametrize(("o", "nu"), [(1, 0), (2, 2), (3, 3)])
def test_bandwidth_steps_equal_the_matrix_formulas(vce: str, o: int, nu: int) -> None:
    xc, Y = _side_data(4 + o)
    h, kern = 0.45, KERNEL_CODE["triangular"]
    w_all = _weights(xc, h, "triangular")
    ind = w_all > 0
    ex, eY, w = xc[ind], Y[ind], w_all[ind]
    R = _vander(ex, o)
    RW = R * w[:, None]
    invG = np.linalg.inv(R.T @ RW)
    beta = invG @ (RW.T @ eY)
    res = _residuals(ex, eY, R, beta, invG, RW, vce, 3)
    A = RW * res
    V = invG @ (A.T @ A) @ invG
    B_const = (h ** np.arange(o + 1) * (invG @ (RW.T @ (ex / h) ** (o + 1))))[nu]
    V_V, B, s = kernels.pilot_terms(xc, Y, h, kern, o, nu, VCE_CODE[vce], 3)
    np.testing.assert_allclose([V_V, B], [V[nu, nu], B_const], rtol=1e-10)
    ok, b_s, V_B = kernels.bias_terms(xc, Y, h, kern, o, s, True, VCE_CODE[vce], 3)
    assert ok
    np.testing.assert_allclose([b_s, V_B], [beta[o, 0], V[o, o]], rtol=1e-10)


@pytest.mark.parametrize("kernel", ["triangular", "uniform", "epanechnikov"])
def test_window_equals_the_full_pass(kernel: str) -> None:
    rng = np.random.default_rng(5)
    h = 0.3
    # values exactly at ±h and just beyond, where the kernels' zero weights decide
    xc = np.sort(np.r_[rng.uniform(-1, 1, 400), -h, h, h, np.nextafter(h, 1.0), 0.0])
    Y = xc[:, None] * 2.0
    ex, eY, w_h, _, rows, n_h, n_b, d_h, d = kernels.gather(xc, Y, h, h, KERNEL_CODE[kernel])
    w_all = _weights(xc, h, kernel)
    np.testing.assert_array_equal(rows, np.flatnonzero(w_all > 0))
    np.testing.assert_array_equal(w_h, w_all[w_all > 0])
    np.testing.assert_array_equal(eY[:, 0], 2.0 * ex)
    assert n_h == n_b == rows.size
    assert d_h == d == np.unique(xc[w_all > 0]).size


def test_too_few_distinct_values_is_an_estimation_error() -> None:
    from cqox.errors import EstimationError

    xc = np.repeat([0.0, 0.1], 50)
    with pytest.raises(EstimationError, match="too few distinct"):
        fit_side(xc, np.ones((100, 1)), 0.5, 0.5, 1, 2, "triangular", "nn", 3)


def test_inverse_is_cholesky_and_falls_back_to_the_pseudo_inverse() -> None:
    x = np.random.default_rng(6).uniform(0, 0.5, 200)
    R = _vander(x, 3)
    *_, invG, _, fitted = kernels.wls(x, np.ones((200, 1)), np.ones(200), 3, kernels.NO_INVERSE)
    assert fitted
    np.testing.assert_allclose(invG, np.linalg.inv(R.T @ R), rtol=1e-8)
    for singular in (
        np.ones((3, 3)),
        np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.5]]),
    ):
        np.testing.assert_allclose(kernels.pinv_sym(singular), np.linalg.pinv(singular), atol=1e-12)
    # rows on two values only: the cubic's Gram matrix is singular; wls hands it back and
    # fits with the pseudo-inverse it is given
    x2 = np.repeat([0.1, 0.2], 20)
    R2 = _vander(x2, 3)
    Y2 = np.ones((40, 1))
    *_, G2, _, fitted = kernels.wls(x2, Y2, np.ones(40), 3, kernels.NO_INVERSE)
    assert not fitted
    np.testing.assert_allclose(G2, R2.T @ R2, rtol=1e-12)
    inv2 = kernels.pinv_sym(G2)
    np.testing.assert_allclose(inv2, np.linalg.pinv(R2.T @ R2), atol=1e-6 * np.abs(inv2).max())
    *_, inv_used, beta2, fitted = kernels.wls(x2, Y2, np.ones(40), 3, inv2)
    assert fitted and inv_used is inv2
    np.testing.assert_allclose(beta2, inv2 @ (R2.T @ Y2), rtol=1e-10)


def test_a_singular_gram_matrix_is_fitted_with_its_pseudo_inverse() -> None:
    # four distinct values, the last three 1e-9 apart: the cubic's Gram matrix is not
    # numerically positive definite, so every fit goes through the pseudo-inverse
    xc = np.sort(np.r_[np.repeat(0.1, 30), 0.2 + 1e-9 * np.repeat([0.0, 1.0, 2.0], 10)])
    Y = (1.0 + xc)[:, None]
    G = _vander(xc, 3).T @ (_vander(xc, 3) * _weights(xc, 0.5, "uniform")[:, None])
    assert np.linalg.eigvalsh(G).min() < 1e-12 * np.linalg.eigvalsh(G).max()
    kern, none = KERNEL_CODE["uniform"], kernels.NO_INVERSE
    assert kernels.side_kernel(xc, Y, 0.5, 0.5, 3, 3, kern, 1, 3, none, none)[0] == kernels.NOT_PD
    assert kernels.bw_terms(xc, Y, 0.5, kern, 3, 0, np.ones(1), True, True, 1, 3, none)[0] == (
        kernels.NOT_PD
    )
    status, beta_p, *_ = kernels.fit_side(xc, Y, 0.5, 0.5, 3, 3, kern, 1, 3)
    assert status == kernels.OK
    R = _vander(xc, 3)
    RW = R * _weights(xc, 0.5, "uniform")[:, None]
    expected = np.linalg.pinv(R.T @ RW) @ (RW.T @ Y)
    np.testing.assert_allclose(R @ beta_p, R @ expected, atol=1e-8)
    V_V, B_const, _ = kernels.pilot_terms(xc, Y, 0.5, kern, 3, 0, 1, 3)
    assert np.isfinite(V_V) and np.isfinite(B_const)
