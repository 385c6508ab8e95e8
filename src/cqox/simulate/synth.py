"""A linear factor model for synthetic control (Abadie, Diamond & Hainmueller 2010)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synth_factor_model(
    n_donors: int = 20,
    n_pre: int = 20,
    n_post: int = 10,
    n_factors: int = 3,
    effect: float = 2.0,
    noise: float = 0.5,
    treated_in_hull: bool = True,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Simulate a panel from the factor model of ADH (2010, eq. 1).

    Model for unit ``i`` and period ``t`` (``t = 1 … n_pre + n_post``)::

        Y_it(0) = δ_t + θ_t Z_i + λ_t μ_i + ε_it,   ε_it ~ N(0, noise²)
        Y_it    = Y_it(0) + effect · D_it

    with a trend ``δ_t``, two unit covariates ``Z_i ~ U(0, 1)²`` whose effects ``θ_t``
    drift, ``n_factors`` AR(1) factors ``λ_t`` and loadings ``μ_i ~ U(0, 1)``.  Unit 0
    is treated from period ``n_pre + 1`` (``D = 1`` then).  With ``treated_in_hull``
    its ``Z`` and ``μ`` are a convex combination of three donors' (so a synthetic
    control exists); otherwise unit 0 is drawn like the donors (exchangeable units:
    placebo p-values are exactly uniform under ``effect = 0``).

    Returns
    -------
    df : DataFrame
        Long panel: ``unit``, ``time``, ``y``, ``treated`` (``D_it``), ``x1``, ``x2``
        (``Z_i`` measured with N(0, 0.05²) error in each period).
    truth : dict
        ``ATT`` (= ``effect``), ``treatment_time`` (= ``n_pre + 1``).
    """
    rng = np.random.default_rng(seed)
    N, T = n_donors + 1, n_pre + n_post
    Z = rng.uniform(0, 1, (N, 2))
    mu = rng.uniform(0, 1, (N, n_factors))
    if treated_in_hull:
        idx = rng.choice(np.arange(1, N), size=3, replace=False)
        w = rng.dirichlet(np.ones(3))
        Z[0] = w @ Z[idx]
        mu[0] = w @ mu[idx]
    lam = np.empty((T, n_factors))
    lam[0] = rng.standard_normal(n_factors)
    for t in range(1, T):
        lam[t] = 0.8 * lam[t - 1] + rng.standard_normal(n_factors)
    delta = 0.05 * np.arange(T) + rng.normal(0, 0.2, T)
    theta = 1.0 + np.cumsum(rng.normal(0, 0.1, (T, 2)), axis=0)
    y0 = delta[:, None] + theta @ Z.T + 2.0 * lam @ mu.T + rng.normal(0, noise, (T, N))
    D = np.zeros((T, N))
    D[n_pre:, 0] = 1.0
    y = y0 + effect * D
    df = _long_panel(y, D, Z, rng)
    return df, {"ATT": float(effect), "treatment_time": float(n_pre + 1)}


def synth_exchangeable_factor_model(
    n_units: int = 20,
    n_pre: int = 30,
    n_post: int = 10,
    n_factors: int = 3,
    rho: float = 0.8,
    effect: float = 2.0,
    noise: float = 0.5,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A stationary factor model with i.i.d. units and the treated unit drawn at random.

    Model for unit ``i`` and period ``t`` (``t = 1 … n_pre + n_post``)::

        Y_it(0) = δ_t + β Z_i + λ_t μ_i + ε_it,   ε_it ~ N(0, noise²)
        Y_it    = Y_it(0) + effect · D_it

    with a trend ``δ_t``, two unit covariates ``Z_i ~ U(0, 1)²`` with fixed effects
    ``β = (1, 1)``, ``n_factors`` stationary AR(1) factors ``λ_t`` (coefficient ``rho``,
    unit innovation variance, started from the stationary distribution) and loadings
    ``μ_i ~ U(0, 1)``, all units i.i.d.  The treated unit is drawn uniformly among the
    ``n_units`` units and treated from period ``n_pre + 1``.  Units are exchangeable
    (the design under which in-space placebo inference is exact) and the errors are
    stationary in time (the design of Chernozhukov, Wüthrich & Zhu 2021, where the
    treated unit need not lie in the donors' hull).

    Returns
    -------
    df : DataFrame
        Long panel: ``unit``, ``time``, ``y``, ``treated`` (``D_it``), ``x1``, ``x2``
        (``Z_i`` measured with N(0, 0.05²) error in each period).
    truth : dict
        ``ATT`` (= ``effect``), ``treatment_time`` (= ``n_pre + 1``), ``treated_unit``.
    """
    rng = np.random.default_rng(seed)
    N, T = n_units, n_pre + n_post
    Z = rng.uniform(0, 1, (N, 2))
    mu = rng.uniform(0, 1, (N, n_factors))
    lam = np.empty((T, n_factors))
    lam[0] = rng.standard_normal(n_factors) / np.sqrt(1.0 - rho**2)
    for t in range(1, T):
        lam[t] = rho * lam[t - 1] + rng.standard_normal(n_factors)
    delta = 0.05 * np.arange(T) + rng.normal(0, 0.2, T)
    y0 = delta[:, None] + (Z @ np.ones(2))[None, :] + lam @ mu.T + rng.normal(0, noise, (T, N))
    treated = int(rng.integers(N))
    D = np.zeros((T, N))
    D[n_pre:, treated] = 1.0
    y = y0 + effect * D
    df = _long_panel(y, D, Z, rng)
    return df, {
        "ATT": float(effect),
        "treatment_time": float(n_pre + 1),
        "treated_unit": float(treated),
    }


def _long_panel(
    y: np.ndarray, D: np.ndarray, Z: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Long table (unit, time, y, treated, x1, x2) from (T × N) outcome and treatment.

    ``x1``, ``x2`` are the unit covariates ``Z`` measured with noise.
    """
    T, N = y.shape
    tt, ii = np.meshgrid(np.arange(1, T + 1), np.arange(N), indexing="ij")
    return pd.DataFrame(
        {
            "unit": ii.ravel(),
            "time": tt.ravel(),
            "y": y.ravel(),
            "treated": D.ravel().astype(np.int64),
            "x1": (Z[ii, 0] + rng.normal(0, 0.05, (T, N))).ravel(),
            "x2": (Z[ii, 1] + rng.normal(0, 0.05, (T, N))).ravel(),
        }
    ).sort_values(["unit", "time"], kind="stable", ignore_index=True)
