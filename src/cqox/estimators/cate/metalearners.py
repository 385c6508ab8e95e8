"""Registered meta-learners: S, T, X, R and DR (``s_learner`` … ``dr_learner``).

The formulas are in :mod:`cqox.estimators.cate.learners`; the nuisances are shared
(:mod:`cqox.estimators.cate.nuisances`); the average estimand is AIPW on them
(:mod:`cqox.estimators.cate.base`).

Example
-------
>>> import cqox
>>> from cqox.simulate.dml import make_irm_heterogeneous
>>> df, truth = make_irm_heterogeneous(n=1000, seed=1)
>>> est = cqox.estimate("dr_learner", df, outcome="y", treatment="t",
...                     covariates=[f"x{j}" for j in range(1, 11)], learner="linear",
...                     final_learner="linear")
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
>>> list(est.effects().columns)
['cate', 'se', 'ci_lower', 'ci_upper']
"""

from __future__ import annotations

from typing import Any, ClassVar

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.data.prepare import CausalData
from cqox.estimators.base import Example
from cqox.estimators.cate import learners
from cqox.estimators.cate.base import TEST_PARAMS, CateEstimator, test_kwargs
from cqox.estimators.cate.heterogeneity import heterogeneity
from cqox.estimators.cate.nuisances import learner_name, nuisance_params, pick, shared_nuisances
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.common import learner_param as _learner_param
from cqox.estimators.registry import register

#: Seed offset of the meta-learners' own models (the nuisances use the split's seed).
_META_SEED = 5000
#: Seed stream of the RATE bootstrap.
_RATE_STREAM = 5100

_FINAL_LEARNER = _learner_param(
    "final_learner",
    "lightgbm",
    "'linear' gives pointwise intervals (DR, R)",
)


def _example(**params: Any) -> Example:
    """A small heterogeneous design (Wager & Athey 2018, §5.2) with linear learners."""
    return Example(
        "cate.wager_athey_2018",
        {"design": "heterogeneous", "n": 400, "p": 3, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
        params={"learner": "linear", "n_folds": 2, "n_boot": 20, **params},
    )


class _MetaLearner(CateEstimator):
    """A meta-learner; subclasses name which one."""

    example = _example()
    kind: ClassVar[str]
    #: Whether the learner has a final stage (X, R, DR).
    has_final: ClassVar[bool] = False
    parameters = (
        estimand_param(("ATE", "ATT"), "ATE"),
        *nuisance_params(),
        *TEST_PARAMS,
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        self._check_covariates(data)
        y, t, X = data.y, data.t, data.X
        nu = shared_nuisances(data, params, ctx)
        ml_g = pick(params, "outcome_learner")
        ml_m = pick(params, "propensity_learner")
        final = pick(params, "final_learner")
        seed = nu.seed + _META_SEED
        if self.kind == "s":
            fit = learners.s_learner(y, t, X, nu.folds, ml_g, seed)
        elif self.kind == "t":
            fit = learners.t_learner(y, t, X, nu.mu0, nu.mu1, ml_g, seed)
        elif self.kind == "x":
            e_new = learners.propensity_model(ml_m, X, t, seed + 1)
            fit = learners.x_learner(y, t, X, nu.e, nu.folds, ml_g, final, e_new, seed)
        elif self.kind == "r":
            fit = learners.r_learner(y, t, X, nu.m, nu.e, nu.folds, final, seed)
        else:
            fit = learners.dr_learner(y, t, X, nu.mu0, nu.mu1, nu.e, nu.folds, final, seed)
        het = heterogeneity(
            y,
            t,
            nu.mu0,
            nu.mu1,
            nu.e,
            fit.cate,
            X,
            list(data.covariate_names),
            params["n_groups"],
            params["n_boot"],
            ctx.rng(_RATE_STREAM),
            params["ci_level"],
            **test_kwargs(params),
            folds=nu.folds,
        )
        stages = f"outcome {learner_name(ml_g)}, propensity {learner_name(ml_m)}"
        if self.has_final:
            stages += f", final {learner_name(final)}"
        return self._estimate(
            data,
            params,
            ctx,
            mu0=nu.mu0,
            mu1=nu.mu1,
            e=nu.e,
            cate=fit.cate,
            se=fit.se,
            predict=fit.predict,
            diagnostics={**nu.diagnostics, **fit.diagnostics, "heterogeneity": het.summary},
            gates=het.gates,
            tables=het.tables,
            method=f"{self.kind.upper()}-learner ({stages}; {params['n_folds']}-fold "
            f"cross-fitting); {params['estimand']} by AIPW on the shared nuisances",
        )


@register
class SLearner(_MetaLearner):
    """S-learner: one outcome model with the treatment as a feature."""

    name = "s_learner"
    kind = "s"
    summary_line = "S-learner CATE (one outcome model on [T, X]); AIPW average"


@register
class TLearner(_MetaLearner):
    """T-learner: one outcome model per arm."""

    name = "t_learner"
    kind = "t"
    summary_line = "T-learner CATE (an outcome model per arm); AIPW average"


@register
class XLearner(_MetaLearner):
    """X-learner (Künzel et al. 2019)."""

    name = "x_learner"
    kind = "x"
    has_final = True
    example = _example(final_learner="linear")
    summary_line = "X-learner CATE (Künzel et al. 2019), propensity-weighted; AIPW average"
    parameters = (*_MetaLearner.parameters, _FINAL_LEARNER)


@register
class RLearner(_MetaLearner):
    """R-learner (Nie & Wager 2021)."""

    name = "r_learner"
    kind = "r"
    has_final = True
    example = _example(final_learner="linear")
    summary_line = "R-learner CATE (Nie & Wager 2021), residual-on-residual loss; AIPW average"
    parameters = (*_MetaLearner.parameters, _FINAL_LEARNER)


@register
class DRLearner(_MetaLearner):
    """DR-learner (Kennedy 2023)."""

    name = "dr_learner"
    kind = "dr"
    has_final = True
    example = _example(final_learner="linear")
    summary_line = "DR-learner CATE (Kennedy 2023), doubly robust pseudo-outcome; AIPW average"
    parameters = (*_MetaLearner.parameters, _FINAL_LEARNER)
