"""``dose_msm`` and ``dose_gps`` against hand twins built on statsmodels and NumPy.

No Python package fits the same models (EconML and DoubleML estimate a constant
marginal effect of a continuous treatment, not Hirano–Imbens' GPS curve nor a
stabilised-weight MSM), so each estimator is compared with an independent twin:

- ``dose_msm``: the dose models by statsmodels ``OLS`` (σ from its ``scale``, n − k df as
  R's ``summary(lm)$sigma``), the densities by ``scipy.stats.norm.pdf``, the MSM by
  statsmodels ``WLS`` — coefficients to 1e-10, the ``robust`` SEs equal WLS ``HC0``
  (weights as known) to 1e-8; the ``analytic`` SEs equal the textbook stacked
  M-estimation sandwich ``A⁻¹BA⁻ᵀ/n`` with a finite-difference Jacobian of all the
  estimating equations (both dose models and the weighted normal equations) to 1e-6;
- ``dose_gps``: the dose model by statsmodels ``OLS``, the GPS by ``norm.pdf``, the
  outcome model by statsmodels ``OLS``, the curve as the average of the fitted outcome at
  the GPS of each unit at the dose; the curve to 1e-10 and its SEs to the
  finite-difference stacked sandwich (dose model, outcome equations, the averages) to 1e-6.

statsmodels' outputs are stored in golden/statsmodels.json for machines without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox
from cqox.simulate.dose import dose_polynomial, hirano_imbens_normal
from tests.reference.golden import STATSMODELS, digest

COVARIATES = ["x1", "x2"]
#: Both sides solve the same linear equations: round-off only.
COEF_RTOL = 1e-10
#: Central differences with step 1e-6·max(1, |θ|) are good to ~1e-8 relative.
SE_RTOL = 1e-6
DOSES = np.array([-0.5, 1.0, 2.5])


def _sandwich(g_fn: Callable[[np.ndarray], np.ndarray], theta0: np.ndarray) -> np.ndarray:
    """``A⁻¹ B A⁻ᵀ / n`` with ``A`` the finite-difference Jacobian of the mean equations."""
    g0 = g_fn(theta0)
    n, d = g0.shape
    A = np.empty((d, d))
    for c in range(d):
        h = 1e-6 * max(1.0, abs(theta0[c]))
        up, dn = theta0.copy(), theta0.copy()
        up[c] += h
        dn[c] -= h
        A[:, c] = (g_fn(up).mean(axis=0) - g_fn(dn).mean(axis=0)) / (2 * h)
    Ainv = np.linalg.inv(A)
    return np.asarray(Ainv @ (g0.T @ g0 / n) @ Ainv.T / n)


def _msm_peer(df: pd.DataFrame, degree: int) -> dict[str, object]:
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])

    def compute() -> dict[str, object]:
        import statsmodels.api as sm

        den = sm.OLS(a, Z).fit()
        num = sm.OLS(a, np.ones((len(a), 1))).fit()
        sw = stats.norm.pdf(a, num.fittedvalues, np.sqrt(num.scale)) / stats.norm.pdf(
            a, den.fittedvalues, np.sqrt(den.scale)
        )
        B = np.vander(a, degree + 1, increasing=True)
        wls = sm.WLS(y, B, weights=sw).fit(cov_type="HC0")
        return {"den": den.params, "den_scale": den.scale, "num": num.params,
                "num_scale": num.scale, "beta": wls.params, "bse_hc0": wls.bse}  # fmt: skip

    return dict(STATSMODELS.outputs(f"dose/msm-{degree}-{digest(y, a, Z)}", compute))


@pytest.fixture(scope="module")
def msm_data() -> pd.DataFrame:
    return dose_polynomial(n=1200, seed=21)[0]


@pytest.mark.parametrize("degree", [2, 3])
def test_msm_matches_statsmodels_wls_and_the_stacked_sandwich(
    msm_data: pd.DataFrame, degree: int
) -> None:
    df = msm_data
    peer = _msm_peer(df, degree)
    fit = cqox.estimate("dose_msm", df, outcome="y", dose="a", covariates=COVARIATES,
                        degree=degree, n_sim=200)  # fmt: skip
    coefs = fit.tables["coefficients"]
    beta = np.asarray(peer["beta"], dtype=float)
    np.testing.assert_allclose(coefs["estimate"], beta, rtol=COEF_RTOL)
    robust = cqox.estimate("dose_msm", df, outcome="y", dose="a", covariates=COVARIATES,
                           degree=degree, se_method="robust", n_sim=200)  # fmt: skip
    np.testing.assert_allclose(robust.tables["coefficients"]["se"], peer["bse_hc0"], rtol=1e-8)

    # the stacked sandwich: (γ, σ²_den, μ_A, σ²_num, β)
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])
    n, k = Z.shape
    B = np.vander(a, degree + 1, increasing=True)
    theta0 = np.concatenate([peer["den"], [peer["den_scale"]], peer["num"], [peer["num_scale"]],
                             beta])  # fmt: skip

    def g_fn(theta: np.ndarray) -> np.ndarray:
        gam, s2d, mu, s2n, b = theta[:k], theta[k], theta[k + 1], theta[k + 2], theta[k + 3 :]
        e = a - Z @ gam
        sw = stats.norm.pdf(a, mu, np.sqrt(s2n)) / stats.norm.pdf(e, 0.0, np.sqrt(s2d))
        return np.column_stack([Z * e[:, None], n / (n - k) * e * e - s2d, a - mu,
                                n / (n - 1) * (a - mu) ** 2 - s2n,
                                B * (sw * (y - B @ b))[:, None]])  # fmt: skip

    V = _sandwich(g_fn, theta0)[-(degree + 1) :, -(degree + 1) :]
    np.testing.assert_allclose(coefs["se"], np.sqrt(np.diag(V)), rtol=SE_RTOL)
    curve = fit.curve(DOSES)
    Bd = np.vander(DOSES, degree + 1, increasing=True)
    np.testing.assert_allclose(curve["estimate"], Bd @ beta, rtol=COEF_RTOL)
    np.testing.assert_allclose(curve["se"], np.sqrt(np.diag(Bd @ V @ Bd.T)), rtol=SE_RTOL)


def _gps_peer(df: pd.DataFrame) -> dict[str, object]:
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])

    def compute() -> dict[str, object]:
        import statsmodels.api as sm

        den = sm.OLS(a, Z).fit()
        r = stats.norm.pdf(a, den.fittedvalues, np.sqrt(den.scale))
        W = np.column_stack([np.ones(len(a)), a, a * a, r, r * r, a * r])
        return {"den": den.params, "den_scale": den.scale, "alpha": sm.OLS(y, W).fit().params}

    return dict(STATSMODELS.outputs(f"dose/gps-{digest(y, a, Z)}", compute))


def test_gps_matches_the_hand_twin_and_the_stacked_sandwich() -> None:
    df = hirano_imbens_normal(n=1200, seed=22)[0]
    peer = _gps_peer(df)
    est = cqox.estimate("dose_gps", df, outcome="y", dose="a", covariates=COVARIATES,
                        n_sim=200)  # fmt: skip
    alpha = np.asarray(peer["alpha"], dtype=float)
    np.testing.assert_allclose(est.tables["coefficients"]["estimate"], alpha, rtol=1e-9)
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])
    n, k = Z.shape
    gam, s2 = np.asarray(peer["den"], dtype=float), float(peer["den_scale"])  # type: ignore[arg-type]

    def terms(t: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones_like(r), t * np.ones_like(r), t * t * np.ones_like(r),
                                r, r * r, t * r])  # fmt: skip

    def mus(gam_: np.ndarray, s2_: float, alpha_: np.ndarray) -> np.ndarray:
        m = Z @ gam_
        return np.array([terms(np.array(t), stats.norm.pdf(t, m, np.sqrt(s2_))) @ alpha_
                         for t in DOSES]).mean(axis=1)  # fmt: skip

    mu0 = mus(gam, s2, alpha)
    curve = est.curve(DOSES)
    np.testing.assert_allclose(curve["estimate"], mu0, rtol=COEF_RTOL)
    theta0 = np.concatenate([gam, [s2], alpha, mu0])

    def g_fn(theta: np.ndarray) -> np.ndarray:
        gam_, s2_, al, mu = theta[:k], theta[k], theta[k + 1 : k + 7], theta[k + 7 :]
        m = Z @ gam_
        e = a - m
        W = terms(a, stats.norm.pdf(a, m, np.sqrt(s2_)))
        avg = [terms(np.array(t), stats.norm.pdf(t, m, np.sqrt(s2_))) @ al - mu[g]
               for g, t in enumerate(DOSES)]  # fmt: skip
        return np.column_stack([Z * e[:, None], n / (n - k) * e * e - s2_,
                                W * (y - W @ al)[:, None], *avg])  # fmt: skip

    V = _sandwich(g_fn, theta0)
    np.testing.assert_allclose(curve["se"], np.sqrt(np.diag(V)[-len(DOSES) :]), rtol=SE_RTOL)
    np.testing.assert_allclose(
        est.tables["coefficients"]["se"], np.sqrt(np.diag(V)[k + 1 : k + 7]), rtol=SE_RTOL
    )


def test_no_covariates_gives_unit_weights_and_the_unweighted_polynomial() -> None:
    df = dose_polynomial(n=500, seed=3)[0]
    est = cqox.estimate("dose_msm", df, outcome="y", dose="a", n_sim=200)
    B = np.vander(df["a"].to_numpy(), 3, increasing=True)
    beta = np.linalg.lstsq(B, df["y"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(est.tables["coefficients"]["estimate"], beta, rtol=1e-10)
    assert est.diagnostics["weight_min"] == pytest.approx(1.0, abs=1e-12)
    assert est.diagnostics["weight_max"] == pytest.approx(1.0, abs=1e-12)
