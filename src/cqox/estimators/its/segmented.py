"""Segmented regression for an interrupted time series (array functions).

Model (Wagner et al. 2002, doi:10.1046/j.1365-2710.2002.00430.x; Bernal, Cummins &
Gasparrini 2017, doi:10.1093/ije/dyw098), with ``s`` the period index (0, 1, …),
``s0`` the index of the first period at or after the interruption and
``D_s = 1{s ≥ s0}``::

    y_s = β0 + β1 (s − s0) + β2 D_s + β3 (s − s0) D_s + γ' seasonal_s + δ' x_s + ε_s

``β2`` is the level change at the interruption (the jump of the fitted line at
``s0``) and ``β3`` the slope change per period.  The counterfactual is the fitted line
with ``β2 = β3 = 0``.  Comparative ITS (a control series ``c_s`` on the same periods)
fits the model to the difference ``y_s − c_s``: ``β2`` and ``β3`` are then the
difference-in-level and difference-in-slope changes (the same numbers as the fully
interacted stacked regression of both series).

Inference: Newey & West (1987, doi:10.2307/1913610) HAC covariance with Bartlett
weights ``1 − j/(L+1)``, ``(X'X)⁻¹ S (X'X)⁻¹`` with ``S = Σ_{|j|≤L} w_j Σ_s u_s u_{s−j}'``
and ``u_s = x_s ε̂_s`` — statsmodels' ``OLS.fit(cov_type="HAC")`` conventions, normal
reference distribution, optional ``n/(n−k)`` correction (statsmodels'
``use_correction``).  The automatic lag is ``floor(4 (n/100)^{2/9})`` (Newey & West
1994, doi:10.2307/2297912; statsmodels' default when ``nlags`` is not given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def auto_lag(n: int) -> int:
    """Newey–West (1994) rule ``floor(4 (n/100)^{2/9})``."""
    return math.floor(4 * (n / 100.0) ** (2.0 / 9.0))


def its_design(
    n: int,
    s0: int,
    season_period: int | None = None,
    season_method: str = "fourier",
    fourier_order: int = 2,
    X: np.ndarray | None = None,
    covariate_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Design matrix ``[1, s − s0, D, (s − s0)·D, seasonal…, covariates…]``.

    Parameters
    ----------
    n : int
        Number of periods.
    s0 : int
        Index of the first post-interruption period.
    season_period : int, optional
        Season length in periods (12 for monthly data); ``None`` for no seasonality.
    season_method : {"fourier", "dummies"}
        Harmonic pairs ``sin/cos(2πk s/period)``, ``k = 1…fourier_order``; or
        ``period − 1`` dummies (first season is the reference).
    X : ndarray, shape (n, p), optional
        Time-varying covariates.

    Returns
    -------
    Z : ndarray, shape (n, 4 + seasonal + p)
    names : list of str
    """
    s = np.arange(n, dtype=np.float64)
    D = (s >= s0).astype(np.float64)
    cols = [np.ones(n), s - s0, D, (s - s0) * D]
    names = ["intercept", "time", "level_change", "slope_change"]
    if season_period is not None and season_period > 1:
        if season_method == "dummies":
            phase = np.arange(n) % season_period
            for k in range(1, season_period):
                cols.append((phase == k).astype(np.float64))
                names.append(f"season_{k}")
        else:
            for k in range(1, fourier_order + 1):
                ang = 2 * np.pi * k * s / season_period
                cols += [np.sin(ang), np.cos(ang)]
                names += [f"sin_{k}", f"cos_{k}"]
    if X is not None and X.shape[1]:
        cols += list(X.T)
        names += list(covariate_names or [f"x{j}" for j in range(X.shape[1])])
    return np.column_stack(cols), names


@dataclass(frozen=True)
class HACFit:
    """OLS with Newey–West covariance.

    Attributes
    ----------
    coef : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
        HAC covariance of ``coef``.
    se : ndarray, shape (k,)
    resid : ndarray, shape (n,)
    fitted : ndarray, shape (n,)
    lag : int
        Bartlett truncation lag ``L``.
    """

    coef: np.ndarray
    cov: np.ndarray
    se: np.ndarray
    resid: np.ndarray
    fitted: np.ndarray
    lag: int


def ols_hac(y: np.ndarray, Z: np.ndarray, lag: int, correction: bool = False) -> HACFit:
    """OLS of ``y`` on ``Z`` with the Newey–West (Bartlett) covariance at lag ``lag``."""
    n, k = Z.shape
    Q, R = np.linalg.qr(Z)
    coef = np.linalg.solve(R, Q.T @ y)
    fitted = Z @ coef
    e = y - fitted
    U = Z * e[:, None]
    S = U.T @ U
    for j in range(1, lag + 1):
        G = U[j:].T @ U[:-j]
        S += (1.0 - j / (lag + 1.0)) * (G + G.T)
    Rinv = np.linalg.inv(R)
    bread = Rinv @ Rinv.T  # (Z'Z)^{-1}
    cov = bread @ S @ bread
    if correction:
        cov *= n / (n - k)
    return HACFit(coef, cov, np.sqrt(np.diag(cov)), e, fitted, lag)
