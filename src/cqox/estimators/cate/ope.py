"""Off-policy evaluation (``ope``): the value of a target policy from logged data.

Logged data: covariates ``x``, a binary action ``A`` (role ``action``) chosen by a
logging policy with probability ``p_i = P_log(A_i | x_i)`` (role
``logging_propensity`` when known — the probability of the action actually taken,
Open Bandit Pipeline's ``pscore`` — else ``ê`` or ``1 − ê`` from the cross-fitted
propensity), and a reward ``R`` (role ``reward``).  The target policy ``π`` is a
column of actions (parameter ``policy``) or, with ``policy="policy_tree"``, the
policy tree learned on the other folds (:mod:`cqox.estimators.cate.policy`).  With
``w_i = 1{A_i = π(x_i)}/p_i`` and cross-fitted reward models ``q̂(x, a)``:

- **IPS**: ``V̂ = mean(w R)``;
- **SNIPS** (self-normalised): ``V̂ = Σ w R / Σ w``;
- **DR** (Dudík, Langford & Li 2011, "Doubly robust policy evaluation and
  learning", ICML, arXiv:1103.4601): ``V̂ = mean(q̂(x, π(x)) + w (R − q̂(x, A)))``;
- **switch-DR** (Wang, Agarwal & Dudík 2017, "Optimal and adaptive off-policy
  evaluation in contextual bandits", ICML, arXiv:1612.01205): DR where
  ``w ≤ switch_threshold``, the model alone where the weight is larger.

SEs from the per-row influence terms, ``sd/√n`` (SNIPS by the delta method,
``sd(w (R − V̂))/(mean(w)·√n)``).

Example
-------
>>> import cqox, numpy as np
>>> from cqox.simulate.cate import wager_athey_2018
>>> df, truth = wager_athey_2018("heterogeneous", n=2000, p=3, seed=4)
>>> df = df.rename(columns={"t": "a", "y": "r"})
>>> df["p_log"] = 0.5
>>> df["treat_all"] = 1
>>> est = cqox.estimate("ope", df, covariates=["x1", "x2", "x3"], learner="linear",
...                     roles={"action": "a", "reward": "r", "logging_propensity": "p_log"},
...                     policy="treat_all", seed=1)
>>> abs(est.estimate - 0.5 * truth["ATE"]) < 4 * est.se   # E[Y(1)] = ATE/2 here
True
"""

from __future__ import annotations

import dataclasses
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
from cqox.errors import RoleError, column_not_found
from cqox.estimators.base import Estimator, Example
from cqox.estimators.cate.nuisances import learner_name, nuisance_params, pick, shared_nuisances
from cqox.estimators.cate.policy import dr_rewards, heldout_value
from cqox.estimators.common import CI_LEVEL, _doc
from cqox.estimators.registry import register

OPE_METHODS: tuple[str, ...] = ("dr", "ips", "snips", "switch_dr")


@dataclass(frozen=True)
class OPEResult:
    """One off-policy estimate: value, SE and the per-row influence terms (shape (n,))."""

    method: str
    value: float
    se: float
    psi: np.ndarray


def ope_estimates(
    r: np.ndarray,
    a: np.ndarray,
    target: np.ndarray,
    p_log: np.ndarray,
    q0: np.ndarray,
    q1: np.ndarray,
    switch_threshold: float,
) -> dict[str, OPEResult]:
    """IPS, SNIPS, DR and switch-DR estimates of the value of ``target`` (shape (n,) each)."""
    n = len(r)
    w = (a == target) / p_log
    q_pi = np.where(target == 1, q1, q0)
    q_a = np.where(a == 1, q1, q0)

    def result(method: str, psi: np.ndarray, value: float | None = None) -> OPEResult:
        v = float(psi.mean()) if value is None else value
        return OPEResult(method, v, float(psi.std(ddof=1) / np.sqrt(n)), psi)

    ips = w * r
    snips_v = float(np.sum(w * r) / np.sum(w))
    snips_psi = snips_v + w * (r - snips_v) / w.mean()
    dr = q_pi + w * (r - q_a)
    switch = q_pi + np.where(w <= switch_threshold, w, 0.0) * (r - q_a)
    return {
        "ips": result("ips", ips),
        "snips": result("snips", snips_psi, snips_v),
        "dr": result("dr", dr),
        "switch_dr": result("switch_dr", switch),
    }


