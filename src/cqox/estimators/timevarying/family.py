"""What the time-varying estimators share: design, roles, estimand, preparation."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from cqox.core.design import Design
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.estimators.base import Estimator
from cqox.estimators.timevarying.panel import TimeVaryingPanel, prepare_panel

#: ``E[Y(1, …, 1)] − E[Y(0, …, 0)]``: always treated against never treated.
ALWAYS_VS_NEVER = "always_vs_never"


class TimeVaryingEstimator(Estimator):
    """Base of the estimators of a treatment history's effect on an end-of-follow-up outcome."""

    family = "time_varying"
    designs = (Design.TIME_VARYING,)
    estimands = (ALWAYS_VS_NEVER,)
    default_estimands = (ALWAYS_VS_NEVER,)
    requires: ClassVar[tuple[str, ...]] = ("outcome", "treatment", "unit", "time", "covariates")
    optional_roles: ClassVar[tuple[str, ...]] = ()
    #: the time-varying confounders are never inferred (a column that changes within
    #: units may be a consequence of treatment): they must be named, and the service's
    #: work budget counts these estimators only when a request names covariates
    needs_named_covariates = True

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """The balanced long panel (:func:`~cqox.estimators.timevarying.panel.prepare_panel`)."""
        return prepare_panel(df, roles)

    @staticmethod
    def panel_of(data: CausalData) -> TimeVaryingPanel:
        """The panel attached to prepared data."""
        panel = getattr(data, "panel", None)
        assert isinstance(panel, TimeVaryingPanel)
        return panel
