"""Registered ``policy_tree``: whom to treat, and the value of doing so.

See :mod:`cqox.estimators.cate.policy` for the method.  The estimand is the policy
value ``E[Y(π(X))]`` of the learned rule, estimated on held-out folds; the tree
reported is the one learned on all rows.

Example
-------
>>> import cqox
>>> from cqox.simulate.cate import wager_athey_2018
>>> df, truth = wager_athey_2018("heterogeneous", n=600, p=3, seed=2)
>>> est = cqox.estimate("policy_tree", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"], learner="linear", depth=1,
...                     cost_per_treated=2.5, seed=1)
>>> est.estimand
'policy_value'
>>> est.diagnostics["tree"]["split"]["covariate"] in {"x1", "x2"}
True
"""

from __future__ import annotations

from typing import Any

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.cate.nuisances import learner_name, nuisance_params, pick, shared_nuisances
from cqox.estimators.cate.policy import dr_rewards, heldout_value, learn_tree, tree_table
from cqox.estimators.common import CI_LEVEL, _doc
from cqox.estimators.registry import register
from cqox.gates.weights import common_support_gate

#: Above this many rows the root split is tried at every ``n // AUTO_SPLITS``-th row
#: (policytree's ``split.step``): the exact search costs O(p² n²).
AUTO_SPLITS = 2000


@register
class PolicyTree(Estimator):
    """Policy tree on doubly robust rewards (Athey & Wager 2021)."""

    name = "policy_tree"
    example = Example(
        "cate.wager_athey_2018",
        {"design": "heterogeneous", "n": 400, "p": 3, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
        params={"learner": "linear", "depth": 1, "n_folds": 2},
    )
    family = "policy"
    designs = (Design.CATE, Design.BACKDOOR)
    estimands = ("policy_value",)
    default_estimands = ("policy_value",)
    run_by_default = False
    summary_line = (
        "Policy tree (exact depth 1–2, greedy 3) on doubly robust rewards; held-out value"
    )
    parameters = (
        Param(
            "depth",
            2,
            "int",
            _doc("depth", "1 and 2 exact, 3 greedy below depth 2"),
            low=1,
            high=3,
        ),
        Param(
            "split_step",
            None,
            "int",
            "try the root split at every split_step-th row; default 1 up to 2,000 rows, "
            "n // 2000 above",
            low=1,
            high=10_000_000,
            nullable=True,
        ),
        Param("cost_per_treated", 0.0, "float", _doc("cost_per_treated", ""), low=0.0),
        *nuisance_params(),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        if data.X.shape[1] == 0:
            raise RoleError(
                "policy_tree splits on covariates; role 'covariates' is empty",
                details={"role": "covariates", "estimator": self.name},
            )
        y, t, X = data.y, data.t, data.X
        nu = shared_nuisances(data, params, ctx)
        gamma = dr_rewards(y, t, nu.mu0, nu.mu1, nu.e, params["cost_per_treated"])
        step = params["split_step"] or max(1, data.n // AUTO_SPLITS)
        depth = params["depth"]
        val = heldout_value(X, gamma, nu.folds, depth, step)
        tree = learn_tree(X, gamma, depth, step)
        names = list(data.covariate_names)
        treat = tree.act(X)
        return Estimate.from_se(
            self.name,
            "policy_value",
            val.value,
            val.se,
            params["ci_level"],
            n=data.n,
            n_treated=int(t.sum()),
            n_control=int(data.n - t.sum()),
            diagnostics={
                **nu.diagnostics,
                "tree": tree.to_dict(names),
                "share_treated": float(treat.mean()),
                "share_treated_heldout": float(val.actions.mean()),
                "advantage_vs_treat_all": val.advantage_all,
                "advantage_vs_treat_all_se": val.advantage_all_se,
                "advantage_vs_treat_none": val.advantage_none,
                "advantage_vs_treat_none_se": val.advantage_none_se,
                "value_treat_all": float(gamma[:, 1].mean()),
                "value_treat_none": float(gamma[:, 0].mean()),
                "split_step": step,
            },
            gates=[common_support_gate(nu.e, t, ctx)],
            tables={"policy_tree": tree_table(tree, names)},
            method=f"policy tree (depth {depth}{', greedy third level' if depth == 3 else ''}) "
            f"on doubly robust rewards (outcome {learner_name(pick(params, 'outcome_learner'))}, "
            f"propensity {learner_name(pick(params, 'propensity_learner'))}); value on "
            f"{params['n_folds']} held-out folds",
        )
