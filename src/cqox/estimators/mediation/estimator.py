"""The mediation estimators: ``mediation`` (quasi-Bayesian) and ``mediation_dml``.

Both estimate the natural indirect effect ``NIE`` (average causal mediation effect,
ACME), the natural direct effect ``NDE`` (average direct effect, ADE), the total
effect ``TE`` and the proportion mediated ``PM = NIE/TE`` of a binary treatment on
an outcome through the ``mediator`` role, adjusting for the ``covariates`` in both
the mediator and the outcome models, under sequential ignorability (Imai, Keele &
Tingley 2010, doi:10.1037/a0020761):

    {Y(t', m), M(t)} ⊥ T | X   and   Y(t', m) ⊥ M(t) | T = t, X.

``NIE`` and ``NDE`` are the averages over the two arms,
``NIE = (δ(0) + δ(1))/2`` with ``δ(t) = E[Y(t, M(1)) − Y(t, M(0))]`` and
``NDE = (ζ(0) + ζ(1))/2`` with ``ζ(t) = E[Y(1, M(t)) − Y(0, M(t))]`` (R ``mediate``'s
"average" rows); the arm-specific effects are in ``tables["effects"]``.

Example
-------
>>> import cqox
>>> from cqox.simulate.mediation import mediation_linear
>>> df, truth = mediation_linear(n=1000, seed=1)
>>> est = cqox.estimate("mediation", df, outcome="y", treatment="t", mediator="m",
...                     covariates=["x1", "x2", "x3"], estimand="NIE")
>>> abs(est.estimate - truth["NIE"]) < 4 * est.se
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate, normal_inference
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.formula import formula_variables
from cqox.data.prepare import CausalData, prepare
from cqox.errors import RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    clip_param,
    estimand_param,
    learner_param,
    n_folds_param,
    se_method_param,
)
from cqox.estimators.mediation.crossfit import mediation_scores
from cqox.estimators.mediation.models import (
    MODEL_CHOICES,
    SE_CHOICES,
    ParametricFit,
    choose_family,
    fit_model,
)
from cqox.estimators.mediation.quasi_bayes import (
    EFFECT_LABELS,
    MediationDesign,
    simulate_effects,
    summarise,
)
from cqox.estimators.mediation.sensitivity import (
    RhoSensitivity,
    rho_sensitivity,
    rho_sensitivity_interaction,
)
from cqox.estimators.mediation.sensitivity_probit import (
    probit_mediator_sensitivity,
    probit_outcome_sensitivity,
    sensitivity_draws,
)
from cqox.estimators.registry import register
from cqox.nuisance.crossfit import fold_ids

ESTIMANDS = ("NIE", "NDE", "TE", "PM")
#: ``cqox.analyze`` runs the decomposition.  The total effect is the ATE, which the
#: backdoor estimators of the same analysis report; it and the proportion mediated (a
#: ratio, not an effect on the outcome's scale) are in every estimate's ``effects``
#: table and run when asked (``estimand="TE"``/``"PM"``).
DEFAULT_ESTIMANDS = ("NIE", "NDE")
#: Random streams of the two estimators (independent of every other estimator's).
_QB_STREAM = 0x6D_6564
_DML_STREAM = 0x6D_6D6C
_SENS_STREAM = 0x6D_7365
_EXAMPLE = Example(
    "mediation.mediation_linear",
    {"n": 400, "seed": 1},
    {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": ["x1", "x2", "x3"]},
)


def _mediator_values(data: CausalData) -> np.ndarray:
    """The mediator as float64, checked: numeric and not constant."""
    col = data.roles.mediator
    assert col is not None
    s = data.frame[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise RoleError(
            f"role 'mediator': column '{col}' must be numeric (or 0/1); got dtype {s.dtype} "
            f"with values like {s.iloc[0]!r}",
            details={"role": "mediator", "column": col},
        )
    m = s.to_numpy(dtype=np.float64)
    if not np.isfinite(m).all():
        raise RoleError(
            f"role 'mediator': column '{col}' has infinite values",
            details={"role": "mediator", "column": col},
        )
    if np.ptp(m) == 0:
        raise RoleError(
            f"role 'mediator': column '{col}' is constant ({m[0]:g}) in the rows in use; a "
            "mediator needs variation",
            details={"role": "mediator", "column": col},
        )
    return m


class _MediationEstimator(Estimator):
    """What both mediation estimators share: roles, preparation, the effects table."""

    family = "mediation"
    designs = (Design.MEDIATION,)
    estimands = ESTIMANDS
    default_estimands = DEFAULT_ESTIMANDS
    requires = ("outcome", "treatment", "mediator")
    example = _EXAMPLE
    needs_named_covariates = True

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Prepare as the backdoor design does; the mediator may not be a covariate."""
        med = roles.mediator
        if med is not None:
            if roles.covariate_formula is not None:
                covs = formula_variables(roles.covariate_formula, [str(c) for c in df.columns])
            else:
                covs = list(roles.covariates or ())
            if med in covs:
                raise RoleError(
                    f"role 'covariates': column '{med}' is the mediator; covariates are "
                    "pre-treatment confounders, remove it from them",
                    details={"role": "covariates", "column": med},
                )
            if med in (roles.outcome, roles.treatment):
                raise RoleError(
                    f"role 'mediator': column '{med}' is also the outcome or the treatment",
                    details={"role": "mediator", "column": med},
                )
        return prepare(df, roles, require=self.requires)


