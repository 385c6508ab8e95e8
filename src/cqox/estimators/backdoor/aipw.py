"""Augmented inverse probability weighting (AIPW), the doubly robust estimator.

With the propensity ``e(x) = P(T=1 | X=x)`` and the arm outcome models
``μ_a(x) = E[Y | T=a, X=x]`` (Robins, Rotnitzky & Zhao 1994,
doi:10.1080/01621459.1994.10476818; Scharfstein, Rotnitzky & Robins 1999; Hahn 1998,
doi:10.2307/2998560):

- ATE: ``θ = (1/n) Σ [μ̂₁ − μ̂₀ + T(Y − μ̂₁)/ê − (1−T)(Y − μ̂₀)/(1 − ê)]``
- ATT: ``θ = Σ [T(Y − μ̂₀) − (1−T) ê (Y − μ̂₀)/(1 − ê)] / Σ T``
- ATC: ``θ = Σ [(1−T)(μ̂₁ − Y) + T (1 − ê)(Y − μ̂₁)/ê] / Σ (1−T)``

Each is the root of a score linear in θ, ``ψ = ψ_a θ + ψ_b``
(see :func:`dr_score`; ATT/ATC as in Chernozhukov et al. 2018,
doi:10.1111/ectj.12097, §5.1).  The estimate is consistent if either the propensity
or the outcome models are correct (double robustness), assuming unconfoundedness
``Y(a) ⊥ T | X`` and overlap ``0 < e(x) < 1``.

Nuisances and inference:

- default (parametric, not cross-fitted): logit or probit propensity (the shared,
  cached fit of :func:`cqox.nuisance.propensity.propensity`) and OLS by arm.  The
  standard error is the influence function of the stacked M-estimator — the score
  plus ``D_β H⁻¹ s_i`` for the propensity and ``D_γa ψ^{γa}_i`` for each outcome
  regression — which is what Stata's ``teffects aipw`` reports.  For the ATE the
  nuisance terms vanish asymptotically when both models are right (the score is
  orthogonal), but they are kept so that the SE is also right when one model is
  misspecified.
- ``cross_fit=True``: K-fold cross-fitting with any learner (names as in
  :mod:`cqox.nuisance.learners`, or a scikit-learn estimator); SE from the score alone.
  ``link`` and ``trim`` belong to the parametric fit; cross-fitted propensities are
  bounded with ``clip``.

The propensity and outcome models may use different covariates:
``propensity_covariates`` and ``outcome_covariates`` take a list of columns or a
Wilkinson formula, evaluated with the same formula machinery as the ``covariates``
role; each defaults to the ``covariates`` role.  Stata's manual example is
``propensity_covariates="mmarried + mage + I(mage**2) + fbaby + medu"``,
``outcome_covariates="prenatal1 + mmarried + mage + fbaby"``.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("aipw", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"])
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param
from cqox.core.roles import Roles, normalise_covariates
from cqox.data.formula import formula_variables
from cqox.data.prepare import CausalData, prepare
from cqox.errors import CqoxWarning, EstimationError, ParameterError
from cqox.estimators.backdoor.ipw import ipw_weights
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    LINK,
    clip_param,
    estimand_param,
    learner_param,
    n_folds_param,
    trim_param,
)
from cqox.estimators.registry import register
from cqox.gates.weights import common_support_gate, ess_gate, max_weight_gate
from cqox.inference.score import solve_linear_score
from cqox.nuisance.crossfit import crossfit_predict, fold_ids
from cqox.nuisance.glm import BinaryFit
from cqox.nuisance.ols import rows_dot, shared_fit_ols_rows
from cqox.nuisance.propensity import propensity, separation_gates, trim_and_clip

#: Seed stream of the cross-fitting folds and learners (see ``Context.rng``).
_CROSSFIT_STREAM = 31


@dataclass(frozen=True)
class AIPWResult:
    """AIPW estimate with its influence function.

    Attributes
    ----------
    theta, se : float
        Effect estimate and standard error ``sqrt(Σ influence²)/n``.
    influence : ndarray, shape (n,)
        Influence function of ``theta`` (nuisance corrections included when given).
    mu1, mu0 : float
        Doubly robust potential-outcome means over the target population.
    psi_a, psi_b : ndarray, shape (n,)
        Terms of the linear score ``ψ = ψ_a θ + ψ_b``.
    """

    theta: float
    se: float
    influence: np.ndarray
    mu1: float
    mu0: float
    psi_a: np.ndarray
    psi_b: np.ndarray


def dr_score(
    y: np.ndarray,
    t: np.ndarray,
    mu0_hat: np.ndarray,
    mu1_hat: np.ndarray,
    e_hat: np.ndarray,
    estimand: str = "ATE",
) -> tuple[np.ndarray, np.ndarray]:
    """Terms ``(ψ_a, ψ_b)`` of the doubly robust score, shape (n,) each.

    ATE: ``ψ_a = −1``, ``ψ_b = μ₁ − μ₀ + T(Y−μ₁)/e − (1−T)(Y−μ₀)/(1−e)``.
    ATT: ``ψ_a = −T/p``, ``ψ_b = [T(Y−μ₀) − e(1−T)(Y−μ₀)/(1−e)]/p`` with ``p = mean(T)``.
    ATC: ``ψ_a = −(1−T)/q``, ``ψ_b = [(1−T)(μ₁−Y) + T(1−e)(Y−μ₁)/e]/q``, ``q = 1 − p``.
    """
    if estimand == "ATE":
        psi_b = (
            mu1_hat - mu0_hat + t * (y - mu1_hat) / e_hat - (1 - t) * (y - mu0_hat) / (1 - e_hat)
        )
        return -np.ones_like(y), psi_b
    if estimand == "ATT":
        p = t.mean()
        psi_b = (t * (y - mu0_hat) - e_hat * (1 - t) * (y - mu0_hat) / (1 - e_hat)) / p
        return -t / p, psi_b
    q = 1 - t.mean()
    psi_b = ((1 - t) * (mu1_hat - y) + t * (1 - e_hat) * (y - mu1_hat) / e_hat) / q
    return -(1 - t) / q, psi_b


def _po_means(
    y: np.ndarray,
    t: np.ndarray,
    mu0_hat: np.ndarray,
    mu1_hat: np.ndarray,
    e_hat: np.ndarray,
    estimand: str,
) -> tuple[float, float]:
    """Doubly robust potential-outcome means over the target population."""
    if estimand == "ATE":
        mu1 = np.mean(mu1_hat + t * (y - mu1_hat) / e_hat)
        mu0 = np.mean(mu0_hat + (1 - t) * (y - mu0_hat) / (1 - e_hat))
    elif estimand == "ATT":
        mu1 = np.sum(t * y) / t.sum()
        mu0 = np.sum(t * mu0_hat + e_hat * (1 - t) * (y - mu0_hat) / (1 - e_hat)) / t.sum()
    else:
        mu0 = np.sum((1 - t) * y) / (1 - t).sum()
        mu1 = np.sum((1 - t) * mu1_hat + t * (1 - e_hat) * (y - mu1_hat) / e_hat) / (1 - t).sum()
    return float(mu1), float(mu0)


def aipw_parametric(
    y: np.ndarray,
    t: np.ndarray,
    Xo: np.ndarray,
    fit: BinaryFit,
    estimand: str = "ATE",
    e: np.ndarray | None = None,
    de: np.ndarray | None = None,
    cache: dict[Any, Any] | None = None,
) -> AIPWResult:
    """AIPW with a fitted logit/probit propensity and OLS outcome models by arm.

    ``cache`` (the analysis's) shares each arm's outcome fit with the other estimands
    and ``regression_adjustment`` (:func:`cqox.nuisance.ols.shared_fit_ols_rows`).

    ``Xo`` (shape (n, q)) holds the outcome-model covariates (an intercept is added);
    ``fit`` is the propensity fit on the same rows.  ``e``/``de`` default to the fit's
    probabilities and their derivative in the linear index (pass clipped values with
    ``de = 0`` on clipped rows to clip).  The influence function is that of the
    stacked M-estimator (score, propensity likelihood, both arms' normal equations):
    ``ψ_i = A⁻¹[m_i + D_β H⁻¹ s_i + Σ_a D_γa ψ^{γa}_i]``.
    """
    e = fit.p_hat if e is None else e
    de = fit.dp_deta if de is None else de
    n = len(y)
    k = Xo.shape[1] + 1
    mu_hat: dict[int, np.ndarray] = {}
    fits: dict[int, tuple[np.ndarray, Any]] = {}
    for a in (0, 1):
        idx = np.flatnonzero(t == a)
        if len(idx) <= k:
            raise EstimationError(
                f"the {'treated' if a else 'control'} arm has {len(idx)} rows for "
                f"{k} outcome-model coefficients; use fewer outcome covariates",
                details={"arm": a, "rows": len(idx), "coefficients": k},
            )
        ols = shared_fit_ols_rows(cache, Xo, y, idx)
        mu_hat[a] = ols.coef[0] + Xo @ ols.coef[1:]
        fits[a] = (idx, ols)
    mu0_hat, mu1_hat = mu_hat[0], mu_hat[1]
    psi_a, psi_b = dr_score(y, t, mu0_hat, mu1_hat, e, estimand)
    score = solve_linear_score(psi_a, psi_b)
    theta = score.theta
    r1, r0 = y - mu1_hat, y - mu0_hat

    def along_design(v: np.ndarray) -> np.ndarray:
        """``v @ [1, Xo]`` without the n × k design."""
        return np.concatenate([[v.sum()], v @ Xo])

    # Derivatives of the mean score with respect to γ₁, γ₀ (outcome coefficients) and
    # β (propensity index, internal parametrisation of the fit); ψ = ψ_a θ + ψ_b.
    if estimand == "ATE":
        d_g1 = along_design(1 - t / e) / n
        d_g0 = -along_design(1 - (1 - t) / (1 - e)) / n
        d_b = fit.zt_dot(-t * r1 * de / e**2 - (1 - t) * r0 * de / (1 - e) ** 2) / n
    elif estimand == "ATT":
        p = t.mean()
        d_g1 = np.zeros(k)
        d_g0 = along_design(-t + e * (1 - t) / (1 - e)) / (n * p)
        d_b = fit.zt_dot(-(1 - t) * r0 * de / (1 - e) ** 2) / (n * p)
    else:
        q = 1 - t.mean()
        d_g1 = along_design((1 - t) - t * (1 - e) / e) / (n * q)
        d_g0 = np.zeros(k)
        d_b = fit.zt_dot(-t * r1 * de / e**2) / (n * q)
    # n-scaled influence of γ̂_a along d: n z_i'(Z_a'Z_a)⁻¹d ε_i on the rows of arm a
    # (fit.bread = (Z_a'Z_a/n_a)⁻¹), one n-vector instead of an n × k matrix
    correction = fit.influence_along(d_b)
    for a, d_g in ((1, d_g1), (0, d_g0)):
        idx, ols = fits[a]
        direction = ols.bread @ d_g * (n / len(idx))
        correction[idx] += rows_dot(Xo, idx, direction) * ols.resid
    influence = score.influence - correction / score.J
    se = float(np.sqrt(np.sum(influence**2)) / n)
    mu1, mu0 = _po_means(y, t, mu0_hat, mu1_hat, e, estimand)
    return AIPWResult(theta, se, influence, mu1, mu0, psi_a, psi_b)


def aipw_crossfit(
    y: np.ndarray,
    t: np.ndarray,
    Xp: np.ndarray,
    Xo: np.ndarray,
    folds: np.ndarray,
    estimand: str = "ATE",
    propensity_learner: Any = "logistic",
    outcome_learner: Any = "linear",
    clip: float = 0.0,
    seed: int = 0,
) -> tuple[AIPWResult, dict[str, Any]]:
    """Cross-fitted AIPW: out-of-fold ``ê``, ``μ̂₀``, ``μ̂₁``; SE from the score.

    Returns the result and a dictionary with per-fold diagnostics (outcome RMSE,
    propensity log-loss), the count of clipped propensities (``n_clipped``) and the
    out-of-fold propensities used (``e_hat``, shape (n,)).
    """
    m = crossfit_predict(
        propensity_learner, Xp, t, folds, "classification", seed, role="propensity_learner"
    )
    g0 = crossfit_predict(
        outcome_learner, Xo, y, folds, "regression", seed, t == 0, role="outcome_learner"
    )
    g1 = crossfit_predict(
        outcome_learner, Xo, y, folds, "regression", seed, t == 1, role="outcome_learner"
    )
    e = np.clip(m.pred, clip, 1 - clip) if clip > 0 else m.pred
    if np.any((e <= 0) | (e >= 1)):
        raise EstimationError(
            "cross-fitted propensities of exactly 0 or 1: set 'clip' (e.g. 0.01)",
            details={"parameter": "clip"},
        )
    psi_a, psi_b = dr_score(y, t, g0.pred, g1.pred, e, estimand)
    score = solve_linear_score(psi_a, psi_b)
    mu1, mu0 = _po_means(y, t, g0.pred, g1.pred, e, estimand)
    diag = {
        "fold_rmse_mu0": g0.fold_metric.tolist(),
        "fold_rmse_mu1": g1.fold_metric.tolist(),
        "fold_logloss_e": m.fold_metric.tolist(),
        "n_clipped": int(np.sum((m.pred < clip) | (m.pred > 1 - clip))) if clip > 0 else 0,
        "e_hat": e,
    }
    res = AIPWResult(score.theta, score.se, score.influence, mu1, mu0, psi_a, psi_b)
    return res, diag


def _spec_columns(spec: Any, columns: list[str], parameter: str) -> list[str]:
    spec = normalise_covariates(spec)
    if isinstance(spec, str):
        # checked against the formula language here, before any evaluation
        return formula_variables(spec, columns, parameter=parameter)
    return list(spec)


def _submodel_data(data: CausalData, spec: Any) -> CausalData:
    """``data`` with its covariate matrix replaced by the design of ``spec``.

    The rows (and so the cache key's frame) stay the same, so the shared propensity
    cache still applies to a propensity on these covariates.
    """
    if spec is None:
        return data
    roles = Roles(outcome=data.roles.outcome, treatment=data.roles.treatment).merge(
        Roles.from_mapping(covariates=spec)
    )
    sub = prepare(data.frame, roles, require=("outcome", "treatment"))
    return data.replace(X=sub.X, covariate_names=sub.covariate_names)


@register
class AIPW(Estimator):
    """Augmented inverse probability weighting (doubly robust)."""

    example = Example(
        "confounded_binary",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
        learner_params={"cross_fit": True, "clip": 0.01},
    )
    name = "aipw"
    family = "doubly_robust"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT", "ATC")
    default_estimands = ("ATE", "ATT")
    summary_line = "Augmented IPW (doubly robust): parametric with M-estimation SE, or cross-fitted"
    parameters = (
        estimand_param(("ATE", "ATT", "ATC"), "ATE"),
        LINK,
        Param(
            "propensity_covariates",
            None,
            "any",
            "covariates of the propensity model (list or formula; default: the covariates role)",
            nullable=True,
            check=lambda v: isinstance(v, str | list | tuple),
            rule="a list of columns or a formula string",
            formula=True,
        ),
        Param(
            "outcome_covariates",
            None,
            "any",
            "covariates of the outcome models (list or formula; default: the covariates role)",
            nullable=True,
            check=lambda v: isinstance(v, str | list | tuple),
            rule="a list of columns or a formula string",
            formula=True,
        ),
        trim_param(note="the propensity and outcome models"),
        clip_param(),
        Param("cross_fit", False, "bool", "cross-fit the nuisances (K folds)"),
        n_folds_param(5),
        learner_param("propensity_learner", "logistic", "when cross-fitting (a classifier)"),
        learner_param("outcome_learner", "linear", "when cross-fitting (a regressor)"),
        CI_LEVEL,
    )

    def fit(
        self,
        df: pd.DataFrame,
        roles: Roles,
        context: Context | None = None,
        data: CausalData | None = None,
    ) -> Estimate:
        """Estimate; the data are re-prepared only when a sub-model needs more columns.

        ``prepare`` is the shared one, so within ``cqox.analyze`` AIPW uses the same
        prepared rows (and so the same cached propensity fit) as IPW and matching
        unless ``propensity_covariates``/``outcome_covariates`` name columns outside
        the covariates role; then the complete cases are taken over those columns too.
        """
        params = self.resolved_params()
        columns = [str(c) for c in df.columns]
        extra: list[str] = []
        for key in ("propensity_covariates", "outcome_covariates"):
            if params.get(key) is not None:
                extra += _spec_columns(params[key], columns, key)
        if extra and (data is None or not set(extra) <= set(data.frame.columns)):
            with warnings.catch_warnings():
                # the notes travel in data.warnings into the Estimate
                warnings.simplefilter("ignore", CqoxWarning)
                data = prepare(
                    df,
                    roles,
                    require=self.requires,
                    binary_treatment=True,
                    extra_columns=list(dict.fromkeys(extra)),
                )
        return super().fit(df, roles, context, data)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        estimand = params["estimand"]
        pdata = _submodel_data(data, params["propensity_covariates"])
        odata = _submodel_data(data, params["outcome_covariates"])
        y, t, Xp, Xo = data.y, data.t, pdata.X, odata.X
        counts: dict[str, int] = {}
        notes: list[str] = []
        diagnostics: dict[str, Any] = {}
        separation: list[Gate] = []
        if params["cross_fit"]:
            if params["trim"] > 0:
                raise ParameterError(
                    "The 'trim' parameter of aipw applies to the parametric fit; with "
                    f"cross_fit=True use 'clip' instead. Got trim={params['trim']!r}.",
                    details={"parameter": "trim", "estimator": self.name},
                )
            rng = ctx.rng(_CROSSFIT_STREAM)
            folds = fold_ids(len(y), params["n_folds"], rng, strata=t)
            res, diag = aipw_crossfit(
                y,
                t,
                Xp,
                Xo,
                folds,
                estimand,
                params["propensity_learner"],
                params["outcome_learner"],
                params["clip"],
                int(rng.integers(2**31 - 1)),
            )
            e = diag.pop("e_hat")
            counts["n_clipped"] = diag.pop("n_clipped")
            diagnostics.update(diag)
            method = (
                f"cross-fitted AIPW ({params['n_folds']} folds), "
                f"{_learner_name(params['propensity_learner'])} propensity, "
                f"{_learner_name(params['outcome_learner'])} outcome; score SE"
            )
        else:
            fit = propensity(pdata, ctx, params["link"])
            tp = trim_and_clip(fit, Xp, t, params["link"], params["trim"], params["clip"])
            if tp.keep is not None:
                y, t, Xo = y[tp.keep], t[tp.keep], Xo[tp.keep]
            fit, e, de = tp.fit, tp.e, tp.de
            separation = separation_gates(fit, pdata.covariate_names, params["link"])
            counts.update(tp.counts)
            notes += tp.notes
            res = aipw_parametric(y, t, Xo, fit, estimand, e=e, de=de, cache=ctx.cache)
            diagnostics["propensity_converged"] = fit.converged
            diagnostics["propensity_coef"] = dict(
                zip(["(intercept)", *pdata.covariate_names], fit.coef.tolist(), strict=True)
            )
            method = (
                f"AIPW, {params['link']} propensity, OLS outcome by arm, "
                "M-estimation (influence-function) SE"
            )
        raw_w = ipw_weights(t, e, estimand)
        gates = [
            ess_gate(raw_w, t, ctx),
            max_weight_gate(raw_w, t, ctx),
            common_support_gate(e, t, ctx),
            *separation,
        ]
        return Estimate.from_se(
            self.name,
            estimand,
            res.theta,
            res.se,
            params["ci_level"],
            n=len(y),
            n_treated=int(t.sum()),
            n_control=int(len(t) - t.sum()),
            counts=counts,
            diagnostics={
                "mu1": res.mu1,
                "mu0": res.mu0,
                "propensity_min": float(e.min()),
                "propensity_max": float(e.max()),
                "propensity_covariates": pdata.covariate_names,
                "outcome_covariates": odata.covariate_names,
                **diagnostics,
            },
            gates=gates,
            warnings=notes,
            influence=res.influence,
            method=method,
        )


def _learner_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else type(spec).__name__
