"""``dose_kernel_dr`` and ``dose_dml`` against hand twins written from the papers.

No Python package computes either estimator: causal-curve (1.0.6) has a GPS and a
TMLE dose-response model, EconML and DoubleML a constant marginal effect of a continuous
treatment.  Kennedy et al.'s ``npcausal::ctseff`` is R.  So each is compared with an
independent NumPy/SciPy/scikit-learn twin on the same data (and, for DML, the same folds):

- ``dose_kernel_dr``: the nuisances by ``numpy.linalg.lstsq``, the marginal density
  ``ϖ̂(A_i)`` *exactly* (an n × n average of ``scipy.stats.norm.pdf``, where CQOx
  interpolates a 400-point grid), the curve by weighted least squares at each dose; the
  Theorem 3 sandwich with its integral on a 4001-point trapezoid, plus the nuisances'
  delta-method term with a finite-difference Jacobian of the twin's own pipeline; and the
  exact leave-one-out risk by refitting without each unit (CQOx bins the doses and
  interpolates fits and hat values);
- ``dose_dml``: scikit-learn ``LinearRegression`` for ``γ`` and ``E[T | X]`` on the same
  folds, the normal GPS by ``scipy.stats.norm.pdf``, Colangelo & Lee's average and SE.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox
from cqox.simulate.dose import dose_polynomial

COVARIATES = ["x1", "x2"]
DOSES = np.array([0.0, 1.0, 2.0])
#: ϖ̂ by interpolation on a 400-point grid vs exactly: relative error ~1e-5 in ξ.
CURVE_RTOL = 1e-4
#: The interpolated ϖ̂ and the 400- vs 4001-point integrals; finite differences (~1e-7).
SE_RTOL = 2e-3
#: Leave-one-out fits and hat values from 1024 binned doses (interpolated) vs exact refits.
RISK_RTOL = 2e-2
#: Same folds, same closed-form learners: round-off only.
DML_RTOL = 1e-8


def _basis(a: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(a)), a, a * a, X, X * a[:, None]])


def _twin_xi(
    y: np.ndarray, a: np.ndarray, X: np.ndarray, eta: np.ndarray
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Pseudo-outcomes at nuisance parameters ``eta = (β, γ, σ²)``; m(t) and ϖ(t) functions."""
    n, p = X.shape
    nb = 3 + 2 * p
    beta, gam, s2 = eta[:nb], eta[nb:-1], eta[-1]
    Z = np.column_stack([np.ones(n), X])
    m = Z @ gam
    sd = np.sqrt(s2)

    def varpi(t: np.ndarray) -> np.ndarray:
        return np.asarray(stats.norm.pdf(t[:, None], m[None, :], sd).mean(axis=1))

    def m_hat(t: np.ndarray) -> np.ndarray:
        return np.array([(_basis(np.full(n, ti), X) @ beta).mean() for ti in t])

    w = varpi(a) / stats.norm.pdf(a, m, sd)
    xi = (y - _basis(a, X) @ beta) * w + m_hat(a)
    return xi, m_hat, varpi


def _local_linear(a: np.ndarray, xi: np.ndarray, at: float, h: float) -> tuple[float, np.ndarray]:
    g = np.column_stack([np.ones(len(a)), (a - at) / h])
    K = stats.norm.pdf((a - at) / h) / h
    coef = np.linalg.lstsq(g * np.sqrt(K)[:, None], xi * np.sqrt(K), rcond=None)[0]
    return float(coef[0]), coef


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return dose_polynomial(n=500, seed=31)[0]


