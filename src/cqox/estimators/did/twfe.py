"""Two-way fixed-effects difference-in-differences (``did_twfe``).

Model::

    y_it = α_i + λ_t + τ·D_it + X_it'β + ε_it

The unit and period effects are absorbed, not estimated as dummies: ``y``, ``D``
and ``X`` are projected off both sets of effects by alternating projections
(weighted group demeaning until the unit means of the residual vanish; one pass is
exact in a balanced panel), and τ is the OLS slope of the demeaned outcome on the
demeaned regressors (Frisch–Waugh–Lovell).  Memory and time grow linearly with the
rows, so 100,000 units are no harder than 100.

Inference: cluster-robust (CR1) variance, clustered by unit unless a ``cluster``
role is given, with the small-sample factor of fixest / pyfixest
(``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``)::

    V = G/(G−1) · (N−1)/(N−K) · (X̃'WX̃)⁻¹ [Σ_g s_g s_g'] (X̃'WX̃)⁻¹,
    s_g = Σ_{i∈g} w_i x̃_i ε̂_i,

where K counts the slopes and the fixed effects that are not nested in the
clusters (with one kept for each fully nested set).

Staggered adoption: when units adopt the treatment at different times, τ is a
weighted average of all 2x2 DiD comparisons, including "forbidden" ones that use
already-treated units as controls (Goodman-Bacon 2021,
doi:10.1016/j.jeconom.2021.03.014), and it weights the cell effects with weights
``w_gt ∝ D_gt·ε̃_gt`` (ε̃ the two-way demeaned treatment) some of which can be
negative (de Chaisemartin & D'Haultfœuille 2020, doi:10.1257/aer.20181169).  The
estimator then warns, reports the decomposition as a table and both diagnostics as
gates; ``did_cs`` is the heterogeneity-robust alternative.

Assumptions: parallel trends and no anticipation; with heterogeneous effects over
time or cohorts, τ need not be a convex average of the effects (see above).

Example
-------
>>> import cqox
>>> from cqox.simulate.panel import staggered_panel
>>> df, truth = staggered_panel(n_units=300, n_periods=6, cohorts=(4,), seed=1)
>>> est = cqox.estimate("did_twfe", df, outcome="y", treatment="d",
...                     roles={"unit": "unit", "time": "time"})
>>> abs(est.estimate - truth["ATT"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, EstimationError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    conley_coordinates,
    se_method_param,
)
from cqox.estimators.did.panel import (
    Panel,
    build_panel,
    group_means,
    prepare_panel,
)
from cqox.estimators.registry import register
from cqox.inference.multiplier import cluster_sums
from cqox.inference.spatial_hac import conley_panel_vcov

#: Alternating projections stop when the largest unit mean of the residual is below
#: this times the scale of the data: far below the 1e-6 agreement asked of peers.
DEMEAN_TOL = 1e-13
DEMEAN_MAX_ITER = 100_000


@dataclass(frozen=True)
class TWFEResult:
    """A fitted two-way fixed-effects regression.

    Attributes
    ----------
    coef : ndarray, shape (k,)
        Slopes (treatment first, then covariates).
    vcov : ndarray, shape (k, k)
        CR1 cluster-robust covariance.
    se : ndarray, shape (k,)
    resid : ndarray, shape (n,)
        Residuals of the absorbed regression.
    Xd : ndarray, shape (n, k)
        Demeaned regressors.
    df_k : int
        Parameters counted in the small-sample factor.
    n_clusters : int
    n_iter : int
        Alternating-projection sweeps.
    kept : ndarray of bool, shape (k_input,)
        Input regressors kept (the others are collinear with the fixed effects).
    """

    coef: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    resid: np.ndarray
    Xd: np.ndarray
    df_k: int
    n_clusters: int
    n_iter: int
    kept: np.ndarray


def demean_two_way(
    V: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    n_units: int,
    n_times: int,
    w: np.ndarray | None = None,
    tol: float = DEMEAN_TOL,
    max_iter: int = DEMEAN_MAX_ITER,
) -> tuple[np.ndarray, int]:
    """Project the columns of ``V`` (n, k) off unit and period effects.

    Alternating projections (method of alternating projections / Gauss–Seidel on
    the normal equations of the two sets of dummies): subtract the weighted unit
    means, then the weighted period means, until the unit means of the result are
    below ``tol`` times the scale of ``V``.  Returns the residual and the sweeps.
    """
    R = np.array(V, dtype=np.float64, copy=True)
    if R.ndim == 1:
        R = R[:, None]
    scale = max(1.0, float(np.max(np.abs(R))) if R.size else 1.0)
    for it in range(1, max_iter + 1):
        R -= group_means(R, unit, n_units, w)[unit]
        R -= group_means(R, time, n_times, w)[time]
        if np.max(np.abs(group_means(R, unit, n_units, w))) <= tol * scale:
            return R, it
    raise EstimationError(
        f"absorbing the unit and period effects did not converge in {max_iter} sweeps; "
        "the panel may be disconnected",
        details={"sweeps": max_iter},
    )


def _nested(fe: np.ndarray, cluster: np.ndarray, n_fe: int) -> bool:
    """Whether every level of ``fe`` lies within one cluster."""
    first = np.full(n_fe, -1, dtype=np.int64)
    first[fe[::-1]] = cluster[::-1]
    return bool(np.all(first[fe] == cluster))


def twfe_fit(
    y: np.ndarray,
    D: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    cluster: np.ndarray,
    w: np.ndarray | None = None,
) -> TWFEResult:
    """Absorbed two-way fixed-effects OLS of ``y`` on ``D`` (n, k) with CR1 SEs.

    The small-sample factor follows fixest's default (nested fixed effects are not
    counted, one is kept per fully nested set), which pyfixest reproduces.
    """
    n_units, n_times = int(unit.max()) + 1, int(time.max()) + 1
    Z = np.column_stack([y, D])
    Zd, n_iter = demean_two_way(Z, unit, time, n_units, n_times, w)
    yd, Xd = Zd[:, 0], Zd[:, 1:]
    ww = np.ones(len(y)) if w is None else w
    keep = independent_columns(Xd, D, ww)
    if not keep[0]:
        raise EstimationError(
            "the treatment has no variation left after removing unit and period effects "
            "(it is collinear with the fixed effects or the covariates)",
            details={"column": 0},
        )
    Xd = Xd[:, keep]
    XtX = (Xd * ww[:, None]).T @ Xd
    k = Xd.shape[1]
    bread = np.linalg.inv(XtX)
    coef = bread @ ((Xd * ww[:, None]).T @ yd)
    resid = yd - Xd @ coef
    n_clusters = int(cluster.max()) + 1
    S = cluster_sums(Xd * (ww * resid)[:, None], cluster, n_clusters)
    meat = S.T @ S
    # fixest ssc: K = k + (#FE levels − (#FE sets − 1)) − nested levels + nested sets
    k_fe = n_units + n_times - 1
    nested_levels, nested_sets = 0, 0
    for fe, n_fe in ((unit, n_units), (time, n_times)):
        if _nested(fe, cluster, n_fe):
            nested_levels += n_fe
            nested_sets += 1
    df_k = k + k_fe - nested_levels + nested_sets if nested_levels else k + k_fe
    n = len(y)
    adj = (n - 1) / (n - df_k) * n_clusters / (n_clusters - 1)
    vcov = adj * bread @ meat @ bread
    return TWFEResult(
        coef, vcov, np.sqrt(np.diag(vcov)), resid, Xd, int(df_k), n_clusters, n_iter, keep
    )


def twfe_conley_vcov(
    res: TWFEResult,
    w: np.ndarray | None,
    lat: np.ndarray,
    lon: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    cutoff_km: float,
    kernel: str,
) -> np.ndarray:
    """Conley covariance of the slopes of :func:`twfe_fit`.

    ``(X̃'WX̃)⁻¹ M (X̃'WX̃)⁻¹`` with scores ``s_it = w_it x̃_it ε̂_it`` and ``M`` the panel
    meat of :func:`cqox.inference.spatial_hac.conley_panel_meat` (spatial within each
    period, serial within each unit); no small-sample factor, so a vanishing cutoff gives
    the CR0 cluster-by-unit covariance.  A negative variance (possible with the uniform
    kernel) is an error naming ``conley_kernel``.
    """
    return conley_panel_vcov(res.Xd, res.resid, w, lat, lon, unit, time, cutoff_km, kernel)


#: A demeaned regressor whose squared norm, after projection on the earlier kept
#: ones, is below this share of its raw centred squared norm is collinear with the
#: fixed effects and earlier regressors (fixest and pyfixest drop it likewise).
COLLINEAR_TOL = 1e-9


def independent_columns(Xd: np.ndarray, X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mask of the columns of the demeaned ``Xd`` not collinear with earlier ones."""
    sw = np.sqrt(w)
    A = Xd * sw[:, None]
    raw = (X - (X * w[:, None]).sum(0) / w.sum()) * sw[:, None]
    keep = np.zeros(Xd.shape[1], dtype=bool)
    basis: list[np.ndarray] = []
    for j in range(Xd.shape[1]):
        v = A[:, j].copy()
        for q in basis:
            v -= (q @ v) * q
        for q in basis:  # re-orthogonalise once for stability
            v -= (q @ v) * q
        norm2 = float(v @ v)
        if norm2 > COLLINEAR_TOL * max(float(raw[:, j] @ raw[:, j]), 1e-300):
            keep[j] = True
            basis.append(v / np.sqrt(norm2))
    return keep


