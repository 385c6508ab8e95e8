"""The proximal estimators: ``proximal_2sls`` and ``proximal_dr``.

Both estimate the ATE of a binary treatment confounded by an unmeasured ``U`` of which
the table holds two proxies: the ``treatment_proxy`` role (``Z``, a negative-control
exposure) and the ``outcome_proxy`` role (``W``, a negative-control outcome), adjusting
for the ``covariates`` ``X`` (:mod:`cqox.estimators.proximal.scores`).

Gate ``proxy_relevance``: the robust first-stage F of ``Z`` in the regression of ``W``
on ``(1, A, Z, X)``.  The outcome bridge is identified only if the treatment proxy
predicts the outcome proxy (the completeness condition's testable part); a weak first
stage makes proximal 2SLS a weak-instrument 2SLS, biased towards the confounded OLS
and with intervals that under-cover.  Warn below 10 (``proxy_relevance``), fail
below a quarter of it.

Example
-------
>>> import cqox
>>> from cqox.simulate.proximal import zivich_2023
>>> df, truth = zivich_2023(n=2000, seed=1)
>>> est = cqox.estimate("proximal_2sls", df, outcome="y", treatment="t",
...                     treatment_proxy="z", outcome_proxy="w", covariates=["x"])
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.roles import Roles
from cqox.data.formula import formula_variables
from cqox.data.prepare import CausalData, prepare
from cqox.errors import RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL
from cqox.estimators.proximal.scores import (
    OutcomeBridge,
    doubly_robust_ate,
    fit_outcome_bridge,
    fit_treatment_bridge,
    p2sls_ate,
)
from cqox.estimators.registry import register

PROXY_ROLES = ("treatment_proxy", "outcome_proxy")
_EXAMPLE = Example(
    "proximal.zivich_2023",
    {"n": 600, "seed": 1},
    {
        "outcome": "y",
        "treatment": "t",
        "treatment_proxy": "z",
        "outcome_proxy": "w",
        "covariates": ["x"],
    },
)


def proxy_relevance_gate(f: float, ctx: Context) -> Gate:
    """The first-stage F of the treatment proxy for the outcome proxy."""
    limit = ctx.threshold("proxy_relevance")
    return threshold_gate(
        "proxy_relevance",
        f,
        limit,
        higher_is_better=True,
        label="first-stage F of the treatment proxy for the outcome proxy",
        fail_threshold=limit / 4,
    )


def _proxy(data: CausalData, role: str) -> np.ndarray:
    """A proxy column as float64, shape (n, 1): numeric and not constant."""
    col = getattr(data.roles, role)
    s = data.frame[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise RoleError(
            f"role '{role}': column '{col}' must be numeric; got dtype {s.dtype} with values "
            f"like {s.iloc[0]!r}",
            details={"role": role, "column": col},
        )
    v = s.to_numpy(dtype=np.float64)
    if not np.isfinite(v).all():
        raise RoleError(
            f"role '{role}': column '{col}' has infinite values",
            details={"role": role, "column": col},
        )
    if np.ptp(v) == 0:
        raise RoleError(
            f"role '{role}': column '{col}' is constant ({v[0]:g}) in the rows in use; a "
            "proxy of the unmeasured confounder needs variation",
            details={"role": role, "column": col},
        )
    return v[:, None]


class _ProximalEstimator(Estimator):
    """What both proximal estimators share: roles, preparation, the outcome bridge."""

    family = "proximal"
    designs = (Design.PROXIMAL,)
    estimands = ("ATE",)
    requires = ("outcome", "treatment", "treatment_proxy", "outcome_proxy")
    example = _EXAMPLE
    parameters = (CI_LEVEL,)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Prepare as the backdoor design does; a proxy is neither a covariate nor Y or A."""
        cols = [str(c) for c in df.columns]
        covs = (
            formula_variables(roles.covariate_formula, cols)
            if roles.covariate_formula is not None
            else list(roles.covariates or ())
        )
        for role in PROXY_ROLES:
            col = getattr(roles, role)
            if col is None:
                continue
            if col in covs:
                raise RoleError(
                    f"role 'covariates': column '{col}' is the {role.replace('_', ' ')}; a "
                    "proxy of the unmeasured confounder is not adjusted for directly, remove "
                    "it from the covariates",
                    details={"role": "covariates", "column": col},
                )
            if col in (roles.outcome, roles.treatment):
                raise RoleError(
                    f"role '{role}': column '{col}' is also the outcome or the treatment",
                    details={"role": role, "column": col},
                )
        if roles.treatment_proxy is not None and roles.treatment_proxy == roles.outcome_proxy:
            raise RoleError(
                f"role 'outcome_proxy': column '{roles.outcome_proxy}' is also the treatment "
                "proxy; the two proxies must be different columns",
                details={"role": "outcome_proxy", "column": roles.outcome_proxy},
            )
        return prepare(df, roles, require=self.requires)

    def _bridge(self, data: CausalData, ctx: Context) -> OutcomeBridge:
        assert data.y is not None and data.t is not None
        key = ("proximal_outcome_bridge", data.cache_key())
        if key not in ctx.cache:
            z, w = _proxy(data, "treatment_proxy"), _proxy(data, "outcome_proxy")
            ctx.cache[key] = fit_outcome_bridge(data.y, data.t, z, w, data.X)
        bridge: OutcomeBridge = ctx.cache[key]
        return bridge

    def _estimate(
        self,
        data: CausalData,
        params: dict[str, Any],
        ctx: Context,
        estimate: float,
        phi: np.ndarray,
        bridge: OutcomeBridge,
        method: str,
        diagnostics: dict[str, Any],
    ) -> Estimate:
        assert data.t is not None
        return Estimate.from_se(
            self.name,
            "ATE",
            estimate,
            float(np.sqrt(phi @ phi) / data.n),
            params["ci_level"],
            n=data.n,
            n_treated=int(data.t.sum()),
            n_control=int(data.n - data.t.sum()),
            diagnostics={
                "outcome_bridge": dict(
                    zip(
                        ["intercept", "treatment", "outcome_proxy", *data.covariate_names],
                        [float(c) for c in bridge.coef],
                        strict=True,
                    )
                ),
                "first_stage_f": bridge.first_stage_f,
                **diagnostics,
            },
            gates=[proxy_relevance_gate(bridge.first_stage_f, ctx)],
            influence=phi,
            method=method,
        )


