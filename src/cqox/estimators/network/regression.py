"""``network_regression``: exposure effects by least squares with network-robust SEs.

For observational networks (or to add covariates to an experiment), the exposure
conditions of :mod:`cqox.estimators.network.exposure` enter a linear model::

    y_i = β₀ + β_z z_i + β_e e_i + β_ze z_i e_i + γ′x_i + u_i

so that ``direct`` = ``β_z`` (treated, not exposed − control, not exposed),
``spillover`` = ``β_e`` (control, exposed − control, not exposed) and ``total`` =
``β_z + β_e + β_ze`` (treated, exposed − control, not exposed), the contrasts of
``network_exposure``.

Standard errors: a network HAC with a uniform kernel at distance 2 (Kojevnikov, Marmer
& Song 2021, doi:10.1016/j.jeconom.2020.05.019): with ``ψ_i = c′(X′X)⁻¹ x_i û_i`` for
the contrast ``c``, ``V̂ = n/(n − k) · Σ_{(i, j) ∈ D} ψ_i ψ_j`` over ``i = j`` and the
ordered pairs whose closed neighbourhoods share a unit — the units whose exposures
depend on a common treatment ("neighbourhood clusters").  When that sum is not positive
(the uniform kernel is not guaranteed positive definite) the heteroskedasticity-robust
``Σ ψ_i²`` is used and a warning says so.

Assumptions (stated, not tested): the exposure mapping is right (only the neighbours
named by ``mapping``/``threshold`` matter); given the covariates, own treatment and
exposure are as good as randomly assigned; the effects are constant (linear model);
errors are dependent only between units within two hops.  Under a randomised design,
``network_exposure`` needs none of the last three.

Example::

    cqox.estimate("network_regression", df, outcome="y", treatment="t",
                  roles={"unit": "id"}, covariates=["x1"], network=edges,
                  estimand="spillover")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, ParameterError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.network.estimator import (
    ESTIMANDS,
    NetworkExposure,
    check_pairs,
    prepare_every_unit,
)
from cqox.estimators.network.exposure import CONDITIONS, ExposureMapping, conditions
from cqox.estimators.network.graph_input import build_graph, exposure_matrix
from cqox.estimators.network.horvitz_thompson import dependent_pairs
from cqox.estimators.registry import register

#: Parameters shared with ``network_exposure`` (the edge table and the exposure mapping).
_SHARED = ("network", "source", "target", "edge_weight", "directed", "mapping", "threshold")
#: Names of the first four coefficients.
_TERMS = ("intercept", "treatment", "exposed", "treatment_x_exposed")
#: Contrast vectors on (β_z, β_e, β_ze) of each estimand.
CONTRAST = {"direct": (1.0, 0.0, 0.0), "spillover": (0.0, 1.0, 0.0), "total": (1.0, 1.0, 1.0)}


def network_hac(
    x: np.ndarray, u: np.ndarray, c: np.ndarray, pair_i: np.ndarray, pair_j: np.ndarray
) -> tuple[float, float, bool]:
    """The network-HAC and the HC variance of the contrast ``c′β̂``, and whether HC is used.

    ``x`` (n, k) regressors, ``u`` (n,) residuals, ``c`` (k,) contrast; pairs ordered,
    ``i ≠ j``.  Returns ``(V̂_network, V̂_HC, fell_back)`` with the ``n/(n − k)`` factor.
    """
    n, k = x.shape
    bread = np.linalg.pinv(x.T @ x)
    psi = (x @ (bread @ c)) * u
    scale = n / max(n - k, 1)
    hc = float(np.sum(psi**2)) * scale
    net = hc + float(np.sum(psi[pair_i] * psi[pair_j])) * scale
    if net <= 0:
        return hc, hc, True
    return net, hc, False


@register
class NetworkRegression(Estimator):
    """Least squares on own treatment × exposure with network-HAC standard errors."""

    name = "network_regression"
    family = "network"
    designs = (Design.NETWORK,)
    estimands = ESTIMANDS
    default_estimands = ESTIMANDS
    requires = ("outcome", "treatment", "unit")
    optional_roles = ("covariates",)
    run_by_default = False
    summary_line = "Network interference: OLS on treatment × exposure, network-HAC SEs"
    example = Example(
        "network.network_interference",
        {"n": 400, "mean_degree": 2.0, "seed": 1},
        {"outcome": "y", "treatment": "t", "unit": "id"},
        side_tables={"network": 1},
    )
    parameters = (
        estimand_param(ESTIMANDS, "direct"),
        *(p for p in NetworkExposure.parameters if p.name in _SHARED),
        CI_LEVEL,
    )

    def fit(
        self,
        df: pd.DataFrame,
        roles: Roles,
        context: Context | None = None,
        data: CausalData | None = None,
    ) -> Estimate:
        """As :meth:`Estimator.fit`; the edge table is summarised in ``params``."""
        est = super().fit(df, roles, context, data)
        params = dict(est.params)
        net = params.get("network")
        if isinstance(net, pd.DataFrame):
            params["network"] = f"edge table ({len(net)} edges)"
        return est.with_updates(params=params)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Every unit must be complete: a missing treatment would hide exposures."""
        return prepare_every_unit(
            df, roles, self.requires, self.name, "outcome, treatment and covariates"
        )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        r = data.roles
        assert data.y is not None and data.t is not None and r.unit is not None
        if params["network"] is None:
            raise ParameterError(
                "network_regression needs the parameter 'network': a table of edges "
                "(source, target, optional weight)",
                details={"parameter": "network"},
            )
        mapping = ExposureMapping(params["mapping"], params["threshold"])
        ids = data.frame[r.unit].tolist()
        graph = build_graph(
            params["network"],
            ids,
            source=params["source"],
            target=params["target"],
            weight=params["edge_weight"],
            directed=params["directed"],
        )
        adj = exposure_matrix(graph, ids, weighted=params["edge_weight"] is not None)
        y, z = data.y, data.t
        obs = conditions(adj, z, mapping)
        counts = np.bincount(obs, minlength=4)
        needed = {"direct": (0, 2), "spillover": (0, 1), "total": (0, 1, 2, 3)}[params["estimand"]]
        empty = [CONDITIONS[c] for c in needed if counts[c] == 0]
        if empty:
            raise DesignError(
                f"estimand '{params['estimand']}': no unit is observed in condition "
                f"'{empty[0]}' under this exposure mapping; change 'threshold' or 'mapping'",
                details={"parameter": "threshold"},
            )
        zz = (z > 0).astype(np.float64)
        ee = (obs % 2 == 1).astype(np.float64)
        x = np.column_stack([np.ones_like(zz), zz, ee, zz * ee, data.X])
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        u = y - x @ beta
        c = np.zeros(x.shape[1])
        c[1:4] = CONTRAST[params["estimand"]]
        tau = float(c @ beta)
        check_pairs(adj, None)
        pair_i, pair_j = dependent_pairs(adj)
        var, var_hc, fell_back = network_hac(x, u, c, pair_i, pair_j)
        se = float(np.sqrt(var))
        level = params["ci_level"]
        q = float(special.ndtri(0.5 + level / 2))
        notes = [
            "assumes the exposure mapping, unconfounded treatment and exposure given the "
            "covariates, constant effects and errors dependent within two hops only"
        ]
        if fell_back:
            notes.append(
                "the network-HAC variance was not positive; the heteroskedasticity-robust "
                "variance (no network dependence) is reported instead"
            )
        return Estimate(
            estimator=self.name,
            estimand=params["estimand"],
            estimate=tau,
            se=se,
            ci=(tau - q * se, tau + q * se),
            p_value=float(2 * special.ndtr(-abs(tau) / se)) if se > 0 else float("nan"),
            ci_level=level,
            n=data.n,
            n_treated=int(zz.sum()),
            n_control=int(data.n - zz.sum()),
            counts={
                "n_edges": int(graph.number_of_edges()),
                **{f"n_{name}": int(k) for name, k in zip(CONDITIONS, counts, strict=True)},
            },
            diagnostics={
                "coefficients": {
                    name: float(b)
                    for name, b in zip(
                        [*_TERMS, *data.covariate_names],
                        beta,
                        strict=True,
                    )
                },
                "se_hc": float(np.sqrt(var_hc)),
                "n_dependent_pairs": int(pair_i.size // 2),
                "hac_fallback": fell_back,
            },
            warnings=notes,
            method=(
                f"OLS of the outcome on treatment × exposure ({mapping.kind} ≥ "
                f"{mapping.threshold:g}){' and covariates' if data.X.shape[1] else ''}, "
                "network-HAC SE (uniform kernel, units sharing a neighbour)"
            ),
        )