@register
class QuasiBayesMediation(_MediationEstimator):
    """Parametric causal mediation by quasi-Bayesian Monte Carlo (R ``mediation::mediate``).

    Linear, logistic or probit models for the mediator and the outcome (``auto``: logistic for
    a 0/1 variable, linear otherwise), an optional treatment–mediator interaction, and
    ``n_draws`` draws of both models' coefficients from ``N(β̂, V̂)``
    (:mod:`cqox.estimators.mediation.quasi_bayes`).  The ρ sensitivity analysis of Imai,
    Keele & Yamamoto (2010) is added (``tables["sensitivity"]``) for a linear mediator
    and a linear outcome, with or without interaction (closed form, each arm's curve
    with an interaction; :mod:`cqox.estimators.mediation.sensitivity`), a probit
    mediator with a linear outcome, and a linear mediator with a probit outcome without
    interaction (by simulation; :mod:`cqox.estimators.mediation.sensitivity_probit`);
    other models say why not in ``diagnostics["sensitivity"]``.
    """

    name = "mediation"
    summary_line = (
        "Causal mediation (ACME/ADE): quasi-Bayesian Monte Carlo over linear/logistic/probit "
        "mediator and outcome models (Imai, Keele & Tingley 2010), ρ sensitivity"
    )
    parameters = (
        estimand_param(ESTIMANDS, "NIE"),
        Param(
            "mediator_model",
            "auto",
            "choice",
            "mediator model given treatment and covariates: 'auto' (logistic for a 0/1 "
            "mediator, linear otherwise), 'linear', 'logistic' or 'probit'",
            choices=MODEL_CHOICES,
        ),
        Param(
            "outcome_model",
            "auto",
            "choice",
            "outcome model given treatment, mediator and covariates: 'auto' (logistic for "
            "a 0/1 outcome, linear otherwise), 'linear', 'logistic' or 'probit'",
            choices=MODEL_CHOICES,
        ),
        Param(
            "interaction",
            False,
            "bool",
            "add the treatment × mediator term to the outcome model (ACME differs by arm)",
        ),
        Param(
            "n_draws",
            1000,
            "int",
            "Monte Carlo draws of the model coefficients, quasi-Bayesian (R mediate's sims)",
            low=50,
            high=100_000,
        ),
        se_method_param(
            SE_CHOICES,
            "hc3",
            "covariance of the model coefficients that are drawn (hc3 = R mediate's "
            "robustSE = TRUE)",
        ),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        m = _mediator_values(data)
        fam_m = choose_family(m, params["mediator_model"])
        fam_y = choose_family(data.y, params["outcome_model"])
        key = (
            "mediation_quasi_bayes",
            data.cache_key(),
            fam_m,
            fam_y,
            params["interaction"],
            params["n_draws"],
            params["se_method"],
            params["ci_level"],
            ctx.seed,
        )
        if key not in ctx.cache:
            ctx.cache[key] = self._simulate(data, m, fam_m, fam_y, params, ctx)
        table, diagnostics, tables = ctx.cache[key]
        row = table.set_index("effect").loc[params["estimand"]]
        return Estimate(
            self.name,
            params["estimand"],
            float(row["estimate"]),
            float(row["se"]),
            (float(row["ci_low"]), float(row["ci_high"])),
            float(row["p_value"]),
            params["ci_level"],
            n=data.n,
            n_treated=int(data.t.sum()),
            n_control=int(data.n - data.t.sum()),
            diagnostics=dict(diagnostics),
            tables=dict(tables),
            method=(
                f"quasi-Bayesian Monte Carlo ({params['n_draws']} draws, {params['se_method']} "
                f"covariance), {fam_m} mediator and {fam_y} outcome model"
                + (" with treatment × mediator interaction" if params["interaction"] else "")
                + "; estimate = mean of the draws (median for PM), percentile interval, "
                "SE = SD of the draws"
            ),
        )

    @staticmethod
    def _simulate(
        data: CausalData,
        m: np.ndarray,
        fam_m: str,
        fam_y: str,
        params: dict[str, Any],
        ctx: Context,
    ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, pd.DataFrame]]:
        assert data.y is not None and data.t is not None
        design = MediationDesign(params["interaction"])
        se = params["se_method"]
        med_fit = fit_model(design.mediator(data.t, data.X), m, fam_m, se, "mediator")
        out_fit = fit_model(design.outcome(data.t, m, data.X), data.y, fam_y, se, "outcome")
        draws = simulate_effects(
            med_fit, out_fit, design, data.X, params["n_draws"], ctx.rng(_QB_STREAM)
        )
        table = summarise(draws, params["ci_level"])
        n_bad = int(np.sum(~np.isfinite(draws.tau)))
        diagnostics: dict[str, Any] = {
            "mediator_model": fam_m,
            "outcome_model": fam_y,
            "interaction": params["interaction"],
            "mediator_coef_treatment": float(med_fit.coef[1]),
            "outcome_coef_mediator": float(out_fit.coef[2]),
            "outcome_coef_treatment": float(out_fit.coef[1]),
            "plug_in_NIE_linear": (
                float(med_fit.coef[1] * out_fit.coef[2])
                if fam_m == fam_y == "linear" and not params["interaction"]
                else None
            ),
            "n_draws_undefined_pm": n_bad,
        }
        tables: dict[str, pd.DataFrame] = {"effects": table}
        sens, why_not = _rho_analysis(data, m, med_fit, out_fit, design, params, ctx)
        if sens is not None:
            tables["sensitivity"] = sens.table
            diagnostics.update(
                {
                    "sensitivity_rho_at_zero": sens.rho_at_zero,
                    "sensitivity_r2star_prod": sens.r2star_prod,
                    "sensitivity_r2tilde_prod": sens.r2tilde_prod,
                }
            )
            if sens.rho_at_zero_arms is not None:
                diagnostics["sensitivity_rho_at_zero_control"] = sens.rho_at_zero_arms[0]
                diagnostics["sensitivity_rho_at_zero_treated"] = sens.rho_at_zero_arms[1]
        else:
            diagnostics["sensitivity"] = why_not
        return table, diagnostics, tables


