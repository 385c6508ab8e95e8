"""``dose_gps``: the dose-response curve by the generalised propensity score.

Hirano & Imbens (2004, "The propensity score with continuous treatments", in Gelman &
Meng (eds.), *Applied Bayesian Modeling and Causal Inference from Incomplete-Data
Perspectives*, doi:10.1002/0470090456.ch7), with a normal dose model:

1. ``A | X ~ N(z'γ, σ²)`` by least squares (:mod:`cqox.estimators.dose.density`); the
   GPS of each unit at its own dose is ``R_i = φ((A_i − z_i'γ̂)/σ̂)/σ̂``;
2. the outcome on the dose and the GPS, quadratic with interaction:
   ``E[Y | A, R] = α₀ + α₁A + α₂A² + α₃R + α₄R² + α₅A·R`` by OLS;
3. the curve averages the fitted outcome over the units with the GPS evaluated at the
   dose of interest: ``μ̂(a) = (1/n) Σ_i ĝ(a, r̂(a, x_i))``.

Under weak unconfoundedness ``Y(a) ⊥ 1{A = a} | X`` and a correct outcome model in
``(a, r)``, ``μ̂(a)`` estimates ``E[Y(a)]``.  Hirano & Imbens bootstrap the SE; here
the influence function of the stacked M-estimator (dose model, outcome normal
equations, the average) gives it analytically:
``ψ_i(a) = ĝ_i(a) − μ̂(a) + D_α(a)'ψ_α,i + D_η(a)'ψ_η,i`` with ``D`` the derivatives of
``μ̂(a)`` in the outcome coefficients ``α`` and the dose-model parameters ``η = (γ, σ²)``
(through ``r̂(a, x_i)``), and ``ψ_α = M⁻¹[W ε + H ψ_η]`` carrying the GPS regressor's
own estimation error.

Example
-------
>>> import cqox
>>> from cqox.simulate.dose import hirano_imbens_normal
>>> df, truth = hirano_imbens_normal(n=3000, seed=1)
>>> est = cqox.estimate("dose_gps", df, outcome="y", dose="a", covariates=["x1", "x2"])
>>> row = est.curve([1.0]).iloc[0]
>>> bool(abs(row.estimate - truth["curve"](1.0)) < 4 * row.se)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.data.prepare import CausalData
from cqox.estimators.base import Example
from cqox.estimators.dose.curve import curve_inference, dose_grid
from cqox.estimators.dose.density import NormalDoseModel, fit_normal_dose
from cqox.estimators.dose.family import GRID_PARAMS, DoseResponseEstimator
from cqox.estimators.registry import register
from cqox.nuisance.ols import with_intercept

#: Largest (row, dose) block of the curve's evaluation: bounds its memory (8 bytes each).
BLOCK_CELLS = 2_000_000
#: Terms of Hirano & Imbens' outcome model in the dose ``a`` and the GPS ``r``.
TERMS = ("1", "a", "a^2", "r", "r^2", "a*r")


def hi_terms(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``(1, a, a², r, r², a·r)`` stacked on the last axis."""
    one = np.ones_like(r)
    return np.stack([one, a * one, a * a * one, r, r * r, a * r], axis=-1)


