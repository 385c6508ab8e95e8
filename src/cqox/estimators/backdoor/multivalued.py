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

The ATT (``estimand="ATT"``, Stata's ``atet``; ``ipw`` and ``ra`` only) is
every level's effect on the units of ``treated_level``
(:func:`multivalued_att_pomeans`).  ``trim`` drops rows with some ``p̂_j < trim`` and
refits; ``clip`` bounds every ``p̂_j`` below.  Gates (:mod:`cqox.gates.levels`): the
generalised propensity's common support, the weights' ESS and largest weight per level.

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
from cqox.core.tables import Tables
from cqox.data.prepare import CausalData, prepare
from cqox.errors import EstimationError, NoDataError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, clip_param, estimand_param, trim_param
from cqox.estimators.registry import register
from cqox.gates.levels import (
    level_common_support_gate,
    level_ess_gate,
    level_max_weight_gate,
)
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


@dataclass(frozen=True)
class _ArmModel:
    """The outcome regression of one level: ``m̂_j(x) = z'γ̂_j`` on every row.

    Attributes
    ----------
    m_hat : ndarray, shape (n,)
        ``m̂_j(x_i)`` for all rows.
    resid : ndarray, shape (n,)
        ``y_i − m̂_j(x_i)`` on the level's rows, 0 elsewhere.
    bread : ndarray, shape (k, k)
        ``n (Z_j'Z_j)⁻¹`` (so that the influence of ``γ̂_j`` is ``bread z_i e_i``).
    Zo : ndarray, shape (n, k)
        ``(1, x)`` of every row.
    """

    m_hat: np.ndarray
    resid: np.ndarray
    bread: np.ndarray
    Zo: np.ndarray

    def along(self, d: np.ndarray) -> np.ndarray:
        """``γ̂_j``'s n-scaled influence along ``d``, shape (n,): ``e_i z_i'(n (Z_j'Z_j)⁻¹ d)``.

        The mean over all n rows of ``influence @ d`` is ``d'(γ̂_j − γ_j)`` to first
        order; only the level's rows (``e_i ≠ 0``) contribute.
        """
        return np.asarray(self.resid * (self.Zo @ (self.bread @ d)))


def _outcome_fits(
    y: np.ndarray, codes: np.ndarray, Zo: np.ndarray, n_levels: int
) -> list[_ArmModel]:
    """The arm-wise least-squares fits, one :class:`_ArmModel` per level."""
    n, k = Zo.shape
    out = []
    for j in range(n_levels):
        idx = codes == j
        n_j = int(np.count_nonzero(idx))
        if n_j <= k:
            raise EstimationError(
                f"treatment level {j} has {n_j} rows for {k} outcome-model "
                "coefficients; use fewer covariates or merge sparse levels",
                details={"level": j, "rows": n_j, "coefficients": k},
            )
        ols = fit_ols(Zo[idx], y[idx])
        resid = np.zeros(n)
        resid[idx] = ols.resid
        # (Z_j'Z_j / n)⁻¹ = (n / n_j) (Z_j'Z_j / n_j)⁻¹, the bread fit_ols returns
        out.append(_ArmModel(Zo @ ols.coef, resid, ols.bread * (n / n_j), Zo))
    return out


def _propensity(fit: MultinomialFit, j: int, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """``(p̂_j, free)``: ``p̂_j`` bounded below by ``clip`` and where it moves with θ.

    Where the bound binds the derivative ``∂p̂_j/∂θ`` is 0 (``free`` is 0 there, 1 else).
    """
    p = fit.p_hat[:, j]
    if clip > 0:
        low = p < clip
        return np.where(low, clip, p), (~low).astype(np.float64)
    return p, np.ones(len(p))


def multivalued_pomeans(
    y: np.ndarray,
    codes: np.ndarray,
    X: np.ndarray,
    n_levels: int,
    method: str,
    fit: MultinomialFit | None = None,
    clip: float = 0.0,
) -> MultiValuedResult:
    """Potential-outcome means of levels ``0 … K−1`` by ``method`` (ipw, ra or aipw).

    ``codes`` holds the level of each row as 0 … K−1; ``X`` (n × p, no intercept) are
    the covariates of both the treatment and the outcome models; ``fit`` is the
    multinomial logit (fitted here when ``None`` and needed); ``clip`` bounds every
    ``p̂_j`` below (a bounded weight; the bound is treated as fixed).

    The propensity's part of each influence function, ``D_j' H⁻¹ s_i``, is computed for
    all levels at once (one solve, one product) from ``D_j = Σ_i c_ij ∂p̂_ij/∂θ / n``
    (:meth:`~cqox.nuisance.multinomial.MultinomialFit.dp_along`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n = len(y)
    pom = np.empty(n_levels)
    infl = np.empty((n, n_levels))
    if method != "ra" and fit is None:
        fit = fit_multinomial_logit(X, codes, n_levels)
    Zo = with_intercept(X)
    outcome = _outcome_fits(y, codes, Zo, n_levels) if method != "ipw" else []
    if method == "ra":
        zbar = Zo.mean(axis=0)
        for j, arm in enumerate(outcome):
            pom[j] = arm.m_hat.mean()
            infl[:, j] = arm.m_hat - pom[j] + arm.along(zbar)
        return MultiValuedResult(pom, infl)
    assert fit is not None
    D = np.empty((fit.hessian.shape[0], n_levels))
    scale = np.ones(n_levels)
    for j in range(n_levels):
        on = codes == j
        p, free = _propensity(fit, j, clip)
        inv_p = np.zeros(n)
        np.divide(1.0, p, out=inv_p, where=on)
        # ∂(1{T=j}/p_j)/∂θ = −1{T=j} (∂p_j/∂θ)/p_j²
        if method == "ipw":
            w = inv_p
            pom[j] = float(w @ y / w.sum())
            resid = y - pom[j]
            D[:, j] = -fit.dp_along(j, inv_p**2 * resid * free) / n
            scale[j] = w.mean()
            infl[:, j] = w * resid
        else:  # aipw
            arm = outcome[j]
            r = y - arm.m_hat
            score = arm.m_hat + inv_p * r
            pom[j] = score.mean()
            d_gamma = (1 - inv_p) @ Zo / n
            D[:, j] = -fit.dp_along(j, inv_p**2 * r * free) / n
            infl[:, j] = score - pom[j] + arm.along(d_gamma)
    infl += fit.influence_along(D)
    if method == "ipw":
        infl /= scale
    return MultiValuedResult(pom, infl)


def multivalued_att_pomeans(
    y: np.ndarray,
    codes: np.ndarray,
    X: np.ndarray,
    n_levels: int,
    method: str,
    treated: int,
    fit: MultinomialFit | None = None,
    clip: float = 0.0,
) -> MultiValuedResult:
    """Potential-outcome means of every level in the subpopulation ``T = treated``.

    ``μ_{j|t} = E[Y(j) | T = t]`` (Stata's ``teffects …, atet tlevel(t)``), so that
    ``τ_{j|t} = μ_{j|t} − μ_{0|t}`` is the effect of level ``j`` against the reference on
    the units that received level ``t``:

    - ``ra``: ``μ̂_{j|t} = (1/n_t) Σ_{T_i=t} m̂_j(x_i)``;
    - ``ipw``: ``μ̂_{j|t} = Σ_i w_ij Y_i / Σ_i w_ij`` with ``w_ij = 1{T_i=j} p̂_t(x_i)/p̂_j(x_i)``
      (normalised; ``μ̂_{t|t}`` is the mean outcome of level ``t``).

    The AIPW ATT (which Stata's ``teffects aipw`` gained only in a recent release) is
    not implemented.  The influence functions stack the nuisance scores as in
    :func:`multivalued_pomeans`.
    """
    if method not in ("ipw", "ra"):
        raise ValueError(f"ATT method must be 'ipw' or 'ra'; got {method!r}")
    n = len(y)
    in_t = codes == treated
    share_t = float(in_t.mean())
    pom = np.empty(n_levels)
    infl = np.empty((n, n_levels))
    if method == "ra":
        Zo = with_intercept(X)
        zbar_t = Zo[in_t].mean(axis=0)
        for j, arm in enumerate(_outcome_fits(y, codes, Zo, n_levels)):
            pom[j] = float(arm.m_hat[in_t].mean())
            # n/n_t · 1{T=t}(m̂_j − μ) is the sample-mean part; z̄_t'(γ̂_j − γ_j) the model's
            infl[:, j] = in_t * (arm.m_hat - pom[j]) / share_t + arm.along(zbar_t)
        return MultiValuedResult(pom, infl)
    if fit is None:
        fit = fit_multinomial_logit(X, codes, n_levels)
    p_t, free_t = _propensity(fit, treated, clip)
    D = np.zeros((fit.hessian.shape[0], n_levels))
    scale = np.empty(n_levels)
    for j in range(n_levels):
        on = codes == j
        p_j, free_j = _propensity(fit, j, clip)
        w = np.where(on, p_t / p_j, 0.0)
        pom[j] = float(w @ y / w.sum())
        resid = y - pom[j]
        if j != treated:  # w = 1{T=t} at j = t: no derivative
            # ∂(p_t/p_j)/∂θ = (∂p_t p_j − p_t ∂p_j)/p_j²
            c = np.where(on, resid / p_j, 0.0)
            D[:, j] = (
                fit.dp_along(treated, c * free_t) - fit.dp_along(j, c * (p_t / p_j) * free_j)
            ) / n
        infl[:, j] = w * resid
        scale[j] = w.mean()
    infl += fit.influence_along(D)
    infl /= scale
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


def _trim(
    fit: MultinomialFit, X: np.ndarray, codes: np.ndarray, n_levels: int, trim: float
) -> tuple[MultinomialFit, np.ndarray | None, int]:
    """Drop rows with some ``p̂_j(x) < trim`` and refit: ``(fit, kept rows or None, dropped)``.

    The multi-valued form of Crump et al. (2009, doi:10.1093/biomet/asn055) used by
    Yang et al. (2016, doi:10.1111/biom.12499): keep ``min_j p_j(x) ≥ trim``.  The
    estimand becomes the effect in the trimmed population (the trimmed set is fixed).
    """
    keep = fit.p_hat.min(axis=1) >= trim
    dropped = int((~keep).sum())
    if not dropped:
        return fit, None, 0
    counts = np.bincount(codes[keep], minlength=n_levels)
    if counts.min() < 2:
        j = int(counts.argmin())
        raise NoDataError(
            f"trim={trim:g} leaves {int(counts[j])} rows at treatment level {j}; use a "
            "smaller 'trim'",
            details={"parameter": "trim", "level": j},
        )
    return fit_multinomial_logit(X[keep], codes[keep], n_levels), keep, dropped


@register
class MultiValued(Estimator):
    """IPW, RA or AIPW for a treatment with two or more levels, each against a reference."""

    example = Example(
        "multivalued",
        {"n": 600, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]},
    )
    name = "multivalued"
    family = "multivalued"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT")
    default_estimands = ("ATE",)
    binary_treatment = False
    # With two levels it repeats ipw / regression_adjustment / aipw; run it by name.
    run_by_default = False
    summary_line = (
        "Multi-valued treatment (K levels): IPW, RA or AIPW per level vs a reference, "
        "multinomial-logit propensity, M-estimation SE; ATE or ATT (ipw, ra)"
    )
    parameters = (
        estimand_param(("ATE", "ATT"), "ATE"),
        Param(
            "method",
            "aipw",
            "choice",
            "estimating equation: weighting, outcome regression or doubly robust; "
            "ipw, ra or aipw (Cattaneo 2010); the ATT with ipw or ra (as Stata)",
            choices=METHODS,
        ),
        Param(
            "reference",
            None,
            "any",
            "the reference (control) level; default the lowest level",
            check=lambda v: v is None or isinstance(v, (str, int, float, bool)),
            rule="a treatment level (text or number) or None",
        ),
        Param(
            "treated_level",
            None,
            "any",
            "the level whose units define the ATT population (Stata's tlevel); default the "
            "first level after the reference",
            check=lambda v: v is None or isinstance(v, (str, int, float, bool)),
            rule="a treatment level (text or number) or None",
        ),
        trim_param(note="here: rows with some level's propensity below trim"),
        clip_param(note="here: every level's propensity bounded below by clip"),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Prepare with the treatment coded 0 … K−1 (reference 0); labels kept in the frame.

        A treatment column of NumPy numbers is prepared as it is (its values are the
        labels the frame keeps) and recoded afterwards from its sorted distinct values,
        so the table is neither copied nor rebuilt; other columns (text, categories,
        nullable numbers) are mapped to codes first.
        """
        col = roles.treatment
        if col is None or col not in df.columns:
            return prepare(df, roles, require=self.requires, binary_treatment=False)
        labels = df[col]
        if not isinstance(labels, pd.Series) or labels.dtype.kind not in "biuf":
            return self._prepare_mapped(df, roles, params, labels)
        values = labels.to_numpy()
        present = np.unique(values[~np.isnan(values)] if values.dtype.kind == "f" else values)
        levels = list(present)
        order = np.arange(len(levels))
        ref = params.get("reference")
        if ref is not None:
            first = levels.index(_find_level(levels, ref, "reference", col))
            levels = [levels[first], *levels[:first], *levels[first + 1 :]]
            # the code of the sorted value at each position: the reference first
            order = np.array([1 + i if i < first else (0 if i == first else i) for i in order])
        if params.get("treated_level") is not None:
            _find_level(levels, params["treated_level"], "treated_level", col)
        data = prepare(df, roles, require=self.requires, binary_treatment=False)
        codes = order[np.searchsorted(present, data.values(col))].astype(np.float64)
        return data.replace(t=codes)

    def _prepare_mapped(
        self, df: pd.DataFrame, roles: Roles, params: dict[str, Any], labels: pd.Series
    ) -> CausalData:
        """:meth:`prepare` of a treatment of text, categories or nullable numbers."""
        col = str(roles.treatment)
        levels = _level_order(labels)
        ref = params.get("reference")
        if ref is not None:
            first = levels.index(_find_level(levels, ref, "reference", col))
            levels = [levels[first], *levels[:first], *levels[first + 1 :]]
        if params.get("treated_level") is not None:
            _find_level(levels, params["treated_level"], "treated_level", col)
        codes = labels.map({v: i for i, v in enumerate(levels)}).astype("float64")
        data = prepare(
            df.assign(**{col: codes}), roles, require=self.requires, binary_treatment=False
        )
        frame = data.frame.assign(**{col: labels.iloc[data.row_index].to_numpy()})
        return dataclasses.replace(data, frame=frame)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None and data.roles.treatment
        codes = data.t.astype(np.int64)
        labels = data.values(data.roles.treatment)
        n_levels = int(codes.max()) + 1
        level_names = [labels[codes == j][0] for j in range(n_levels)]
        method, estimand = params["method"], params["estimand"]
        if estimand == "ATT" and method == "aipw":
            raise ParameterError(
                "The 'method' parameter of multivalued must be 'ipw' or 'ra' for the ATT "
                "(the AIPW ATT is not implemented). Got 'aipw' instead.",
                details={"parameter": "method", "estimator": self.name},
            )
        treated = 1
        if params["treated_level"] is not None:
            found = _find_level(level_names, params["treated_level"], "treated_level",
                                data.roles.treatment)  # fmt: skip
            treated = level_names.index(found)
        y, X = data.y, data.X
        counts: dict[str, int] = {}
        notes: list[str] = []
        fit = None
        if method != "ra" or params["trim"] > 0:
            fit = fit_multinomial_logit(X, codes, n_levels)
        if params["trim"] > 0:
            assert fit is not None
            fit, keep, dropped = _trim(fit, X, codes, n_levels, params["trim"])
            counts["n_trimmed"] = dropped
            if keep is not None:
                y, X, codes, labels = y[keep], X[keep], codes[keep], labels[keep]
                notes.append(
                    f"trimmed {dropped} rows with some level's propensity below "
                    f"{params['trim']:g}; the estimand is the effect in the trimmed population"
                )
        clip = params["clip"]
        if fit is not None and clip > 0:
            counts["n_clipped"] = int((fit.p_hat < clip).any(axis=1).sum())
        if estimand == "ATT":
            if treated == 0:
                raise ParameterError(
                    "The 'treated_level' parameter of multivalued must differ from the "
                    f"reference level. Got {params['treated_level']!r} instead.",
                    details={"parameter": "treated_level", "estimator": self.name},
                )
            res = multivalued_att_pomeans(y, codes, X, n_levels, method, treated, fit, clip)
        else:
            res = multivalued_pomeans(y, codes, X, n_levels, method, fit, clip)
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
        diagnostics: dict[str, Any] = {
            "levels": [str(v) for v in level_names],
            "reference": str(level_names[0]),
        }
        if estimand == "ATT":
            diagnostics["treated_level"] = str(level_names[treated])
        gates = []
        if fit is not None:
            rows = np.arange(len(codes))
            own = np.maximum(fit.p_hat[rows, codes], clip)
            diagnostics["propensity_min_own_level"] = float(fit.p_hat[rows, codes].min())
            diagnostics["propensity_converged"] = fit.converged
            # the weights the estimator uses: 1/p̂_T (ATE) or p̂_t/p̂_T (ATT)
            w = 1.0 / own
            if estimand == "ATT":
                w = np.maximum(fit.p_hat[:, treated], clip) / own
            gates = [
                level_common_support_gate(fit.p_hat, codes, ctx),
                level_ess_gate(w, codes, ctx),
                level_max_weight_gate(w, codes, ctx),
            ]
            if diagnostics["propensity_min_own_level"] < 0.01:
                notes.append(
                    "the smallest estimated probability of a unit's own treatment level is "
                    f"{diagnostics['propensity_min_own_level']:.2g}: weak overlap, the "
                    "weights of some units are very large (see 'trim' and 'clip')"
                )
        head = treated if estimand == "ATT" else 1
        tau, se, psi = res.effect(head)
        population = f" on units at level '{level_names[treated]}'" if estimand == "ATT" else ""
        return Estimate.from_se(
            self.name,
            estimand,
            tau,
            se,
            level,
            n=len(codes),
            n_treated=int((codes == head).sum()),
            n_control=int((codes == 0).sum()),
            counts={
                **counts,
                **{f"n_level_{v}": int((codes == j).sum()) for j, v in enumerate(level_names)},
            },
            diagnostics=diagnostics,
            gates=gates,
            # built as DataFrames only when read
            tables=Tables(
                effects=lambda: pd.DataFrame(effects), pomeans=lambda: pd.DataFrame(pomeans)
            ),
            warnings=notes,
            influence=psi,
            method=f"{method} {estimand}{population} for {n_levels} treatment levels vs "
            f"'{level_names[0]}', multinomial-logit propensity, M-estimation "
            "(influence-function) SE",
        )


def _find_level(levels: list[Any], value: Any, parameter: str, column: str) -> Any:
    """The level equal to ``value`` (as given or as text), else a RoleError naming it."""
    match = [v for v in levels if v == value or str(v) == str(value)]
    if not match:
        raise RoleError(
            f"parameter '{parameter}': {value!r} is not a level of treatment column "
            f"'{column}' (levels: {', '.join(str(v) for v in levels)})",
            details={"parameter": parameter, "column": column},
        )
    return match[0]
