"""Omitted-variable-bias sensitivity of a regression estimate (Cinelli & Hazlett 2020).

For the OLS coefficient ``τ̂`` of the treatment ``D`` in ``Y ~ D + X`` (``df`` residual
degrees of freedom, ``t`` its t-statistic), an omitted confounder ``Z`` with partial
R²s ``R²_{Y~Z|D,X}`` and ``R²_{D~Z|X}`` changes the estimate by

    |bias| = se(τ̂) · sqrt(df) · sqrt(R²_{Y~Z|D,X} · R²_{D~Z|X} / (1 − R²_{D~Z|X}))

(Cinelli & Hazlett 2020, doi:10.1111/rssb.12348, eq. 11).  Summaries:

- ``R²_{Y~D|X} = t² / (t² + df)``: a confounder explaining all of the outcome's residual
  variance must explain at least this much of the treatment's to remove the estimate;
- robustness value ``RV_q = ½(sqrt(f_q⁴ + 4f_q²) − f_q²)``, ``f_q = q·|t|/sqrt(df)``: the
  equal partial R² (with treatment and outcome) that reduces the estimate by
  ``100·q``%; ``RV_{q,α}`` the same for making it insignificant at level ``α``
  (``f_{q,α} = f_q − |t*_{α, df−1}|/sqrt(df − 1)``, and the closed form
  ``(f_q² − f*²)/(1 + f_q²)`` when ``f_q > 1/f*``);
- bounds from observed covariates: a confounder ``k_D`` times as strong as covariate
  ``X_j`` with the treatment and ``k_Y`` times with the outcome has
  ``R²_{D~Z|X} = k_D·R²_{D~X_j|X₋ⱼ}/(1 − R²_{D~X_j|X₋ⱼ})`` and
  ``R²_{Y~Z|D,X} ≤ ((sqrt(k_Y) + sqrt(η))/sqrt(1 − η))²·R²_{Y~X_j|D,X₋ⱼ}/(1 −
  R²_{Y~X_j|D,X₋ⱼ})`` with ``η = k_D R²²_{D~X_j|X₋ⱼ}/((1 − k_D R²_{D~X_j|X₋ⱼ})(1 −
  R²_{D~X_j|X₋ⱼ}))`` (their §6.1 and Appendix B); the bounded adjusted estimate and
  its standard error follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special  # Student t quantiles (stdtrit, as scipy.stats.t.ppf)
from scipy.linalg import solve_triangular

from cqox.errors import EstimationError
from cqox.nuisance.ols import design_dot, least_squares_blocks


def partial_r2(t_value: float, dof: float) -> float:
    """Partial R² of a regressor from its t-statistic: ``t²/(t² + df)``."""
    return t_value**2 / (t_value**2 + dof)


def robustness_value(
    t_value: float, dof: float, q: float = 1.0, alpha: float | None = None
) -> float:
    """Robustness value ``RV_q`` (``alpha=None``) or ``RV_{q,α}`` (Cinelli & Hazlett 2020)."""
    f_q = q * abs(t_value) / math.sqrt(dof)
    if alpha is None:
        return 0.5 * (math.sqrt(f_q**4 + 4 * f_q**2) - f_q**2)
    f_crit = abs(float(special.stdtrit(dof - 1, alpha / 2))) / math.sqrt(dof - 1)
    f_qa = f_q - f_crit
    if f_qa <= 0:
        return 0.0
    if f_q > 1 / f_crit:
        return (f_q**2 - f_crit**2) / (1 + f_q**2)
    return 0.5 * (math.sqrt(f_qa**4 + 4 * f_qa**2) - f_qa**2)


def bias_bound(se: float, dof: float, r2yz_dx: float, r2dz_x: float) -> float:
    """Largest absolute bias from a confounder with the given partial R²s (eq. 11)."""
    return se * math.sqrt(dof) * math.sqrt(r2yz_dx * r2dz_x / (1 - r2dz_x))


@dataclass(frozen=True)
class OVBResult:
    """Sensitivity of the regression estimate to an omitted confounder.

    Attributes
    ----------
    estimate, se, t_value : float
        OLS coefficient of the treatment (classical SE, as in the paper), its t.
    dof : int
        Residual degrees of freedom.
    r2yd_x : float
        Partial R² of the treatment with the outcome.
    rv_q, rv_qa : float
        Robustness values for ``q`` and for ``(q, α)``.
    q, alpha : float
    bounds : DataFrame
        One row per benchmark covariate and multiple ``k``: ``r2dz_x``, ``r2yz_dx``,
        ``adjusted_estimate``, ``adjusted_se``, ``adjusted_lower``, ``adjusted_upper``.
    """

    estimate: float
    se: float
    t_value: float
    dof: int
    r2yd_x: float
    rv_q: float
    rv_qa: float
    q: float
    alpha: float
    bounds: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary."""
        return {
            "estimate": self.estimate,
            "se": self.se,
            "t_value": self.t_value,
            "dof": self.dof,
            "r2yd_x": self.r2yd_x,
            "rv_q": self.rv_q,
            "rv_qa": self.rv_qa,
            "q": self.q,
            "alpha": self.alpha,
            "bounds": self.bounds.to_dict(orient="records"),
        }


