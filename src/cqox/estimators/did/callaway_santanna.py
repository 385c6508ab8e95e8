"""Callaway & Sant'Anna (2021) staggered difference-in-differences (``did_cs``).

Group-time average treatment effects (Callaway & Sant'Anna 2021,
doi:10.1016/j.jeconom.2020.12.001)::

    ATT(g,t) = E[Y_t(g) − Y_t(0) | G = g],

the effect in period ``t`` on the cohort first treated in period ``g``, identified
under parallel trends (conditional on covariates ``X``) with a comparison group of
never-treated units (``C = 1{G = 0}``) or not-yet-treated units
(``C = 1{G = 0 or G > t + δ}``), and no anticipation beyond ``δ`` periods.  Each
ATT(g,t) is a 2x2 DiD of the long difference ``ΔY = Y_t − Y_b`` between cohort ``g``
and its comparison group, with ``b = g − δ − 1`` (the last untreated period) for
post-treatment cells, and for pre-treatment (placebo) cells ``b = t − 1``
(``base_period="varying"``) or ``b = g − δ − 1`` (``"universal"``, where the base
cell itself is reported as 0).

Per cell, with ``D = 1{G = g}`` and sampling weights ``w`` normalised to mean one:

- ``reg`` (outcome regression, Heckman, Ichimura & Todd 1997):
  ``ATT = E_w[D(ΔY − X'β̂)] / E_w[D]`` with ``β̂`` the WLS fit of ΔY on X among
  controls;
- ``ipw`` (normalised IPW, Abadie 2005): ``ATT = E_w[D ΔY]/E_w[D] −
  E_w[ê/(1−ê)(1−D)ΔY] / E_w[ê/(1−ê)(1−D)]`` with ``ê`` a logit propensity;
- ``dr`` (doubly robust, Sant'Anna & Zhao 2020, doi:10.1016/j.jeconom.2020.06.003):
  the IPW contrast of ``ΔY − X'β̂``.

Each cell's influence function ``ψ_gt`` (including the estimation effect of ê and
β̂) is mapped to the unit level (zero for units outside the cell), so that for any
aggregation ``θ = Σ_k a_k ATT_k`` with estimated weights ``a`` the influence
function is ``Σ_k a_k ψ_k + Σ_k ATT_k ψ_{a_k}`` and ``SE = sqrt(Σ_i ψ_i²)/n``
(sums over clusters first when clustered).  Aggregations (CS 2021, §3):

- ``simple``: ``Σ_{t ≥ g} P(G=g)·ATT(g,t) / Σ_{t ≥ g} P(G=g)``;
- ``group``: ``θ(g) = mean_{t ≥ g} ATT(g,t)``, overall ``Σ_g P(G=g|treated)·θ(g)``
  (the "overall ATT" of the R package ``did`` and ``csdid``; the default);
- ``dynamic`` (event study): ``θ(e) = Σ_g P(G=g | g+e observed)·ATT(g, g+e)``,
  overall the mean of ``θ(e)`` over ``e ≥ 0``;
- ``calendar``: ``θ(t) = Σ_{g ≤ t} P(G=g | g ≤ t)·ATT(g,t)``, overall their mean.

Inference: analytic influence-function standard errors, or the multiplier
bootstrap (Rademacher multipliers on the unit — or cluster — influence sums; the
standard error is the bootstrap interquartile range / 1.349), which also gives the
simultaneous (uniform) critical value ``c = q_{1−α}(max_k |θ*_k − θ_k| / σ_k)`` for
the bands of the ATT(g,t), event-study, group and calendar tables, or Conley's (1999)
spatial HAC of the unit influence functions (``se_method="conley"``, with
``conley_cutoff_km``, ``conley_kernel`` and ``lat``/``lon`` roles constant within each
unit): ``SE = √(Σ_i Σ_j K(d_ij / c) ψ_i ψ_j) / n``.  A unit's ``ψ_i`` already sums its
periods, so each unit's periods are correlated with each other and with those of the
places within the cutoff; a vanishing cutoff gives the analytic SE.  The multiplier
bootstrap ignores spatial correlation, so with ``conley`` no uniform bands are drawn.  The pre-trend
gate is the Wald test ``W = n·θ_pre' V̂⁻¹ θ_pre ~ χ²(#pre cells)`` of the
pre-treatment ATT(g,t), with ``V̂`` their influence-function covariance.

Requires a balanced panel (incomplete units are dropped with a warning), a
time-invariant cohort, weight and cluster; units treated in the first period (net
of anticipation) are dropped, and cohorts first treated after the last period
count as never treated — the conventions of ``did``/``csdid``.

Example
-------
>>> import cqox
>>> from cqox.simulate.panel import staggered_panel
>>> df, truth = staggered_panel(n_units=400, n_periods=6, cohorts=(3, 5), seed=4)
>>> est = cqox.estimate("did_cs", df, outcome="y",
...                     roles={"unit": "unit", "time": "time", "cohort": "cohort"})
>>> abs(est.estimate - truth["ATT_group"]) < 4 * est.se
True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox._lazy import scipy_stats as stats
from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, EstimationError, ParameterError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    conley_coordinates,
    n_boot_param,
    se_method_param,
)
from cqox.estimators.did.panel import (
    Panel,
    WidePanel,
    build_panel,
    constant_within_unit,
    prepare_panel,
    wide_panel,
)
from cqox.estimators.registry import register
from cqox.inference.multiplier import (
    BootstrapResult,
    analytic_se,
    bootstrap_draws,
    bootstrap_se,
    influence_sums,
    multiplier_bootstrap,
    summarise_draws,
)
from cqox.inference.spatial_hac import conley_meat
from cqox.nuisance.glm import weighted_logit

#: Random stream (``Context.rng``) of the multiplier-bootstrap weights.
_MULTIPLIER_STREAM = 41

#: Propensities are capped at 1 − 1e-6 and control units with ê ≥ 0.995 get zero
#: weight, as in DRDID / did / csdid (so that our ATT(g,t) match theirs).
PS_CAP = 1 - 1e-6
PS_TRIM = 0.995
#: Newton–Raphson for the cell logit stops at this step size (far below sampling
#: error; needed for 1e-6 agreement with the peers' IRLS fits).
LOGIT_TOL = 1e-12
LOGIT_MAX_ITER = 100


@dataclass(frozen=True)
class ATTgtResult:
    """Group-time effects with unit-level influence functions.

    Attributes
    ----------
    group, time, base : ndarray, shape (K,)
        Cohort, period and base period of each cell.
    att : ndarray, shape (K,)
    inf : ndarray, shape (n, K)
        Unit-level influence functions: ``SE_k = sqrt(Σ_i inf_ik²)/n``.
    post : ndarray of bool, shape (K,)
        ``t ≥ g``.
    reference : ndarray of bool, shape (K,)
        Universal-base reference cells (ATT = 0 by construction).
    n_treated, n_control : ndarray of int, shape (K,)
    n_trimmed : int
        Control units given zero weight for extreme propensities, over cells.
    """

    group: np.ndarray
    time: np.ndarray
    base: np.ndarray
    att: np.ndarray
    inf: np.ndarray
    post: np.ndarray
    reference: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    n_trimmed: int


# --------------------------------------------------------------------------- cells


def _weighted_logit(Z: np.ndarray, D: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fitted probabilities of a weighted logit of ``D`` on ``Z`` (with intercept)."""
    scale = Z.std(axis=0)
    scale[scale == 0] = 1.0
    Zs = Z / scale
    beta = np.zeros(Z.shape[1])
    pbar = float(np.sum(w * D) / np.sum(w))
    beta[0] = np.log(pbar / (1 - pbar)) * scale[0]
    beta, _ = weighted_logit(Zs, D, w, beta, LOGIT_TOL, LOGIT_MAX_ITER)
    return special.expit(Zs @ beta)


