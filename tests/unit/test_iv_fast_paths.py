"""The shortcuts of the IV fit equal what they replace, to rounding (issue #15).

Each replaced computation is recomputed here the plain way: the Gram products by BLAS
gemm against NumPy's ``S.T @ S``, the binary-instrument Wald ratio against group means
by boolean masks, the chi-squared(1) p-value and critical value against scipy's
chi-squared functions, the fused residual products against the per-piece formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import special

import cqox
from cqox.core.linalg import crossprod, gemm
from cqox.estimators.iv import diagnostics as diag
from cqox.estimators.iv.estimators import _wald_ratio
from cqox.estimators.iv.kclass import IVArrays, iv_matrix, kclass, solve

RTOL = 1e-12


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("cols", [1, 2, 7, 50])
def test_crossprod_is_the_gram_matrix_and_symmetric(order: str, cols: int) -> None:
    rng = np.random.default_rng(cols)
    S = np.array(rng.standard_normal((1_000, cols)) * 3 + 1, order=order)
    gram = crossprod(S)
    np.testing.assert_allclose(gram, S.T @ S, rtol=RTOL, atol=RTOL * np.abs(S.T @ S).max())
    np.testing.assert_array_equal(gram, gram.T)
    # neither contiguous (a column slice of a row-major array): the NumPy product
    np.testing.assert_array_equal(crossprod(S[::2, :]), S[::2, :].T @ S[::2, :])


@pytest.mark.parametrize("order", ["F", "C"])
def test_gemm_is_the_product_in_column_major_order(order: str) -> None:
    rng = np.random.default_rng(3)
    A = np.array(rng.standard_normal((1_000, 9)), order=order)
    B = rng.standard_normal((9, 3))
    got = gemm(A, B)
    assert got.flags.f_contiguous
    np.testing.assert_allclose(got, A @ B, rtol=RTOL, atol=RTOL * np.abs(A @ B).max())


def test_solve_matches_numpy_and_reports_a_singular_matrix() -> None:
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6))
    B = rng.standard_normal((6, 2))
    x, info = solve(A, B.copy())
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(A, B), rtol=1e-10)
    A[:, 3] = A[:, 1]
    assert solve(A, np.eye(6))[1] > 0


def _masked_wald(y: np.ndarray, d: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    z1 = z == 1
    rf = float(np.mean(y[z1]) - np.mean(y[~z1]))
    first = float(np.mean(d[z1]) - np.mean(d[~z1]))
    return rf, first


def test_wald_ratio_equals_the_group_means() -> None:
    rng = np.random.default_rng(2)
    n = 997
    z = rng.integers(0, 2, n).astype(float)
    d = 0.6 * z + rng.standard_normal(n) + 100.0
    y = 1.5 * d + rng.standard_normal(n) - 40.0
    got = _wald_ratio(np.column_stack((d, y)), z[:, None], None)
    assert got is not None
    rf, first = _masked_wald(y, d, z)
    assert got["reduced_form"] == pytest.approx(rf, rel=1e-10)
    assert got["first_stage"] == pytest.approx(first, rel=1e-10)
    assert got["ratio"] == pytest.approx(rf / first, rel=1e-10)
    # an instrument with a value other than 0 and 1 has no Wald ratio
    z[5] = 2.0
    assert _wald_ratio(np.column_stack((d, y)), z[:, None], None) is None


@pytest.mark.parametrize("stat", [1e-9, 0.3, 3.84, 14.6, 55.3, 400.0, 1399.0])
def test_chi2_one_p_value_equals_scipy(stat: float) -> None:
    got = diag.chi2_stat("t", stat, 1, "null").p_value
    want = float(special.chdtrc(1.0, stat))
    assert got == pytest.approx(want, rel=1e-12)


def test_chi2_p_value_outside_the_erfc_range_is_scipys() -> None:
    for stat in (0.0, 1500.0, float("nan")):
        got = diag.chi2_stat("t", stat, 1, "null").p_value
        want = float(special.chdtrc(1.0, stat))
        assert got == want or (np.isnan(got) and np.isnan(want))
    assert diag.chi2_stat("t", 5.0, 3, "null").p_value == float(special.chdtrc(3.0, 5.0))


def _arrays(n: int = 600, seed: int = 3) -> tuple[IVArrays, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    z = rng.standard_normal((n, 2))
    v = rng.standard_normal(n)
    d = z @ [0.5, 0.3] + X @ [0.2, 0.1, 0.0] + v
    y = 1.2 * d + X @ [0.3, -0.2, 0.1] + 0.5 * v + rng.standard_normal(n)
    W = np.column_stack([np.ones(n), X])
    M = np.asfortranarray(np.column_stack([W, z, d, y]))
    return iv_matrix(M, 4, 2, 1), W, np.column_stack([W, z])


def test_instrument_scores_equal_the_per_piece_residuals() -> None:
    a, W, Z = _arrays()
    scores = diag.instrument_scores(a, "robust")
    M = a.M
    DY = M[:, -2:]
    U = DY - Z @ np.linalg.lstsq(Z, DY, rcond=None)[0]
    Zx = M[:, 4:6]
    Zt = Zx - W @ np.linalg.lstsq(W, Zx, rcond=None)[0]
    np.testing.assert_allclose(scores.resid, U, atol=1e-10)
    np.testing.assert_allclose(M @ scores.resid_coef, U, atol=1e-10)
    S = (Zt[:, :, None] * U[:, None, :]).reshape(len(U), -1)
    np.testing.assert_allclose(scores.gram, S.T @ S, rtol=1e-10)


@pytest.mark.parametrize("se_method", ["robust", "clustered", "unadjusted"])
def test_endogeneity_regression_test_equals_the_control_function_regression(
    se_method: str,
) -> None:
    """Wooldridge's test: OLS of y on [X, V̂], the Wald test of V̂'s coefficient."""
    a, W, Z = _arrays(seed=4)
    n = a.n
    clusters = np.arange(n) % 40
    if se_method == "clustered":
        a = iv_matrix(np.asfortranarray(a.M), 4, 2, 1, clusters=clusters)
    res = kclass(a, 1.0, se_method=se_method)
    got = diag.endogeneity_tests(a, res, se_method, False).wooldridge.statistic
    M = a.M
    d, y = M[:, -2], M[:, -1]
    V = d - Z @ np.linalg.lstsq(Z, d, rcond=None)[0]
    A = np.column_stack([W, d, V])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    e = y - A @ coef
    bread = np.linalg.inv(A.T @ A)
    if se_method == "unadjusted":
        cov = bread * (e @ e / n)
    else:
        s = A * e[:, None]
        if se_method == "clustered":
            s = np.vstack([s[clusters == g].sum(axis=0) for g in range(40)])
        cov = bread @ (s.T @ s) @ bread
    want = coef[-1] ** 2 / cov[-1, -1]
    assert got == pytest.approx(want, rel=1e-9)


def test_iv_2sls_defaults_reproduce_the_diagnostics_of_a_binary_instrument() -> None:
    """The default call end to end: the Wald ratio and the χ²₁ tests in its output."""

    rng = np.random.default_rng(5)
    n = 800
    x = rng.standard_normal(n)
    z = rng.integers(0, 2, n)
    v = rng.standard_normal(n)
    d = (0.9 * z + 0.3 * x + v > 0.5).astype(float)  # binary: the Wald ratio is reported
    y = 1.5 * d + 0.4 * x + 0.5 * v + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "d": d, "z": z, "x": x})
    est = cqox.estimate(
        "iv_2sls", df, outcome="y", treatment="d", covariates=["x"], roles={"instrument": ["z"]}
    )
    assert est.estimand == "LATE"
    rf, first = _masked_wald(y, d, z.astype(float))
    assert est.diagnostics["wald"]["ratio"] == pytest.approx(rf / first, rel=1e-10)
    for key in ("durbin", "wooldridge_regression"):
        t = est.diagnostics[key]
        assert t["p_value"] == pytest.approx(float(special.chdtrc(1.0, t["statistic"])), rel=1e-12)
    ar = est.diagnostics["anderson_rubin"]["test_zero"]
    assert ar["p_value"] == pytest.approx(float(special.chdtrc(1.0, ar["statistic"])), rel=1e-12)


def _extended_r(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R of ``M`` by Cholesky in extended precision (``np.longdouble``), and column norms."""
    Ml = M.astype(np.longdouble)
    G = Ml.T @ Ml
    m = G.shape[0]
    R = np.zeros((m, m), dtype=np.longdouble)
    for j in range(m):
        R[j, j] = np.sqrt(G[j, j] - (R[:j, j] ** 2).sum())
        for k in range(j + 1, m):
            R[j, k] = (G[j, k] - (R[:j, j] * R[:j, k]).sum()) / R[j, j]
    return R.astype(np.float64), np.sqrt(np.diag(G)).astype(np.float64)