@register
class CrossFitMediation(_MediationEstimator):
    """Doubly robust, cross-fitted mediation with any learners.

    Tchetgen Tchetgen & Shpitser (2012); Farbmacher et al. (2022); influence-function
    inference (:mod:`cqox.estimators.mediation.crossfit`).
    """

    name = "mediation_dml"
    example = Example(
        _EXAMPLE.simulator,
        _EXAMPLE.args,
        _EXAMPLE.roles,
        {"learner": "linear", "n_folds": 3},
    )
    summary_line = (
        "Causal mediation (NIE/NDE): doubly robust cross-fitted scores with ML nuisances "
        "(Tchetgen Tchetgen & Shpitser 2012; Farbmacher et al. 2022)"
    )
    parameters = (
        estimand_param(ESTIMANDS, "NIE"),
        learner_param("learner", "lightgbm", "a name or an estimator"),
        learner_param("outcome_learner", None, "default: learner; fits μ(d,X), μ(d,M,X), ω(d,X)"),
        learner_param(
            "propensity_learner", None, "default: learner; fits P(D=1 | X) and P(D=1 | M, X)"
        ),
        n_folds_param(5),
        clip_param(0.01, "both P(D=1 | X) and P(D=1 | M, X)"),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        m = _mediator_values(data)
        out_l = (
            params["learner"] if params["outcome_learner"] is None else params["outcome_learner"]
        )
        prop_l = (
            params["learner"]
            if params["propensity_learner"] is None
            else params["propensity_learner"]
        )
        key = (
            "mediation_dml",
            data.cache_key(),
            repr(out_l),
            repr(prop_l),
            params["n_folds"],
            params["clip"],
            ctx.seed,
        )
        if key not in ctx.cache:
            rng = ctx.rng(_DML_STREAM)
            folds = fold_ids(data.n, params["n_folds"], rng, data.t)
            ctx.cache[key] = mediation_scores(
                data.y, data.t, m, data.X, folds, out_l, prop_l, params["clip"], rng
            )
        scores = ctx.cache[key]
        effects = scores.effects()
        level = params["ci_level"]
        rows = []
        for eff, label in EFFECT_LABELS.items():
            est, phi = effects[eff]
            se = float(np.sqrt(phi @ phi) / data.n)
            ci, p = normal_inference(est, se, level)
            rows.append(
                {
                    "effect": eff,
                    "label": label,
                    "estimate": est,
                    "se": se,
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "p_value": p,
                }
            )
        table = pd.DataFrame(rows)
        est, phi = effects[params["estimand"]]
        warnings_: list[str] = []
        pmin = float(min(scores.p_x.min(), 1 - scores.p_x.max()))
        pmin_m = float(min(scores.p_mx.min(), 1 - scores.p_mx.max()))
        if scores.n_clipped:
            warnings_.append(
                f"{scores.n_clipped} cross-fitted propensities (P(D=1 | X) or "
                f"P(D=1 | M, X)) were clipped into [{params['clip']:g}, "
                f"{1 - params['clip']:g}]: weak overlap"
            )
        return Estimate.from_se(
            self.name,
            params["estimand"],
            est,
            float(np.sqrt(phi @ phi) / data.n),
            level,
            n=data.n,
            n_treated=int(data.t.sum()),
            n_control=int(data.n - data.t.sum()),
            counts={"n_propensity_clipped": scores.n_clipped},
            diagnostics={
                "propensity_min_distance_to_bound": pmin,
                "mediator_propensity_min_distance_to_bound": pmin_m,
                "learner": _name(out_l),
                "propensity_learner": _name(prop_l),
            },
            tables={"effects": table},
            warnings=warnings_,
            influence=phi,
            method=(
                f"doubly robust cross-fitted mediation scores ({params['n_folds']} folds; "
                f"outcome learner {_name(out_l)}, propensity learner {_name(prop_l)}), "
                "influence-function SE"
            ),
        )


def _rho_analysis(
    data: CausalData,
    m: np.ndarray,
    med_fit: ParametricFit,
    out_fit: ParametricFit,
    design: MediationDesign,
    params: dict[str, Any],
    ctx: Context,
) -> tuple[RhoSensitivity | None, str]:
    """The ρ sensitivity analysis that fits the two models, or why there is none.

    Linear–linear, with or without interaction: the closed form
    (:mod:`cqox.estimators.mediation.sensitivity`); a probit mediator with a linear
    outcome, or a linear mediator with a probit outcome (no interaction), by simulation
    (:mod:`cqox.estimators.mediation.sensitivity_probit`), as R ``medsens``.
    """
    assert data.y is not None and data.t is not None
    fam_m, fam_y = med_fit.family, out_fit.family
    level = params["ci_level"]
    for what, fam in (("mediator", fam_m), ("outcome", fam_y)):
        if fam == "logistic":
            return None, (
                f"not applicable, because the {what} model is logistic: ρ is the "
                "correlation of normal errors (Imai, Keele & Yamamoto 2010), a logistic "
                "model's latent error is not normal, so the ACME has no formula in ρ; "
                f"refit with {what}_model='probit' (R medsens refuses logit too)"
            )
    if fam_m == fam_y == "linear":
        if design.interaction:
            return rho_sensitivity_interaction(data.y, data.t, m, data.X, level), ""
        return rho_sensitivity(data.y, data.t, m, data.X, level), ""
    if fam_m == fam_y == "probit":
        return None, (
            "not applicable, because the mediator and the outcome models are both probit: "
            "the ρ analysis (Imai, Keele & Yamamoto 2010; R medsens) needs one of the two "
            "linear"
        )
    rng = ctx.rng(_SENS_STREAM)
    draws = sensitivity_draws(params["n_draws"], data.n)
    if fam_m == "probit":
        sens = probit_mediator_sensitivity(
            data.y, data.t, m, data.X, med_fit, design.interaction, draws, rng, level
        )
        return sens, ""
    if design.interaction:
        return None, (
            "not applicable, because the ρ analysis of a probit outcome (Imai, Keele & "
            "Yamamoto 2010; R medsens) has no treatment × mediator interaction term"
        )
    index = design.outcome(data.t, m, data.X) @ out_fit.coef
    sens = probit_outcome_sensitivity(data.t, data.X, med_fit, out_fit, index, draws, rng, level)
    return sens, ""


def _name(spec: Any) -> str:
    return spec if isinstance(spec, str) else type(spec).__name__
