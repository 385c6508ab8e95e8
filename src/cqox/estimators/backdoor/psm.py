"""Propensity-score (and Mahalanobis) nearest-neighbour matching.

Estimands (Abadie & Imbens 2006, doi:10.1111/j.1468-0262.2006.00655.x): each unit
``i`` of the target set ``Q`` (treated for the ATT, controls for the ATC, everyone for
the ATE) is matched to the set ``J(i)`` of its ``M`` nearest units in the other arm,
*with all ties at the M-th distance*; its missing potential outcome is imputed by the
matched mean, ``Ŷ_i(1 − W_i) = (1/#J(i)) Σ_{j∈J(i)} Y_j``, and

    τ̂ = (1/N_Q) Σ_{i∈Q} (2W_i − 1)(Y_i − Ŷ_i(1 − W_i)).

The distance is on the logit of the shared propensity score ``e_hat`` (default), on
``e_hat`` itself, or Mahalanobis on the covariates.  Options: a caliper (in standard
deviations of the score for the propensity metrics, in Mahalanobis units otherwise;
target units without a match inside it are dropped and counted), exact matching on
named columns (matches only within cells), and matching without replacement (greedy,
hardest-to-match first by default).

Inference (Abadie & Imbens 2006, Theorem 7, written for ties): with
``k_j = Σ_{i∈Q} 1{j∈J(i)}/#J(i)`` (times used as a match), ``q_j = Σ_{i∈Q}
1{j∈J(i)}/#J(i)²`` and ``a_j = 1{j∈Q} + k_j`` (the weight of ``Y_j`` in ``τ̂``),

    V̂ = (1/N_Q²) [ Σ_{i∈Q} (d_i − τ̂)² + Σ_j (a_j² − 1{j∈Q} − q_j) σ̂²(X_j, W_j) ],

which with ``M`` matches and no ties is Abadie–Imbens' ``((K/M)² + (2M−1)K/M²)σ̂²``
(ATE) and ``K(K−1)/M² σ̂²`` (ATT, controls).  The conditional variance is estimated by
matching within arm: ``σ̂²_j = J_j/(J_j + 1)(Y_j − Ȳ_{H(j)})²`` over the ``J``
(``var_matches``, default 2, ties included) nearest same-arm units ``H(j)`` on the same
metric.  ``diagnostics["se_sample"]`` is the variance conditional on ``X``
(``Σ a_j² σ̂²_j / N_Q²``).

Bias correction (Abadie & Imbens 2011, doi:10.1198/jbes.2009.07333): each matched
outcome is adjusted by ``μ̂_w(X_i) − μ̂_w(X_j)`` with ``μ̂_w`` the least-squares fit of
``Y`` on the covariates among the arm-``w`` units used as matches, weighted by ``k_j``
(as Stata's ``nnmatch``/``teffects nnmatch, biasadj``); the variance formula is the
same.

Estimated propensity (Abadie & Imbens 2016, doi:10.3982/ECTA11293): matching on
``e_hat`` rather than on the true ``e`` changes the large-sample variance.  CQOx reports
the AI-2006 variance above, which treats the score as known; Abadie & Imbens show that
for the ATE this *overstates* the variance (conservative), while for the ATT the
correction can have either sign.  ``diagnostics["se_note"]`` states this on every
estimate.

All matching is ``O(n log n)``: binary search plus a two-pointer expansion on the sorted
one-dimensional score (compiled with Numba), a KD-tree for the Mahalanobis distance.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("psm", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"], estimand="ATT")
>>> abs(est.estimate - truth["ATT"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError, NoDataError, ParameterError
from cqox.estimators.backdoor._matching_kernels import (
    TIE_RTOL,
    expand_intervals,
    greedy_without_replacement,
    kd_neighbours,
    nn_intervals,
)
from cqox.estimators.base import Estimator
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.registry import register
from cqox.gates.balance import (
    balance_table,
    matched_share_gate,
    smd_gate,
    trim_to_common_support,
    variance_ratio_gate,
)
from cqox.gates.weights import common_support_gate
from cqox.nuisance.propensity import propensity, separation_gates


@dataclass(frozen=True)
class Matches:
    """Matched sets in compressed-row form.

    Attributes
    ----------
    ptr : ndarray of int, shape (n_q + 1,)
        Query ``i``'s matches are ``idx[ptr[i]:ptr[i + 1]]``.
    idx : ndarray of int, shape (total,)
        Row positions (into the full data) of the matches.
    """

    ptr: np.ndarray
    idx: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Number of matches of each query, shape (n_q,)."""
        return np.diff(self.ptr)