#: Entry error of R relative to its column's norm: Householder's is ~1e-16 here, the
#: Cholesky factor's up to ~1e-14 (the squared condition number of the column-scaled
#: matrix, bounded by the angle guard, times eps).
R_ENTRY_TOL = 1e-13


def test_r_factor_is_householders_to_rounding_and_declines_near_collinear_columns() -> None:
    """The Cholesky factor of M'M is R to 1e-13 of each column's norm, or Householder's."""
    from scipy.linalg import lapack

    from cqox.estimators.iv.kclass import CHOLESKY_MIN_ANGLE, r_factor

    rng = np.random.default_rng(11)
    taken = {"cholesky": 0, "householder": 0}
    for _ in range(80):
        n, m = int(rng.integers(50, 3000)), int(rng.integers(3, 12))
        # columns of very different scales, means of 0 to 30 standard deviations, one
        # pair near-collinear at a random strength (some below the guard's angle)
        sd = 10.0 ** rng.uniform(-4, 5, m)
        M = (rng.standard_normal((n, m)) + rng.choice([0.0, 0.5, 3.0, 30.0], m)) * sd
        M[:, 0] = 1.0
        j = int(rng.integers(1, m))
        M[:, j] = M[:, j - 1] * rng.uniform(-2, 2) + M[:, j] * 10.0 ** rng.uniform(-3, 0)
        M = np.asfortranarray(M)
        got = r_factor(M)
        norms = np.linalg.norm(M, axis=0)
        householder = np.triu(lapack.dgeqrf(M)[0][:m])
        if np.all(got == householder):
            taken["householder"] += 1
            # declined only for a column at a smaller angle to the ones before it
            assert np.min(np.abs(np.diag(householder)) / norms) < CHOLESKY_MIN_ANGLE * 1.01
            continue
        taken["cholesky"] += 1
        want, norms = _extended_r(M)
        assert np.all(np.diag(got) > 0) and not np.any(np.tril(got, -1))
        assert np.max(np.abs(got - want) / norms) < R_ENTRY_TOL
        # Householder's R is the same up to the signs of its rows
        signs = np.sign(np.diag(householder))[:, None]
        assert np.max(np.abs(got - signs * householder) / norms) < R_ENTRY_TOL
    assert taken["cholesky"] >= 8 and taken["householder"] >= 8, taken


