"""Regression adjustment (outcome regression with treatment–covariate interactions).

Fits ``E[Y | T=a, X] = x'β_a`` separately in each arm (equivalent to one regression
with all treatment–covariate interactions) and averages the predicted difference:

- ATE: ``τ = (1/n) Σ_i x_i'(β̂₁ − β̂₀)``
- ATT: the same average over the treated; ATC: over the controls.

Inference: the influence function of the stacked estimating equations (both arms'
normal equations and the covariate mean), i.e. the M-estimation sandwich that Stata's
``teffects ra`` reports (Wooldridge 2010, *Econometric Analysis of Cross Section and
Panel Data*, §21.3; Imbens & Wooldridge 2009, doi:10.1257/jel.47.1.5):
``ψ_i = x_i'(β̂₁−β̂₀) − τ + x̄_S'(ψ^{β₁}_i − ψ^{β₀}_i)`` with
``ψ^{β_a}_i = 1{T_i=a}(Z'Z/n)⁻¹ x_i ε_i`` and for ATT/ATC the first term multiplied by
``1{i∈S}/P(S)``.  Robust to heteroskedasticity.

``se_method="conley"`` replaces ``Σ ψ_i²`` by Conley's (1999) spatial-HAC sum
``Σ_i Σ_j K(d_ij / c) ψ_i ψ_j`` over the great-circle distances of the ``lat``/``lon``
roles within ``conley_cutoff_km`` (:mod:`cqox.inference.spatial_hac`; kernel
``conley_kernel``, uniform by default as in Hsiang 2010), for outcomes whose errors
are correlated between neighbouring places.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("regression_adjustment", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"])
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    conley_coordinates,
    estimand_param,
    se_method_param,
)
from cqox.estimators.registry import register
from cqox.inference.spatial_hac import conley_se
from cqox.nuisance.blocked import column_mean
from cqox.nuisance.ols import rows_dot, shared_fit_ols_rows


@dataclass(frozen=True)
class RAResult:
    """Regression-adjustment estimate.

    Attributes
    ----------
    tau, se : float
    psi : ndarray, shape (n,)
        Influence function of ``tau``.
    mu1, mu0 : float
        Average predicted potential outcomes over the target population.
    beta1, beta0 : ndarray, shape (p + 1,)
        Arm-specific coefficients (intercept first).
    r2_1, r2_0 : float
        R² of each arm's regression.
    """

    tau: float
    se: float
    psi: np.ndarray
    mu1: float
    mu0: float
    beta1: np.ndarray
    beta0: np.ndarray
    r2_1: float
    r2_0: float


def regression_adjustment(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    estimand: str = "ATE",
    cache: dict[Any, Any] | None = None,
) -> RAResult:
    """Regression-adjustment effect with its influence function.

    ``cache`` (the analysis's) shares each arm's fit with the other estimands and
    ``aipw`` (:func:`cqox.nuisance.ols.shared_fit_ols_rows`).
    """
    n, k = len(y), X.shape[1] + 1
    s = np.ones(n, dtype=bool) if estimand == "ATE" else (t == (1 if estimand == "ATT" else 0))
    # the mean design row [1, x̄] over the target, without an n × k design or a copy of
    # the target's rows
    zbar = np.concatenate([[1.0], X.mean(axis=0) if estimand == "ATE" else column_mean(X, s)])
    arms = {}
    # the correction term of ψ, (inf1 − inf0) @ zbar, is n z_i'(Z_a'Z_a)⁻¹zbar · ε_i for
    # the rows of arm a: one n-vector, no n × k influence matrix
    correction = np.zeros(n)
    for a in (1, 0):
        idx = np.flatnonzero(t == a)
        n_a = len(idx)
        if n_a <= k:
            raise EstimationError(
                f"the {'treated' if a else 'control'} arm has {n_a} rows for "
                f"{k} regression coefficients; use fewer covariates",
                details={"arm": a, "rows": n_a, "coefficients": k},
            )
        ya = y[idx]
        fit = shared_fit_ols_rows(cache, X, y, idx)
        # fit.bread = (Z_a'Z_a/n_a)⁻¹, so n (Z_a'Z_a)⁻¹ zbar = (n/n_a) bread zbar
        direction = fit.bread @ zbar * (n / n_a)
        correction[idx] += (1 if a == 1 else -1) * rows_dot(X, idx, direction) * fit.resid
        r2 = 1 - float(np.sum(fit.resid**2) / np.sum((ya - ya.mean()) ** 2))
        arms[a] = (fit.coef, r2)
    (b1, r2_1), (b0, r2_0) = arms[1], arms[0]
    diff = (b1 - b0)[0] + X @ (b1 - b0)[1:]
    p_s = s.mean()
    # standardisation is linear in the coefficients
    mu1, mu0 = float(zbar @ b1), float(zbar @ b0)
    tau = mu1 - mu0
    psi = s * (diff - tau) / p_s + correction
    se = float(np.sqrt(np.sum(psi**2)) / n)
    return RAResult(tau, se, psi, mu1, mu0, b1, b0, r2_1, r2_0)


@register
class RegressionAdjustment(Estimator):
    """Outcome regression with treatment–covariate interactions."""

    example = Example(
        "confounded_binary",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
    )
    sensitivity = ("ovb",)
    name = "regression_adjustment"
    family = "regression_adjustment"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT", "ATC")
    default_estimands = ("ATE", "ATT")
    summary_line = "Outcome regression by arm (full interactions), robust M-estimation SE"
    optional_roles = ("covariates", "lat", "lon")
    parameters = (
        estimand_param(("ATE", "ATT", "ATC"), "ATE"),
        CI_LEVEL,
        se_method_param(("analytic", "conley"), "analytic"),
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        check_conley_params(params, self.name)
        lat_lon = conley_coordinates(data) if params["se_method"] == "conley" else None
        res = regression_adjustment(data.y, data.t, data.X, params["estimand"], ctx.cache)
        se, method = res.se, "OLS by arm with full interactions, robust influence-function SE"
        spatial: dict[str, Any] = {}
        if lat_lon is not None:
            cutoff, kernel = float(params["conley_cutoff_km"]), params["conley_kernel"]
            se = conley_se(res.psi, *lat_lon, cutoff, kernel)
            method = (
                "OLS by arm with full interactions, Conley spatial-HAC SE of the influence "
                f"function ({kernel} kernel, cutoff {cutoff:g} km)"
            )
            spatial = {"se_hc0": res.se, "conley_cutoff_km": cutoff, "conley_kernel": kernel}
        names = ["(intercept)", *data.covariate_names]
        return Estimate.from_se(
            self.name,
            params["estimand"],
            res.tau,
            se,
            params["ci_level"],
            n=data.n,
            n_treated=int(data.t.sum()),
            n_control=int(data.n - data.t.sum()),
            diagnostics={
                "mu1": res.mu1,
                "mu0": res.mu0,
                "r2_treated": res.r2_1,
                "r2_control": res.r2_0,
                "coef_treated": dict(zip(names, res.beta1.tolist(), strict=True)),
                "coef_control": dict(zip(names, res.beta0.tolist(), strict=True)),
                **spatial,
            },
            influence=res.psi,
            method=method,
        )