def _ols_influence(
    Z: np.ndarray, dy: np.ndarray, w_ols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """WLS of ``dy`` on ``Z`` with weights ``w_ols``.

    Returns the fitted values for all rows and the coefficient influence
    ``w_i e_i z_i (Z'WZ/n)⁻¹`` (n, k).
    """
    n = len(dy)
    ZtWZ = (Z * w_ols[:, None]).T @ Z
    if np.linalg.matrix_rank(ZtWZ) < Z.shape[1]:
        raise np.linalg.LinAlgError("singular outcome regression")
    beta = np.linalg.solve(ZtWZ, (Z * w_ols[:, None]).T @ dy)
    fitted = Z @ beta
    infl = (Z * (w_ols * (dy - fitted))[:, None]) @ np.linalg.inv(ZtWZ / n)
    return fitted, infl


def cell_att(
    dy: np.ndarray, D: np.ndarray, Z: np.ndarray | None, w: np.ndarray, method: str
) -> tuple[float, np.ndarray, int]:
    """ATT and influence function (within the cell sample) of one 2x2 panel DiD.

    ``dy`` long differences, ``D`` treated-cohort indicator, ``Z`` the covariate
    design with intercept (``None``: no covariates), ``w`` sampling weights.
    Returns ``(att, psi, n_trimmed)`` with ``psi`` scaled so that
    ``SE = sqrt(Σψ²)/n_cell``.
    """
    n = len(dy)
    w = w / w.mean()
    if Z is None:
        # every method reduces to the weighted difference in mean long differences
        m1, m0 = np.mean(w * D), np.mean(w * (1 - D))
        mu1 = np.mean(w * D * dy) / m1
        mu0 = np.mean(w * (1 - D) * dy) / m0
        psi = w * D * (dy - mu1) / m1 - w * (1 - D) * (dy - mu0) / m0
        return float(mu1 - mu0), psi, 0
    if method == "reg":
        fitted, infl_b = _ols_influence(Z, dy, w * (1 - D))
        w_t = w * D
        eta_t = np.mean(w_t * dy) / np.mean(w_t)
        eta_c = np.mean(w_t * fitted) / np.mean(w_t)
        inf_treat = (w_t * dy - w_t * eta_t) / np.mean(w_t)
        M1 = np.mean(w_t[:, None] * Z, axis=0)
        inf_cont = (w_t * fitted - w_t * eta_c + infl_b @ M1) / np.mean(w_t)
        return float(eta_t - eta_c), inf_treat - inf_cont, 0
    ps = np.minimum(_weighted_logit(Z, D, w), PS_CAP)
    keep = np.where(D == 1, True, ps < PS_TRIM)
    n_trim = int(np.sum(~keep))
    info = (Z * (w * ps * (1 - ps))[:, None]).T @ Z
    H_inv = np.linalg.inv(info) * n
    infl_ps = (Z * (w * (D - ps))[:, None]) @ H_inv
    w_t = keep * w * D
    w_c = keep * w * ps * (1 - D) / (1 - ps)
    if method == "ipw":
        eta_t = np.mean(w_t * dy) / np.mean(w_t)
        eta_c = np.mean(w_c * dy) / np.mean(w_c)
        inf_treat = (w_t * dy - w_t * eta_t) / np.mean(w_t)
        M2 = np.mean((w_c * (dy - eta_c))[:, None] * Z, axis=0)
        inf_cont = (w_c * dy - w_c * eta_c + infl_ps @ M2) / np.mean(w_c)
        return float(eta_t - eta_c), inf_treat - inf_cont, n_trim
    fitted, infl_b = _ols_influence(Z, dy, w * (1 - D))
    r = dy - fitted
    eta_t = np.mean(w_t * r) / np.mean(w_t)
    eta_c = np.mean(w_c * r) / np.mean(w_c)
    M1 = np.mean(w_t[:, None] * Z, axis=0)
    inf_treat = (w_t * r - w_t * eta_t - infl_b @ M1) / np.mean(w_t)
    M2 = np.mean((w_c * (r - eta_c))[:, None] * Z, axis=0)
    M3 = np.mean(w_c[:, None] * Z, axis=0)
    inf_cont = (w_c * r - w_c * eta_c + infl_ps @ M2 - infl_b @ M3) / np.mean(w_c)
    return float(eta_t - eta_c), inf_treat - inf_cont, n_trim


def _last_pre_index(g: float, times: np.ndarray, anticipation: int) -> int | None:
    idx = np.flatnonzero(times + anticipation < g)
    return int(idx[-1]) if len(idx) else None


def att_gt(
    wp: WidePanel,
    glist: np.ndarray,
    control_group: str = "never_treated",
    anticipation: int = 0,
    base_period: str = "varying",
    method: str = "dr",
) -> ATTgtResult:
    """All group-time effects ATT(g,t) with their unit-level influence functions."""
    times = wp.times
    T = len(times)
    n = wp.n
    cohort = wp.cohort
    tfac = 1 if base_period == "varying" else 0
    rows: list[tuple[float, float, float, float, bool, bool, int, int]] = []
    infs: list[np.ndarray] = []
    n_trimmed = 0
    for g in glist:
        idx_g = _last_pre_index(g, times, anticipation)
        if idx_g is None:
            continue
        treated = cohort == g
        for t_i in range(T - tfac):
            tn_idx = t_i + tfac
            tn = times[tn_idx]
            pret = idx_g if base_period == "universal" else t_i
            if g - anticipation <= tn:
                pret = idx_g
            post = bool(g <= tn)
            if base_period == "universal" and pret == tn_idx:
                rows.append((g, tn, times[pret], 0.0, post, True, int(treated.sum()), 0))
                infs.append(np.zeros(n))
                continue
            if control_group == "never_treated":
                control = cohort == 0
            else:
                horizon = times[max(t_i, pret) + tfac] + anticipation
                control = (cohort == 0) | ((cohort > horizon) & (cohort != g))
            mask = treated | control
            n1 = int(mask.sum())
            if not treated.any() or not control.any():
                raise EstimationError(
                    f"ATT(g={g:g}, t={tn:g}): no "
                    + ("treated" if not treated.any() else "comparison")
                    + " units; use control_group='not_yet_treated' or drop the period",
                    details={"group": float(g), "time": float(tn)},
                )
            dy = wp.Y[mask, tn_idx] - wp.Y[mask, pret]
            D = treated[mask].astype(np.float64)
            Z = None
            if wp.X is not None:
                Z = np.column_stack([np.ones(n1), wp.X[min(tn_idx, pret)][mask]])
            try:
                att, psi, trimmed = cell_att(dy, D, Z, wp.w[mask], method)
            except np.linalg.LinAlgError:
                raise EstimationError(
                    f"ATT(g={g:g}, t={tn:g}): the propensity or outcome model is singular "
                    "(a covariate is constant or collinear within the cell); remove it",
                    details={"group": float(g), "time": float(tn)},
                ) from None
            if not np.isfinite(att):
                raise EstimationError(
                    f"ATT(g={g:g}, t={tn:g}) could not be estimated (non-finite value)",
                    details={"group": float(g), "time": float(tn)},
                )
            n_trimmed += trimmed
            inf = np.zeros(n)
            inf[mask] = (n / n1) * psi
            infs.append(inf)
            rows.append((g, tn, times[pret], att, post, False, int(D.sum()), int(n1 - D.sum())))
    if not rows:
        raise DesignError(
            "no group-time effect can be estimated: no treated cohort has a pre-treatment period",
            details={"role": "cohort"},
        )
    arr = list(zip(*rows, strict=True))
    return ATTgtResult(
        group=np.asarray(arr[0], dtype=np.float64),
        time=np.asarray(arr[1], dtype=np.float64),
        base=np.asarray(arr[2], dtype=np.float64),
        att=np.asarray(arr[3], dtype=np.float64),
        inf=np.column_stack(infs),
        post=np.asarray(arr[4], dtype=bool),
        reference=np.asarray(arr[5], dtype=bool),
        n_treated=np.asarray(arr[6], dtype=np.int64),
        n_control=np.asarray(arr[7], dtype=np.int64),
        n_trimmed=n_trimmed,
    )


# ------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class Aggregation:
    """One aggregation of ATT(g,t).

    Attributes
    ----------
    kind : str
        ``simple``, ``group``, ``dynamic`` or ``calendar``.
    overall : float
    overall_inf : ndarray, shape (n,)
    labels : ndarray, shape (m,)
        Cohorts, event times or periods of the components (empty for ``simple``).
    att : ndarray, shape (m,)
    inf : ndarray, shape (n, m)
    """

    kind: str
    overall: float
    overall_inf: np.ndarray
    labels: np.ndarray
    att: np.ndarray
    inf: np.ndarray


def _weight_influence(keep: np.ndarray, pg: np.ndarray, unit_pg: np.ndarray) -> np.ndarray:
    """Influence of the estimated weights ``pg[k]/Σ pg`` (n, len(keep)).

    ``unit_pg[:, k] = w_i·1{G_i = g_k} − pg_k`` is the influence of ``pg_k``; the
    weights' influence is ``(if_k − a_k Σ_j if_j) / Σ pg`` (delta method).
    """
    p = pg[keep]
    if_pg = unit_pg[:, keep]
    total = p.sum()
    return if_pg / total - np.outer(if_pg.sum(axis=1), p / total**2)


def aggregate(res: ATTgtResult, wp: WidePanel, glist: np.ndarray, kind: str) -> Aggregation:
    """Aggregate ATT(g,t) (see the module docstring) with influence functions."""
    w = wp.w
    pg_g = np.array([np.mean(w * (wp.cohort == g)) for g in glist])
    unit_pg_g = w[:, None] * (wp.cohort[:, None] == glist[None, :]) - pg_g[None, :]
    gi = np.searchsorted(glist, res.group)
    pg = pg_g[gi]
    unit_pg = unit_pg_g[:, gi]
    post = res.post

    def combine(which: np.ndarray, with_wif: bool = True) -> tuple[float, np.ndarray]:
        a = pg[which] / pg[which].sum()
        theta = float(a @ res.att[which])
        inf = res.inf[:, which] @ a
        if with_wif:
            inf = inf + _weight_influence(which, pg, unit_pg) @ res.att[which]
        return theta, inf

    empty = np.zeros((wp.n, 0))
    if kind == "simple":
        which = np.flatnonzero(post)
        theta, inf = combine(which)
        return Aggregation(kind, theta, inf, np.array([]), np.array([]), empty)
    if kind == "group":
        labels, atts, infs = [], [], []
        for j, g in enumerate(glist):
            which = np.flatnonzero(post & (gi == j))
            if len(which) == 0:
                continue
            labels.append(g)
            atts.append(float(res.att[which].mean()))
            infs.append(res.inf[:, which].mean(axis=1))
        G_att, G_inf = np.asarray(atts), np.column_stack(infs)
        gl = np.asarray(labels)
        p = pg_g[np.searchsorted(glist, gl)]
        a = p / p.sum()
        unit_p = unit_pg_g[:, np.searchsorted(glist, gl)]
        overall_inf = G_inf @ a + _weight_influence(np.arange(len(gl)), p, unit_p) @ G_att
        return Aggregation(kind, float(a @ G_att), overall_inf, gl, G_att, G_inf)
    if kind == "dynamic":
        e = res.time - res.group
        labels_e = np.unique(e)
        atts, infs = [], []
        for ev in labels_e:
            theta, inf = combine(np.flatnonzero(e == ev))
            atts.append(theta)
            infs.append(inf)
        E_att, E_inf = np.asarray(atts), np.column_stack(infs)
        pos = labels_e >= 0
        return Aggregation(
            kind, float(E_att[pos].mean()), E_inf[:, pos].mean(axis=1), labels_e, E_att, E_inf
        )
    # calendar
    labels_t = np.unique(res.time[post])
    atts, infs = [], []
    for tt in labels_t:
        theta, inf = combine(np.flatnonzero(post & (res.time == tt)))
        atts.append(theta)
        infs.append(inf)
    C_att, C_inf = np.asarray(atts), np.column_stack(infs)
    return Aggregation(kind, float(C_att.mean()), C_inf.mean(axis=1), labels_t, C_att, C_inf)


@dataclass(frozen=True)
class SpatialKernel:
    """Unit coordinates and Conley kernel for spatial-HAC influence-function variances."""

    lat: np.ndarray
    lon: np.ndarray
    cutoff_km: float
    kernel: str

    def meat(self, inf: np.ndarray) -> np.ndarray:
        """``Σ_i Σ_j K(d_ij / c) ψ_i ψ_j'`` of unit influence functions ``inf`` (n, K)."""
        return conley_meat(inf, self.lat, self.lon, self.cutoff_km, self.kernel)

    def se(self, inf: np.ndarray) -> np.ndarray:
        """``√(diag M) / n`` per column; a negative variance names ``conley_kernel``."""
        v = np.diag(self.meat(inf))
        if np.any(v < -1e-12 * np.max(np.abs(v), initial=0.0)):
            raise ParameterError(
                f"the Conley variance is negative with the {self.kernel} kernel at "
                f"conley_cutoff_km={self.cutoff_km:g}; use conley_kernel='bartlett' or a "
                "smaller cutoff",
                details={"parameter": "conley_kernel"},
            )
        out: np.ndarray = np.sqrt(np.maximum(v, 0.0)) / inf.shape[0]
        return out


@dataclass(frozen=True)
class PretrendTest:
    """Wald test of zero pre-treatment ATT(g,t).

    Attributes
    ----------
    statistic : float
    df : int
    p_value : float
    """

    statistic: float
    df: int
    p_value: float


def pretrend_wald(
    res: ATTgtResult,
    cluster: np.ndarray | None,
    anticipation: int,
    spatial: SpatialKernel | None = None,
) -> PretrendTest | None:
    """Pre-trend Wald statistic ``W = n θ' V⁻¹ θ``.

    Over the pre-treatment cells ``t < g − δ`` with non-zero variance; ``None`` when
    there are none or ``V`` is singular.  With ``spatial`` ``V`` is Conley's.
    """
    se = analytic_se(res.inf, cluster)
    pre = np.flatnonzero((res.group - anticipation > res.time) & ~res.reference & (se > 0))
    if len(pre) == 0:
        return None
    n = res.inf.shape[0]
    if spatial is not None:
        V = spatial.meat(res.inf[:, pre]) / n
    else:
        S = influence_sums(res.inf[:, pre], cluster)
        V = S.T @ S / n
    if np.linalg.cond(V) > 1 / np.finfo(float).eps:
        return None
    theta = res.att[pre]
    W = float(n * theta @ np.linalg.solve(V, theta))
    return PretrendTest(W, len(pre), float(stats.chi2.sf(W, len(pre))))


def select_cohorts(
    wp: WidePanel, control_group: str, anticipation: int, notes: list[str]
) -> tuple[WidePanel, np.ndarray]:
    """Apply the did/csdid sample conventions and return the panel and the cohorts.

    Cohorts after the last period (net of anticipation) become never treated; units
    treated in the first period are dropped; without never-treated units the
    not-yet-treated design drops the periods from the last cohort on and uses that
    cohort as comparison only.
    """
    times = wp.times
    cohort = np.where(wp.cohort > times[-1] + anticipation, 0.0, wp.cohort)
    early = (cohort > 0) & (cohort <= times[0] + anticipation)
    if early.any():
        notes.append(
            f"dropped {int(early.sum())} units already treated in the first period "
            f"{times[0]:g}" + (f" (anticipation {anticipation})" if anticipation else "")
        )
    keep = ~early
    Y, w, X, cl, labels = (
        wp.Y[keep],
        wp.w[keep],
        None if wp.X is None else wp.X[:, keep],
        None if wp.cluster is None else wp.cluster[keep],
        wp.unit_labels[keep],
    )
    cohort = cohort[keep]
    glist = np.unique(cohort[cohort > 0])
    if len(glist) == 0:
        raise DesignError(
            "no unit is treated during the panel (after dropping units treated in the "
            "first period); nothing to estimate",
            details={"role": "cohort"},
        )
    if not (cohort == 0).any():
        if control_group == "never_treated":
            raise DesignError(
                "no never-treated units: use control_group='not_yet_treated' (the last "
                "cohort then serves as the comparison group)",
                details={"parameter": "control_group"},
            )
        last = glist.max()
        cols = times < last - anticipation
        notes.append(
            f"no never-treated units: periods from {last - anticipation:g} on are dropped "
            f"and cohort {last:g} serves only as the comparison group"
        )
        times = times[cols]
        Y = Y[:, cols]
        X = None if X is None else X[cols]
        glist = glist[glist < last]
        if len(times) < 2 or len(glist) == 0:
            raise DesignError(
                "without never-treated units too few periods remain before the last cohort",
                details={"role": "cohort"},
            )
    if cl is not None:
        _, cl = np.unique(cl, return_inverse=True)
    return WidePanel(Y, cohort, w, X, times, cl, labels), glist


# -------------------------------------------------------------------- estimator

AGGREGATIONS = ("group", "simple", "dynamic", "calendar")


def _table(
    labels: dict[str, np.ndarray],
    att: np.ndarray,
    se: np.ndarray,
    boot: BootstrapResult | None,
    z: float,
) -> pd.DataFrame:
    # a zero SE marks a component fixed by construction (the universal base period)
    se = np.where(se > 0, se, np.nan)
    cols: dict[str, np.ndarray] = {
        **labels,
        "att": att,
        "se": se,
        "ci_low": att - z * se,
        "ci_high": att + z * se,
    }
    crit = boot.crit if boot is not None else float("nan")
    if boot is not None and np.isfinite(crit):
        cols |= {
            "band_se": boot.se,
            "band_low": att - crit * boot.se,
            "band_high": att + crit * boot.se,
        }
    out = pd.DataFrame(cols)
    if np.isfinite(crit):
        out.attrs["critical_value"] = crit
    return out


@register
class DiDCallawaySantAnna(Estimator):
    """Callaway & Sant'Anna (2021) group-time ATT with aggregations and uniform bands."""

    example = Example(
        "staggered_panel",
        {"n_units": 120, "n_periods": 5, "cohorts": (3, 4), "seed": 4},
        {"outcome": "y", "unit": "unit", "time": "time", "cohort": "cohort"},
        {"n_boot": 99},
    )
    name = "did_cs"
    family = "did"
    designs = (Design.STAGGERED_DID, Design.DID)
    estimands = ("ATT",)
    requires = ("outcome", "unit", "time")
    optional_roles = ("treatment", "cohort", "covariates", "weight", "cluster", "lat", "lon")
    binary_treatment = False
    summary_line = (
        "Callaway–Sant'Anna ATT(g,t) (DR/IPW/OR) with simple, group, event-study and "
        "calendar aggregations; IF and multiplier-bootstrap SEs, uniform bands"
    )
    parameters = (
        Param(
            "aggregation",
            "group",
            "choice",
            "summary of ATT(g,t) reported as the estimate (group = csdid's overall ATT)",
            choices=AGGREGATIONS,
        ),
        Param(
            "control_group",
            "never_treated",
            "choice",
            "comparison units",
            choices=("never_treated", "not_yet_treated"),
        ),
        Param(
            "method",
            "dr",
            "choice",
            "estimating equation: weighting, outcome regression or doubly robust; "
            "dr, ipw or reg (csdid's names)",
            choices=("dr", "ipw", "reg"),
        ),
        Param("anticipation", 0, "int", "periods of anticipation before adoption", low=0, high=100),
        Param(
            "base_period",
            "varying",
            "choice",
            "base period of pre-treatment cells",
            choices=("varying", "universal"),
        ),
        se_method_param(
            ("analytic", "bootstrap", "conley"),
            "analytic",
            "'bootstrap' is the multiplier bootstrap; 'conley' the spatial HAC of the unit "
            "influence functions (no uniform bands)",
        ),
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
        n_boot_param(
            999, low=0, high=100_000, note="multiplier-bootstrap draws (uniform bands; 0 = none)"
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate the panel roles (treatment or cohort) and drop incomplete rows."""
        return prepare_panel(df, roles, require_treatment=False)

    @classmethod
    def unused_params(cls, params: Mapping[str, Any]) -> frozenset[str]:
        """``n_boot`` with ``se_method='conley'`` (no multiplier draws: no spatial bands)."""
        return frozenset({"n_boot"}) if params.get("se_method") == "conley" else frozenset()

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        notes: list[str] = []
        check_conley_params(params, self.name)
        coords = conley_coordinates(data) if params["se_method"] == "conley" else None
        panel = _cohort_panel(data, notes)
        if params["se_method"] == "bootstrap" and params["n_boot"] < 2:
            raise EstimationError(
                "se_method='bootstrap' needs n_boot ≥ 2", details={"parameter": "n_boot"}
            )
        wp = wide_panel(panel, notes)
        wp, glist = select_cohorts(wp, params["control_group"], params["anticipation"], notes)
        spatial = None
        if coords is not None:
            spatial = _unit_kernel(data, panel, wp, coords, params)
            if data.roles.cluster is not None:
                notes.append(
                    f"the cluster role '{data.roles.cluster}' is not used by "
                    "se_method='conley' (units are correlated by distance)"
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = att_gt(
                wp,
                glist,
                params["control_group"],
                params["anticipation"],
                params["base_period"],
                params["method"],
            )
        if res.n_trimmed:
            notes.append(
                f"{res.n_trimmed} control observations (over cells) got zero weight for a "
                f"propensity ≥ {PS_TRIM}"
            )
        level = params["ci_level"]
        alpha = 1 - level
        z = float(stats.norm.ppf(0.5 + level / 2))
        # the multiplier draws are independent across units: no spatial bands
        B = 0 if spatial is not None else params["n_boot"]
        aggs = {k: aggregate(res, wp, glist, k) for k in AGGREGATIONS}
        blocks = _influence_blocks(res, aggs)
        boots = _bootstrap_blocks(blocks, wp.cluster, B, ctx.rng(_MULTIPLIER_STREAM), alpha)

        def pick_se(key: str) -> np.ndarray:
            b = boots[key]
            if spatial is not None:
                return spatial.se(blocks[key])
            if params["se_method"] == "bootstrap" and b is not None:
                return b.se
            return analytic_se(blocks[key], wp.cluster)

        se_gt = np.where(res.reference, np.nan, pick_se("att_gt"))
        tables = {
            "att_gt": _table(
                {"group": res.group, "time": res.time, "base_period": res.base},
                res.att,
                se_gt,
                boots["att_gt"],
                z,
            ).assign(post=res.post, n_treated=res.n_treated, n_control=res.n_control)
        }
        names = {"group": "group", "dynamic": "event_study", "calendar": "calendar"}
        label_col = {"group": "group", "dynamic": "event_time", "calendar": "time"}
        overall: dict[str, tuple[float, float]] = {}
        for k, agg in aggs.items():
            overall[k] = (agg.overall, float(pick_se(f"{k}_overall")[0]))
            if k in names:
                tables[names[k]] = _table(
                    {label_col[k]: agg.labels}, agg.att, pick_se(k), boots[k], z
                )
        tables["aggregations"] = pd.DataFrame(
            {
                "aggregation": list(overall),
                "att": [v[0] for v in overall.values()],
                "se": [v[1] for v in overall.values()],
            }
        )
        pre = pretrend_wald(res, wp.cluster, params["anticipation"], spatial)
        gate = _pretrend_gate(pre, ctx)
        kind = params["aggregation"]
        estimate, se = overall[kind]
        n_treated_units = int((wp.cohort > 0).sum())
        diagnostics: dict[str, Any] = {
            "aggregation": kind,
            "overall": {k: {"att": v[0], "se": v[1]} for k, v in overall.items()},
            "cohorts": glist.tolist(),
            "periods": wp.times.tolist(),
            "n_units": wp.n,
            "n_cells": len(res.att),
            "pretrend_statistic": None if pre is None else pre.statistic,
            "pretrend_df": None if pre is None else pre.df,
            "pretrend_p_value": None if pre is None else pre.p_value,
            "uniform_critical_value": None if boots["att_gt"] is None else boots["att_gt"].crit,
        }
        if wp.cluster is not None:
            diagnostics["n_clusters"] = int(wp.cluster.max()) + 1
        if spatial is not None:
            diagnostics["conley_cutoff_km"] = spatial.cutoff_km
            diagnostics["conley_kernel"] = spatial.kernel
        return Estimate.from_se(
            self.name,
            "ATT",
            estimate,
            se,
            level,
            n=wp.n * len(wp.times),
            # rows, like n: units of the treated cohorts and of the comparison units
            n_treated=n_treated_units * len(wp.times),
            n_control=int(wp.n - n_treated_units) * len(wp.times),
            counts={
                "n_units": wp.n,
                "n_treated_units": n_treated_units,
                "n_cells": len(res.att),
            },
            diagnostics=diagnostics,
            gates=[gate],
            tables=tables,
            warnings=notes,
            method=f"Callaway–Sant'Anna ({params['method']}, {params['control_group']} "
            f"comparison, {kind} aggregation), "
            + {
                "analytic": "influence-function SE",
                "bootstrap": f"multiplier-bootstrap SE ({B} draws)",
                "conley": "Conley spatial-HAC SE of the unit influence functions "
                f"({params['conley_kernel']} kernel, cutoff {params['conley_cutoff_km']} km)",
            }[params["se_method"]],
        )


def _cohort_panel(data: CausalData, notes: list[str]) -> Panel:
    """The long panel with each unit's cohort (given, or derived from the treatment)."""
    panel = build_panel(data, need_cohort=True)
    roles = data.roles
    if roles.cohort is None and panel.d is not None:
        first = np.zeros(panel.n_units)
        first[panel.unit[::-1]] = panel.d[::-1]
        if np.all(panel.d == first[panel.unit]):
            raise DesignError(
                f"role 'treatment': column '{roles.treatment}' is constant within "
                "each unit (a treated-group indicator), so it does not say when units "
                "were first treated; give the 'cohort' role (first treated period)",
                details={"role": "treatment", "column": str(roles.treatment)},
            )
    if panel.cohort is not None and roles.cohort is None:
        notes.append(f"cohort derived from treatment '{roles.treatment}' (first treated period)")
    return panel


def _unit_kernel(
    data: CausalData,
    panel: Panel,
    wp: WidePanel,
    coords: tuple[np.ndarray, np.ndarray],
    params: dict[str, Any],
) -> SpatialKernel:
    """Each kept unit's coordinates (constant within the unit) and the Conley kernel."""
    r = data.roles
    assert r.lat is not None and r.lon is not None
    lat = constant_within_unit(coords[0], panel.unit, panel.unit_labels, "lat", r.lat)
    lon = constant_within_unit(coords[1], panel.unit, panel.unit_labels, "lon", r.lon)
    rows = pd.Index(panel.unit_labels).get_indexer(wp.unit_labels)
    return SpatialKernel(
        lat[rows], lon[rows], float(params["conley_cutoff_km"]), params["conley_kernel"]
    )


def _influence_blocks(res: ATTgtResult, aggs: dict[str, Aggregation]) -> dict[str, np.ndarray]:
    """Unit influence functions of every reported estimate, by block name.

    ``att_gt``, each aggregation's overall ATT (``{name}_overall``) and each
    aggregation's components (except ``simple``, which has none).
    """
    blocks: dict[str, np.ndarray] = {"att_gt": res.inf}
    for k, agg in aggs.items():
        blocks[f"{k}_overall"] = agg.overall_inf[:, None]
        if k != "simple":
            blocks[k] = agg.inf
    return blocks


def _bootstrap_blocks(
    blocks: dict[str, np.ndarray],
    cluster: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator,
    alpha: float,
) -> dict[str, BootstrapResult | None]:
    """Multiplier-bootstrap SEs and uniform bands of every block (``None`` without draws).

    One set of multipliers for every estimate: each block's SEs and band come from the
    same draws, and the draws are made once.
    """
    boots: dict[str, BootstrapResult | None] = dict.fromkeys(blocks)
    if n_boot > 0:
        draws = bootstrap_draws(np.hstack(list(blocks.values())), cluster, n_boot, rng)
        se_all = bootstrap_se(draws)
        start = 0
        for key, block in blocks.items():
            cols = slice(start, start + block.shape[1])
            boots[key] = summarise_draws(draws[:, cols], alpha, se_all[cols])
            start += block.shape[1]
    return boots


def _pretrend_gate(pre: PretrendTest | None, ctx: Context) -> Gate:
    """The joint pre-treatment Wald test as a gate (not applicable without pre-periods)."""
    if pre is None:
        return Gate.not_applicable(
            "pretrend_wald", "there are no pre-treatment ATT(g,t) with positive variance"
        )
    return threshold_gate(
        "pretrend_wald",
        pre.p_value,
        ctx.threshold("pretrend_wald"),
        higher_is_better=True,
        label=f"pre-trend Wald p-value (χ²={pre.statistic:.3g}, df={pre.df})",
        details={"statistic": pre.statistic, "df": pre.df},
    )


__all__ = [
    "ATTgtResult",
    "Aggregation",
    "DiDCallawaySantAnna",
    "WidePanel",
    "aggregate",
    "analytic_se",
    "att_gt",
    "bootstrap_draws",
    "bootstrap_se",
    "cell_att",
    "multiplier_bootstrap",
    "pretrend_wald",
    "select_cohorts",
    "summarise_draws",
    "wide_panel",
]
