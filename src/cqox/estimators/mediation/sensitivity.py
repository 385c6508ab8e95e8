"""Sensitivity of the ACME to a mediator–outcome confounder: the ρ analysis (``medsens``).

Imai, Keele & Yamamoto (2010), "Identification, inference and sensitivity analysis for
causal mediation effects", *Statistical Science* 25(1):51–71, doi:10.1214/10-STS321,
Theorem 2; R ``mediation::medsens`` for a linear mediator and a linear outcome without
a treatment–mediator interaction.  With the three regressions

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
    """

    table: pd.DataFrame
    rho_at_zero: float
    r2star_prod: float
    r2tilde_prod: float


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


__all__ = ["RHO_GRID", "RhoSensitivity", "acme_rho", "rho_sensitivity"]
