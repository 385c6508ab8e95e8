"""The ρ sensitivity analysis with a probit model against a hand-written twin.

R's ``mediation`` is not packaged for Debian (and CRAN is out of reach), so there is no
``medsens`` output to store; the twin below is written from the model of Imai, Keele &
Yamamoto (2010, §4) by a different route than the estimator:

- **probit mediator, linear outcome**: ``medsens``'s iterative feasible GLS loop
  (adjust ``Y`` by ``σ₃ρλ``, weighted least squares, update ``σ₃``, until ``σ₃`` moves
  less than 1e-12) with the efficient weights ``1/v``, against the estimator's exact
  root of the quadratic in ``σ₃``;
- **linear mediator, probit outcome**: the structural coefficients with
  ``Var ε₃ = 1`` read off the fitted probit directly (``γ(ρ) = γ̃√(1 − ρ²) − ρ/σ₂``,
  ``θ_z(ρ) = θ̃_z√(1 − ρ²) + ρβ/σ₂``) and ``E[Y(t, M(t'))]`` from them, against the
  estimator's total-effect route through ``ρ₁₂`` (``medsens``'s formulas);
- at ``ρ = 0`` both must equal the ACME of the fitted models (Gauss–Hermite quadrature
  over the mediator's error for the probit outcome);
- the SD of the quasi-Bayesian draws against the delta-method SE of the plug-in curve
  (numerical gradient of the twin, the models' covariances).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from cqox.estimators.mediation.models import ParametricFit, fit_model
from cqox.estimators.mediation.quasi_bayes import MediationDesign
from cqox.estimators.mediation.sensitivity_probit import (
    probit_mediator_sensitivity,
    probit_outcome_sensitivity,
)
from cqox.simulate.mediation import mediation_confounded

RHO = np.array([-0.6, -0.2, 0.0, 0.3, 0.7])
#: SD of the draws vs the delta-method SE: 400 draws give the SD to ±3.5 % (1 MC SE);
#: the curve is close to linear in the coefficients at this n.
SE_RTOL = 0.15


def _arrays(binary: str, n: int = 1500, seed: int = 11) -> tuple[np.ndarray, ...]:
    df, _ = mediation_confounded(n=n, rho=0.3, binary=binary, seed=seed)
    X = df[["x1", "x2", "x3"]].to_numpy(float)
    return df["y"].to_numpy(float), df["t"].to_numpy(float), df["m"].to_numpy(float), X


# --- twin: probit mediator, linear outcome --------------------------------------------


def twin_probit_mediator(
    y: np.ndarray, t: np.ndarray, m: np.ndarray, X: np.ndarray, beta: np.ndarray, rho: float
) -> tuple[float, float]:
    """Plug-in ACME (average of the arms, no interaction) and γ(ρ), by iterated FGLS."""
    Zm = np.column_stack([np.ones(len(t)), t, X])
    Zy = np.column_stack([np.ones(len(t)), t, m, X])
    n, k = Zy.shape
    mu = Zm @ beta
    pdf = np.exp(-mu * mu / 2) / np.sqrt(2 * np.pi)
    lam = np.where(m == 1, pdf / special.ndtr(mu), -pdf / special.ndtr(-mu))
    v = 1 - rho**2 * lam * (lam + mu)
    sw = 1 / np.sqrt(v)
    coef = np.linalg.lstsq(Zy, y, rcond=None)[0]
    sigma = float(np.sqrt(np.sum((y - Zy @ coef) ** 2) / (n - k)))
    for _ in range(10_000):
        coef = np.linalg.lstsq(Zy * sw[:, None], (y - sigma * rho * lam) * sw, rcond=None)[0]
        r = y - sigma * rho * lam - Zy @ coef
        new = float(np.sqrt(np.sum(r * r / v) / (n - k)))
        if abs(new - sigma) < 1e-12:
            break
        sigma = new
    Zm1, Zm0 = Zm.copy(), Zm.copy()
    Zm1[:, 1], Zm0[:, 1] = 1, 0
    shift = float(np.mean(special.ndtr(Zm1 @ beta) - special.ndtr(Zm0 @ beta)))
    return coef[2] * shift, coef[2]


def test_probit_mediator_plug_in_equals_the_iterated_fgls_twin() -> None:
    y, t, m, X = _arrays("mediator")
    d = MediationDesign(False)
    med = fit_model(d.mediator(t, X), m, "probit", "hc3", "mediator")
    ours = probit_mediator_sensitivity(
        y, t, m, X, med, False, 400, np.random.default_rng(1), rho=RHO
    )
    twin = np.array([twin_probit_mediator(y, t, m, X, med.coef, r)[0] for r in RHO])
    assert np.allclose(ours.table["estimate"], twin, rtol=1e-7, atol=1e-9)
    # at ρ = 0: the fitted models' ACME, the OLS slope of M times the mean shift of P(M = 1)
    out = fit_model(d.outcome(t, m, X), y, "linear", "hc3", "outcome")
    z1, z0 = d.mediator(np.ones_like(t), X), d.mediator(np.zeros_like(t), X)
    shift = np.mean(special.ndtr(z1 @ med.coef) - special.ndtr(z0 @ med.coef))
    at0 = float(ours.table.set_index("rho").loc[0.0, "estimate"])
    assert at0 == pytest.approx(out.coef[2] * shift, rel=1e-10)
    # ρ at zero: where the twin's γ(ρ) vanishes
    assert twin_probit_mediator(y, t, m, X, med.coef, ours.rho_at_zero)[1] == pytest.approx(
        0.0, abs=1e-8
    )


def test_probit_mediator_draws_sd_matches_the_delta_method() -> None:
    y, t, m, X = _arrays("mediator")
    d = MediationDesign(False)
    med = fit_model(d.mediator(t, X), m, "probit", "hc3", "mediator")
    rho = np.array([-0.4, 0.0, 0.4])
    ours = probit_mediator_sensitivity(
        y, t, m, X, med, False, 400, np.random.default_rng(2), rho=rho
    )
    Zy = np.column_stack([np.ones(len(t)), t, m, X])
    for j, r in enumerate(rho):
        base = twin_probit_mediator(y, t, m, X, med.coef, r)
        h = 1e-6
        grad = np.array(
            [
                (twin_probit_mediator(y, t, m, X, med.coef + h * e, r)[0] - base[0]) / h
                for e in np.eye(len(med.coef))
            ]
        )
        # the outcome coefficients' own GLS variance, given the mediator model
        Zm = d.mediator(t, X)
        mu = Zm @ med.coef
        pdf = np.exp(-mu * mu / 2) / np.sqrt(2 * np.pi)
        lam = np.where(m == 1, pdf / special.ndtr(mu), -pdf / special.ndtr(-mu))
        v = 1 - r**2 * lam * (lam + mu)
        inv = np.linalg.inv((Zy / v[:, None]).T @ Zy)
        shift = base[0] / base[1]
        # σ₃ from the twin's converged fit
        sw = 1 / np.sqrt(v)
        coef = np.linalg.lstsq(Zy * sw[:, None], y * sw, rcond=None)[0]
        sigma2 = np.sum((y - Zy @ coef) ** 2 / v) / (len(y) - Zy.shape[1])
        var = grad @ med.vcov @ grad + shift**2 * sigma2 * inv[2, 2]
        assert ours.table["se"][j] == pytest.approx(np.sqrt(var), rel=SE_RTOL)


# --- twin: linear mediator, probit outcome --------------------------------------------


def twin_probit_outcome(
    t: np.ndarray,
    X: np.ndarray,
    beta: np.ndarray,
    sigma2: float,
    theta: np.ndarray,
    rho: float,
) -> float:
    """Plug-in ACME (average of the arms) from the structural coefficients (Var ε₃ = 1).

    Given ``M``, ``ε₃ = (ρ/σ₂)(M − z'β) + η`` with ``Var η = 1 − ρ²``, so the fitted
    probit's coefficients are ``θ̃_z = (θ_z − ρβ/σ₂)/√(1 − ρ²)`` and
    ``γ̃ = (γ + ρ/σ₂)/√(1 − ρ²)``; inverted here.  Then
    ``P(Y(t, M(t')) = 1) = Φ((θ_z'z(t) + γ z(t')'β) / √(γ²σ₂² + 2γρσ₂ + 1))``.
    """
    gamma = theta[2] * np.sqrt(1 - rho**2) - rho / sigma2
    theta_z = np.delete(theta, 2) * np.sqrt(1 - rho**2) + rho * beta / sigma2
    scale = np.sqrt(gamma**2 * sigma2**2 + 2 * gamma * rho * sigma2 + 1)

    def mean_y(tt: float, tm: float) -> float:
        zt = np.column_stack([np.ones(len(t)), np.full(len(t), tt), X])
        zm = np.column_stack([np.ones(len(t)), np.full(len(t), tm), X])
        return float(np.mean(special.ndtr((zt @ theta_z + gamma * (zm @ beta)) / scale)))

    d0 = mean_y(0, 1) - mean_y(0, 0)
    d1 = mean_y(1, 1) - mean_y(1, 0)
    return (d0 + d1) / 2


Fits = tuple[np.ndarray, np.ndarray, np.ndarray, ParametricFit, ParametricFit]


def _probit_outcome_fits() -> Fits:
    y, t, m, X = _arrays("outcome")
    d = MediationDesign(False)
    med = fit_model(d.mediator(t, X), m, "linear", "hc3", "mediator")
    out = fit_model(d.outcome(t, m, X), y, "probit", "hc3", "outcome")
    index = d.outcome(t, m, X) @ out.coef
    return t, X, index, med, out


def test_probit_outcome_plug_in_equals_the_structural_twin() -> None:
    t, X, index, med, out = _probit_outcome_fits()
    ours = probit_outcome_sensitivity(t, X, med, out, index, 400, np.random.default_rng(3), rho=RHO)
    twin = [twin_probit_outcome(t, X, med.coef, med.sigma, out.coef, r) for r in RHO]
    assert np.allclose(ours.table["estimate"], twin, rtol=1e-9, atol=1e-12)
    # the ACME vanishes at ρ₁₂
    assert twin_probit_outcome(t, X, med.coef, med.sigma, out.coef, ours.rho_at_zero) == (
        pytest.approx(0.0, abs=1e-12)
    )


def test_probit_outcome_at_rho_zero_is_the_fitted_models_acme() -> None:
    """``E_ε₂[Φ(θ̃'z(t) + γ̃ (z(t')'β + ε₂))]`` by Gauss–Hermite quadrature (60 nodes)."""
    t, X, index, med, out = _probit_outcome_fits()
    ours = probit_outcome_sensitivity(
        t, X, med, out, index, 100, np.random.default_rng(4), rho=np.array([0.0])
    )
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    gamma = out.coef[2]
    theta_z = np.delete(out.coef, 2)

    def mean_y(tt: float, tm: float) -> float:
        zt = np.column_stack([np.ones(len(t)), np.full(len(t), tt), X])
        zm = np.column_stack([np.ones(len(t)), np.full(len(t), tm), X])
        eta = (zt @ theta_z + gamma * (zm @ med.coef))[:, None] + gamma * med.sigma * nodes
        return float(np.mean(special.ndtr(eta) @ weights))

    acme = ((mean_y(0, 1) - mean_y(0, 0)) + (mean_y(1, 1) - mean_y(1, 0))) / 2
    assert ours.table["estimate"][0] == pytest.approx(acme, rel=1e-10)


def test_probit_outcome_draws_sd_matches_the_delta_method() -> None:
    t, X, index, med, out = _probit_outcome_fits()
    rho = np.array([-0.4, 0.0, 0.4])
    ours = probit_outcome_sensitivity(t, X, med, out, index, 400, np.random.default_rng(5), rho=rho)
    df = len(t) - len(med.coef)
    h = 1e-6
    for j, r in enumerate(rho):
        args = [med.coef, np.array([med.sigma]), out.coef]
        base = twin_probit_outcome(t, X, args[0], float(args[1][0]), args[2], r)
        grads = []
        for which, x0 in enumerate(args):
            g = np.empty(len(x0))
            for i in range(len(x0)):
                moved = [a.copy() for a in args]
                moved[which][i] += h
                value = twin_probit_outcome(t, X, moved[0], float(moved[1][0]), moved[2], r)
                g[i] = (value - base) / h
            grads.append(g)
        g_beta, g_sigma, g_theta = grads[0], float(grads[1][0]), grads[2]
        var = (
            g_beta @ med.vcov @ g_beta
            + g_theta @ out.vcov @ g_theta
            + g_sigma**2 * med.sigma**2 / (2 * df)
        )
        assert ours.table["se"][j] == pytest.approx(np.sqrt(var), rel=SE_RTOL)