def _nuisances(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    y, a, X = df["y"].to_numpy(), df["a"].to_numpy(), df[COVARIATES].to_numpy()
    n = len(y)
    Z = np.column_stack([np.ones(n), X])
    B = _basis(a, X)
    beta = np.linalg.lstsq(B, y, rcond=None)[0]
    gam = np.linalg.lstsq(Z, a, rcond=None)[0]
    e = a - Z @ gam
    s2 = e @ e / (n - Z.shape[1])
    # influences of β̂ (OLS) and (γ̂, σ̂²)
    eps = y - B @ beta
    inf_b = (B * eps[:, None]) @ np.linalg.inv(B.T @ B / n)
    inf_g = (Z * e[:, None]) @ np.linalg.inv(Z.T @ Z / n)
    inf_s = n / (n - Z.shape[1]) * e * e - s2
    eta = np.concatenate([beta, gam, [s2]])
    return y, a, X, eta, np.column_stack([inf_b, inf_g, inf_s])


def test_kernel_dr_curve_and_se_match_the_twin(data: pd.DataFrame) -> None:
    h = 0.35
    y, a, X, eta, inf_eta = _nuisances(data)
    n = len(y)
    est = cqox.estimate("dose_kernel_dr", data, outcome="y", dose="a", covariates=COVARIATES,
                        bandwidth=h, n_sim=200)  # fmt: skip
    curve = est.curve(DOSES)
    xi, m_hat, varpi = _twin_xi(y, a, X, eta)
    theta = np.array([_local_linear(a, xi, t, h)[0] for t in DOSES])
    np.testing.assert_allclose(curve["estimate"], theta, rtol=CURVE_RTOL)

    t_int = np.linspace(a.min(), a.max(), 4001)
    nb = 3 + 2 * X.shape[1]
    mu_dev = (
        np.column_stack([_basis(np.full(n, t), X) @ eta[:nb] for t in t_int])
        - m_hat(t_int)[None, :]
    )  # μ̂(X_i, t) − m̂(t), n × T
    vp = varpi(t_int)
    ses = []
    for t, th in zip(DOSES, theta, strict=True):
        _, coef = _local_linear(a, xi, t, h)
        g = np.column_stack([np.ones(n), (a - t) / h])
        K = stats.norm.pdf((a - t) / h) / h
        D = (g * K[:, None]).T @ g / n
        gi = np.vstack([np.ones_like(t_int), (t_int - t) / h])
        Ki = stats.norm.pdf((t_int - t) / h) / h
        integral = np.trapezoid(mu_dev[:, None, :] * (gi * Ki * vp)[None, :, :], t_int, axis=2)
        s = g * (K * (xi - g @ coef))[:, None] + integral
        psi = s @ np.linalg.inv(D)[0]

        # the nuisances' delta-method term: finite-difference ∂θ̂/∂η through the twin
        def theta_at(e: np.ndarray, t: float = t) -> float:
            return _local_linear(a, _twin_xi(y, a, X, e)[0], t, h)[0]

        grad = np.empty(len(eta))
        for j in range(len(eta)):
            step = 1e-6 * max(1.0, abs(eta[j]))
            up, dn = eta.copy(), eta.copy()
            up[j] += step
            dn[j] -= step
            grad[j] = (theta_at(up) - theta_at(dn)) / (2 * step)
        psi = psi + inf_eta @ grad
        ses.append(np.sqrt(psi @ psi) / n)
        assert th == pytest.approx(theta_at(eta))
    np.testing.assert_allclose(curve["se"], ses, rtol=SE_RTOL)


def test_kernel_dr_loo_risk_matches_exact_refits(data: pd.DataFrame) -> None:
    y, a, X, eta, _ = _nuisances(data)
    est = cqox.estimate("dose_kernel_dr", data, outcome="y", dose="a", covariates=COVARIATES,
                        n_sim=200)  # fmt: skip
    risk = est.tables["bandwidth_risk"]
    xi = _twin_xi(y, a, X, eta)[0]
    keep = np.arange(len(a))
    exact = []
    for h in risk["bandwidth"]:
        loo = [_local_linear(a[keep != i], xi[keep != i], a[i], h)[0] for i in keep]
        exact.append(np.mean((xi - np.array(loo)) ** 2))
    finite = np.isfinite(risk["loo_risk"].to_numpy())
    # the smallest candidates leave units alone in the tails: CQOx gives them an infinite
    # risk (a hat value ≥ 1), the refit twin a huge one
    assert finite[len(finite) // 2 :].all()
    np.testing.assert_allclose(risk["loo_risk"][finite], np.array(exact)[finite], rtol=RISK_RTOL)
    best_exact = int(np.argmin(exact))
    best = int(np.nanargmin(np.where(finite, risk["loo_risk"], np.inf)))
    assert abs(best - best_exact) <= 1


def test_dml_matches_the_twin_on_the_same_folds(data: pd.DataFrame) -> None:
    from sklearn.linear_model import LinearRegression

    from cqox.core.context import Context
    from cqox.nuisance.crossfit import fold_ids

    seed, n_folds, h = 11, 4, 0.3
    y, a, X = data["y"].to_numpy(), data["a"].to_numpy(), data[COVARIATES].to_numpy()
    n = len(y)
    est = cqox.estimate("dose_dml", data, outcome="y", dose="a", covariates=COVARIATES,
                        outcome_learner="linear", treatment_learner="linear", n_folds=n_folds,
                        bandwidth=h, seed=seed, n_sim=200)  # fmt: skip
    folds = fold_ids(n, n_folds, Context(seed=seed).rng(2))
    t_hat = np.empty(n)
    gamma = np.empty((n, len(DOSES)))
    for k in range(n_folds):
        tr, te = folds != k, folds == k
        t_hat[te] = LinearRegression().fit(X[tr], a[tr]).predict(X[te])
        out = LinearRegression().fit(_basis(a[tr], X[tr])[:, 1:], y[tr])
        for j, t in enumerate(DOSES):
            gamma[te, j] = out.predict(_basis(np.full(te.sum(), t), X[te])[:, 1:])
    sd = np.sqrt(np.mean((a - t_hat) ** 2))
    f = stats.norm.pdf(DOSES[None, :], t_hat[:, None], sd)
    K = stats.norm.pdf((a[:, None] - DOSES[None, :]) / h) / h
    s = gamma + K / f * (y[:, None] - gamma)
    theta = s.mean(axis=0)
    se = np.sqrt(np.mean((s - theta) ** 2, axis=0) / n)
    curve = est.curve(DOSES)
    np.testing.assert_allclose(curve["estimate"], theta, rtol=DML_RTOL)
    np.testing.assert_allclose(curve["se"], se, rtol=DML_RTOL)