def _cells_sort(
    s_r: np.ndarray, cell_r: np.ndarray | None, s_q: np.ndarray, cell_q: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort the reference by (cell, score); each query's segment of it."""
    if cell_r is None or cell_q is None:
        order = np.argsort(s_r, kind="stable")
        n_q = len(s_q)
        return order, s_r[order], np.zeros(n_q, np.int64), np.full(n_q, len(s_r), np.int64)
    order = np.lexsort((s_r, cell_r))
    cells_sorted = cell_r[order]
    lo = np.searchsorted(cells_sorted, cell_q, "left").astype(np.int64)
    hi = np.searchsorted(cells_sorted, cell_q, "right").astype(np.int64)
    return order, s_r[order], lo, hi


#: Most (target, match) pairs kept in memory (int64: 8 bytes each).  All-ties matching on a
#: score with few distinct values (one binary covariate) makes every target match every
#: unit of its cell; beyond this the matching is refused with a hint instead.
MAX_MATCHED_PAIRS = 50_000_000


def _check_pairs(left: np.ndarray, right: np.ndarray) -> None:
    total = int(np.sum(right - left))
    if total > MAX_MATCHED_PAIRS:
        raise EstimationError(
            f"matching with all ties kept would form {total:,} matched pairs: the "
            "propensity score takes few distinct values (coarse covariates). Add "
            "continuous covariates, use distance='mahalanobis', or use stratification",
            details={"pairs": total, "limit": MAX_MATCHED_PAIRS},
        )


def _tie_tol(*scores: np.ndarray) -> float:
    spread = max((float(np.ptp(s)) for s in scores if s.size), default=1.0)
    return TIE_RTOL * max(spread, 1.0)


def match_scores(
    s_q: np.ndarray,
    s_r: np.ndarray,
    m: int,
    caliper: float = np.inf,
    cell_q: np.ndarray | None = None,
    cell_r: np.ndarray | None = None,
) -> Matches:
    """``m`` nearest reference scores of each query score, with ties, within cells.

    Returns matches as positions into ``s_r``.
    """
    order, ref, lo, hi = _cells_sort(s_r, cell_r, s_q, cell_q)
    no_self = np.full(len(s_q), -1, np.int64)
    left, right = nn_intervals(
        np.ascontiguousarray(s_q, np.float64), lo, hi, no_self, ref, m, _tie_tol(s_q, s_r), caliper
    )
    _check_pairs(left, right)
    ptr, idx = expand_intervals(left, right, no_self, order.astype(np.int64))
    return Matches(ptr, idx)


def match_within(s: np.ndarray, m: int, cell: np.ndarray | None = None) -> Matches:
    """``m`` nearest other units (same set) of each unit, with ties, within cells."""
    order, ref, lo, hi = _cells_sort(s, cell, s, cell)
    inv = np.empty(len(s), np.int64)
    inv[order] = np.arange(len(s))
    left, right = nn_intervals(ref[inv], lo, hi, inv, ref, m, _tie_tol(s), np.inf)
    _check_pairs(left, right)
    ptr, idx = expand_intervals(left, right, inv, order.astype(np.int64))
    return Matches(ptr, idx)


def match_scores_without_replacement(
    s_q: np.ndarray,
    s_r: np.ndarray,
    m: int,
    caliper: float,
    query_order: np.ndarray,
    cell_q: np.ndarray | None = None,
    cell_r: np.ndarray | None = None,
) -> Matches:
    """Greedy matching without replacement, queries served in ``query_order``."""
    order, ref, lo, hi = _cells_sort(s_r, cell_r, s_q, cell_q)
    qo = query_order
    ptr_p, pos = greedy_without_replacement(
        np.ascontiguousarray(s_q[qo], np.float64), lo[qo], hi[qo], ref, m, caliper
    )
    sizes_p = np.diff(ptr_p)
    owner = np.repeat(qo, sizes_p)
    regroup = np.argsort(owner, kind="stable")
    sizes = np.zeros(len(s_q), np.int64)
    sizes[qo] = sizes_p
    ptr = np.zeros(len(s_q) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    return Matches(ptr, order[pos[regroup]].astype(np.int64))


def whiten(X: np.ndarray) -> np.ndarray:
    """Transform ``X`` so that Euclidean distance is Mahalanobis distance.

    Uses the full-sample covariance; directions with zero variance are dropped
    (a pseudo-inverse square root).
    """
    Xc = X - X.mean(axis=0)
    cov = np.atleast_2d(np.cov(Xc, rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > vals.max() * 1e-12 if vals.size else np.zeros(0, bool)
    return (Xc @ vecs[:, keep]) / np.sqrt(vals[keep])


def _csr_take(m: Matches, rows: np.ndarray) -> Matches:
    """The matched sets of the given queries only."""
    sizes = m.sizes[rows]
    ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    starts = np.repeat(m.ptr[rows], sizes)
    offs = np.arange(ptr[-1]) - np.repeat(ptr[:-1], sizes)
    return Matches(ptr, m.idx[starts + offs])


@dataclass(frozen=True)
class MatchingResult:
    """Matching estimate with the Abadie–Imbens variance.

    Attributes
    ----------
    tau, se, se_sample : float
        Estimate, population SE and SE conditional on the covariates.
    targets : ndarray of int, shape (n_q,)
        Rows of the target set that were matched (``Q``).
    n_unmatched : int
        Target rows with no match (caliper or empty exact cell).
    d : ndarray, shape (n_q,)
        Unit-level effects ``(2W_i − 1)(Y_i − Ŷ_i(1 − W_i))``.
    k : ndarray, shape (n,)
        Times each row is used as a match (tie-weighted, ``k_j``).
    weights : ndarray, shape (n,)
        Weight of each row in the matched sample (``a_j``), for balance checks.
    sigma2 : ndarray, shape (n,)
        Conditional variance estimates ``σ̂²(X_j, W_j)``.
    matches : Matches
        The matched set of each target row.
    within : tuple of Matches
        Same-arm matches of the control and treated rows (positions within the arm),
        reused by the Abadie–Imbens (2016) adjustment.
    """

    tau: float
    se: float
    se_sample: float
    targets: np.ndarray
    n_unmatched: int
    d: np.ndarray
    k: np.ndarray
    weights: np.ndarray
    sigma2: np.ndarray
    matches: Matches
    within: tuple[Matches, ...] = ()


def segment_sums(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Sum of ``values[ptr[i]:ptr[i + 1]]`` for each ``i`` (empty segments give 0)."""
    cs = np.zeros(len(values) + 1)
    np.cumsum(values, out=cs[1:])
    return cs[ptr[1:]] - cs[ptr[:-1]]


def conditional_variance(y_rows: np.ndarray, y_all: np.ndarray, within: Matches) -> np.ndarray:
    """``σ̂²_j = J_j/(J_j + 1)·(Y_j − mean of its J_j same-arm matches)²`` (AI 2006).

    ``y_rows`` are the outcomes of the queries, ``within.idx`` index ``y_all``; rows
    without a same-arm match get 0.
    """
    sizes = within.sizes
    has = sizes > 0
    means = segment_sums(y_all[within.idx], within.ptr) / np.maximum(sizes, 1)
    return np.where(has, sizes / (sizes + 1.0) * (y_rows - means) ** 2, 0.0)


def abadie_imbens(
    y: np.ndarray,
    t: np.ndarray,
    targets: np.ndarray,
    matches: Matches,
    sigma2: np.ndarray,
    y_adj: np.ndarray | None = None,
) -> tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Matching estimate and Abadie–Imbens variance for matched targets.

    ``targets`` are rows with at least one match (``matches`` aligned with them).
    ``y_adj`` (shape (n_q, total matches)) replaces ``Y_j`` by the bias-corrected
    ``Y_j + μ̂(X_i) − μ̂(X_j)`` when given.
    Returns ``(tau, se, se_sample, d, k, a)``.
    """
    n = len(y)
    sizes = matches.sizes
    inv_size = 1.0 / sizes
    vals = y[matches.idx] if y_adj is None else y_adj
    imputed = segment_sums(vals, matches.ptr) * inv_size
    sign = 2 * t[targets] - 1
    d = sign * (y[targets] - imputed)
    nq = len(targets)
    tau = float(d.mean())
    w_each = np.repeat(inv_size, sizes)
    k = np.bincount(matches.idx, weights=w_each, minlength=n)
    q = np.bincount(matches.idx, weights=w_each**2, minlength=n)
    in_q = np.zeros(n)
    in_q[targets] = 1.0
    a = in_q + k
    extra = a**2 - in_q - q
    var = (np.sum((d - tau) ** 2) + np.sum(extra * sigma2)) / nq**2
    var_sample = float(np.sum(a**2 * sigma2)) / nq**2
    return tau, float(np.sqrt(max(var, 0.0))), float(np.sqrt(var_sample)), d, k, a


def _bias_adjusted(
    y: np.ndarray,
    t: np.ndarray,
    Xb: np.ndarray,
    targets: np.ndarray,
    matches: Matches,
    k: np.ndarray,
) -> np.ndarray:
    """``Y_j + μ̂_w(X_i) − μ̂_w(X_j)`` for every (target i, match j) pair (AI 2011)."""
    Z = np.column_stack([np.ones(len(y)), Xb])
    owner = np.repeat(targets, matches.sizes)
    out = y[matches.idx].astype(np.float64)
    for w in (0, 1):
        arm = (t == w) & (k > 0)
        if arm.sum() <= Z.shape[1]:
            arm = t == w  # too few matched units: fit on the whole arm
        if arm.sum() <= Z.shape[1]:
            raise EstimationError(
                f"bias correction needs more {'treated' if w else 'control'} rows "
                f"({int(arm.sum())}) than regression coefficients ({Z.shape[1]}); "
                "set bias_correction=False or use fewer covariates",
                details={"parameter": "bias_correction"},
            )
        sw = np.sqrt(np.where(k[arm] > 0, k[arm], 1.0))
        beta = np.linalg.lstsq(Z[arm] * sw[:, None], y[arm] * sw, rcond=None)[0]
        pair = t[matches.idx] == w
        mu = Z @ beta
        out[pair] += mu[owner[pair]] - mu[matches.idx[pair]]
    return out


def match_estimate(
    y: np.ndarray,
    t: np.ndarray,
    score: np.ndarray | None,
    estimand: str = "ATT",
    m: int = 1,
    *,
    Xw: np.ndarray | None = None,
    caliper: float = np.inf,
    cells: np.ndarray | None = None,
    replace: bool = True,
    order: str = "largest",
    var_matches: int = 2,
    Xb: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> MatchingResult:
    """Nearest-neighbour matching estimate with Abadie–Imbens standard errors.

    Parameters
    ----------
    y, t : ndarray, shape (n,)
        Outcome and 0/1 treatment.
    score : ndarray, shape (n,) or None
        One-dimensional matching score (logit propensity, propensity).  ``None`` with
        ``Xw`` given: Mahalanobis matching on the whitened covariates ``Xw``.
    estimand : {"ATT", "ATC", "ATE"}
    m : int
        Matches per unit (ties at the ``m``-th distance are all kept, with replacement).
    caliper : float
        Largest allowed distance, on the score's (or whitened) scale.
    cells : ndarray of int, shape (n,), optional
        Exact-matching cell of each row.
    replace : bool
        With replacement (default) or greedy without replacement.
    order : {"largest", "smallest", "random", "data"}
        Order in which targets pick matches without replacement (by score).
    var_matches : int
        Same-arm matches for the conditional variance (``J``).
    Xb : ndarray, shape (n, p), optional
        Covariates of the bias correction (none: no correction).
    rng : numpy Generator, optional
        For ``order="random"``.
    """
    n = len(y)
    groups = {"ATT": (1,), "ATC": (0,), "ATE": (1, 0)}[estimand]
    ptr_parts: list[np.ndarray] = []
    idx_parts: list[np.ndarray] = []
    target_parts: list[np.ndarray] = []
    n_unmatched = 0
    for w in groups:
        q_rows = np.flatnonzero(t == w)
        r_rows = np.flatnonzero(t != w)
        cq = None if cells is None else cells[q_rows]
        cr = None if cells is None else cells[r_rows]
        if score is not None:
            s_q, s_r = score[q_rows], score[r_rows]
            if replace:
                mt = match_scores(s_q, s_r, m, caliper, cq, cr)
            else:
                if order == "largest":
                    qo = np.argsort(-s_q, kind="stable")
                elif order == "smallest":
                    qo = np.argsort(s_q, kind="stable")
                elif order == "random":
                    qo = (rng or np.random.default_rng(0)).permutation(len(q_rows))
                else:
                    qo = np.arange(len(q_rows))
                mt = match_scores_without_replacement(s_q, s_r, m, caliper, qo, cq, cr)
        else:
            assert Xw is not None
            mt = _kd_match(Xw[q_rows], Xw[r_rows], m, caliper, cq, cr, exclude_self=False)
        ok = mt.sizes > 0
        n_unmatched += int((~ok).sum())
        mt = _csr_take(mt, np.flatnonzero(ok))
        target_parts.append(q_rows[ok])
        idx_parts.append(r_rows[mt.idx])
        ptr_parts.append(mt.sizes)
    targets = np.concatenate(target_parts)
    if targets.size == 0:
        raise NoDataError(
            "no target row found a match (caliper too narrow or exact cells without "
            "both arms); widen 'caliper' or drop 'exact'",
            details={"parameter": "caliper"},
        )
    sizes = np.concatenate(ptr_parts)
    ptr = np.zeros(len(targets) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    matches = Matches(ptr, np.concatenate(idx_parts))

    # conditional variances from same-arm matching on the same metric
    sigma2 = np.zeros(n)
    within_arms: list[Matches] = []
    for w in (0, 1):
        rows = np.flatnonzero(t == w)
        c = None if cells is None else cells[rows]
        if score is not None:
            within = match_within(score[rows], var_matches, c)
        else:
            assert Xw is not None
            within = _kd_match(Xw[rows], Xw[rows], var_matches, np.inf, c, c, exclude_self=True)
        sigma2[rows] = conditional_variance(y[rows], y[rows], within)
        within_arms.append(within)

    y_adj = None
    if Xb is not None:
        _, _, _, _, k0, _ = abadie_imbens(y, t, targets, matches, sigma2)
        y_adj = _bias_adjusted(y, t, Xb, targets, matches, k0)
    tau, se, se_sample, d, k, a = abadie_imbens(y, t, targets, matches, sigma2, y_adj)
    return MatchingResult(
        tau, se, se_sample, targets, n_unmatched, d, k, a, sigma2, matches, tuple(within_arms)
    )


def _kd_match(
    Zq: np.ndarray,
    Zr: np.ndarray,
    m: int,
    caliper: float,
    cq: np.ndarray | None,
    cr: np.ndarray | None,
    exclude_self: bool,
) -> Matches:
    """KD-tree matching, cell by cell when exact cells are given."""
    if cq is None or cr is None:
        ptr, idx = kd_neighbours(Zq, Zr, m, caliper, exclude_self)
        return Matches(ptr, idx)
    sizes = np.zeros(len(Zq), np.int64)
    pieces: dict[int, np.ndarray] = {}
    for c in np.unique(cq):
        qi = np.flatnonzero(cq == c)
        ri = np.flatnonzero(cr == c)
        if ri.size == 0:
            continue
        ptr_c, idx_c = kd_neighbours(Zq[qi], Zr[ri], m, caliper, exclude_self)
        sz = np.diff(ptr_c)
        sizes[qi] = sz
        for j, row in enumerate(qi):
            pieces[int(row)] = ri[idx_c[ptr_c[j] : ptr_c[j + 1]]]
    ptr = np.zeros(len(Zq) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    chunks = [pieces[i] for i in range(len(Zq)) if sizes[i] > 0]
    return Matches(ptr, np.concatenate(chunks) if chunks else np.empty(0, np.int64))


def weighted_conditional_covariance(
    y: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    Z: np.ndarray,
    arm: int,
    L: int,
    w: np.ndarray,
    within: Matches | None = None,
) -> np.ndarray:
    """``Σ_i w_i ĉov(Z, Y | e(X_i), W = arm)``, shape (k,).

    ``within`` reuses the arm's own ``L``-nearest same-arm matches if already known.

    ``ĉov_i`` is the sample covariance over the ``L`` nearest arm-``arm`` rows ``H(i)``
    on the score ``s`` (ties kept; a row of that arm excludes itself), as in Abadie &
    Imbens (2016, §5).  Because the sum is linear in each row's contribution it is
    accumulated per matched row (``bincount``) and finished with two products with
    ``Z``, never forming the ``n × k`` matrix of covariances:
    ``Σ_i w_i ĉov_i = Z'(u ∘ y − r)`` with ``u_j = Σ_{i: j∈H(i)} w_i/(h_i − 1)`` and
    ``r_j = Σ_{i: j∈H(i)} w_i S_i/(h_i(h_i − 1))``, ``h_i = #H(i)``, ``S_i = Σ_{H(i)} Y``.
    """
    n = len(y)
    rows = np.flatnonzero(t == arm)
    u = np.zeros(n)
    r = np.zeros(n)
    for lvl in (0, 1):
        q = np.flatnonzero(t == lvl)
        if lvl == arm:
            m = within if within is not None else match_within(s[rows], L)
        else:
            m = match_scores(s[q], s[rows], L)
        h = m.sizes.astype(np.float64)
        ok = h > 1
        wq = np.where(ok, w[q] / np.where(ok, h - 1, 1.0), 0.0)
        members = rows[m.idx]
        sy = segment_sums(y[members], m.ptr)
        # cov_i = (Σ_j Z_j y_j − (Σ_j Z_j)(Σ_j y_j)/h_i)/(h_i − 1), j over H(i)
        u += np.bincount(members, weights=np.repeat(wq, m.sizes), minlength=n)
        r += np.bincount(
            members,
            weights=np.repeat(np.where(ok, wq * sy / np.where(ok, h, 1.0), 0.0), m.sizes),
            minlength=n,
        )
    return Z.T @ (u * y - r)


def estimated_score_adjustment(
    y: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    Z: np.ndarray,
    H: np.ndarray,
    estimand: str,
    tau: float,
    effect: np.ndarray,
    L: int = 2,
    within: tuple[Matches, ...] = (),
) -> float:
    """Abadie–Imbens (2016) reduction of ``Var(τ̂)`` for matching on an estimated score.

    With ``I = N·H`` the information of the propensity model (``Z`` its design,
    ``f = ∂e/∂(Z'θ)``), the adjusted variance is ``V̂ − adjustment`` where

    - ATE: ``adjustment = c'I⁻¹c``, ``c = (1/N) Σ_i f_i (ĉov₁_i/e_i + ĉov₀_i/(1 − e_i))``;
    - ATT: ``adjustment = c'I⁻¹c − d'I⁻¹d``, ``c = (1/N₁) Σ_i f_i (ĉov₁_i +
      e_i/(1 − e_i)·ĉov₀_i)``, ``d = (1/N₁) Σ_i f_i (τ̂_i − τ̂) Z_i`` (``τ̂_i`` the
      matched unit-level effect of every row);
    - ATC: the ATT formula with the arms swapped.

    ``ĉov_w_i`` estimates ``cov(Z, μ(w, X) | e(X_i))`` (see
    :func:`weighted_conditional_covariance`).  The ATE adjustment is never negative; the
    ATT/ATC one can have either sign.
    """
    n = len(y)
    if estimand == "ATE":
        w1, w0, n_s = f / e, f / (1 - e), float(n)
    elif estimand == "ATT":
        w1, w0, n_s = f, f * e / (1 - e), float(t.sum())
    else:
        w1, w0, n_s = f * (1 - e) / e, f, float(n - t.sum())
    w0_within, w1_within = within if len(within) == 2 else (None, None)
    c = (
        weighted_conditional_covariance(y, t, s, Z, 1, L, w1, w1_within)
        + weighted_conditional_covariance(y, t, s, Z, 0, L, w0, w0_within)
    ) / n_s
    if estimand == "ATE":
        return float(c @ np.linalg.solve(H, c)) / n
    d = (f * (effect - tau)) @ Z / n_s
    return float(c @ np.linalg.solve(H, c) - d @ np.linalg.solve(H, d)) / n


def matched_pair_differences(y: np.ndarray, t: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Treated-minus-matched-control outcome of each treated row (1:1 on logit ``e``).

    Ties are averaged into one control outcome, so each treated row gives one pair
    difference (the input of :func:`cqox.sensitivity.rosenbaum_bounds`).
    """
    s = special.logit(np.clip(e, 1e-12, 1 - 1e-12))
    q, r = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    m = match_scores(s[q], s[r], 1)
    return y[q] - segment_sums(y[r][m.idx], m.ptr) / np.maximum(m.sizes, 1)


def _exact_param(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _exact_columns(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def exact_cells(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Integer cell id of each row from the combination of the exact-matching columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"The 'exact' parameter of psm names column '{missing[0]}', which is not among "
            f"the roles in use ({', '.join(map(str, frame.columns))}); add it to the covariates",
            details={"parameter": "exact", "column": missing[0]},
        )
    codes = [pd.factorize(frame[c], sort=True)[0] for c in columns]
    return np.unique(np.column_stack(codes), axis=0, return_inverse=True)[1].ravel()


def _ai2016_blocker(
    params: dict[str, Any], on_score: bool, n_unmatched: int, counts: dict[str, int]
) -> str | None:
    """Why the AI-2016 adjustment (derived for plain matching on e) does not apply."""
    if not on_score:
        return "Mahalanobis matching"
    if not params["replace"]:
        return "matching without replacement"
    if params["exact"]:
        return "exact matching"
    if params["bias_correction"]:
        return "bias correction"
    if n_unmatched or counts.get("n_trimmed", 0):
        return "rows were dropped by the caliper or trimming"
    return None


def _unit_effects(
    y: np.ndarray, t: np.ndarray, s: np.ndarray, m: int, res: MatchingResult
) -> np.ndarray:
    """``Ŷ_i(1) − Ŷ_i(0)`` for every row, imputing the missing outcome by matching.

    Reuses the estimate's own matches (every target is matched when this is called).
    """
    effect = np.empty(len(y))
    effect[res.targets] = res.d
    done = np.zeros(len(y), bool)
    done[res.targets] = True
    for w in (0, 1):
        if done[t == w].all():
            continue
        q, r = np.flatnonzero(t == w), np.flatnonzero(t != w)
        mt = match_scores(s[q], s[r], m)
        imputed = segment_sums(y[r][mt.idx], mt.ptr) / np.maximum(mt.sizes, 1)
        effect[q] = (2 * w - 1) * (y[q] - imputed)
    return effect


@register
class PSM(Estimator):
    """Nearest-neighbour matching on the propensity score or Mahalanobis distance."""

    name = "psm"
    family = "matching"
    designs = (Design.BACKDOOR,)
    estimands = ("ATT", "ATE", "ATC")
    default_estimands = ("ATT", "ATE")
    summary_line = "Nearest-neighbour propensity-score / Mahalanobis matching, Abadie–Imbens SE"
    parameters = (
        estimand_param(("ATT", "ATE", "ATC"), "ATT"),
        Param("n_neighbors", 1, "int", "matches per unit (M), ties included", low=1, high=100),
        Param(
            "distance",
            "logit",
            "choice",
            "matching metric: logit propensity, propensity, or Mahalanobis on covariates",
            choices=("logit", "propensity", "mahalanobis"),
        ),
        Param(
            "caliper",
            None,
            "float",
            "largest distance in SDs of the score (Mahalanobis units for 'mahalanobis')",
            low=0.0,
            closed="neither",
            nullable=True,
        ),
        Param("replace", True, "bool", "match with replacement"),
        Param(
            "order",
            "largest",
            "choice",
            "order of targets when matching without replacement (by propensity)",
            choices=("largest", "smallest", "random", "data"),
        ),
        Param(
            "exact",
            None,
            "any",
            "columns to match exactly on (list, or comma-separated names)",
            nullable=True,
            check=_exact_param,
            rule="a list of column names or None",
        ),
        Param("bias_correction", False, "bool", "Abadie–Imbens (2011) regression bias correction"),
        Param(
            "var_matches",
            2,
            "int",
            "same-arm matches for the conditional variance",
            low=1,
            high=100,
        ),
        Param(
            "se_method",
            "ai2016",
            "choice",
            "Abadie–Imbens variance: 2016 (accounts for the estimated propensity) or 2006",
            choices=("ai2016", "ai2006"),
        ),
        Param("link", "logit", "choice", "propensity model link", choices=("logit", "probit")),
        Param("trim", False, "bool", "drop rows outside the propensity common support first"),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        y, t, X = data.y, data.t, data.X
        estimand = params["estimand"]
        fit = propensity(data, ctx, params["link"])
        e = fit.p_hat
        counts: dict[str, int] = {}
        notes: list[str] = []
        gates: list[Gate] = [
            common_support_gate(e, t, ctx),
            *separation_gates(fit, data.covariate_names, params["link"]),
        ]
        exact = _exact_columns(params["exact"])
        cells = exact_cells(data.frame, exact) if exact else None
        keep = np.ones(len(y), bool)
        if params["trim"]:
            tr = trim_to_common_support(e, t)
            keep = tr.keep
            counts.update(tr.counts())
            if (note := tr.note()) is not None:
                notes.append(note)
        if X.shape[1] == 0:
            raise EstimationError(
                "psm needs at least one covariate: without covariates the propensity is "
                "constant and matching is the difference in means",
                details={"role": "covariates"},
            )
        yk, tk, Xk, ek = y[keep], t[keep], X[keep], e[keep]
        ck = None if cells is None else cells[keep]
        score: np.ndarray | None
        Xw = None
        if params["distance"] == "mahalanobis":
            if X.shape[1] == 0:
                raise ParameterError(
                    "The 'distance' parameter of psm is 'mahalanobis' but there are no "
                    "covariates; give covariates or use distance='logit'",
                    details={"parameter": "distance"},
                )
            score, Xw = None, whiten(Xk)
            cal = np.inf if params["caliper"] is None else params["caliper"]
        else:
            score = special.logit(ek) if params["distance"] == "logit" else ek
            sd = float(np.std(score, ddof=1))
            cal = np.inf if params["caliper"] is None else params["caliper"] * sd
        res = match_estimate(
            yk,
            tk,
            score,
            estimand,
            params["n_neighbors"],
            Xw=Xw,
            caliper=cal,
            cells=ck,
            replace=params["replace"],
            order=params["order"],
            var_matches=params["var_matches"],
            Xb=Xk if params["bias_correction"] and Xk.shape[1] else None,
            rng=ctx.rng(11),
        )
        n_target = {"ATT": int(tk.sum()), "ATC": int(len(tk) - tk.sum()), "ATE": len(tk)}[estimand]
        n_matched = len(res.targets)
        counts.update(
            {
                "n_matched_targets": n_matched,
                "n_unmatched_targets": res.n_unmatched,
                "n_matched_controls_used": int(((res.k > 0) & (tk == 0)).sum()),
                "n_matched_treated_used": int(((res.k > 0) & (tk == 1)).sum()),
            }
        )
        if res.n_unmatched:
            notes.append(
                f"{res.n_unmatched} of {n_target} target rows found no match "
                "(caliper or exact cells) and are left out of the estimate"
            )
        arm = {"ATT": "treated", "ATC": "controls", "ATE": "rows"}[estimand]
        table = balance_table(Xk, tk, data.covariate_names, res.weights)
        gates += [
            matched_share_gate(n_matched, n_target, ctx, arm),
            smd_gate(table, ctx, after=True),
            variance_ratio_gate(table, ctx, after=True),
        ]
        se = res.se
        adjustment = None
        why_not = _ai2016_blocker(params, score is not None, res.n_unmatched, counts)
        if params["se_method"] == "ai2016" and why_not is None:
            assert score is not None
            effect = _unit_effects(yk, tk, score, params["n_neighbors"], res)
            adjustment = estimated_score_adjustment(
                yk,
                tk,
                score,
                ek,
                fit.dp_deta,
                fit.Z,
                fit.hessian,
                estimand,
                res.tau,
                effect,
                params["var_matches"],
                res.within,
            )
            if res.se**2 - adjustment > 0:
                se = float(np.sqrt(res.se**2 - adjustment))
                se_note = (
                    "Abadie–Imbens (2006) variance minus the Abadie–Imbens (2016) adjustment "
                    "for matching on the estimated propensity"
                )
            else:
                notes.append(
                    "the Abadie–Imbens (2016) adjustment exceeds the matching variance; "
                    "reporting the unadjusted Abadie–Imbens (2006) SE"
                )
                adjustment = None
        if adjustment is None:
            se_note = "Abadie–Imbens (2006) variance" + (
                ""
                if score is None
                else " treating the propensity as known"
                + (f" ({why_not})" if why_not and params["se_method"] == "ai2016" else "")
                + "; for the ATE this is conservative (Abadie & Imbens 2016)"
            )
        return Estimate.from_se(
            self.name,
            estimand,
            res.tau,
            se,
            params["ci_level"],
            n=len(y),
            n_treated=int(t.sum()),
            n_control=int(len(t) - t.sum()),
            counts=counts,
            diagnostics={
                "matched_share": n_matched / max(n_target, 1),
                "se_ai2006": res.se,
                "se_sample": res.se_sample,
                "ai2016_adjustment": adjustment,
                "se_note": se_note,
                "max_times_used": float(res.k.max()) if res.k.size else 0.0,
                "mean_matches": float(res.matches.sizes.mean()),
                "propensity_min": float(e.min()),
                "propensity_max": float(e.max()),
                "caliper_abs": None if not np.isfinite(cal) else float(cal),
            },
            tables={"balance": table.to_frame()},
            gates=gates,
            warnings=notes,
            method=(
                f"{params['n_neighbors']}:1 nearest-neighbour matching on "
                + {
                    "logit": "the logit propensity",
                    "propensity": "the propensity",
                    "mahalanobis": "Mahalanobis distance",
                }[params["distance"]]
                + (" with" if params["replace"] else " without")
                + " replacement"
                + (", bias-corrected" if params["bias_correction"] else "")
                + (", Abadie–Imbens (2016) SE" if adjustment is not None else ", Abadie–Imbens SE")
            ),
        )