@register
class ProximalTwoStage(_ProximalEstimator):
    """Proximal two-stage least squares (Tchetgen Tchetgen et al. 2020; Miao et al. 2018).

    The outcome bridge ``h(W, A, X) = b'(1, A, W, X)`` by 2SLS with ``Z`` instrumenting
    ``W``; ATE = ``b_A``, robust (sandwich) SE.
    """

    name = "proximal_2sls"
    summary_line = (
        "ATE under unmeasured confounding from a treatment and an outcome proxy: proximal "
        "two-stage least squares (Tchetgen Tchetgen et al. 2020; Miao et al. 2018)"
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        bridge = self._bridge(data, ctx)
        score = p2sls_ate(bridge)
        return self._estimate(
            data,
            params,
            ctx,
            score.estimate,
            score.influence,
            bridge,
            "proximal two-stage least squares: outcome proxy on (1, A, treatment proxy, X), "
            "then outcome on (1, A, fitted outcome proxy, X); robust sandwich SE",
            {},
        )


@register
class ProximalDoublyRobust(_ProximalEstimator):
    """Doubly robust proximal estimator (Cui et al. 2023) with a linear outcome bridge.

    Consistent when either the linear outcome bridge or the treatment bridge
    ``q = 1 + exp{(1 − 2A) t'(1, A, Z, X)}`` is correctly specified; sandwich SE of the
    stacked equations.
    """

    name = "proximal_dr"
    # the treatment bridge's working form holds in this design (not in zivich_2023's)
    example = Example("proximal.proximal_bridges", {"n": 600, "seed": 1}, _EXAMPLE.roles)
    summary_line = (
        "ATE under unmeasured confounding from a treatment and an outcome proxy: doubly "
        "robust proximal estimator with outcome and treatment bridges (Cui et al. 2023)"
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        bridge = self._bridge(data, ctx)
        z, w = _proxy(data, "treatment_proxy"), _proxy(data, "outcome_proxy")
        q = fit_treatment_bridge(data.t, z, w, data.X)
        score = doubly_robust_ate(data.y, data.t, w, data.X, bridge, q)
        return self._estimate(
            data,
            params,
            ctx,
            score.estimate,
            score.influence,
            bridge,
            "doubly robust proximal estimator (linear outcome bridge by proximal 2SLS, "
            "treatment bridge 1 + exp{(1 − 2A) t'(1, A, Z, X)} by its moment equations); "
            "sandwich SE of the stacked equations",
            {
                "treatment_bridge": dict(
                    zip(
                        ["intercept", "treatment", "treatment_proxy", *data.covariate_names],
                        [float(c) for c in q.coef],
                        strict=True,
                    )
                ),
                "treatment_bridge_max": float(q.q.max()),
                "proximal_2sls_estimate": float(bridge.coef[1]),
            },
        )
