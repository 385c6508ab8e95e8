"""Matching estimates with the Abadie–Imbens variance and its corrections.

The 2006 variance (doi:10.1111/j.1468-0262.2006.00655.x), the 2011 bias correction
(doi:10.1198/jbes.2009.07333) and the 2016 adjustment for the estimated propensity
(doi:10.3982/ECTA11293).
See :mod:`cqox.estimators.backdoor.psm` for the formulas; the functions here compute
them from arrays and :class:`~cqox.estimators.backdoor.matching.Matches`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cqox.errors import EstimationError, NoDataError
from cqox.estimators.backdoor.matching import (
    Matches,
    csr_take,
    kd_match,
    match_scores,
    match_scores_without_replacement,
    match_within,
    segment_sums,
)


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
    # conditional variances from same-arm matching on the same metric
    # (first: their sort of each arm's scores serves the matching across arms too)
    sigma2 = np.zeros(n)
    within_arms: list[Matches] = []
    for w in (0, 1):
        rows = np.flatnonzero(t == w)
        c = None if cells is None else cells[rows]
        if score is not None:
            within = match_within(score[rows], var_matches, c)
        else:
            assert Xw is not None
            within = kd_match(Xw[rows], Xw[rows], var_matches, np.inf, c, c, exclude_self=True)
        sigma2[rows] = conditional_variance(y[rows], y[rows], within)
        within_arms.append(within)

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
                mt = match_scores(
                    s_q,
                    s_r,
                    m,
                    caliper,
                    cq,
                    cr,
                    within_arms[1 - w].order,
                    within_arms[w].order,
                )
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
            mt = kd_match(Xw[q_rows], Xw[r_rows], m, caliper, cq, cr, exclude_self=False)
        ok = mt.sizes > 0
        n_unmatched += int((~ok).sum())
        mt = csr_take(mt, np.flatnonzero(ok))
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

    y_adj = None
    if Xb is not None:
        _, _, _, _, k0, _ = abadie_imbens(y, t, targets, matches, sigma2)
        y_adj = _bias_adjusted(y, t, Xb, targets, matches, k0)
    tau, se, se_sample, d, k, a = abadie_imbens(y, t, targets, matches, sigma2, y_adj)
    return MatchingResult(
        tau, se, se_sample, targets, n_unmatched, d, k, a, sigma2, matches, tuple(within_arms)
    )


def weighted_conditional_covariance(
    y: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    zt_dot: Callable[[np.ndarray], np.ndarray],
    arm: int,
    L: int,
    w: np.ndarray,
    within: Matches | None = None,
    other: Matches | None = None,
) -> np.ndarray:
    """``Σ_i w_i ĉov(Z, Y | e(X_i), W = arm)``, shape (k,).

    ``zt_dot(v)`` is ``Z'v`` for the propensity model's design ``Z``
    (:meth:`cqox.nuisance.glm.BinaryFit.zt_dot` computes it in blocks, so that the
    ``n × k`` design is never copied).

    ``within`` reuses the arm's own ``L``-nearest same-arm matches if already known;
    ``other`` the other arm's (for the sort order of its scores).

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
            m = match_scores(
                s[q],
                s[rows],
                L,
                order=None if within is None else within.order,
                query_order=None if other is None else other.order,
            )
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
    return zt_dot(u * y - r)


def estimated_score_adjustment(
    y: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    zt_dot: Callable[[np.ndarray], np.ndarray],
    H: np.ndarray,
    estimand: str,
    tau: float,
    effect: np.ndarray,
    L: int = 2,
    within: tuple[Matches, ...] = (),
) -> float:
    """Abadie–Imbens (2016) reduction of ``Var(τ̂)`` for matching on an estimated score.

    With ``I = N·H`` the information of the propensity model (``Z`` its design, given as
    ``zt_dot(v) = Z'v``; ``f = ∂e/∂(Z'θ)``), the adjusted variance is ``V̂ − adjustment`` where

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
        weighted_conditional_covariance(y, t, s, zt_dot, 1, L, w1, w1_within, w0_within)
        + weighted_conditional_covariance(y, t, s, zt_dot, 0, L, w0, w0_within, w1_within)
    ) / n_s
    if estimand == "ATE":
        return float(c @ np.linalg.solve(H, c)) / n
    d = zt_dot(f * (effect - tau)) / n_s
    return float(c @ np.linalg.solve(H, c) - d @ np.linalg.solve(H, d)) / n