@dataclass(frozen=True)
class BaconResult:
    """Goodman-Bacon decomposition of the TWFE coefficient.

    Attributes
    ----------
    table : DataFrame
        One row per 2x2 comparison: ``type``, ``treated`` (cohort), ``control``
        (cohort, ``"never"`` or ``"always"``), ``estimate``, ``weight``.
    beta : float
        ``Σ weight · estimate`` (equals the TWFE coefficient).
    forbidden_weight : float
        Total weight of comparisons that use already-treated units as controls.
    by_type : dict of str to float
        Total weight of each type of comparison.
    """

    table: pd.DataFrame
    beta: float
    forbidden_weight: float
    by_type: dict[str, float]


def _wide(values: np.ndarray, panel: Panel) -> np.ndarray:
    out = np.zeros((panel.n_units, panel.n_times))
    out[panel.unit, panel.time] = values
    return out


def bacon_decomposition(
    Yw: np.ndarray, Dw: np.ndarray, cohort: np.ndarray, times: np.ndarray, wu: np.ndarray
) -> BaconResult:
    """Goodman-Bacon (2021) decomposition in a balanced panel.

    ``Yw``/``Dw`` are (units × periods); ``cohort`` the first treated period (0 =
    never); ``wu`` time-invariant unit weights.  Each 2x2 comparison's estimate is
    the TWFE slope in its subsample (two groups, the periods of the comparison) and
    its weight ``W_s·SS_s / (W·SS)``, with ``W`` the total row weight and ``SS`` the
    weighted sum of squares of the two-way demeaned treatment — Goodman-Bacon's
    ``(n_k + n_l)²·V̂^D_kl / V̂^D`` written for any sample; the weights sum to one.
    """

    def slope(units: np.ndarray, cols: np.ndarray) -> tuple[float, float, float]:
        y = Yw[np.ix_(units, cols)]
        d = Dw[np.ix_(units, cols)]
        w = wu[units][:, None]
        W = float(w.sum()) * len(cols)

        def dm(a: np.ndarray) -> np.ndarray:
            # balanced subsample, unit-level weights: the additive projection is exact
            mt = (a * w).sum(0) / w.sum()
            mi = a.mean(1, keepdims=True)
            return a - mi - mt[None, :] + float((mi[:, 0] * w[:, 0]).sum() / w.sum())

        dd, yd = dm(d), dm(y)
        ss = float((w * dd * dd).sum())
        beta = float((w * dd * yd).sum() / ss) if ss > 1e-14 * max(1.0, W) else np.nan
        return beta, W, ss

    first, last = times[0], times[-1]
    never = np.flatnonzero((cohort == 0) | (cohort > last))
    always = np.flatnonzero((cohort > 0) & (cohort <= first))
    timing = np.unique(cohort[(cohort > first) & (cohort <= last)])
    all_cols = np.arange(len(times))
    _, W, SS = slope(np.arange(len(cohort)), all_cols)
    rows: list[dict[str, Any]] = []

    def add(kind: str, treated: float, control: Any, units: np.ndarray, cols: np.ndarray) -> None:
        if len(cols) < 2:
            return
        beta, w_s, ss_s = slope(units, cols)
        if not np.isfinite(beta):
            return
        rows.append(
            {
                "type": kind,
                "treated": treated,
                "control": control,
                "estimate": beta,
                "weight": w_s * ss_s / (W * SS),
            }
        )

    for k in timing:
        gk = np.flatnonzero(cohort == k)
        if len(never):
            add("treated_vs_never", float(k), "never", np.concatenate([gk, never]), all_cols)
        if len(always):
            add("treated_vs_always", float(k), "always", np.concatenate([gk, always]), all_cols)
        for ll in timing[timing > k]:
            gl = np.flatnonzero(cohort == ll)
            units = np.concatenate([gk, gl])
            add("earlier_vs_later", float(k), float(ll), units, np.flatnonzero(times < ll))
            add("later_vs_earlier", float(ll), float(k), units, np.flatnonzero(times >= k))
    est = np.array([r["estimate"] for r in rows])
    wts = np.array([r["weight"] for r in rows])
    kinds = [r["type"] for r in rows]
    by_type = {k: float(wts[[x == k for x in kinds]].sum()) for k in dict.fromkeys(kinds)}
    forbidden = by_type.get("later_vs_earlier", 0.0) + by_type.get("treated_vs_always", 0.0)
    table = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    return BaconResult(table, float(est @ wts), forbidden, by_type)


