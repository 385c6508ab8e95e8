"""What every CATE estimator shares: the average estimand, unit effects and summary.

The average estimand (ATE or ATT) of every CATE estimator is the doubly robust
(AIPW) estimate on its cross-fitted nuisances, with the influence-function SE
(:func:`cqox.estimators.backdoor.aipw.dr_score`, :func:`cqox.inference.score.solve_linear_score`);
for the causal forest the outcome models are the forest's own,
``μ̂_w(x) = m̂(x) + (w − ê(x))·τ̂(x)`` (grf's ``average_treatment_effect``).  The mean
of the unit effects (the plug-in average) is reported beside it as ``mean_cate``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import RoleError
from cqox.estimators.backdoor.aipw import dr_score
from cqox.estimators.base import Estimator
from cqox.estimators.cate.effects import Predictor, UnitEffects, cate_summary
from cqox.estimators.common import _doc
from cqox.gates.weights import common_support_gate
from cqox.inference.score import solve_linear_score

#: Parameters of the heterogeneity tests (:mod:`cqox.estimators.cate.heterogeneity`).
TEST_PARAMS: tuple[Param, ...] = (
    Param("n_groups", 5, "int", "groups of the GATES/CLAN tests (by τ̂ quantile)", low=2, high=20),
    Param(
        "n_boot",
        200,
        "int",
        "bootstrap replicates of the RATE standard errors",
        low=2,
        high=100_000,
    ),
    Param(
        "cost_per_treated",
        0.0,
        "float",
        _doc("cost_per_treated", "used by the targeting table"),
        low=0.0,
    ),
    Param(
        "value_per_outcome", 1.0, "float", "targeting table: value of one unit of outcome", low=0.0
    ),
    Param(
        "budgets",
        None,
        "any",
        "targeting table: budgets (spend per unit of the population) to optimise under",
        nullable=True,
        check=lambda v: isinstance(v, list | tuple) and all(isinstance(b, int | float) for b in v),
        rule="a list of numbers or None",
    ),
)


def test_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The targeting arguments of :func:`cqox.estimators.cate.heterogeneity.heterogeneity`."""
    budgets = params["budgets"]
    return {
        "cost_per_treated": params["cost_per_treated"],
        "value_per_outcome": params["value_per_outcome"],
        "budgets": None if budgets is None else [float(b) for b in budgets],
    }


class CateEstimator(Estimator):
    """Base of the ``cate`` family: an average estimand plus unit-level effects."""

    family = "cate"
    designs = (Design.CATE, Design.BACKDOOR)
    estimands = ("ATE", "ATT")
    default_estimands = ("ATE",)
    optional_roles = ("covariates",)
    #: Unit-level effects cost more than an average: run when asked for (by name,
    #: ``cqox cate`` or ``cqox analyze --heterogeneity``).
    run_by_default: ClassVar[bool] = False

    def _check_covariates(self, data: CausalData) -> None:
        if data.X.shape[1] == 0:
            raise RoleError(
                f"{self.name} estimates effects that vary with the covariates; role "
                "'covariates' is empty (give the columns the effect may vary with)",
                details={"role": "covariates", "estimator": self.name},
            )

    def _estimate(
        self,
        data: CausalData,
        params: dict[str, Any],
        ctx: Context,
        *,
        mu0: np.ndarray,
        mu1: np.ndarray,
        e: np.ndarray,
        cate: np.ndarray,
        se: np.ndarray,
        predict: Predictor,
        diagnostics: dict[str, Any],
        gates: list[Gate],
        tables: dict[str, pd.DataFrame],
        method: str,
    ) -> Estimate:
        """The Estimate: AIPW average on ``(μ̂₀, μ̂₁, ê)`` and the unit effects."""
        assert data.y is not None and data.t is not None
        y, t = data.y, data.t
        psi_a, psi_b = dr_score(y, t, mu0, mu1, e, params["estimand"])
        score = solve_linear_score(psi_a, psi_b)
        level = params["ci_level"]
        unit = UnitEffects(
            cate=cate,
            se=se,
            row_index=data.row_index,
            level=level,
            roles=data.roles,
            covariate_names=list(data.covariate_names),
            predict=predict,
            x_quantiles=np.quantile(data.X, [0.05, 0.5, 0.95], axis=0),
        )
        target = t == 1 if params["estimand"] == "ATT" else np.ones(len(t), dtype=bool)
        return Estimate.from_se(
            self.name,
            params["estimand"],
            score.theta,
            score.se,
            level,
            n=data.n,
            n_treated=int(t.sum()),
            n_control=int(data.n - t.sum()),
            diagnostics={
                **diagnostics,
                "mean_cate": float(np.mean(cate[target])),
                "cate": cate_summary(cate, se, level),
            },
            gates=[common_support_gate(e, t, ctx), *gates],
            tables=tables,
            influence=score.influence,
            unit_effects=unit,
            method=method,
        )
