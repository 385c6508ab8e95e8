"""Sensitivity of the ACME to a mediator–outcome confounder: the ρ analysis (``medsens``).

Imai, Keele & Yamamoto (2010), "Identification, inference and sensitivity analysis for
causal mediation effects", *Statistical Science* 25(1):51–71, doi:10.1214/10-STS321,
Theorem 2; R ``mediation::medsens`` for a linear mediator and a linear outcome, with
or without a treatment–mediator interaction.  With the three regressions

    Y = α1 + β1 T + ξ1'X + ε1        (total effect)
    M = α2 + β2 T + ξ2'X + ε2        (mediator)
    Y = α3 + β3 T + γ M + ξ3'X + ε3  (outcome)

and ``ρ = corr(ε2, ε3)`` (zero under sequential ignorability), the ACME is

    δ(ρ) = β2 σ1/σ2 · {ρ̃ − ρ sqrt((1 − ρ̃²)/(1 − ρ²))},    ρ̃ = corr(ε1, ε2),

which equals ``β2 γ`` at ``ρ = 0`` and vanishes at ``ρ = ρ̃``.  The confounder that
would explain the ACME away is described by ``R²*_M R²*_Y = ρ²`` (shares of the
residual variances it explains) and ``R̃²_M R̃²_Y = (1 − R²_M)(1 − R²_Y) ρ²`` (shares of
the total variances).  Standard errors are by the delta method: ``δ(ρ)`` is a smooth
function of ``θ = (β2, s11, s22, s12)`` (the residual second moments), whose influence
functions are ``(Z'Z/n)⁻¹ z_i e2_i`` for ``β2`` and ``e_ji e_ki − s_jk`` for the
moments (the residuals' own estimation adds nothing to first order, as ``E[z e] = 0``).

**With a treatment × mediator interaction** (``Y = α3 + β3 T + γ M + κ T·M + ξ3'X + ε3``;
R ``medsens``'s linear–linear case with ``INT = TRUE``), ``medsens`` fits the two
equations as a seemingly unrelated regression with ``corr(ε2, ε3) = ρ`` held fixed and
iterates the feasible GLS.  That fit has a closed form, because the mediator design
``[1, T, X]`` lies inside the outcome design: the GLS criterion splits as
``Σ (e3 − c e2)²/(σ3²(1 − ρ²)) + Σ e2²/σ2²`` with ``c = ρ σ3/σ2``, so the mediator
coefficients stay OLS and the outcome coefficients are the OLS fit of ``Y − c M``
(``γ(ρ) = γ̂ − c``, ``κ(ρ) = κ̂``); the residual variance then solves
``σ3² = s_rr + c² σ2²``, i.e. ``σ3² = s_rr/(1 − ρ²)`` (``s_rr`` the outcome model's
residual second moment).  Hence, for each arm,

    δ(t; ρ) = β2 {γ̂ + κ̂ t − ρ/√(1 − ρ²) · √(s_rr/s22)},

which is the fitted models' ``β2 (γ̂ + κ̂ t)`` at ``ρ = 0`` and vanishes at
``ρ_t = x_t/√(1 + x_t²)``, ``x_t = (γ̂ + κ̂ t) √(s22/s_rr)``; without interaction it is
Theorem 2's curve exactly (``γ̂ = s12/s22`` and ``s11 = γ̂² s22 + s_rr`` in sample).  The
delta-method SEs use the influence functions of ``(β2, γ̂, κ̂, s_rr, s22)``, the same
scheme as above.  (``medsens`` reports the same curves, with SEs from the SUR
covariance that leave out the covariance of the two equations' coefficients.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from cqox.nuisance.ols import fit_ols

#: The ρ grid: −0.99 … 0.99 by 0.01 (``medsens`` uses −0.9 … 0.9 by 0.1 by default; the
#: finer grid draws a smooth curve and locates the zero crossing).
RHO_GRID = np.round(np.arange(-99, 100) / 100.0, 2)


@dataclass(frozen=True)
class RhoSensitivity:
    """The ACME as a function of ρ.

    Attributes
    ----------
    table : DataFrame
        ``rho``, ``estimate``, ``se``, ``ci_low``, ``ci_high`` per grid point.
    rho_at_zero : float
        ρ at which the ACME is zero (``ρ̃``).
    r2star_prod : float
        ``R²*_M R²*_Y`` at that ρ (``ρ̃²``).
    r2tilde_prod : float
        ``R̃²_M R̃²_Y`` at that ρ (``(1 − R²_M)(1 − R²_Y) ρ̃²``).
    rho_at_zero_arms : tuple of float or None
        With a treatment × mediator interaction, the ρ at which ``δ(0)`` and ``δ(1)``
        vanish (control, treated); ``None`` when the two arms share one curve.
    """

    table: pd.DataFrame
    rho_at_zero: float
    r2star_prod: float
    r2tilde_prod: float
    rho_at_zero_arms: tuple[float, float] | None = None


def acme_rho(
    rho: np.ndarray, beta2: float, s11: float, s22: float, s12: float
) -> tuple[np.ndarray, np.ndarray]:
    """``δ(ρ)`` and its gradient in ``(β2, s11, s22, s12)``, shape (len(ρ), 4)."""
    r = rho / np.sqrt(1 - rho**2)
    root_d = np.sqrt(max(s11 * s22 - s12**2, 0.0))
    g = s12 - r * root_d
    acme = beta2 * g / s22
    safe = root_d if root_d > 0 else np.inf
    grad = np.column_stack(
        [
            g / s22,
            -beta2 * r / (2 * safe),
            beta2 * ((-r * s11 / (2 * safe)) * s22 - g) / s22**2,
            beta2 / s22 * (1 + r * s12 / safe),
        ]
    )
    return acme, grad


def rho_sensitivity(
    y: np.ndarray,
    t: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    level: float = 0.95,
    rho: np.ndarray = RHO_GRID,
) -> RhoSensitivity:
    """The ρ sensitivity analysis of Imai, Keele & Yamamoto (2010) (linear–linear)."""
    n = len(y)
    Z = np.column_stack([np.ones(n), t, X])
    total = fit_ols(Z, y)
    med = fit_ols(Z, m)
    out = fit_ols(np.column_stack([Z, m]), y)
    e1, e2 = total.resid, med.resid
    s11, s22, s12 = float(e1 @ e1) / n, float(e2 @ e2) / n, float(e1 @ e2) / n
    beta2 = float(med.coef[1])
    psi = np.column_stack(
        [
            med.influence(Z)[:, 1],
            e1 * e1 - s11,
            e2 * e2 - s22,
            e1 * e2 - s12,
        ]
    )
    acme, grad = acme_rho(rho, beta2, s11, s22, s12)
    se = np.sqrt(np.sum((psi @ grad.T) ** 2, axis=0)) / n
    z = float(special.ndtri(0.5 + level / 2))
    table = pd.DataFrame(
        {"rho": rho, "estimate": acme, "se": se, "ci_low": acme - z * se, "ci_high": acme + z * se}
    )
    rho_tilde = s12 / np.sqrt(s11 * s22)
    r2_m = 1 - s22 / float(np.mean((m - m.mean()) ** 2))
    r2_y = 1 - float(out.resid @ out.resid) / float(np.sum((y - y.mean()) ** 2))
    return RhoSensitivity(
        table,
        float(rho_tilde),
        float(rho_tilde**2),
        float((1 - r2_m) * (1 - r2_y) * rho_tilde**2),
    )


def acme_rho_arm(rho: np.ndarray, arm: float, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``δ(t; ρ)`` with an interaction and its gradient in ``θ = (β2, γ, κ, s_rr, s22)``.

    ``arm`` is ``t`` (0, 1, or 0.5 for the average of the two arms); shapes (G,), (G, 5).
    """
    beta2, gamma, kappa, s_rr, s22 = (float(v) for v in theta)
    r = rho / np.sqrt(1 - rho**2)
    q = np.sqrt(s_rr / s22)
    slope = gamma + kappa * arm - r * q
    acme = beta2 * slope
    one = np.ones_like(rho)
    grad = np.column_stack(
        [
            slope,
            beta2 * one,
            beta2 * arm * one,
            -beta2 * r * q / (2 * s_rr),
            beta2 * r * q / (2 * s22),
        ]
    )
    return acme, grad


