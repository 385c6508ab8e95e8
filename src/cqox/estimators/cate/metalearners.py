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

import numpy as np

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.data.prepare import CausalData
from cqox.estimators.base import Example
from cqox.estimators.cate import learners
from cqox.estimators.cate.base import TEST_PARAMS, CateEstimator, test_kwargs
from cqox.estimators.cate.heterogeneity import RateSplit, heterogeneity
from cqox.estimators.cate.learners import dr_pseudo_outcome
from cqox.estimators.cate.nuisances import (
    Nuisances,
    half_nuisances,
    learner_name,
    nuisance_params,
    pick,
    rate_halves,
    shared_nuisances,
)
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

    def _learn(
        self, y: np.ndarray, t: np.ndarray, X: np.ndarray, nu: Nuisances, params: dict[str, Any]
    ) -> learners.MetaFit:
        """Fit the meta-learner on ``(y, t, X)`` with the nuisances ``nu`` of those rows."""
        ml_g = pick(params, "outcome_learner")
        ml_m = pick(params, "propensity_learner")
        final = pick(params, "final_learner")
        seed = nu.seed + _META_SEED
        if self.kind == "s":
            return learners.s_learner(y, t, X, nu.folds, ml_g, seed)
        if self.kind == "t":
            return learners.t_learner(y, t, X, nu.mu0, nu.mu1, ml_g, seed)
        if self.kind == "x":
            e_new = learners.propensity_model(ml_m, X, t, seed + 1)
            return learners.x_learner(y, t, X, nu.e, nu.folds, ml_g, final, e_new, seed)
        if self.kind == "r":
            return learners.r_learner(y, t, X, nu.m, nu.e, nu.folds, final, seed)
        return learners.dr_learner(y, t, X, nu.mu0, nu.mu1, nu.e, nu.folds, final, seed)

    def _rate_split(self, data: CausalData, params: dict[str, Any], ctx: Context) -> RateSplit:
        """The split-sample RATE's evaluation half (:class:`RateSplit`).

        Nuisances and this learner are refitted on the training half (half 0); the
        evaluation half (half 1) gets its own cross-fitted nuisances for its scores.
        """
        assert data.y is not None and data.t is not None
        halves = rate_halves(data.t, ctx)
        rows, nu_train = half_nuisances(data, params, ctx, halves, 0)
        fit = self._learn(data.y[rows], data.t[rows], data.X[rows], nu_train, params)
        rows, nu_eval = half_nuisances(data, params, ctx, halves, 1)
        phi = dr_pseudo_outcome(data.y[rows], data.t[rows], nu_eval.mu0, nu_eval.mu1, nu_eval.e)
        return RateSplit(fit.predict(data.X[rows])[0], phi)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        self._check_covariates(data)
        y, t, X = data.y, data.t, data.X
        nu = shared_nuisances(data, params, ctx)
        ml_g = pick(params, "outcome_learner")
        ml_m = pick(params, "propensity_learner")
        final = pick(params, "final_learner")
        fit = self._learn(y, t, X, nu, params)
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
            rate_split=self._rate_split(data, params, ctx),
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
