"""Registered ``causal_forest``: grf's causal forest (see :mod:`cqox.estimators.cate.forest`).

Example
-------
>>> import cqox
>>> from cqox.simulate.cate import wager_athey_2018
>>> df, truth = wager_athey_2018("heterogeneous", n=1000, p=4, seed=1)
>>> est = cqox.estimate("causal_forest", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3", "x4"], n_trees=200,
...                     learner="linear", seed=1)
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
>>> bool((est.effects()["se"] > 0).all())
True
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.estimators.base import Example
from cqox.estimators.cate.base import TEST_PARAMS, CateEstimator, test_kwargs
from cqox.estimators.cate.forest import CausalForest, ForestParams, default_mtry, grow
from cqox.estimators.cate.heterogeneity import RateSplit, heterogeneity
from cqox.estimators.cate.learners import dr_pseudo_outcome
from cqox.estimators.cate.nuisances import (
    half_nuisances,
    learner_name,
    nuisance_params,
    pick,
    rate_halves,
    shared_nuisances,
)
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.registry import register

#: Seed streams of the trees and of the RATE bootstrap.
_FOREST_STREAM = 6000
_RATE_STREAM = 6100
_SEED_MAX = 2**31 - 1
#: Most trees of each half-sample forest of the split-sample RATE.
RATE_TREES = 500


class ForestPredictor:
    """``(τ̂(x), se(x))`` for new rows from a grown forest (picklable)."""

    def __init__(self, forest: CausalForest) -> None:
        self.forest = forest

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effects and SEs (NaN without little bags), shape (m,) each."""
        tau, se = self.forest.predict(X)
        if self.forest.params.ci_group_size < 2:
            se = np.full(len(tau), np.nan)
        return tau, se


def _forest_params(params: dict[str, Any], ctx: Context) -> ForestParams:
    """The forest's parameters, its seed drawn from the forest's stream."""
    return ForestParams(
        n_trees=params["n_trees"],
        sample_fraction=params["sample_fraction"],
        honest=params["honest"],
        mtry=params["mtry"],
        min_leaf_size=params["min_leaf_size"],
        alpha=params["alpha"],
        ci_group_size=params["ci_group_size"],
        seed=int(ctx.rng(_FOREST_STREAM).integers(_SEED_MAX)),
        n_threads=params["n_threads"],
    )