@pytest.mark.parametrize("noise", [1e-9, 1e-3, 0.04, 0.06, 1.0])
def test_separated_columns_pass_the_instrument_rank_check(noise: float) -> None:
    """``IVArrays.separated`` (the Cholesky guard held) lets the fit skip the rank check.

    An instrument that is a covariate plus ``noise``: the rank check passes whenever the
    guard held, and an instrument the check refuses never takes the Cholesky factor.
    """
    from cqox.errors import EstimationError
    from cqox.estimators.iv.rank import check_instrument_rank_qr

    rng = np.random.default_rng(7)
    n = 500
    W = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    z = W[:, 1] + noise * rng.standard_normal(n)
    d = z + rng.standard_normal(n)
    y = d + rng.standard_normal(n)
    a = iv_matrix(np.asfortranarray(np.column_stack([W, z, d, y])), 3, 1, 1)
    names = ["(intercept)", "w1", "w2"]
    try:
        check_instrument_rank_qr(a.R, W, z[:, None], names, ["z"])
    except EstimationError:
        assert not a.separated
    assert a.separated == (noise > 0.05)


def test_an_instrument_constant_only_in_its_first_rows_is_not_refused() -> None:
    """The constancy check reads the first rows first; a later value makes it vary."""
    from cqox.errors import RoleError

    rng = np.random.default_rng(8)
    n = 400
    z = rng.integers(0, 2, n).astype(float)
    z[:40] = 1.0
    d = 0.8 * z + rng.standard_normal(n)
    df = pd.DataFrame({"y": d + rng.standard_normal(n), "d": d, "z": z})
    est = cqox.estimate("iv_2sls", df, outcome="y", treatment="d", roles={"instrument": ["z"]})
    assert np.isfinite(est.estimate)
    df["z"] = 1.0
    with pytest.raises(RoleError, match="'z' is constant"):
        cqox.estimate("iv_2sls", df, outcome="y", treatment="d", roles={"instrument": ["z"]})