def _vanishing_rho(slope: float, q: float) -> float:
    """ρ at which ``β2 (slope − ρ/√(1 − ρ²) q)`` is zero: ``x/√(1 + x²)``, ``x = slope/q``."""
    x = slope / q
    return float(x / np.sqrt(1 + x * x))


def rho_sensitivity_interaction(
    y: np.ndarray,
    t: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    level: float = 0.95,
    rho: np.ndarray = RHO_GRID,
    interaction: bool = True,
) -> RhoSensitivity:
    """The ρ analysis with a treatment × mediator interaction (linear–linear).

    The table has the average ``(δ(0) + δ(1))/2`` (``estimate``, ``se``, ``ci_low``,
    ``ci_high``) and each arm's curve (``estimate_control``, ``se_control``,
    ``ci_low_control``, ``ci_high_control`` and the same with ``_treated``); the
    reported ``rho_at_zero`` is the average's, ``rho_at_zero_arms`` each arm's.  See the
    module docstring for the formula.  ``interaction=False`` drops the ``T·M`` term
    (``κ = 0``): the arms coincide and the curve is :func:`rho_sensitivity`'s.
    """
    n = len(y)
    Zm = np.column_stack([np.ones(n), t, X])
    Zy = np.column_stack([np.ones(n), t, m, *([t * m] if interaction else []), X])
    med = fit_ols(Zm, m)
    out = fit_ols(Zy, y)
    e2, r_y = med.resid, out.resid
    s22, s_rr = float(e2 @ e2) / n, float(r_y @ r_y) / n
    kappa_hat = float(out.coef[3]) if interaction else 0.0
    theta = np.array([med.coef[1], out.coef[2], kappa_hat, s_rr, s22])
    infl_y = out.influence(Zy)
    psi = np.column_stack(
        [
            med.influence(Zm)[:, 1],
            infl_y[:, 2],
            infl_y[:, 3] if interaction else np.zeros(n),
            r_y * r_y - s_rr,
            e2 * e2 - s22,
        ]
    )
    z = float(special.ndtri(0.5 + level / 2))
    cols: dict[str, np.ndarray] = {"rho": rho}
    for suffix, arm in (("", 0.5), ("_control", 0.0), ("_treated", 1.0)):
        acme, grad = acme_rho_arm(rho, arm, theta)
        se = np.sqrt(np.sum((psi @ grad.T) ** 2, axis=0)) / n
        cols[f"estimate{suffix}"] = acme
        cols[f"se{suffix}"] = se
        cols[f"ci_low{suffix}"] = acme - z * se
        cols[f"ci_high{suffix}"] = acme + z * se
    q = np.sqrt(s_rr / s22)
    gamma, kappa = float(theta[1]), float(theta[2])
    rho0 = _vanishing_rho(gamma + kappa / 2, q)
    r2_m = 1 - s22 / float(np.mean((m - m.mean()) ** 2))
    r2_y = 1 - s_rr / float(np.mean((y - y.mean()) ** 2))
    return RhoSensitivity(
        pd.DataFrame(cols),
        rho0,
        rho0**2,
        (1 - r2_m) * (1 - r2_y) * rho0**2,
        (_vanishing_rho(gamma, q), _vanishing_rho(gamma + kappa, q)) if interaction else None,
    )


__all__ = [
    "RHO_GRID",
    "RhoSensitivity",
    "acme_rho",
    "acme_rho_arm",
    "rho_sensitivity",
    "rho_sensitivity_interaction",
]