@register
class CausalForestEstimator(CateEstimator):
    """Causal forest (generalized random forest, honest, little-bags variance)."""

    name = "causal_forest"
    example = Example(
        "cate.wager_athey_2018",
        {"design": "heterogeneous", "n": 400, "p": 3, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
        params={"learner": "linear", "n_trees": 50, "n_folds": 2, "n_boot": 20, "n_threads": 1},
    )
    summary_line = (
        "Causal forest (grf): honest gradient-split trees on centred Y and T, little-bags "
        "SEs for τ(x); AIPW average"
    )
    parameters = (
        estimand_param(("ATE", "ATT"), "ATE"),
        Param(
            "n_trees", 2000, "int", "trees (grown in bags of ci_group_size)", low=2, high=100_000
        ),
        Param(
            "sample_fraction",
            0.5,
            "float",
            "share of rows drawn for each tree (at most 0.5 with ci_group_size > 1)",
            low=0.0,
            high=1.0,
            closed="right",
        ),
        Param("honest", True, "bool", "split on one half of a tree's rows, estimate on the other"),
        Param(
            "mtry",
            None,
            "int",
            "covariates tried per split; default min(ceil(sqrt(p) + 20), p)",
            low=1,
            high=100_000,
            nullable=True,
        ),
        Param(
            "min_leaf_size",
            5,
            "int",
            "least rows with the treatment below and above the node mean in each child",
            low=1,
            high=1_000_000,
        ),
        Param(
            "alpha",
            0.05,
            "float",
            "balance: each child keeps this share of the node's treatment variation",
            low=0.0,
            high=0.25,
        ),
        Param(
            "ci_group_size",
            2,
            "int",
            "trees per little bag (≥ 2 for standard errors)",
            low=1,
            high=16,
        ),
        Param(
            "n_threads",
            None,
            "int",
            "Python threads growing and predicting trees, each running a compiled nogil "
            "kernel on its share (default and cap: NUMBA_NUM_THREADS, every core unless set)",
            low=1,
            high=1024,
            nullable=True,
        ),
        *nuisance_params(),
        *TEST_PARAMS,
        CI_LEVEL,
    )

    def _rate_split(self, data: CausalData, params: dict[str, Any], ctx: Context) -> RateSplit:
        """The split-sample RATE's evaluation half (:class:`RateSplit`).

        Nuisances cross-fitted within the training half (half 0) and a forest of
        ``min(n_trees, RATE_TREES)`` trees grown on it with the fit's other parameters
        (a ranking needs fewer trees than intervals do; this bounds the test's cost to
        an eighth of a 2,000-tree fit); the evaluation half (half 1) gets its own
        cross-fitted nuisances for its scores.
        """
        assert data.y is not None and data.t is not None
        fp = _forest_params(params, ctx)
        halves = rate_halves(data.t, ctx)
        rows, nu_train = half_nuisances(data, params, ctx, halves, 0)
        forest, _ = grow(
            data.X[rows],
            data.y[rows] - nu_train.m,
            data.t[rows] - nu_train.e,
            replace(fp, n_trees=min(fp.n_trees, RATE_TREES), seed=(fp.seed + 1) % _SEED_MAX),
        )
        rows, nu_eval = half_nuisances(data, params, ctx, halves, 1)
        phi = dr_pseudo_outcome(data.y[rows], data.t[rows], nu_eval.mu0, nu_eval.mu1, nu_eval.e)
        return RateSplit(forest.predict(data.X[rows])[0], phi)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        self._check_covariates(data)
        if params["ci_group_size"] > 1 and params["sample_fraction"] > 0.5:
            from cqox.errors import ParameterError

            raise ParameterError(
                "The 'sample_fraction' parameter of causal_forest must be at most 0.5 when "
                f"ci_group_size > 1 (each bag holds half the rows). Got "
                f"{params['sample_fraction']} instead.",
                details={"parameter": "sample_fraction"},
            )
        y, t, X = data.y, data.t, data.X
        nu = shared_nuisances(data, params, ctx)
        fp = _forest_params(params, ctx)
        forest, codes = grow(X, y - nu.m, t - nu.e, fp)
        tau, se = forest.predict_oob(codes)
        missing = ~np.isfinite(tau)
        if missing.any():
            # a row in every bag (tiny forests) has no out-of-bag trees: predict it
            # from all trees rather than leave it empty
            tau_all, se_all = forest.predict(X[missing])
            tau[missing], se[missing] = tau_all, se_all
        if params["ci_group_size"] < 2:
            se = np.full(len(tau), np.nan)
        mu0 = nu.m - nu.e * tau
        mu1 = nu.m + (1 - nu.e) * tau
        het = heterogeneity(
            y,
            t,
            mu0,
            mu1,
            nu.e,
            tau,
            X,
            list(data.covariate_names),
            params["n_groups"],
            params["n_boot"],
            ctx.rng(_RATE_STREAM),
            params["ci_level"],
            **test_kwargs(params),
            rate_split=self._rate_split(data, params, ctx),
        )
        importance = forest.variable_importance()
        order = np.argsort(-importance)
        feature_importance = {data.covariate_names[j]: float(importance[j]) for j in order}
        predict = ForestPredictor(forest)

        ml_g, ml_m = pick(params, "outcome_learner"), pick(params, "propensity_learner")
        mtry = params["mtry"] if params["mtry"] is not None else default_mtry(X.shape[1])
        return self._estimate(
            data,
            params,
            ctx,
            mu0=mu0,
            mu1=mu1,
            e=nu.e,
            cate=tau,
            se=se,
            predict=predict,
            diagnostics={
                **nu.diagnostics,
                "heterogeneity": het.summary,
                "feature_importance": feature_importance,
                "n_trees": forest.n_trees,
                "n_nodes": len(forest.feat),
                "mtry": mtry,
                "n_rows_no_oob": int(missing.sum()),
            },
            gates=het.gates,
            tables=het.tables,
            method=f"causal forest ({forest.n_trees} trees, "
            f"{'honest' if params['honest'] else 'adaptive'}, sample_fraction "
            f"{params['sample_fraction']}, min_leaf_size {params['min_leaf_size']}, mtry "
            f"{mtry}) on Y and T centred by {params['n_folds']}-fold cross-fitted "
            f"{learner_name(ml_g)}/{learner_name(ml_m)}; little-bags SE; "
            f"{params['estimand']} by AIPW on the forest's nuisances",
        )
