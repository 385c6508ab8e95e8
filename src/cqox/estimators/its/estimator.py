"""The registered ``its`` estimator: interrupted time series (segmented regression).

Estimands: ``level_change`` (``β2``, the immediate jump at the interruption) and
``slope_change`` (``β3``, the change of the trend per period); each run reports one as
its estimate and the other in ``diagnostics``.  Model, assumptions and inference are in
:mod:`cqox.estimators.its.segmented`.  Assumptions: the pre-interruption trend (plus
seasonality and covariates) would have continued without the interruption, no other
event at the same time (a control series guards against common shocks), equally spaced
periods.

Interface: roles ``outcome`` and ``time`` (one row per period); the interruption is the
``interruption`` parameter (the first post period) or, when not given, the first
period where the 0/1 ``treatment`` role is 1 (it must be 0 before and 1 after).
``control`` names a column holding a control series on the same periods (comparative
ITS); ``covariates`` enter linearly.

Example
-------
>>> import cqox
>>> from cqox.simulate.its import its_ar1
>>> df, truth = its_ar1(n_pre=60, n_post=60, seed=2)
>>> est = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=60)
>>> est.estimand
'level_change'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import DataError, DesignError, ParameterError, RoleError
from cqox.estimators.base import Estimator
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.its.segmented import auto_lag, its_design, ols_hac
from cqox.estimators.registry import register


@register
class ITS(Estimator):
    """Segmented regression with Newey–West HAC standard errors."""

    name = "its"
    family = "interrupted_time_series"
    designs = (Design.ITS,)
    estimands = ("level_change", "slope_change")
    default_estimands = ("level_change", "slope_change")
    requires = ("outcome", "time")
    optional_roles = ("treatment", "covariates")
    summary_line = "Interrupted time series: segmented regression, Newey–West HAC SE"
    parameters = (
        estimand_param(("level_change", "slope_change"), "level_change"),
        Param("interruption", None, "any", "first post-interruption period", nullable=True),
        Param(
            "hac_lag",
            None,
            "int",
            "Newey–West lag (default floor(4 (n/100)^(2/9)))",
            low=0,
            nullable=True,
        ),
        Param("small_sample", False, "bool", "multiply the HAC covariance by n/(n − k)"),
        Param(
            "season_period",
            None,
            "int",
            "season length in periods (e.g. 12)",
            low=2,
            nullable=True,
        ),
        Param(
            "season_method",
            "fourier",
            "choice",
            "Fourier terms or season dummies",
            choices=("fourier", "dummies"),
        ),
        Param("fourier_order", 2, "int", "harmonic pairs when season_method='fourier'", low=1),
        Param(
            "control", None, "str", "column with a control series (comparative ITS)", nullable=True
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Complete-case rows of outcome, time, treatment, covariates and control."""
        extra = [params["control"]] if params.get("control") else []
        return prepare(df, roles, require=self.requires, extra_columns=extra)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        r = data.roles
        assert r.time is not None and data.y is not None
        time = data.frame[r.time]
        if time.duplicated().any():
            dup = time[time.duplicated()].iloc[0]
            raise DataError(
                f"role 'time': period {dup!r} appears more than once; ITS needs one row per "
                "period (aggregate first, or use a panel design)",
                details={"role": "time", "column": r.time},
            )
        order = np.argsort(time.to_numpy(), kind="stable")
        times = time.to_numpy()[order]
        y = data.y[order]
        notes: list[str] = []
        if params["control"]:
            c = pd.to_numeric(data.frame[params["control"]], errors="coerce").to_numpy()[order]
            if np.isnan(c).any():
                raise RoleError(
                    f"parameter 'control': column '{params['control']}' must be numeric",
                    details={"parameter": "control", "column": params["control"]},
                )
            y_used = y - c
        else:
            c = None
            y_used = y
        t0 = params["interruption"]
        if t0 is None:
            if data.t is None:
                raise RoleError(
                    "its needs the interruption: give the parameter 'interruption' (first "
                    "post period) or a 0/1 'treatment' role (0 before, 1 from then on)",
                    details={"role": "treatment"},
                )
            d = data.t[order]
            s0 = int(np.argmax(d == 1))
            if np.any(d[:s0] != 0) or np.any(d[s0:] != 1):
                raise DesignError(
                    f"role 'treatment': column '{r.treatment}' must be 0 up to the "
                    "interruption and 1 from then on (one interruption)",
                    details={"role": "treatment", "column": r.treatment},
                )
            t0 = times[s0]
        else:
            s0 = int(np.searchsorted(times, t0, side="left"))
        n = len(y_used)
        if s0 < 2 or n - s0 < 2:
            raise DesignError(
                f"interruption {t0!r} leaves {s0} pre and {n - s0} post periods; each "
                "segment needs at least 2 to fit a line",
                details={"parameter": "interruption"},
            )
        if np.issubdtype(times.dtype, np.number):
            steps = np.diff(times.astype(float))
            if steps.size and np.ptp(steps) > 1e-9 * max(1.0, float(np.abs(steps).max())):
                notes.append(
                    f"periods of '{r.time}' are not equally spaced; the slope is per "
                    "observation, not per unit of time"
                )
        Z, names = its_design(
            n,
            s0,
            params["season_period"],
            params["season_method"],
            params["fourier_order"],
            data.X[order] if data.X.shape[1] else None,
            data.covariate_names,
        )
        if np.linalg.matrix_rank(Z) < Z.shape[1]:
            raise DesignError(
                "the ITS design matrix is rank-deficient (too few periods for the "
                "seasonal terms or covariates?)",
                details={"columns": names},
            )
        lag = auto_lag(n) if params["hac_lag"] is None else params["hac_lag"]
        if lag >= n:
            raise ParameterError(
                f"The 'hac_lag' parameter of its must be below the number of periods ({n}). "
                f"Got {lag} instead.",
                details={"parameter": "hac_lag", "estimator": self.name},
            )
        fit = ols_hac(y_used, Z, lag, params["small_sample"])
        j = names.index(params["estimand"])
        other = "slope_change" if params["estimand"] == "level_change" else "level_change"
        k_other = names.index(other)
        counterfactual = fit.fitted - Z[:, 2] * fit.coef[2] - Z[:, 3] * fit.coef[3]
        resid = fit.resid
        rho1 = float(resid[1:] @ resid[:-1] / (resid @ resid)) if n > 2 else float("nan")
        fit_table = pd.DataFrame(
            {
                "time": times,
                "observed": y_used,
                "fitted": fit.fitted,
                "counterfactual": counterfactual,
                "post": np.arange(n) >= s0,
            }
        )
        if c is not None:
            fit_table["treated_series"] = y
            fit_table["control_series"] = c
        z = fit.coef / fit.se
        coef_table = pd.DataFrame(
            {
                "term": names,
                "coef": fit.coef,
                "se": fit.se,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
            }
        )
        n_pre, n_post = s0, n - s0
        gates = [
            threshold_gate(
                "its_segment_length",
                float(min(n_pre, n_post)),
                ctx.threshold("its_min_segment"),
                higher_is_better=True,
                label="periods in the shorter segment",
                details={"n_pre": n_pre, "n_post": n_post},
            )
        ]
        return Estimate.from_se(
            self.name,
            params["estimand"],
            float(fit.coef[j]),
            float(fit.se[j]),
            params["ci_level"],
            n=n,
            counts={"n_pre": n_pre, "n_post": n_post},
            diagnostics={
                "interruption": t0,
                other: float(fit.coef[k_other]),
                f"{other}_se": float(fit.se[k_other]),
                "pre_slope": float(fit.coef[1]),
                "hac_lag": lag,
                "residual_autocorrelation_lag1": rho1,
                "comparative": c is not None,
                "r_squared": float(1 - (resid @ resid) / np.sum((y_used - y_used.mean()) ** 2)),
            },
            gates=gates,
            tables={"coefficients": coef_table, "fit": fit_table},
            warnings=notes,
            method=(
                ("comparative " if c is not None else "")
                + f"segmented regression, Newey–West HAC SE (Bartlett, lag {lag}"
                + (", n/(n−k) correction" if params["small_sample"] else "")
                + "), normal CI"
            ),
        )