def _ols_t(
    design: Callable[[slice], np.ndarray], n: int, k: int, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Coefficients, classical SEs and residual df of ``y`` on ``Z`` (rows by ``design``)."""
    # blocked Householder QR (linear in the rows, one block of memory, no n × k
    # design); the SVD of lstsq only when Z is rank deficient
    coef, r = least_squares_blocks(design, n, k, y)
    resid = y - design_dot(design, n, coef)
    dof = n - k
    if dof <= 1:
        raise EstimationError(
            f"the outcome regression has {dof} residual degrees of freedom; "
            "OVB sensitivity needs more rows than coefficients",
            details={"rows": n, "coefficients": k},
        )
    sigma2 = float(resid @ resid) / dof
    if r is not None:
        # diag((Z'Z)⁻¹) = row sums of squares of R⁻¹
        r_inv = solve_triangular(r, np.eye(k))
        return coef, np.sqrt(sigma2 * np.sum(r_inv**2, axis=1)), dof
    Z = design(slice(None))
    cov = sigma2 * np.linalg.pinv(Z.T @ Z)
    return coef, np.sqrt(np.diag(cov)), dof


def ovb_sensitivity(
    y: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    names: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    k: Sequence[float] = (1.0, 2.0, 3.0),
    q: float = 1.0,
    alpha: float = 0.05,
    max_benchmarks: int | None = None,
) -> OVBResult:
    """OVB sensitivity of the OLS treatment coefficient in ``y ~ 1 + d + X``.

    ``benchmarks`` (default: every covariate, or the ``max_benchmarks`` most strongly
    associated with the treatment) are the observed covariates against which
    confounders ``k`` times as strong (``k_D = k_Y = k``) are bounded.
    """
    n, p = X.shape
    names = list(names) if names is not None else [f"x{j + 1}" for j in range(p)]

    def outcome_design(rows: slice) -> np.ndarray:
        """``[1, D, X]``."""
        return np.column_stack([np.ones(len(d[rows])), d[rows], X[rows]])

    def treatment_design(rows: slice) -> np.ndarray:
        """``[1, X]``."""
        return np.column_stack([np.ones(len(d[rows])), X[rows]])

    coef, se, dof = _ols_t(outcome_design, n, p + 2, y)
    est, se_d = float(coef[1]), float(se[1])
    t_d = est / se_d
    rows: list[dict[str, object]] = []
    if p:
        # partial R² of each covariate with Y given D and the rest: from the outcome model
        r2y = {names[j]: partial_r2(coef[2 + j] / se[2 + j], dof) for j in range(p)}
        # ... and with D given the other covariates: from the treatment model D ~ 1 + X
        cd, sd, dof_d = _ols_t(treatment_design, n, p + 1, d)
        r2d = {names[j]: partial_r2(cd[1 + j] / sd[1 + j], dof_d) for j in range(p)}
        t_crit = float(special.stdtrit(dof - 1, 1 - alpha / 2))
        if benchmarks is None:
            benchmarks = sorted(names, key=lambda c: -r2d[c])[:max_benchmarks]
        for b in benchmarks:
            if b not in r2y:
                raise EstimationError(
                    f"benchmark covariate '{b}' is not among the covariates ({', '.join(names)})",
                    details={"benchmark": b},
                )
            for kk in k:
                r2dxj, r2yxj = r2d[b], r2y[b]
                r2dz = kk * r2dxj / (1 - r2dxj)
                eta = kk * r2dxj**2 / ((1 - kk * r2dxj) * (1 - r2dxj)) if kk * r2dxj < 1 else 1.0
                if r2dz >= 1 or eta >= 1:
                    continue  # a confounder that strong is impossible: no bound
                r2yz = min(
                    1.0,
                    ((math.sqrt(kk) + math.sqrt(eta)) / math.sqrt(1 - eta)) ** 2
                    * r2yxj
                    / (1 - r2yxj),
                )
                bias = bias_bound(se_d, dof, r2yz, r2dz)
                # the confounder is taken to move the estimate toward (and past) zero
                adj = math.copysign(1.0, est) * (abs(est) - bias)
                adj_se = se_d * math.sqrt((1 - r2yz) / (1 - r2dz)) * math.sqrt(dof / (dof - 1))
                rows.append(
                    {
                        "benchmark": b,
                        "k": kk,
                        "r2dz_x": r2dz,
                        "r2yz_dx": r2yz,
                        "adjusted_estimate": adj,
                        "adjusted_se": adj_se,
                        "adjusted_lower": adj - t_crit * adj_se,
                        "adjusted_upper": adj + t_crit * adj_se,
                    }
                )
    return OVBResult(
        est,
        se_d,
        t_d,
        int(dof),
        partial_r2(t_d, dof),
        robustness_value(t_d, dof, q),
        robustness_value(t_d, dof, q, alpha),
        q,
        alpha,
        pd.DataFrame(rows),
    )
