"""The ρ sensitivity analysis with a probit mediator or a probit outcome (``medsens``).

Imai, Keele & Yamamoto (2010), *Statistical Science* 25(1):51–71, doi:10.1214/10-STS321,
§4 and Appendix; Imai, Keele & Tingley (2010), *Psychological Methods* 15(4):309–334,
doi:10.1037/a0020761, §3.3; R ``mediation::medsens`` cases "binary mediator" and "binary
outcome".  ``ρ = corr(ε_M, ε_Y)`` is the correlation of the (latent) errors of the two
models, zero under sequential ignorability.  Only normal errors give it a meaning and
closed forms, hence probit, not logit; and only one of the two models may be binary.

**Probit mediator, linear outcome** (``M = 1{Z_m'β + ε₂ > 0}``, ``ε₂ ~ N(0, 1)``;
``Y = Z_y'θ + ε₃``, ``ε₃ ~ N(0, σ₃²)``, ``Z_y = [1, T, M, (T·M), X]``).  Given the mediator
the outcome error has mean and variance

    E[ε₃ | M, T, X] = σ₃ ρ λ,   Var[ε₃ | M, T, X] = σ₃² v,   v = 1 − ρ² λ (λ + μ),

with ``μ = Z_m'β`` and the generalised residual ``λ = φ(μ)/Φ(μ)`` for ``M = 1`` and
``−φ(μ)/Φ(−μ)`` for ``M = 0`` (truncated-normal moments).  So
``Y − σ₃ρλ = Z_y'θ + u``, ``Var u = σ₃² v``: for each ρ, ``θ(ρ)`` is the generalised
least-squares fit with weights ``1/v``, and ``σ₃`` the root of
``(n − k) σ₃² = Σ (r_Y − σ₃ ρ r_λ)² / v`` (``r_Y``, ``r_λ`` the weighted residuals of
``Y`` and ``λ``; a quadratic, solved exactly).  The ACME is

    δ(t; ρ) = (γ(ρ) + ι(ρ) t) · mean_i[Φ(μ_i(T=1)) − Φ(μ_i(T=0))],

``γ``, ``ι`` the mediator and interaction coefficients of ``θ(ρ)``.  (R's ``medsens``
iterates the same equations to convergence but weights by ``v`` instead of ``1/v`` and
takes ``σ₃`` from that weighted fit; both are consistent for ``θ`` given ``σ₃``, the
weights ``1/v`` are the efficient ones and keep ``σ₃`` consistent.)

**Linear mediator, probit outcome** (``M = Z_m'β + ε₂``, ``ε₂ ~ N(0, σ₂²)``;
``Y = 1{Z'θ + γM + ε₃ > 0}``, ``ε₃ ~ N(0, 1)``; no interaction, as in ``medsens``).  The
fitted probit of ``Y`` on ``(T, M, X)`` has mediator coefficient ``γ̃``; with
``x = σ₂γ̃`` the correlation of the total-effect error with ``ε₂`` is
``ρ₁₂ = x/√(1 + x²)`` (R's ``medsens`` writes ``x/(1 + √x²)``, which is not a
correlation formula: it does not give back the ACME of the fitted models at ρ = 0), the
total-effect probit coefficients are ``β₁ = θ̃_{−M} √(1 − ρ₁₂²) + β ρ₁₂/σ₂`` and

    γ(ρ) = (ρ₁₂ √((1 − ρ²)/(1 − ρ₁₂²)) − ρ) / σ₂,    s(ρ) = √(γ²σ₂² + 2γρσ₂ + 1),
    δ(0; ρ) = mean_i[Φ(x₀ᵢ'β₁ + γβ_T/s) − Φ(x₀ᵢ'β₁)],
    δ(1; ρ) = mean_i[Φ(x₁ᵢ'β₁) − Φ(x₁ᵢ'β₁ − γβ_T/s)],

``x_tᵢ = [1, t, Xᵢ]`` and ``β_T`` the mediator model's treatment coefficient.  The ACME
vanishes at ``ρ = ρ₁₂``.

Inference follows ``medsens``: ``n_draws`` quasi-Bayesian draws of the models'
coefficients from ``N(coef, vcov)`` (and, for the linear mediator, ``σ₂²`` from its
scaled inverse χ² with ``n − k`` degrees of freedom); for the probit mediator, for each
draw and ρ, ``σ₃`` from its scaled inverse χ² and the outcome coefficients from their
GLS distribution ``N(θ(ρ) − (σ₃* − σ̂₃)ρ b_λ, σ₃*² (Z_y'V⁻¹Z_y)⁻¹)`` (``medsens`` keeps
``σ₃`` fixed, which leaves out its share of the variance through the adjustment).
The table's estimate is the plug-in at the fitted coefficients (``medsens`` prints the
mean of its draws; they agree to Monte Carlo error), its SE the SD of the draws and the
interval their percentiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special

from cqox.estimators.mediation.models import ParametricFit
from cqox.estimators.mediation.quasi_bayes import MediationDesign
from cqox.estimators.mediation.sensitivity import RhoSensitivity

#: ρ grid of the simulated analyses: −0.95 … 0.95 by 0.05 (``medsens``: −0.9 … 0.9
#: by 0.1); the zero crossing is located exactly, not on the grid.
RHO_GRID_PROBIT = np.round(np.arange(-19, 20) / 20.0, 2)
#: Draws × units × grid points evaluated at once (memory of one chunk ≈ 8 MB).
CHUNK_CELLS = 1_000_000
#: Work budget of the simulated analyses, in draws × units × grid points: they use
#: ``min(n_draws, max(MIN_DRAWS, SENSITIVITY_CELLS // (n · G)))`` draws (256 at
#: n = 1,000), so that the curve costs about as much as the effects themselves.
SENSITIVITY_CELLS = 10_000_000
MIN_DRAWS = 100


def sensitivity_draws(n_draws: int, n: int, n_rho: int = len(RHO_GRID_PROBIT)) -> int:
    """Draws of a simulated ρ analysis on ``n`` units (see :data:`SENSITIVITY_CELLS`)."""
    return int(min(n_draws, max(MIN_DRAWS, SENSITIVITY_CELLS // max(n * n_rho, 1))))


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))


def generalised_residual(mu: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``E[ε₂ | M]`` of a probit with index ``mu``: ``φ/Φ(μ)`` (M = 1), ``−φ/Φ(−μ)`` (M = 0).

    Evaluated through the log CDF so that it stays finite far in the tails.
    """
    sign = np.where(m > 0.5, 1.0, -1.0)
    log_ratio = -0.5 * mu * mu - 0.5 * np.log(2 * np.pi) - special.log_ndtr(sign * mu)
    return np.asarray(sign * np.exp(log_ratio))


