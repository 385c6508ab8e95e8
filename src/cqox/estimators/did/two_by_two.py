"""Canonical two-group, two-period difference-in-differences (``did_2x2``).

Estimand: the ATT in the post period(s),
``τ = (E[Y|G=1,post] − E[Y|G=1,pre]) − (E[Y|G=0,post] − E[Y|G=0,pre])``,
identified under parallel trends and no anticipation (Card & Krueger 1994,
doi:10.3386/w4509; Angrist & Pischke 2009, ch. 5).

Estimator: the interaction coefficient of the pooled regression::

    y_it = β0 + β1·G_i + β2·Post_t + τ·G_i·Post_t + X_it'γ + ε_it

(weighted least squares with the ``weight`` role), which without covariates is the
difference of the four (weighted) cell means.  Standard errors are cluster-robust
(CR1, clustered by unit unless a ``cluster`` role is given) with the usual
small-sample factor ``G/(G−1)·(N−1)/(N−K)`` (Stata's and statsmodels' default).

``se_method="conley"`` (with ``conley_cutoff_km``, ``conley_kernel`` and the ``lat``/
``lon`` roles) takes Conley's (1999) spatial HAC of the rows' scores ``s_it = w_it z_it
ε̂_it`` — the influence functions of the coefficients up to the bread — with the panel
meat of :func:`cqox.inference.spatial_hac.conley_panel_meat`: places within the cutoff
correlated in the same period, every period of a unit with every other.  No
small-sample factor, so a vanishing cutoff gives CR0 by unit (as ``did_twfe``).

Pre and post: with two periods the later one is "post".  With more periods they
are collapsed to pre/post by ``Post_t = 1{t ≥ post_period}``; ``post_period``
defaults to the first period in which any unit is treated when the ``treatment``
role marks treated periods (0/1 treated-in-this-period), and must be given when it
marks the treated group (0/1 constant within unit).  With a ``cohort`` role the
single adoption period is ``post_period``.  Staggered adoption is refused (use
``did_twfe`` or ``did_cs``).

Example
-------
>>> import cqox
>>> from cqox.simulate.panel import two_period_panel
>>> df, truth = two_period_panel(n_units=400, effect=1.0, seed=2)
>>> est = cqox.estimate("did_2x2", df, outcome="y", treatment="d",
...                     roles={"unit": "unit", "time": "time"})
>>> abs(est.estimate - truth["ATT"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, EstimationError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    conley_coordinates,
    se_method_param,
)
from cqox.estimators.did.panel import Panel, build_panel, prepare_panel
from cqox.estimators.registry import register
from cqox.inference.multiplier import cluster_sums
from cqox.inference.spatial_hac import conley_panel_vcov


@dataclass(frozen=True)
class DiD2x2Result:
    """The 2x2 regression.

    Attributes
    ----------
    tau : float
        Interaction coefficient (the DiD).
    se : float
        CR1 cluster-robust standard error of ``tau``.
    coef : ndarray, shape (4 + p,)
        ``β0, β1 (group), β2 (post), τ`` then covariates.
    vcov : ndarray, shape (4 + p, 4 + p)
    means : DataFrame
        Weighted outcome means: one row per ``group`` (control, treated), columns
        ``pre`` and ``post``.
    n_clusters : int
    """

    tau: float
    se: float
    coef: np.ndarray
    vcov: np.ndarray
    means: pd.DataFrame
    n_clusters: int


#: Row of ``[1, G, Post, G·Post]`` for each cell ``2·G + Post``.
_CELL_ROWS = np.array([[1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=np.float64)


def did_2x2_regression(
    y: np.ndarray,
    group: np.ndarray,
    post: np.ndarray,
    X: np.ndarray,
    cluster: np.ndarray,
    w: np.ndarray | None = None,
) -> DiD2x2Result:
    """Pooled (weighted) OLS of ``y`` on ``[1, G, Post, G·Post, X]`` with CR1 SEs.

    Without covariates the regression is saturated in the four group × period cells:
    the coefficients are differences of cell means, the residuals deviations from
    them, and ``Z'WZ`` and the per-cluster score sums ``Σ_i∈g w_i ε̂_i z_i`` follow
    from per-cell sums (one pass of ``bincount`` over the rows instead of an
    ``n × 4`` design matrix).  With covariates it is the same regression on the
    explicit design.
    """
    n = len(y)
    cell = (2 * group + post).astype(np.intp)
    ww = np.ones(n) if w is None else w
    sw = np.bincount(cell, weights=ww, minlength=4)
    means = np.bincount(cell, weights=ww * y, minlength=4) / np.where(sw > 0, sw, 1.0)
    n_clusters = int(cluster.max()) + 1
    k = 4 + X.shape[1]
    if X.shape[1] == 0:
        ZtZ = _CELL_ROWS.T @ (sw[:, None] * _CELL_ROWS)
        singular = bool(np.any(sw <= 0))
    else:
        Z = np.column_stack([_CELL_ROWS[cell], X])
        ZtZ = Z.T @ (Z * ww[:, None])
        singular = np.linalg.matrix_rank(ZtZ) < k
    if singular:
        raise EstimationError(
            "the 2x2 regression is singular: a group × period cell is empty or a "
            "covariate is collinear with the group or period",
            details={"k": k},
        )
    bread = np.linalg.inv(ZtZ)
    if X.shape[1] == 0:
        m0, m1, m2, m3 = means
        coef = np.array([m0, m2 - m0, m1 - m0, m3 - m2 - m1 + m0])
        resid = y - means[cell]
        per_cell = np.bincount(
            cluster * 4 + cell, weights=ww * resid, minlength=4 * n_clusters
        ).reshape(n_clusters, 4)
        S = per_cell @ _CELL_ROWS
    else:
        coef = bread @ (Z.T @ (ww * y))
        resid = y - Z @ coef
        S = cluster_sums(Z * (ww * resid)[:, None], cluster, n_clusters)
    adj = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
    vcov = adj * bread @ (S.T @ S) @ bread
    table = pd.DataFrame(
        {
            "group": ["control", "treated"],
            "pre": [float(means[0]), float(means[2])],
            "post": [float(means[1]), float(means[3])],
        }
    )
    return DiD2x2Result(float(coef[3]), float(np.sqrt(vcov[3, 3])), coef, vcov, table, n_clusters)


def did_2x2_conley_vcov(
    res: DiD2x2Result,
    y: np.ndarray,
    group: np.ndarray,
    post: np.ndarray,
    X: np.ndarray,
    w: np.ndarray | None,
    coords: tuple[np.ndarray, np.ndarray],
    unit: np.ndarray,
    time: np.ndarray,
    cutoff_km: float,
    kernel: str,
) -> np.ndarray:
    """Conley covariance ``(Z'WZ)⁻¹ M (Z'WZ)⁻¹`` of the 2x2 regression's coefficients.

    ``M`` is the panel meat of :func:`cqox.inference.spatial_hac.conley_panel_meat` over
    the scores ``w_it z_it ε̂_it`` (``z = [1, G, Post, G·Post, X]``); no small-sample
    factor.  A negative variance (possible with the uniform kernel) is an error naming
    ``conley_kernel``.
    """
    cell = (2 * group + post).astype(np.intp)
    Z = np.column_stack([_CELL_ROWS[cell], X])
    return conley_panel_vcov(Z, y - Z @ res.coef, w, *coords, unit, time, cutoff_km, kernel)


def _first_in_unit(values: np.ndarray, panel: Panel) -> np.ndarray:
    out = np.zeros(panel.n_units)
    out[panel.unit[::-1]] = values[::-1]
    return out


def group_and_post(
    panel: Panel, post_period: float | None, column: str, cohort_role: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    """The treated-group and post-period indicators (per row) and the post period.

    ``cohort_role``: the panel's cohort comes from a ``cohort`` role (it then gives
    the post period of a treated-group indicator, and must be a single one).
    """
    times = panel.times
    if panel.d is not None:
        d = panel.d
        if not set(np.unique(d)) <= {0.0, 1.0}:
            raise RoleError(
                f"role 'treatment': column '{column}' must be 0/1 for did_2x2",
                details={"role": "treatment", "column": column},
            )
        first = _first_in_unit(d, panel)
        varies = bool(np.any(d != first[panel.unit]))
        if varies:
            ever = np.zeros(panel.n_units)
            np.maximum.at(ever, panel.unit, d)
            group = ever[panel.unit]
            start = float(panel.times[panel.time[d == 1]].min())
            p = start if post_period is None else post_period
            post = (times[panel.time] >= p).astype(np.float64)
            if np.any(d != group * post):
                adopt = np.unique(panel.times[panel.time[d == 1]])
                raise DesignError(
                    f"role 'treatment': column '{column}' is not a two-group two-period "
                    f"pattern (treated periods start at {start:g}; treated rows must be "
                    f"exactly the treated group's periods ≥ {p:g}; treated periods seen: "
                    f"{', '.join(f'{a:g}' for a in adopt[:6])}); for staggered adoption use "
                    "did_twfe or did_cs",
                    details={"role": "treatment", "column": column},
                )
            return group, post, p
        group = d
        if cohort_role:
            assert panel.cohort is not None
            adopt = np.unique(panel.cohort[(panel.cohort > 0) & (panel.cohort <= times[-1])])
            if len(adopt) > 1:
                raise DesignError(
                    f"role 'cohort': {len(adopt)} adoption periods "
                    f"({', '.join(f'{a:g}' for a in adopt[:6])}); did_2x2 needs exactly one "
                    "(use did_twfe or did_cs for staggered adoption)",
                    details={"role": "cohort"},
                )
            if post_period is None and len(adopt) == 1:
                post_period = float(adopt[0])
    else:
        assert panel.cohort is not None
        adopt = np.unique(panel.cohort[(panel.cohort > 0) & (panel.cohort <= times[-1])])
        if len(adopt) != 1:
            raise DesignError(
                f"role 'cohort': {len(adopt)} adoption periods "
                f"({', '.join(f'{a:g}' for a in adopt[:6])}); did_2x2 needs exactly one "
                "(use did_cs for staggered adoption)",
                details={"role": "cohort"},
            )
        group = (panel.cohort[panel.unit] == adopt[0]).astype(np.float64)
        if post_period is None:
            post_period = float(adopt[0])
    if post_period is None:
        if panel.n_times != 2:
            raise ParameterError(
                f"The 'post_period' parameter of did_2x2 must be given when the treatment "
                f"marks the treated group and there are {panel.n_times} periods "
                f"({times[0]:g} … {times[-1]:g}): periods ≥ post_period are 'post'. Got None "
                "instead.",
                details={"parameter": "post_period", "estimator": "did_2x2"},
            )
        post_period = float(times[1])
    post = (times[panel.time] >= post_period).astype(np.float64)
    if post.min() == post.max():
        raise ParameterError(
            f"The 'post_period' parameter of did_2x2 must split the periods "
            f"({times[0]:g} … {times[-1]:g}) into pre and post. Got {post_period!r} instead.",
            details={"parameter": "post_period", "estimator": "did_2x2"},
        )
    return group, post, float(post_period)


@register
class DiD2x2(Estimator):
    """Canonical two-group, two-period DiD with cluster-robust SEs."""

    example = Example(
        "two_period_panel",
        {"n_units": 100, "seed": 2},
        {"outcome": "y", "treatment": "d", "unit": "unit", "time": "time"},
    )
    name = "did_2x2"
    family = "did"
    designs = (Design.DID,)
    estimands = ("ATT",)
    requires = ("outcome", "unit", "time")
    optional_roles = ("treatment", "cohort", "covariates", "weight", "cluster", "lat", "lon")
    binary_treatment = False
    summary_line = "Two-group two-period DiD (pooled interaction regression), CR1 cluster SE"
    parameters = (
        Param(
            "post_period",
            None,
            "float",
            "first 'post' period when there are more than two periods",
            nullable=True,
        ),
        se_method_param(
            ("clustered", "conley"),
            "clustered",
            "'clustered' is CR1 with the usual small-sample factor; 'conley' correlates "
            "places within conley_cutoff_km in each period and the periods of each unit",
        ),
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate the panel roles (treatment or cohort) and drop incomplete rows."""
        return prepare_panel(df, roles, require_treatment=False)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        check_conley_params(params, self.name)
        coords = conley_coordinates(data) if params["se_method"] == "conley" else None
        panel = build_panel(data)
        group, post, p = group_and_post(
            panel,
            params["post_period"],
            data.roles.treatment or data.roles.cohort or "",
            cohort_role=data.roles.cohort is not None,
        )
        for g, label in ((1, "treated"), (0, "control")):
            for q, when in ((0, "pre"), (1, "post")):
                if not np.any((group == g) & (post == q)):
                    raise DesignError(
                        f"did_2x2: no {label} rows in the {when} period (post_period = {p:g})",
                        details={"parameter": "post_period"},
                    )
        res = did_2x2_regression(panel.y, group, post, panel.X, panel.cluster, panel.weight)
        se = res.se
        method = "pooled interaction regression y ~ G + Post + G:Post, CR1 cluster-robust SE"
        spatial: dict[str, Any] = {}
        notes: list[str] = []
        if coords is not None:
            cutoff, kernel = float(params["conley_cutoff_km"]), params["conley_kernel"]
            vcov = did_2x2_conley_vcov(
                res,
                panel.y,
                group,
                post,
                panel.X,
                panel.weight,
                coords,
                panel.unit,
                panel.time,
                cutoff,
                kernel,
            )
            se = float(np.sqrt(vcov[3, 3]))
            spatial = {"se_cr1": res.se, "conley_cutoff_km": cutoff, "conley_kernel": kernel}
            method = (
                "pooled interaction regression y ~ G + Post + G:Post, Conley spatial-HAC SE "
                f"({kernel} kernel, cutoff {cutoff:g} km, within periods; serial within units)"
            )
            if data.roles.cluster is not None:
                notes.append(
                    f"the cluster role '{data.roles.cluster}' is not used by "
                    "se_method='conley' (places are correlated by distance and by unit)"
                )
        return Estimate.from_se(
            self.name,
            "ATT",
            res.tau,
            se,
            params["ci_level"],
            n=panel.n,
            n_treated=int(group.sum()),
            n_control=int(panel.n - group.sum()),
            counts={"n_units": panel.n_units, "n_clusters": res.n_clusters},
            diagnostics={
                "post_period": p,
                "n_periods": panel.n_times,
                "cell_means": {c: res.means[c].tolist() for c in ("group", "pre", "post")},
                "coef": dict(
                    zip(
                        ["(intercept)", "group", "post", "group:post", *panel.covariate_names],
                        res.coef.tolist(),
                        strict=True,
                    )
                ),
                **spatial,
            },
            tables={"cell_means": res.means},
            warnings=notes,
            method=method,
        )