@register
class OffPolicyEvaluation(Estimator):
    """Off-policy evaluation of a logged or learned policy (IPS, SNIPS, DR, switch-DR)."""

    name = "ope"
    example = Example(
        "cate.logged_bandit",
        {"n": 400, "seed": 1},
        {
            "action": "a",
            "reward": "r",
            "outcome": "r",
            "logging_propensity": "p_log",
            "covariates": ["x1", "x2", "x3"],
        },
        params={"policy": "target", "learner": "linear", "n_folds": 2},
    )
    family = "policy"
    designs = (Design.OFF_POLICY,)
    estimands = ("policy_value",)
    default_estimands = ("policy_value",)
    requires = ("action", "reward")
    optional_roles = ("covariates", "logging_propensity")
    run_by_default = False
    summary_line = "Off-policy evaluation: IPS, SNIPS, DR and switch-DR value of a target policy"
    parameters = (
        Param(
            "policy",
            "policy_tree",
            "str",
            "column of target actions (0/1), or 'policy_tree' for a tree learned on the "
            "other folds",
        ),
        Param(
            "method",
            "dr",
            "choice",
            _doc(
                "method",
                "the estimate reported first: 'ips' and 'snips' weight, 'dr' and "
                "'switch_dr' are doubly robust",
            ),
            choices=OPE_METHODS,
        ),
        Param(
            "switch_threshold",
            10.0,
            "float",
            "switch-DR: rows with importance weight above this use the reward model only",
            low=0.0,
            closed="neither",
        ),
        Param(
            "depth",
            2,
            "int",
            _doc("depth", "with policy='policy_tree', the tree learned on the other folds"),
            low=1,
            high=3,
        ),
        *nuisance_params(),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Reward as outcome, action as a 0/1 treatment; propensity and policy columns kept."""
        for role in self.requires:
            if getattr(roles, role) is None:
                raise RoleError(
                    f"role '{role}' is required by ope but was not given", details={"role": role}
                )
        if roles.outcome is not None and roles.outcome != roles.reward:
            # ope's outcome is its reward: a second, different outcome column is a mistake
            raise RoleError(
                f"ope: role 'outcome' names column '{roles.outcome}' but role 'reward' names "
                f"'{roles.reward}'; the reward is ope's outcome (give one of them, or both "
                "naming the same column)",
                details={"role": "outcome", "column": roles.outcome},
            )
        extra = [c for c in (roles.logging_propensity,) if c is not None]
        policy = params["policy"]
        if policy != "policy_tree":
            if policy not in [str(c) for c in df.columns]:
                raise column_not_found("policy", policy, [str(c) for c in df.columns])
            extra.append(policy)
        mapped = dataclasses.replace(roles, outcome=roles.reward, treatment=roles.action)
        return prepare(df, mapped, extra_columns=extra)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        r, a, X = data.y, data.t, data.X
        nu = shared_nuisances(data, params, ctx)
        col = data.roles.logging_propensity
        if col is not None:
            p_log = data.frame[col].to_numpy(dtype=np.float64)
            bad = ~((p_log > 0) & (p_log <= 1))
            if bad.any():
                raise RoleError(
                    f"role 'logging_propensity': column '{col}' must hold probabilities in "
                    f"(0, 1]; got {p_log[bad][0]!r}",
                    details={"role": "logging_propensity", "column": col},
                )
            source = f"logged ({col})"
        else:
            p_log = np.where(a == 1, nu.e, 1 - nu.e)
            source = "estimated"
        diagnostics: dict[str, Any] = dict(nu.diagnostics)
        if params["policy"] == "policy_tree":
            if X.shape[1] == 0:
                raise RoleError(
                    "ope: a learned policy tree needs covariates; give 'covariates' or a "
                    "'policy' column",
                    details={"role": "covariates"},
                )
            gamma = dr_rewards(r, a, nu.mu0, nu.mu1, nu.e)
            target = heldout_value(X, gamma, nu.folds, params["depth"]).actions
            what = f"policy tree (depth {params['depth']}) learned on the other folds"
        else:
            raw = data.frame[params["policy"]].to_numpy()
            if not np.isin(raw, (0, 1)).all():
                raise RoleError(
                    f"ope: policy column '{params['policy']}' must hold actions 0/1",
                    details={"parameter": "policy", "column": params["policy"]},
                )
            target = raw.astype(np.int64)
            what = f"policy column '{params['policy']}'"
        res = ope_estimates(r, a, target, p_log, nu.mu0, nu.mu1, params["switch_threshold"])
        level = params["ci_level"]
        rows = []
        for m, o in res.items():
            ci, _ = normal_inference(o.value, o.se, level)
            rows.append(
                {"method": m, "estimate": o.value, "se": o.se, "ci_lower": ci[0], "ci_upper": ci[1]}
            )
        main = res[params["method"]]
        w = (a == target) / p_log
        diagnostics.update(
            {
                "share_target_treated": float(target.mean()),
                "share_matching_logged": float(np.mean(a == target)),
                "max_importance_weight": float(w.max()),
                "logging_propensity": source,
            }
        )
        scale = float(main.se * len(r) / np.sqrt(np.sum((main.psi - main.value) ** 2)))
        return Estimate.from_se(
            self.name,
            "policy_value",
            main.value,
            main.se,
            level,
            n=data.n,
            n_treated=int(a.sum()),
            n_control=int(data.n - a.sum()),
            diagnostics=diagnostics,
            tables={"ope": pd.DataFrame(rows)},
            influence=(main.psi - main.value) * scale,
            method=f"off-policy evaluation ({params['method']}) of the {what}; logging "
            f"propensity {source}; reward models {learner_name(pick(params, 'outcome_learner'))}",
        )