def _summary(
    rho: np.ndarray,
    plug_in: np.ndarray,
    draws: np.ndarray,
    level: float,
) -> pd.DataFrame:
    """Table of ``(δ(0) + δ(1))/2`` over ρ; ``plug_in`` (3, G) and ``draws`` (3, S, G)."""
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    q = np.quantile(draws[2], [low, high], axis=0)
    return pd.DataFrame(
        {
            "rho": rho,
            "estimate": plug_in[2],
            "se": draws[2].std(axis=0, ddof=1),
            "ci_low": q[0],
            "ci_high": q[1],
            "estimate_control": plug_in[0],
            "estimate_treated": plug_in[1],
        }
    )


def _r2_latent(index: np.ndarray) -> float:
    """``R²`` of a probit on its latent scale: ``var(Z'β̂) / (1 + var(Z'β̂))`` (``medsens``)."""
    v = float(np.var(index, ddof=1))
    return v / (1 + v)


# --- probit mediator, linear outcome --------------------------------------------------


def _gls_curve(
    y: np.ndarray,
    m: np.ndarray,
    Zy: np.ndarray,
    ZZ: np.ndarray,
    mu: np.ndarray,
    rho: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``θ(ρ)``, ``σ₃(ρ)``, ``(Z'V⁻¹Z)⁻¹`` and ``∂θ/∂σ₃ = −ρ b_λ`` for each ρ.

    Shapes (G, k), (G,), (G, k, k), (G, k); ``b_λ`` is the GLS fit of ``λ`` on ``Z_y``.

    ``ZZ`` is ``Z_y`` with each row's outer product flattened, shape (n, k²), so that
    the G weighted Gram matrices are one matrix product.
    """
    n, k = Zy.shape
    lam = generalised_residual(mu, m)
    W = 1.0 / (1.0 - np.outer(rho**2, lam * (lam + mu)))  # (G, n): 1 / v
    gram = (W @ ZZ).reshape(len(rho), k, k)
    zy = W @ (Zy * y[:, None])
    zl = W @ (Zy * lam[:, None])
    inv = np.linalg.inv(gram)
    b_y = np.einsum("gij,gj->gi", inv, zy)
    b_l = np.einsum("gij,gj->gi", inv, zl)
    # weighted residual sums from the normal equations: r'Wr = y'Wy − b'Z'Wy
    A = W @ (y * y) - np.sum(b_y * zy, axis=1)
    B = W @ (y * lam) - np.sum(b_y * zl, axis=1)
    C = W @ (lam * lam) - np.sum(b_l * zl, axis=1)
    D = (n - k) - rho**2 * C
    sigma = (-rho * B + np.sqrt(rho**2 * B**2 + A * D)) / D
    theta = b_y - (sigma * rho)[:, None] * b_l
    return theta, sigma, inv, -rho[:, None] * b_l


def probit_mediator_sensitivity(
    y: np.ndarray,
    t: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    mediator_fit: ParametricFit,
    interaction: bool,
    n_draws: int,
    rng: np.random.Generator,
    level: float = 0.95,
    rho: np.ndarray = RHO_GRID_PROBIT,
) -> RhoSensitivity:
    """ACME(ρ) for a probit mediator and a linear outcome (``medsens``, binary mediator)."""
    design = MediationDesign(interaction)
    Zm = design.mediator(t, X)
    Zy = design.outcome(t, m, X)
    n, k = Zy.shape
    ZZ = (Zy[:, :, None] * Zy[:, None, :]).reshape(n, k * k)
    Zm1, Zm0 = Zm.copy(), Zm.copy()
    Zm1[:, 1], Zm0[:, 1] = 1.0, 0.0

    def acme(theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """(3, G): δ(0), δ(1) and their mean, for coefficient rows ``theta`` (G, k)."""
        shift = float(np.mean(special.ndtr(Zm1 @ beta) - special.ndtr(Zm0 @ beta)))
        gamma = theta[:, 2]
        kappa = theta[:, 3] if interaction else np.zeros(len(theta))
        d0, d1 = gamma * shift, (gamma + kappa) * shift
        return np.vstack([d0, d1, (d0 + d1) / 2])

    beta_hat = mediator_fit.coef
    theta = _gls_curve(y, m, Zy, ZZ, Zm @ beta_hat, rho)[0]
    plug_in = acme(theta, beta_hat)
    betas = rng.multivariate_normal(beta_hat, mediator_fit.vcov, size=n_draws)
    draws = np.empty((3, n_draws, len(rho)))
    df = n - k
    for s, beta in enumerate(betas):
        th, sig, inv, d_sigma = _gls_curve(y, m, Zy, ZZ, Zm @ beta, rho)
        # σ₃ from its scaled inverse χ² (it moves θ through the adjustment σ₃ρλ), then θ
        # from its GLS distribution given σ₃
        sig_draw = sig * np.sqrt(df / rng.chisquare(df))
        chol = np.linalg.cholesky(inv) * sig_draw[:, None, None]
        th_draw = (
            th
            + (sig_draw - sig)[:, None] * d_sigma
            + np.einsum("gij,gj->gi", chol, rng.standard_normal(th.shape))
        )
        draws[:, s, :] = acme(th_draw, beta)

    # ρ at which the average ACME vanishes: γ(ρ) + ι(ρ)/2 = 0 on the plug-in curve
    def zero(r: float) -> float:
        th = _gls_curve(y, m, Zy, ZZ, Zm @ beta_hat, np.array([r]))[0]
        return float(th[0, 2] + (th[0, 3] / 2 if interaction else 0.0))

    ends = (-0.999, 0.999)
    rho0 = (
        float(optimize.brentq(zero, *ends, xtol=1e-10))
        if zero(ends[0]) * zero(ends[1]) < 0
        else float("nan")
    )
    r2_m = _r2_latent(Zm @ beta_hat)
    fit_y = np.linalg.lstsq(Zy, y, rcond=None)[0]
    resid = y - Zy @ fit_y
    r2_y = 1 - float(resid @ resid) / float(np.sum((y - y.mean()) ** 2))
    return RhoSensitivity(
        _summary(rho, plug_in, draws, level),
        rho0,
        rho0**2,
        (1 - r2_m) * (1 - r2_y) * rho0**2,
    )


# --- linear mediator, probit outcome --------------------------------------------------


def _probit_outcome_acme(
    beta: np.ndarray,
    sigma2: np.ndarray,
    theta: np.ndarray,
    Z0: np.ndarray,
    Z1: np.ndarray,
    rho: np.ndarray,
) -> np.ndarray:
    """(3, S, G): δ(0), δ(1) and their mean for S coefficient draws (rows) and G values of ρ.

    ``beta`` (S, k) mediator coefficients on ``[1, T, X]``, ``sigma2`` (S,) its error SD,
    ``theta`` (S, k + 1) probit outcome coefficients on ``[1, T, M, X]``.
    """
    x = sigma2 * theta[:, 2]
    r12 = x / np.sqrt(1 + x * x)
    no_m = np.delete(theta, 2, axis=1)
    beta1 = no_m * np.sqrt(1 - r12**2)[:, None] + beta * (r12 / sigma2)[:, None]
    S, G = len(beta), len(rho)
    gamma = (
        r12[:, None] * np.sqrt((1 - rho**2)[None, :] / (1 - r12**2)[:, None]) - rho[None, :]
    ) / sigma2[:, None]
    gs = gamma * sigma2[:, None]
    scale = np.sqrt(gs**2 + 2 * gs * rho[None, :] + 1)
    c = gamma * beta[:, 1:2] / scale  # (S, G)
    out = np.empty((3, S, G))
    n = Z0.shape[0]
    step = max(1, CHUNK_CELLS // max(n * G, 1))
    for lo in range(0, S, step):
        sl = slice(lo, lo + step)
        a0 = (Z0 @ beta1[sl].T).T[:, :, None]  # (s, n, 1)
        a1 = (Z1 @ beta1[sl].T).T[:, :, None]
        cc = c[sl][:, None, :]  # (s, 1, G)
        d0 = special.ndtr(a0 + cc).mean(axis=1) - special.ndtr(a0).mean(axis=1)
        d1 = special.ndtr(a1).mean(axis=1) - special.ndtr(a1 - cc).mean(axis=1)
        out[0, sl], out[1, sl], out[2, sl] = d0, d1, (d0 + d1) / 2
    return out


def probit_outcome_sensitivity(
    t: np.ndarray,
    X: np.ndarray,
    mediator_fit: ParametricFit,
    outcome_fit: ParametricFit,
    outcome_index: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    level: float = 0.95,
    rho: np.ndarray = RHO_GRID_PROBIT,
) -> RhoSensitivity:
    """ACME(ρ) for a linear mediator and a probit outcome (``medsens``, binary outcome).

    ``outcome_index`` is the fitted probit's linear index ``Z_y'θ̂`` (for its latent R²).
    """
    Z0 = MediationDesign.mediator(np.zeros(len(t)), X)
    Z1 = MediationDesign.mediator(np.ones(len(t)), X)
    n, k = Z0.shape
    sigma_hat = mediator_fit.sigma
    plug_in = _probit_outcome_acme(
        mediator_fit.coef[None, :],
        np.array([sigma_hat]),
        outcome_fit.coef[None, :],
        Z0,
        Z1,
        rho,
    )[:, 0, :]
    beta = rng.multivariate_normal(mediator_fit.coef, mediator_fit.vcov, size=n_draws)
    df = n - k
    sigma2 = np.sqrt(df * sigma_hat**2 / rng.chisquare(df, size=n_draws))
    theta = rng.multivariate_normal(outcome_fit.coef, outcome_fit.vcov, size=n_draws)
    draws = _probit_outcome_acme(beta, sigma2, theta, Z0, Z1, rho)
    x = sigma_hat * outcome_fit.coef[2]
    rho0 = float(x / np.sqrt(1 + x * x))
    r2_m = mediator_fit.r2
    r2_y = _r2_latent(outcome_index)
    return RhoSensitivity(
        _summary(rho, plug_in, draws, level),
        rho0,
        rho0**2,
        (1 - r2_m) * (1 - r2_y) * rho0**2,
    )


__all__ = [
    "RHO_GRID_PROBIT",
    "generalised_residual",
    "probit_mediator_sensitivity",
    "probit_outcome_sensitivity",
    "sensitivity_draws",
]