def test_gate_details_are_copies_of_the_diagnostics_records() -> None:
    """The AR and endogeneity gates reuse the diagnostics' records as independent copies."""
    df, _ = cqox.simulate.iv_linear(n=300, n_instruments=1, seed=4)
    est = cqox.estimate(
        "iv_2sls", df, outcome="y", treatment="d", covariates=["x1"], roles={"instrument": ["z1"]}
    )
    gates = {g.name: g for g in est.gates}
    ar, endo = gates["anderson_rubin"].details, gates["endogeneity"].details
    assert ar == est.diagnostics["anderson_rubin"]
    assert endo == est.diagnostics["wooldridge_regression"]
    ar["test_zero"]["p_value"] = -1.0
    ar["intervals"][0][0] = -1.0
    endo["statistic"] = -1.0
    assert est.diagnostics["anderson_rubin"]["test_zero"]["p_value"] >= 0
    assert est.diagnostics["anderson_rubin"]["intervals"][0][0] != -1.0
    assert est.diagnostics["wooldridge_regression"]["statistic"] >= 0


def test_r_factor_of_columns_whose_squares_overflow_is_householders() -> None:
    """A column near 1e160 (the outcome, last) overflows M'M; R is then Householder's, finite."""
    from scipy.linalg import lapack

    from cqox.estimators.iv.kclass import r_factor

    rng = np.random.default_rng(12)
    M = np.asfortranarray(np.column_stack([np.ones(200), rng.standard_normal((200, 3))]))
    M[:, 3] *= 1e160
    got = r_factor(M)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, np.triu(lapack.dgeqrf(M)[0][:4]))


@pytest.mark.parametrize(
    ("beta", "se", "level"),
    [
        (0.7, 0.2, 0.95),
        (-3.1, 0.05, 0.9),
        (0.01, 1.3, 0.99),
        (12.0, 0.3, 0.95),  # p far in the tail (~1e-87)
        (0.0, 0.4, 0.8),
        (1.0, 0.0, 0.95),  # no variance: NaN, as normal_inference
        (1.0, float("inf"), 0.95),
        (float("nan"), 0.2, 0.95),
    ],
)
def test_wald_inference_equals_normal_inference(beta: float, se: float, level: float) -> None:
    """The kept quantile and math.erfc give normal_inference's interval and p-value."""
    from cqox.core.estimate import normal_inference
    from cqox.estimators.iv.estimators import _inference

    (lo, hi), p = _inference(beta, se, level, None)
    (lo0, hi0), p0 = normal_inference(beta, se, level)
    for got, want in ((lo, lo0), (hi, hi0), (p, p0)):
        assert got == pytest.approx(want, rel=RTOL, nan_ok=True)


def test_coefficient_p_values_equal_twice_the_normal_tail() -> None:
    """The table's p-values by math.erfc equal 2·ndtr(−|z|) (NaN and ±inf included)."""
    from cqox.estimators.iv.estimators import _coef_table
    from cqox.estimators.iv.kclass import KClassResult

    z = np.array([0.0, 1e-8, 0.4, -0.99, 1.0, -2.5, 7.0, 38.0, -40.0, np.inf, np.nan])
    one = np.ones_like(z)
    res = KClassResult(z, np.diag(one), one, one, one, 1.0, np.nan, 100, None)
    p = _coef_table([str(i) for i in range(len(z))], res, debiased=False)["p_value"]
    assert isinstance(p, np.ndarray) and p.dtype == np.float64
    # beyond |z| ≈ 37.5 scipy's tail underflows to 0 and the math module's is subnormal
    # (5.8e-316 at 38, the better number): both zero to any use
    np.testing.assert_allclose(p, 2 * special.ndtr(-np.abs(z)), rtol=RTOL, atol=1e-300)


def test_clear_caches_forgets_the_critical_values_and_keeps_the_numbers() -> None:
    """After clear_caches() a fit computes its critical values afresh, to the same numbers."""
    df, _ = cqox.simulate.iv_linear(n=300, n_instruments=2, seed=6)
    kwargs: dict[str, Any] = {
        "outcome": "y",
        "treatment": "d",
        "roles": {"instrument": ["z1", "z2"]},
    }
    first = cqox.estimate("iv_2sls", df, ci_level=0.9, **kwargs)
    assert diag.normal_quantile.cache_info().currsize > 0
    assert diag._ar_critical.cache_info().currsize > 0
    diag.clear_caches()
    assert diag.normal_quantile.cache_info().currsize == 0
    assert diag._ar_critical.cache_info().currsize == 0
    again = cqox.estimate("iv_2sls", df, ci_level=0.9, **kwargs)
    assert (again.ci, again.p_value) == (first.ci, first.p_value)
    assert again.diagnostics["anderson_rubin"] == first.diagnostics["anderson_rubin"]
