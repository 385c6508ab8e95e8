"""Multi-valued treatments: IPW, regression adjustment and AIPW for ``K ≥ 2`` levels.

For a treatment with levels ``0 … K−1`` (level 0, the lowest, is the reference) the
potential-outcome means ``μ_j = E[Y(j)]`` are estimated under unconfoundedness
``Y(j) ⊥ T | X`` and overlap ``p_j(x) = P(T=j | X=x) > 0`` (Imbens 2000,
doi:10.1093/biomet/87.3.706; Cattaneo 2010, doi:10.1016/j.jeconom.2009.09.023), with
``p_j`` from a multinomial logit (:mod:`cqox.nuisance.multinomial`) and arm-wise OLS
outcome models ``m_j(x) = x'γ_j``:

- ``ipw``: ``μ̂_j = Σ_i w_ij Y_i / Σ_i w_ij`` with ``w_ij = 1{T_i=j}/p̂_j(x_i)``
  (normalised weights, as Stata's ``teffects ipw``);
- ``ra``: ``μ̂_j = (1/n) Σ_i m̂_j(x_i)`` (Stata's ``teffects ra``);
- ``aipw``: ``μ̂_j = (1/n) Σ_i [m̂_j(x_i) + 1{T_i=j}(Y_i − m̂_j(x_i))/p̂_j(x_i)]``, the
  efficient-influence-function estimator of Cattaneo (2010) (Stata's ``teffects aipw``).

The effects are ``τ_j = μ_j − μ_0`` for every ``j ≥ 1`` (Stata's ``ate``).  Inference:
the influence function of the stacked M-estimator (multinomial-logit score, the
outcome regressions' normal equations, the means' estimating equations), so the
standard errors account for the estimated nuisances as Stata's robust ``teffects``
standard errors do: ``ψ_ij = A_j⁻¹[m_ij + D_θ H⁻¹ s_i + D_γj ψ^{γj}_i]`` and
``SE(τ̂_j) = sqrt(Σ_i (ψ_ij − ψ_i0)²)/n``.  With two levels every method equals the
binary ``ipw``, ``regression_adjustment`` and ``aipw`` estimators (logit link).

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.multivalued(n=3000, seed=1)
>>> est = cqox.estimate("multivalued", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2"], method="aipw")
>>> abs(est.estimate - truth["ATE"][1]) < 4 * est.se
True
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate, normal_inference
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import EstimationError, RoleError
from cqox.estimators.base import Estimator
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.registry import register
from cqox.nuisance.multinomial import MultinomialFit, fit_multinomial_logit
from cqox.nuisance.ols import fit_ols, with_intercept

METHODS = ("ipw", "ra", "aipw")


@dataclass(frozen=True)
class MultiValuedResult:
    """Potential-outcome means of every level with their joint influence function.

    Attributes
    ----------
    pomeans : ndarray, shape (K,)
        ``μ̂_j`` for levels ``0 … K−1``.
    influence : ndarray, shape (n, K)
        Influence function of each ``μ̂_j`` (``SE = sqrt(Σψ²)/n``).
    """

    pomeans: np.ndarray
    influence: np.ndarray

    def effect(self, j: int) -> tuple[float, float, np.ndarray]:
        """``(τ̂_j, SE, ψ)`` for ``τ_j = μ_j − μ_0``."""
        psi = self.influence[:, j] - self.influence[:, 0]
        n = len(psi)
        return float(self.pomeans[j] - self.pomeans[0]), float(np.sqrt(psi @ psi) / n), psi

    def pomean_se(self, j: int) -> float:
        """Standard error of ``μ̂_j``."""
        psi = self.influence[:, j]
        return float(np.sqrt(psi @ psi) / len(psi))


def _outcome_fits(
    y: np.ndarray, codes: np.ndarray, Zo: np.ndarray, n_levels: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level ``(m̂_j(x_i) for all rows, n-scaled influence of γ̂_j (n × k))``."""
    n, k = Zo.shape
    out = []
    for j in range(n_levels):
        idx = codes == j
        if idx.sum() <= k:
            raise EstimationError(
                f"treatment level {j} has {int(idx.sum())} rows for {k} outcome-model "
                "coefficients; use fewer covariates or merge sparse levels",
                details={"level": j, "rows": int(idx.sum()), "coefficients": k},
            )
        ols = fit_ols(Zo[idx], y[idx])
        inf = np.zeros((n, k))
        # mean over all n rows of inf equals γ̂_j − γ_j to first order
        inf[idx] = (Zo[idx] * ols.resid[:, None]) @ np.linalg.pinv(Zo[idx].T @ Zo[idx] / n)
        out.append((Zo @ ols.coef, inf))
    return out