@dataclass(frozen=True)
class NegativeWeights:
    """de Chaisemartin & D'Haultfœuille (2020) weights of the TWFE coefficient.

    Attributes
    ----------
    table : DataFrame
        Per treated (cohort, period) cell: ``cohort``, ``time``, ``weight`` (summing
        to one over treated cells).
    share_negative : float
        Share of treated cells with a negative weight.
    sum_negative : float
        Sum of the negative weights.
    """

    table: pd.DataFrame
    share_negative: float
    sum_negative: float


def negative_weights(panel: Panel, d_tilde: np.ndarray, w: np.ndarray) -> NegativeWeights:
    """Weights ``w_i ∝ ω_i·D_i·ε̃_i`` on the treated rows, grouped in (cohort, period) cells.

    ``d_tilde`` is the treatment projected off the unit and period effects (and the
    covariates); under parallel trends the TWFE coefficient equals
    ``Σ w_gt·ATT(g,t)``.
    """
    assert panel.d is not None
    treated = panel.d > 0
    contrib = w * panel.d * d_tilde
    total = float(contrib[treated].sum())
    cohort_row = (
        panel.cohort[panel.unit]
        if panel.cohort is not None
        else np.asarray(panel.unit, dtype=np.float64)
    )
    cohorts, c_code = np.unique(cohort_row[treated], return_inverse=True)
    key = c_code.ravel() * panel.n_times + panel.time[treated]
    cells, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=contrib[treated] / total, minlength=len(cells))
    table = pd.DataFrame(
        {
            "cohort": cohorts[cells // panel.n_times],
            "time": panel.times[cells % panel.n_times],
            "weight": weight,
        }
    )
    neg = table["weight"] < 0
    return NegativeWeights(table, float(neg.mean()), float(table.loc[neg, "weight"].sum()))


def treatment_in_period(panel: Panel, roles: Roles) -> tuple[Panel, str]:
    """The panel with ``d`` = treated in the period, and a note when it was derived.

    A treatment that varies within units is used as given.  Without one (or with a
    treated-group indicator that is constant within units), ``d_it = 1{t ≥ g_i}`` is
    built from the ``cohort`` role.
    """
    d = panel.d
    if d is not None:
        first = np.zeros(panel.n_units)
        first[panel.unit[::-1]] = d[::-1]
        if np.any(d != first[panel.unit]) or roles.cohort is None:
            if not np.any(d != first[panel.unit]):
                raise DesignError(
                    f"role 'treatment': column '{roles.treatment}' is constant within each "
                    "unit (a treated-group indicator), so the unit effects absorb it; give a "
                    "treated-in-this-period indicator or the 'cohort' role",
                    details={"role": "treatment", "column": str(roles.treatment)},
                )
            return panel, ""
    assert panel.cohort is not None
    g = panel.cohort[panel.unit]
    built = ((g > 0) & (panel.times[panel.time] >= g)).astype(np.float64)
    note = f"treatment built from cohort '{roles.cohort}': treated in periods ≥ the cohort"
    return replace(panel, d=built), note


@register
class DiDTWFE(Estimator):
    """Two-way fixed-effects DiD with absorbed effects, CR1 SEs and staggered diagnostics."""

    example = Example(
        "staggered_panel",
        {"n_units": 100, "n_periods": 6, "cohorts": (4,), "seed": 1},
        {"outcome": "y", "treatment": "d", "unit": "unit", "time": "time"},
    )
    name = "did_twfe"
    family = "did"
    designs = (Design.DID, Design.STAGGERED_DID)
    estimands = ("ATT",)
    requires = ("outcome", "unit", "time")
    optional_roles = ("treatment", "cohort", "covariates", "weight", "cluster", "lat", "lon")
    binary_treatment = False
    summary_line = (
        "Two-way fixed effects (absorbed), CR1 cluster SE; Goodman-Bacon decomposition "
        "and negative-weight share under staggered adoption"
    )
    parameters = (
        CI_LEVEL,
        se_method_param(
            ("clustered", "conley"),
            "clustered",
            "'clustered' is CR1 with fixest's small-sample factor; 'conley' correlates "
            "places within conley_cutoff_km in each period and the periods of each unit",
        ),
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate the panel roles (treatment or cohort) and drop incomplete rows."""
        return prepare_panel(df, roles, require_treatment=False)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        check_conley_params(params, self.name)
        lat_lon = conley_coordinates(data) if params["se_method"] == "conley" else None
        panel, derived = treatment_in_period(build_panel(data), data.roles)
        assert panel.d is not None
        D = np.column_stack([panel.d, panel.X]) if panel.X.shape[1] else panel.d[:, None]
        res = twfe_fit(panel.y, D, panel.unit, panel.time, panel.cluster, panel.weight)
        method = (
            "two-way fixed effects (absorbed by alternating projections), "
            "CR1 cluster-robust SE (fixest small-sample factor)"
        )
        se = float(res.se[0])
        spatial: dict[str, Any] = {}
        if lat_lon is not None:
            cutoff, kernel = float(params["conley_cutoff_km"]), params["conley_kernel"]
            vcov = twfe_conley_vcov(
                res, panel.weight, *lat_lon, panel.unit, panel.time, cutoff, kernel
            )
            spatial = {"se_cr1": se, "conley_cutoff_km": cutoff, "conley_kernel": kernel}
            se = float(np.sqrt(vcov[0, 0]))
            method = (
                "two-way fixed effects (absorbed by alternating projections), Conley "
                f"spatial-HAC SE ({kernel} kernel, cutoff {cutoff:g} km, within periods; "
                "serial within units)"
            )
        notes: list[str] = [derived] if derived else []
        w = np.ones(panel.n) if panel.weight is None else panel.weight
        gates: list[Gate] = []
        tables: dict[str, pd.DataFrame] = {}
        diagnostics: dict[str, Any] = {
            "n_units": panel.n_units,
            "n_periods": panel.n_times,
            "n_clusters": res.n_clusters,
            "df_k": res.df_k,
            "demean_sweeps": res.n_iter,
            "balanced": panel.balanced,
            **spatial,
        }
        if panel.X.shape[1]:
            kept = [nm for nm, k in zip(panel.covariate_names, res.kept[1:], strict=True) if k]
            dropped = [
                nm for nm, k in zip(panel.covariate_names, res.kept[1:], strict=True) if not k
            ]
            diagnostics["covariate_coef"] = dict(zip(kept, res.coef[1:].tolist(), strict=True))
            if dropped:
                notes.append(
                    f"dropped {len(dropped)} covariate(s) collinear with the unit and period "
                    f"effects: {', '.join(dropped[:8])}{', …' if len(dropped) > 8 else ''}"
                )
        # the treatment net of the fixed effects and covariates (FWL): its residual
        d_tilde = res.Xd[:, 0]
        if res.Xd.shape[1] > 1:
            Xc = res.Xd[:, 1:]
            g = np.linalg.lstsq(Xc * np.sqrt(w)[:, None], d_tilde * np.sqrt(w), rcond=None)[0]
            d_tilde = d_tilde - Xc @ g
        cohort = panel.cohort
        adoption_times = (
            np.unique(cohort[(cohort > 0) & (cohort <= panel.times[-1])])
            if cohort is not None
            else np.array([])
        )
        staggered = len(adoption_times) > 1
        diagnostics["adoption_times"] = adoption_times.tolist()
        nw = negative_weights(panel, d_tilde, w)
        tables["negative_weights"] = nw.table
        diagnostics["negative_weight_sum"] = nw.sum_negative
        if staggered:
            notes.append(
                f"staggered adoption ({len(adoption_times)} adoption times): the TWFE "
                "coefficient averages all 2x2 comparisons, including ones that use "
                "already-treated units as controls, and can be biased when effects change "
                "over time (Goodman-Bacon 2021); see the bacon_decomposition table and "
                "consider did_cs"
            )
            gates.append(
                threshold_gate(
                    "twfe_negative_weights",
                    nw.share_negative,
                    ctx.threshold("twfe_negative_weights"),
                    higher_is_better=False,
                    label="share of treated (g,t) cells with negative TWFE weight",
                    details={"sum_negative": nw.sum_negative, "n_cells": len(nw.table)},
                )
            )
            gates.append(self._bacon(panel, data, tables, diagnostics, ctx))
        else:
            gates.append(
                Gate.not_applicable(
                    "twfe_negative_weights",
                    "all treated units adopt at the same time (no staggered adoption)",
                )
            )
        return Estimate.from_se(
            self.name,
            "ATT",
            float(res.coef[0]),
            se,
            params["ci_level"],
            n=panel.n,
            n_treated=int((panel.d > 0).sum()),
            n_control=int((panel.d == 0).sum()),
            counts={"n_units": panel.n_units, "n_clusters": res.n_clusters},
            diagnostics=diagnostics,
            gates=gates,
            tables=tables,
            warnings=notes,
            method=method,
        )

    def _bacon(
        self,
        panel: Panel,
        data: CausalData,
        tables: dict[str, pd.DataFrame],
        diagnostics: dict[str, Any],
        ctx: Context,
    ) -> Gate:
        assert panel.d is not None and panel.cohort is not None
        why = None
        if not panel.balanced:
            why = "the panel is unbalanced"
        elif panel.X.shape[1]:
            why = "the regression has covariates"
        elif not set(np.unique(panel.d)) <= {0.0, 1.0}:
            why = "the treatment is not 0/1"
        wu = np.ones(panel.n_units)
        if why is None and panel.weight is not None:
            first = np.zeros(panel.n_units)
            first[panel.unit] = panel.weight
            if not np.allclose(first[panel.unit], panel.weight):
                why = "the weights vary within units"
            wu = first
        if why is not None:
            return Gate.not_applicable("bacon_forbidden_weight", why)
        bac = bacon_decomposition(
            _wide(panel.y, panel), _wide(panel.d, panel), panel.cohort, panel.times, wu
        )
        tables["bacon_decomposition"] = bac.table
        diagnostics["bacon_beta"] = bac.beta
        return threshold_gate(
            "bacon_forbidden_weight",
            bac.forbidden_weight,
            ctx.threshold("bacon_forbidden_weight"),
            higher_is_better=False,
            label="TWFE weight on comparisons with already-treated controls",
            details={"by_type": bac.by_type},
        )


__all__ = [
    "BaconResult",
    "DiDTWFE",
    "NegativeWeights",
    "TWFEResult",
    "bacon_decomposition",
    "demean_two_way",
    "negative_weights",
    "twfe_conley_vcov",
    "twfe_fit",
]
