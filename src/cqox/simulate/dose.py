"""Continuous treatments (doses) with a known dose-response curve ``μ(a) = E[Y(a)]``.

Two designs, each correctly specified for one family of estimators:

- :func:`dose_polynomial`: a normal linear dose model and an outcome whose mean is a
  quadratic in the dose plus a linear function of the confounders, so
  ``μ(a) = 1 + 2a − 0.5a²`` and the stabilised-weight marginal structural model of
  degree 2 (``dose_msm``) is correct (Hernán & Robins, *What If*, ch. 12.4).
- :func:`hirano_imbens_normal`: the confounders enter the outcome only through the
  normal generalised propensity score ``r(a, x)`` so that ``E[Y | A = a, R = r]`` is
  exactly ``f(a) + c·√(2π)·σ·r`` — the quadratic GPS outcome model of Hirano & Imbens
  (2004, doi:10.1002/0470090456.ch7) is correct and ``μ(a)`` has a closed form.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def polynomial_curve(a: np.ndarray | float) -> np.ndarray:
    """``μ(a) = 1 + 2a − 0.5a²`` of :func:`dose_polynomial` (maximum 3 at ``a = 2``)."""
    a = np.asarray(a, dtype=np.float64)
    return np.asarray(1.0 + 2.0 * a - 0.5 * a * a)


def dose_polynomial(
    n: int = 2000, seed: int | None = 0, nonlinear_outcome: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, a, x1, x2)`` with a confounded normal dose and a quadratic curve.

    Model (``x ~ N(0, I₂)``)::

        a = 1 + 0.3 x1 − 0.2 x2 + u,                  u ~ N(0, 1)
        y = 1 + 2a − 0.5a² + x1 + 0.5 x2 + ε,          ε ~ N(0, 1)

    With ``nonlinear_outcome`` the outcome gains ``x1² − 1`` (mean zero, so the curve is
    unchanged): an outcome model linear in the covariates is then wrong while the dose
    model stays right — the case a doubly robust estimator must survive.

    ``x1`` raises both the dose and the outcome, so the unadjusted regression of ``y``
    on ``(a, a²)`` is biased; ``E[Y(a)] = 1 + 2a − 0.5a²`` (``E[x] = 0``), maximal at
    ``a = 2``.  The dose model is normal and linear in ``x``, so the stabilised weights
    ``f(a)/f(a | x)`` of ``dose_msm`` are correctly specified; ``Var(a) = 1.13`` against
    ``Var(a | x) = 1`` keeps their tails moderate (the weights' second moment is finite
    only while ``Var(a) < 2·Var(a | x)``).

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``a``, ``x1``, ``x2``.
    truth : dict
        ``coef``: ``(1, 2, −0.5)`` (MSM coefficients of ``1, a, a²``);
        ``optimal_dose``: 2.0; ``max_value``: 3.0; ``curve``: :func:`polynomial_curve`.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    a = 1.0 + 0.3 * X[:, 0] - 0.2 * X[:, 1] + rng.standard_normal(n)
    y = polynomial_curve(a) + X[:, 0] + 0.5 * X[:, 1] + rng.standard_normal(n)
    if nonlinear_outcome:
        y = y + X[:, 0] ** 2 - 1.0
    df = pd.DataFrame({"y": y, "a": a, "x1": X[:, 0], "x2": X[:, 1]})
    truth = {
        "coef": (1.0, 2.0, -0.5),
        "optimal_dose": 2.0,
        "max_value": 3.0,
        "curve": polynomial_curve,
    }
    return df, truth


#: Parameters of :func:`hirano_imbens_normal`: dose model ``a = 0.5 + x1 + 0.5 x2 + σu``.
HI_SIGMA = 1.0
HI_C = 2.0
#: mean and variance of ``m = 0.5 + x1 + 0.5 x2`` under ``x ~ N(0, I₂)``
HI_M_MEAN, HI_M_VAR = 0.5, 1.25


def hirano_imbens_curve(a: np.ndarray | float) -> np.ndarray:
    """``μ(a) = 1 + a − 0.25a² + c·σ/√(σ² + s²)·exp(−(a − μ_m)²/(2(σ² + s²)))``.

    The expectation over ``m = x'β ~ N(μ_m, s²)`` of ``c·exp(−(a − m)²/(2σ²))`` is a
    normal-normal convolution; see :func:`hirano_imbens_normal`.
    """
    a = np.asarray(a, dtype=np.float64)
    v = HI_SIGMA**2 + HI_M_VAR
    bump = HI_C * HI_SIGMA / math.sqrt(v) * np.exp(-((a - HI_M_MEAN) ** 2) / (2 * v))
    return np.asarray(1.0 + a - 0.25 * a * a + bump)


def hirano_imbens_normal(
    n: int = 2000, seed: int | None = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, a, x1, x2)`` where the normal GPS outcome model is exactly right.

    Model (``x ~ N(0, I₂)``, ``m = 0.5 + x1 + 0.5 x2``)::

        a = m + σ u,                                        u ~ N(0, 1), σ = 1
        y = 1 + a − 0.25a² + c·exp(−(a − m)²/(2σ²)) + ε,    ε ~ N(0, 1), c = 2

    With ``r(a, x) = φ((a − m)/σ)/σ`` the generalised propensity score (Hirano & Imbens
    2004), ``c·exp(−(a − m)²/(2σ²)) = c·√(2π)·σ·r``: the confounders act on ``y`` only
    through ``r``, ``E[Y | A = a, R = r] = 1 + a − 0.25a² + c√(2π)σ·r`` lies in Hirano &
    Imbens' quadratic model in ``(a, r)``, and the naive regression of ``y`` on ``a`` is
    biased (units with doses near their ``m`` have larger outcomes).

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``a``, ``x1``, ``x2``.
    truth : dict
        ``curve``: :func:`hirano_imbens_curve`; ``optimal_dose`` and ``max_value`` of it
        (found on a fine grid).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    m = 0.5 + X[:, 0] + 0.5 * X[:, 1]
    a = m + HI_SIGMA * rng.standard_normal(n)
    y = (
        1.0
        + a
        - 0.25 * a * a
        + HI_C * np.exp(-((a - m) ** 2) / (2 * HI_SIGMA**2))
        + rng.standard_normal(n)
    )
    grid = np.linspace(-3.0, 4.0, 70001)
    mu = hirano_imbens_curve(grid)
    df = pd.DataFrame({"y": y, "a": a, "x1": X[:, 0], "x2": X[:, 1]})
    truth = {
        "optimal_dose": float(grid[mu.argmax()]),
        "max_value": float(mu.max()),
        "curve": hirano_imbens_curve,
    }
    return df, truth