def multivalued_pomeans(
    y: np.ndarray,
    codes: np.ndarray,
    X: np.ndarray,
    n_levels: int,
    method: str,
    fit: MultinomialFit | None = None,
) -> MultiValuedResult:
    """Potential-outcome means of levels ``0 … K−1`` by ``method`` (ipw, ra or aipw).

    ``codes`` holds the level of each row as 0 … K−1; ``X`` (n × p, no intercept) are
    the covariates of both the treatment and the outcome models; ``fit`` is the
    multinomial logit (fitted here when ``None`` and needed).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n = len(y)
    pom = np.empty(n_levels)
    infl = np.empty((n, n_levels))
    if method != "ra" and fit is None:
        fit = fit_multinomial_logit(X, codes, n_levels)
    Zo = with_intercept(X)
    zbar = Zo.mean(axis=0)
    outcome = _outcome_fits(y, codes, Zo, n_levels) if method != "ipw" else []
    for j in range(n_levels):
        on = codes == j
        if method == "ra":
            m_hat, g_inf = outcome[j]
            pom[j] = m_hat.mean()
            infl[:, j] = m_hat - pom[j] + g_inf @ zbar
            continue
        assert fit is not None
        p = fit.p_hat[:, j]
        inv_p = np.zeros(n)
        np.divide(1.0, p, out=inv_p, where=on)
        # ∂(1{T=j}/p_j)/∂θ = −1{T=j} (∂p_j/∂θ)/p_j²
        dp = fit.dp_dtheta(j)
        if method == "ipw":
            w = inv_p
            pom[j] = float(w @ y / w.sum())
            resid = y - pom[j]
            D = -((inv_p**2 * resid) @ dp) / n
            infl[:, j] = (w * resid + fit.influence_along(D)) / w.mean()
        else:  # aipw
            m_hat, g_inf = outcome[j]
            r = y - m_hat
            score = m_hat + inv_p * r
            pom[j] = score.mean()
            d_gamma = (1 - inv_p) @ Zo / n
            D = -((inv_p**2 * r) @ dp) / n
            infl[:, j] = score - pom[j] + g_inf @ d_gamma + fit.influence_along(D)
    return MultiValuedResult(pom, infl)


def _natural_key(value: Any) -> tuple[tuple[int, float | str], ...]:
    """Sort key reading digit runs as numbers: "6-10 daily" before "11+ daily"."""
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return tuple((0, float(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p)


def _level_order(labels: pd.Series) -> list[Any]:
    """Levels, lowest first: category order, numeric order, or text in natural order."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        present = set(labels.dropna().unique())
        return [c for c in labels.cat.categories if c in present]
    values = list(pd.unique(labels.dropna()))
    if pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return sorted(values, key=float)
    return sorted(values, key=_natural_key)