@dataclass(frozen=True)
class GPSFit:
    """A fitted GPS dose-response model.

    Attributes
    ----------
    alpha : ndarray, shape (6,)
        Outcome coefficients of :data:`TERMS`.
    alpha_influence : ndarray, shape (n, 6)
    dose_model : NormalDoseModel
    Z : ndarray, shape (n, k)
        Dose-model design (intercept first).
    gps : ndarray, shape (n,)
        ``R_i``, each unit's GPS at its own dose.
    """

    alpha: np.ndarray
    alpha_influence: np.ndarray
    dose_model: NormalDoseModel
    Z: np.ndarray
    gps: np.ndarray

    def min_gps_share(self, doses: np.ndarray) -> np.ndarray:
        """Per dose, the share of units whose GPS there is not below the smallest observed."""
        low = self.gps.min()
        n = len(self.gps)
        step = max(1, BLOCK_CELLS // len(doses))
        inside = np.zeros(len(doses))
        for s0 in range(0, n, step):
            R, _ = self._gps_block(doses, slice(s0, s0 + step))
            inside += np.sum(low <= R, axis=0)
        return inside / n

    def evaluate(self, doses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(μ̂(a), Σ̂)`` at ``doses``: ``Σ̂ = ψ'ψ/n²`` (``ψ`` in the module docstring).

        Rows are processed in blocks of at most :data:`BLOCK_CELLS` (row, dose) pairs in
        two passes (the means and derivatives, then ``ψ'ψ``), so memory stays bounded
        whatever the number of rows.
        """
        doses = np.asarray(doses, dtype=np.float64)
        n = len(self.gps)
        m = self.dose_model
        a3, a4, a5 = self.alpha[3:]
        G = len(doses)
        k = self.Z.shape[1]
        blocks = [
            slice(s, s + max(1, BLOCK_CELLS // G)) for s in range(0, n, max(1, BLOCK_CELLS // G))
        ]
        sum_g = np.zeros(G)
        sum_terms = np.zeros((3, G))  # Σ r, Σ r², Σ a·r
        d_gamma = np.zeros((k, G))
        d_sigma2 = np.zeros(G)
        for rows in blocks:
            R, e = self._gps_block(doses, rows)
            g = self._g(doses, R)
            sum_g += g.sum(axis=0)
            sum_terms += np.stack([R.sum(axis=0), (R * R).sum(axis=0), doses * R.sum(axis=0)])
            # ∂g/∂r · ∂r/∂η with ∂r/∂η = r · ∂log f(a|x)/∂η
            c = (a3 + 2 * a4 * R + a5 * doses[None, :]) * R
            d_gamma += self.Z[rows].T @ (c * e / m.sigma2)
            d_sigma2 += np.sum(c * (-0.5 / m.sigma2 + e * e / (2 * m.sigma2**2)), axis=0)
        mu = sum_g / n
        D_alpha = np.vstack([np.ones(G), doses, doses * doses, sum_terms / n])  # (6, G)
        D_eta = np.vstack([d_gamma / n, d_sigma2[None, :] / n])  # (k + 1, G)
        cov = np.zeros((G, G))
        for rows in blocks:
            R, _ = self._gps_block(doses, rows)
            psi = (
                self._g(doses, R)
                - mu
                + self.alpha_influence[rows] @ D_alpha
                + m.influence[rows] @ D_eta
            )
            cov += psi.T @ psi
        return mu, cov / (n * n)

    def _gps_block(self, doses: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """``r̂(a, x_i)`` and ``a − x_i'γ̂`` for the rows of a block, shape (rows, G)."""
        m = self.dose_model
        e = doses[None, :] - m.mean[rows, None]
        return np.exp(-e * e / (2 * m.sigma2)) / np.sqrt(2 * np.pi * m.sigma2), e

    def _g(self, doses: np.ndarray, R: np.ndarray) -> np.ndarray:
        """``ĝ(a, r) = α'(1, a, a², r, r², a·r)`` for a block of GPS values."""
        a0, a1, a2, a3, a4, a5 = self.alpha
        t = doses[None, :]
        return np.asarray(a0 + a1 * t + a2 * t * t + a3 * R + a4 * R * R + a5 * t * R)


def fit_gps(y: np.ndarray, a: np.ndarray, X: np.ndarray) -> GPSFit:
    """Hirano–Imbens GPS fit: normal dose model, quadratic outcome model in ``(a, r)``."""
    n = len(y)
    Z = with_intercept(X)
    den = fit_normal_dose(a, Z)
    r = den.density(a)
    W = hi_terms(a, r)
    M = W.T @ W / n
    alpha = np.linalg.lstsq(W, y, rcond=None)[0]
    eps = y - W @ alpha
    # the GPS regressor is estimated: ∂(W ε)/∂r = dW ε − W (dW'α), dW = (0,0,0,1,2r,a)
    dW = np.column_stack([np.zeros((n, 3)), np.ones(n), 2 * r, a])
    dh_dr = dW * eps[:, None] - W * (dW @ alpha)[:, None]
    dr_deta = den.score(a, Z) * r[:, None]
    H = dh_dr.T @ dr_deta / n
    core = W * eps[:, None] + den.influence @ H.T
    infl = np.linalg.solve(M, core.T).T
    return GPSFit(alpha, infl, den, Z, r)


def gps_support_gate(fit: GPSFit, grid: np.ndarray, ctx: Context) -> Gate:
    """Share of (unit, grid dose) pairs whose GPS is not below the smallest observed GPS.

    ``μ̂(a)`` evaluates the outcome model at ``r̂(a, x_i)``; below the smallest GPS seen
    in the data that is extrapolation (units that would almost never get dose ``a``).
    """
    by_dose = fit.min_gps_share(grid)
    limit = ctx.threshold("common_support")
    return threshold_gate(
        "common_support",
        float(by_dose.mean()),
        limit,
        higher_is_better=True,
        label="share of (unit, grid dose) GPS values inside the observed GPS range",
        fail_threshold=limit / 2,
        details={"gps_min_observed": float(fit.gps.min()), "by_dose": by_dose.tolist()},
    )


@register
class DoseGPS(DoseResponseEstimator):
    """Hirano–Imbens generalised propensity score with a normal dose model."""

    name = "dose_gps"
    summary_line = (
        "Dose-response curve by the generalised propensity score (Hirano & Imbens 2004; "
        "normal dose model, quadratic outcome in dose and GPS), uniform band, optimal dose"
    )
    example = Example(
        "dose.hirano_imbens_normal",
        {"n": 600, "seed": 1},
        {"outcome": "y", "dose": "a", "covariates": ["x1", "x2"]},
        params={"n_sim": 200},
    )
    parameters = GRID_PARAMS

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        a = data.t
        fit = fit_gps(data.y, a, data.X)
        grid = dose_grid(a, params["n_grid"], params["grid_quantile"])
        inference = curve_inference(
            fit.evaluate, grid, params["ci_level"], params["n_sim"], ctx.rng(0)
        )
        n = len(a)
        se = np.sqrt(np.sum(fit.alpha_influence**2, axis=0)) / n
        coefs = pd.DataFrame({"term": TERMS, "estimate": fit.alpha, "se": se})
        diagnostics = {
            "dose_model_sigma": float(np.sqrt(fit.dose_model.sigma2)),
            "gps_min": float(fit.gps.min()),
            "gps_max": float(fit.gps.max()),
            "outcome_coef": fit.alpha.tolist(),
        }
        return self._curve_estimate(
            data,
            params,
            inference,
            fit.evaluate,
            gates=[gps_support_gate(fit, grid, ctx)],
            diagnostics=diagnostics,
            tables={"coefficients": coefs},
            warnings=[],
            method="generalised propensity score (normal dose model), quadratic outcome "
            "model in dose and GPS; stacked M-estimation SE, sup-t uniform band",
        )
