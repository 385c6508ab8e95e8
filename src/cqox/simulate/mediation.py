"""Mediation data with known natural direct and indirect effects.

Both designs satisfy sequential ignorability (Imai, Keele & Tingley 2010,
doi:10.1037/a0020761): the treatment is confounded by ``x1, x2`` only, and the mediator
and the outcome errors are independent given the treatment and the covariates, so the
effects below are identified with the covariates ``x1 … x3``.  ``x ~ N(0, I_3)``::

    e(x)  = expit(0.5 x1 − 0.4 x2)                               (treatment)
    M     = 0.5 + a·T + 0.6 x1 + 0.3 x3 + ε_M,        ε_M ~ N(0, 1)
    Y*    = b0 + c·T + b·M + d·T·M + β'x + ε_Y,       ε_Y ~ N(0, 1)

``Y = Y*`` (linear) or ``Y = 1{Y* > 0}`` (probit).  With ``M(t) = 0.5 + a t + …`` the
population effects are, for the linear outcome,

    NIE(t) = E[Y(t, M(1)) − Y(t, M(0))] = (b + d t) a
    NDE(t) = E[Y(1, M(t)) − Y(0, M(t))] = c + d (0.5 + a t)

and for the probit outcome ``E[Φ(η)] = Φ(μ/√(1 + s²))`` for the normal index
``η = μ + (noise of variance s²)`` (exact; no simulation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

#: Coefficients of the design (``a``: T → M; ``b``: M → Y; ``c``: T → Y directly).
A_TM = 1.0
B_MY = 0.8
C_TY = 0.5
M0 = 0.5
#: Covariate coefficients of the mediator and outcome models (x1, x2, x3).
GAMMA_M = np.array([0.6, 0.0, 0.3])
BETA_Y = np.array([0.5, -0.5, 0.4])


def _effects(potential: dict[tuple[int, int], float]) -> dict[str, float]:
    """Named effects from ``E[Y(t, M(t'))]`` for ``t, t' ∈ {0, 1}``."""
    nie1 = potential[1, 1] - potential[1, 0]
    nie0 = potential[0, 1] - potential[0, 0]
    nde1 = potential[1, 1] - potential[0, 1]
    nde0 = potential[1, 0] - potential[0, 0]
    te = potential[1, 1] - potential[0, 0]
    nie = (nie0 + nie1) / 2
    return {
        "NIE": nie,
        "NDE": (nde0 + nde1) / 2,
        "TE": te,
        "PM": nie / te,
        "NIE_control": nie0,
        "NIE_treated": nie1,
        "NDE_control": nde0,
        "NDE_treated": nde1,
    }


def mediation_linear(
    n: int = 1000,
    interaction: float = 0.0,
    binary_outcome: bool = False,
    intercept: float = 1.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, t, m, x1, x2, x3)`` with a known mediation decomposition.

    Parameters
    ----------
    n : int
        Rows.
    interaction : float
        ``d``, the treatment–mediator interaction in the outcome model (0: ACME equal
        in both arms).
    binary_outcome : bool
        ``Y = 1{Y* > 0}`` (a probit outcome) instead of ``Y = Y*``.
    intercept : float
        ``b0`` (for the binary outcome, −1 gives a mean near 0.5).
    seed : int or None

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``t``, ``m``, ``x1``, ``x2``, ``x3``.
    truth : dict
        Population values of ``NIE``, ``NDE``, ``TE``, ``PM`` (averages over the two
        arms, as R ``mediation`` reports them) and the arm-specific ``NIE_control``,
        ``NIE_treated``, ``NDE_control``, ``NDE_treated``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    t = (rng.random(n) < special.expit(0.5 * X[:, 0] - 0.4 * X[:, 1])).astype(np.int64)
    m = M0 + A_TM * t + X @ GAMMA_M + rng.standard_normal(n)
    y_star = (
        intercept + C_TY * t + B_MY * m + interaction * t * m + X @ BETA_Y + rng.standard_normal(n)
    )
    y = (y_star > 0).astype(np.int64) if binary_outcome else y_star
    df = pd.DataFrame({"y": y, "t": t, "m": m, "x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2]})
    potential: dict[tuple[int, int], float] = {}
    for tt in (0, 1):
        for tm in (0, 1):
            slope = B_MY + interaction * tt  # of Y* in M at treatment tt
            mu = intercept + C_TY * tt + slope * (M0 + A_TM * tm)
            if binary_outcome:
                # η = μ + (slope γ_M + β_Y)'x + slope ε_M, and Y = 1{η + ε_Y > 0}
                s2 = float(np.sum((slope * GAMMA_M + BETA_Y) ** 2)) + slope**2
                potential[tt, tm] = float(special.ndtr(mu / np.sqrt(1 + s2)))
            else:
                potential[tt, tm] = float(mu)
    return df, _effects(potential)


def mediation_confounded(
    n: int = 1000,
    rho: float = 0.5,
    binary: str = "outcome",
    seed: int | None = 0,
    interaction: float = 0.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Mediation with a mediator–outcome confounder: errors correlated by ``rho``.

    The design of :func:`mediation_linear` with one of the two models binary (no
    interaction) or both linear (``binary="neither"``, with the treatment–mediator
    interaction ``interaction``) and ``corr(ε_M, ε_Y) = rho``, which breaks sequential
    ignorability: the ACME of the fitted models (the ρ = 0 analysis) is biased, and the
    ρ sensitivity analysis (Imai, Keele & Yamamoto 2010) at the true ``rho`` recovers
    the truth.

    ``binary="neither"``: ``M = 0.5 + T + 0.6 x1 + 0.3 x3 + ε_M``,
    ``Y = 1 + 0.5 T + 0.8 M + d T·M + β'x + ε_Y`` with ``ε_M, ε_Y ~ N(0, 1)``; the
    effects are :func:`mediation_linear`'s (``NIE(t) = (0.8 + d t)``), as the errors have
    mean zero whatever their correlation.

    ``binary="outcome"``: ``M = 0.5 + T + 0.6 x1 + 0.3 x3 + ε_M``, ``ε_M ~ N(0, 1)``,
    ``Y = 1{−1 + 0.5 T + 0.8 M + β'x + ε_Y > 0}``, ``ε_Y ~ N(0, 1)``; so
    ``E[Y(t, M(t'))] = Φ(μ / √(1 + |0.8 γ_M + β|² + 0.64 + 1.6 ρ))``.

    ``binary="mediator"``: ``M = 1{−0.5 + T + 0.6 x1 + 0.3 x3 + ε_M > 0}``,
    ``ε_M ~ N(0, 1)``, ``Y = 1 + 0.5 T + 0.8 M + β'x + ε_Y``, ``ε_Y ~ N(0, 1)``; so
    ``E[Y(t, M(t'))] = 1 + 0.5 t + 0.8 Φ((−0.5 + t') / √(1 + |γ_M|²))``.

    Returns the table (``y``, ``t``, ``m``, ``x1 … x3``) and the population effects
    (as :func:`mediation_linear`, plus ``rho``).
    """
    if binary not in ("outcome", "mediator", "neither"):
        raise ValueError(f"binary must be 'outcome', 'mediator' or 'neither'; got {binary!r}")
    if interaction != 0 and binary != "neither":
        raise ValueError(
            f"interaction={interaction!r} needs binary='neither' (the binary designs have none)"
        )
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    t = (rng.random(n) < special.expit(0.5 * X[:, 0] - 0.4 * X[:, 1])).astype(np.int64)
    e_m = rng.standard_normal(n)
    e_y = rho * e_m + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    potential: dict[tuple[int, int], float] = {}
    if binary == "neither":
        m = M0 + A_TM * t + X @ GAMMA_M + e_m
        y = 1.0 + C_TY * t + B_MY * m + interaction * t * m + X @ BETA_Y + e_y
        for tt in (0, 1):
            for tm in (0, 1):
                slope = B_MY + interaction * tt
                potential[tt, tm] = 1.0 + C_TY * tt + slope * (M0 + A_TM * tm)
        df = pd.DataFrame({"y": y, "t": t, "m": m})
    elif binary == "outcome":
        m = M0 + A_TM * t + X @ GAMMA_M + e_m
        y_star = -1.0 + C_TY * t + B_MY * m + X @ BETA_Y + e_y
        y = (y_star > 0).astype(np.int64)
        s2 = float(np.sum((B_MY * GAMMA_M + BETA_Y) ** 2)) + B_MY**2 + 2 * B_MY * rho + 1
        for tt in (0, 1):
            for tm in (0, 1):
                mu = -1.0 + C_TY * tt + B_MY * (M0 + A_TM * tm)
                potential[tt, tm] = float(special.ndtr(mu / np.sqrt(s2)))
        df = pd.DataFrame({"y": y, "t": t, "m": m})
    else:
        m_bin = (-0.5 + A_TM * t + X @ GAMMA_M + e_m > 0).astype(np.int64)
        y = 1.0 + C_TY * t + B_MY * m_bin + X @ BETA_Y + e_y
        scale = np.sqrt(1 + float(GAMMA_M @ GAMMA_M))
        for tt in (0, 1):
            for tm in (0, 1):
                p_m = float(special.ndtr((-0.5 + A_TM * tm) / scale))
                potential[tt, tm] = 1.0 + C_TY * tt + B_MY * p_m
        df = pd.DataFrame({"y": y, "t": t, "m": m_bin})
    for j in range(3):
        df[f"x{j + 1}"] = X[:, j]
    return df, {**_effects(potential), "rho": rho}
