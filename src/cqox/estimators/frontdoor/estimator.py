"""The registered ``frontdoor`` estimator: Pearl's front-door formula by two linear stages.

With the ``mediator`` role ``M`` (every directed path from the treatment to the outcome
goes through it, no backdoor path reaches it from the treatment, and the treatment blocks
its backdoor paths to the outcome: the front-door criterion, Pearl 1995,
doi:10.1093/biomet/82.4.669), the effect of a unit change in ``t`` is

    τ = α·β,   M = a + α·t + e,   E[Y | M, t] = b + β·M + c·t,

estimated by the two OLS fits and a delta-method standard error
(:mod:`cqox.estimators.frontdoor.twostage`).  It is DoWhy's
``frontdoor.two_stage_regression`` (``tests/reference/test_frontdoor_vs_dowhy.py``);
its interval covers the truth at the nominal rate (``tests/truth/test_frontdoor_truth.py``).

The roles cannot say whether the criterion holds — the same roles support mediation
under sequential ignorability — so the front-door design is never inferred from roles:
an analysis runs this estimator when a causal graph identifies the effect this way
(with every mediator of the graph's front-door set) or when it is named.  Covariates are
not used: the criterion is a statement about the graph without them.

Example
-------
>>> import cqox
>>> from cqox.simulate.frontdoor import front_door
>>> df, truth = front_door(n=2000, seed=1)
>>> est = cqox.estimate("frontdoor", df, outcome="y", treatment="t", mediator="m")
>>> est.estimand, abs(est.estimate - truth["ATE"]) < 4 * est.se
('ATE', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL
from cqox.estimators.frontdoor.twostage import frontdoor_estimate
from cqox.estimators.registry import register


@register
class FrontDoor(Estimator):
    """Front-door two-stage plug-in with a delta-method SE (see the module docstring)."""

    name = "frontdoor"
    family = "frontdoor"
    designs = (Design.FRONTDOOR,)
    estimands = ("ATE", "ACR")
    requires = ("outcome", "treatment", "mediator")
    optional_roles = ()
    binary_treatment = False
    summary_line = (
        "Front-door formula (Pearl 1995) by two linear stages: effect through the mediator "
        "despite a hidden treatment–outcome confounder; delta-method SE"
    )
    parameters = (CI_LEVEL,)
    example = Example(
        "frontdoor.front_door",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "mediator": "m"},
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Complete rows of outcome, treatment and mediator; covariates are refused."""
        if roles.covariates:
            raise RoleError(
                "role 'covariates': the frontdoor estimator uses none (the front-door "
                "criterion is a statement about the graph, not given covariates); remove them",
                details={"role": "covariates", "estimator": self.name},
            )
        med = roles.mediator
        if med is not None and med in (roles.outcome, roles.treatment):
            raise RoleError(
                f"role 'mediator': column '{med}' is also the outcome or the treatment",
                details={"role": "mediator", "column": med},
            )
        return prepare(df, roles, require=self.requires, binary_treatment=False)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        roles = data.roles
        assert roles.outcome is not None and roles.treatment is not None
        assert roles.mediator is not None
        m = data.frame[roles.mediator]
        if not (pd.api.types.is_numeric_dtype(m) or pd.api.types.is_bool_dtype(m)):
            raise RoleError(
                f"role 'mediator': column '{roles.mediator}' must be numeric (or 0/1); got "
                f"dtype {m.dtype}",
                details={"role": "mediator", "column": roles.mediator},
            )
        if not np.isfinite(m.to_numpy(np.float64)).all():
            raise RoleError(
                f"role 'mediator': column '{roles.mediator}' has infinite values",
                details={"role": "mediator", "column": roles.mediator},
            )
        frame = pd.DataFrame(
            {roles.outcome: data.y, roles.treatment: data.t, roles.mediator: m.to_numpy(np.float64)}
        )
        return frontdoor_estimate(
            frame, roles.outcome, roles.treatment, [roles.mediator], ci_level=params["ci_level"]
        )


__all__ = ["FrontDoor"]