@register
class MultiValued(Estimator):
    """IPW, RA or AIPW for a treatment with two or more levels, each against a reference."""

    name = "multivalued"
    family = "multivalued"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE",)
    default_estimands = ("ATE",)
    binary_treatment = False
    # With two levels it repeats ipw / regression_adjustment / aipw; run it by name.
    run_by_default = False
    summary_line = (
        "Multi-valued treatment (K levels): IPW, RA or AIPW per level vs a reference, "
        "multinomial-logit propensity, M-estimation SE"
    )
    parameters = (
        estimand_param(("ATE",), "ATE"),
        Param("method", "aipw", "choice", "ipw, ra or aipw (Cattaneo 2010)", choices=METHODS),
        Param(
            "reference",
            None,
            "any",
            "the reference (control) level; default the lowest level",
            check=lambda v: v is None or isinstance(v, (str, int, float, bool)),
            rule="a treatment level (text or number) or None",
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Prepare with the treatment coded 0 … K−1 (reference 0); labels kept in the frame."""
        col = roles.treatment
        if col is None or col not in df.columns:
            return prepare(df, roles, require=self.requires, binary_treatment=False)
        labels = df[col]
        levels = _level_order(labels)
        ref = params.get("reference")
        if ref is not None:
            match = [v for v in levels if v == ref or str(v) == str(ref)]
            if not match:
                raise RoleError(
                    f"parameter 'reference': {ref!r} is not a level of treatment column "
                    f"'{col}' (levels: {', '.join(str(v) for v in levels)})",
                    details={"parameter": "reference", "column": col},
                )
            first = levels.index(match[0])
            levels = [levels[first], *levels[:first], *levels[first + 1 :]]
        codes = labels.map({v: i for i, v in enumerate(levels)}).astype("float64")
        data = prepare(
            df.assign(**{col: codes}), roles, require=self.requires, binary_treatment=False
        )
        frame = data.frame.assign(**{col: labels.iloc[data.row_index].to_numpy()})
        return dataclasses.replace(data, frame=frame)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None and data.roles.treatment
        codes = data.t.astype(np.int64)
        labels = data.frame[data.roles.treatment].to_numpy()
        n_levels = int(codes.max()) + 1
        level_names = [labels[codes == j][0] for j in range(n_levels)]
        method = params["method"]
        fit = None
        if method != "ra":
            fit = fit_multinomial_logit(data.X, codes, n_levels)
        res = multivalued_pomeans(data.y, codes, data.X, n_levels, method, fit)
        level = params["ci_level"]
        effects = []
        for j in range(1, n_levels):
            tau, se, _ = res.effect(j)
            ci, p = normal_inference(tau, se, level)
            effects.append(
                {
                    "level": level_names[j],
                    "reference": level_names[0],
                    "estimate": tau,
                    "se": se,
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "p_value": p,
                    "n_level": int((codes == j).sum()),
                }
            )
        pomeans = []
        for j in range(n_levels):
            se = res.pomean_se(j)
            ci, p = normal_inference(float(res.pomeans[j]), se, level)
            pomeans.append(
                {
                    "level": level_names[j],
                    "estimate": float(res.pomeans[j]),
                    "se": se,
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "n_level": int((codes == j).sum()),
                }
            )
        warnings_: list[str] = []
        diagnostics: dict[str, Any] = {
            "levels": [str(v) for v in level_names],
            "reference": str(level_names[0]),
        }
        if fit is not None:
            pmin = float(fit.p_hat[np.arange(len(codes)), codes].min())
            diagnostics["propensity_min_own_level"] = pmin
            diagnostics["propensity_converged"] = fit.converged
            if pmin < 0.01:
                warnings_.append(
                    f"the smallest estimated probability of a unit's own treatment level is "
                    f"{pmin:.2g}: weak overlap, the weights of some units are very large"
                )
        tau, se, psi = res.effect(1)
        return Estimate.from_se(
            self.name,
            "ATE",
            tau,
            se,
            level,
            n=data.n,
            n_treated=int((codes == 1).sum()),
            n_control=int((codes == 0).sum()),
            counts={f"n_level_{v}": int((codes == j).sum()) for j, v in enumerate(level_names)},
            diagnostics=diagnostics,
            tables={"effects": pd.DataFrame(effects), "pomeans": pd.DataFrame(pomeans)},
            warnings=warnings_,
            influence=psi,
            method=f"{method} for {n_levels} treatment levels vs '{level_names[0]}', "
            "multinomial-logit propensity, M-estimation (influence-function) SE",
        )
