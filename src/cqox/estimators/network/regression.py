"""``network_regression``: exposure effects by least squares with network-robust SEs.

For observational networks (or to add covariates to an experiment), the exposure
conditions of :mod:`cqox.estimators.network.exposure` enter a linear model::

    y_i = β₀ + β_z z_i + β_e e_i + β_ze z_i e_i + γ′x_i + u_i

so that ``direct`` = ``β_z`` (treated, not exposed − control, not exposed),
``spillover`` = ``β_e`` (control, exposed − control, not exposed) and ``total`` =
``β_z + β_e + β_ze`` (treated, exposed − control, not exposed), the contrasts of
``network_exposure``.

Standard errors: a network HAC with a uniform kernel at distance 2 (Kojevnikov, Marmer
& Song 2021, doi:10.1016/j.jeconom.2020.05.019) with a small-sample correction.  With
``a = X(X′X)⁻¹c`` for the contrast ``c``, leverages ``h_i = x_i′(X′X)⁻¹x_i`` and the
HC2-adjusted residuals ``ũ_i = û_i / √(1 − h_i)``,

    V̂ = Σ_{(i, j) ∈ D} a_i a_j ũ_i ũ_j = û′ W û,   W = D_{a/√(1−h)} (I + P) D_{a/√(1−h)},

over ``i = j`` and the ordered pairs ``P`` whose closed neighbourhoods share a unit —
the units whose exposures depend on a common treatment ("neighbourhood clusters").
Under a working model of independent homoskedastic errors, ``û = Mε`` with
``M = I − X(X′X)⁻¹X′``, ``V̂`` is the quadratic form ``ε′Gε``, ``G = M W M``.  The
reported variance is ``V̂ · c′(X′X)⁻¹c / tr(G)``, unbiased under the working model
(Bell & McCaffrey's 2002 criterion for bias-reduced linearisation, *Survey Methodology*
28(2)), and intervals and p-values use Student's t with the Bell–McCaffrey
Satterthwaite degrees of freedom of that quadratic form,

    ν = tr(G)² / tr(G²),

as Imbens & Kolesár (2016, *REStat* 98(4), doi:10.1162/REST_a_00552) recommend for HC2
and CR2 (Pustejovsky & Tipton 2018, *JBES* 36(4), doi:10.1080/07350015.2016.1247004,
give the working-model form).

Why not CR2: Bell–McCaffrey's CR2 adjusts each cluster's residuals by
``(I − H_gg)^{-1/2}``, which needs disjoint clusters whose meat is a sum of outer
products; neighbourhood clusters overlap (the meat is the kernel-weighted sum above,
not a sum over blocks), so the block adjustment has no counterpart.  Instead the
unit-level HC2 factor ``(1 − h_ii)^{-1/2}`` makes every own-variance term unbiased under
the working model; each cross term keeps a bias ``−σ² a_i a_j h_ij / √((1 − h_i)(1 −
h_j))`` (the working model has no covariance), which summed over the pairs is 1–4% of
the variance on the simulated graphs of docs/validation_network.md, and the scalar
``c′(X′X)⁻¹c / tr(G)`` removes it (without pairs it is 1: HC2 is unbiased there).  ``ν``
carries the variability of ``V̂`` — 15 to 70 degrees of freedom on those graphs of 1,000
units, the main reason normal intervals under-covered.  ``tr(G)`` and ``tr(G²)`` come
from ``W``'s non-zeros and ``k × k`` products, never an ``n × n`` matrix.  When ``V̂``
is not positive (the uniform kernel is not guaranteed positive definite) the HC2
variance ``Σ a_i² ũ_i²`` and its degrees of freedom are used and a warning says so.

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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
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


@dataclass(frozen=True)
class NetworkVariance:
    """Small-sample network-HAC variance of a contrast of least-squares coefficients.

    Attributes
    ----------
    var : float
        HC2-adjusted network HAC ``û′Wû`` (HC2 when that is not positive).
    var_hc2 : float
        HC2 variance: the own terms only.
    df : float
        Bell–McCaffrey degrees of freedom of the variance used.
    scale : float
        ``c′(X′X)⁻¹c / tr(G)``, the working-model bias correction applied to ``var``.
    fell_back : bool
        Whether the HC2 variance replaced a non-positive network HAC.
    """

    var: float
    var_hc2: float
    df: float
    scale: float
    fell_back: bool


def working_model_traces(x: np.ndarray, bread: np.ndarray, w: sp.csr_array) -> tuple[float, float]:
    """``tr(G)`` and ``tr(G²)`` for ``G = M W M``, ``M = I − X(X′X)⁻¹X′`` (``W`` symmetric).

    ``tr(G) = tr(W) − tr(WH)`` and ``tr(G²) = tr(W²) − 2 tr(W²H) + tr(WHWH)`` with
    ``H = X B X′``: ``tr(WH) = Σ (WX) ∘ (XB)``, ``tr(W²H) = Σ (WX) ∘ (WXB)`` and
    ``tr(WHWH) = tr((X′WX B)²)`` — sparse products and ``k × k`` matrices only.
    """
    wx = np.asarray(w @ x)
    tr_w = float(w.diagonal().sum())
    tr_wh = float(np.sum(wx * (x @ bread)))
    tr_w2 = float(w.multiply(w).sum())
    tr_w2h = float(np.sum(wx * (wx @ bread)))
    c = (x.T @ wx) @ bread
    tr_whwh = float(np.sum(c * c.T))
    return tr_w - tr_wh, tr_w2 - 2.0 * tr_w2h + tr_whwh


def network_hac(
    x: np.ndarray, u: np.ndarray, c: np.ndarray, pair_i: np.ndarray, pair_j: np.ndarray
) -> NetworkVariance:
    """HC2-adjusted network HAC of ``c′β̂`` with Bell–McCaffrey df (see the module).

    ``x`` (n, k) regressors, ``u`` (n,) residuals, ``c`` (k,) contrast; pairs ordered
    (both ``(i, j)`` and ``(j, i)``), ``i ≠ j``.
    """
    n = x.shape[0]
    bread = np.linalg.pinv(x.T @ x)
    a = x @ (bread @ c)
    lev = np.sum((x @ bread) * x, axis=1)
    # a unit alone in its cell has leverage 1 and no residual information; keep it finite
    g = a / np.sqrt(np.maximum(1.0 - lev, 1e-8))
    psi = g * u
    hc2 = float(np.sum(psi**2))
    net = hc2 + float(np.sum(psi[pair_i] * psi[pair_j]))
    fell_back = net <= 0
    diag = sp.diags_array(g**2, format="csr")
    if fell_back:
        w = diag
    else:
        off = sp.csr_array((g[pair_i] * g[pair_j], (pair_i, pair_j)), shape=(n, n))
        w = sp.csr_array(diag + off)
    tr_g, tr_g2 = working_model_traces(x, bread, w)
    df = tr_g**2 / tr_g2 if tr_g2 > 0 else float("nan")
    # E[û′Wû] = σ² tr(G) under the working model, whose variance is σ² c′(X′X)⁻¹c:
    # rescale so that the estimate is unbiased there (1 without pairs: HC2 already is)
    scale = float(c @ bread @ c) / tr_g if tr_g > 0 else 1.0
    return NetworkVariance(hc2 if fell_back else net * scale, hc2, df, scale, fell_back)


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
        nv = network_hac(x, u, c, pair_i, pair_j)
        se = float(np.sqrt(nv.var))
        level = params["ci_level"]
        df = nv.df if np.isfinite(nv.df) else float(data.n - x.shape[1])
        q = float(special.stdtrit(df, 0.5 + level / 2))
        notes = [
            "assumes the exposure mapping, unconfounded treatment and exposure given the "
            "covariates, constant effects and errors dependent within two hops only"
        ]
        if nv.fell_back:
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
            p_value=float(2 * special.stdtr(df, -abs(tau) / se)) if se > 0 else float("nan"),
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
                "se_hc2": float(np.sqrt(nv.var_hc2)),
                "df": df,
                "n_dependent_pairs": int(pair_i.size // 2),
                "working_model_scale": nv.scale,
                "hac_fallback": nv.fell_back,
            },
            warnings=notes,
            method=(
                f"OLS of the outcome on treatment × exposure ({mapping.kind} ≥ "
                f"{mapping.threshold:g}){' and covariates' if data.X.shape[1] else ''}, "
                "HC2 network-HAC SE (uniform kernel, units sharing a neighbour), "
                f"t with Bell–McCaffrey df {df:.1f}"
            ),
        )
