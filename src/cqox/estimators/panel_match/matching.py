"""Matched sets, refinement, ATT at leads and the unit bootstrap (array functions).

Imai, Kim & Wang (2021), "Matching methods for causal inference with time-series
cross-sectional data", *AJPS* 67(3), doi:10.1111/ajps.12685.

Panel arrays are wide: ``D`` and ``Y`` have shape (N units, T periods); covariates
``X`` have shape (N, T, p).  A *treated observation* is ``(i, t)`` with
``D_it = 1, D_i,t−1 = 0`` and ``t ≥ L``.  Its matched set is

    M_it = {i' : D_i't = 0 and D_i',t−ℓ = D_i,t−ℓ for ℓ = 1 … L},

refined to weights ``w_i'`` (summing to one) by Mahalanobis distance on the covariates
over the ``L`` lags (the ``size`` closest, equal weights), by propensity-score matching
(the ``size`` closest scores) or propensity-score weighting (``w ∝ ê/(1 − ê)``).  For a
lead ``F ≥ 0`` the ATT is the mean over treated observations with a non-empty matched
set and ``t + F ≤ T − 1`` of

    δ_it(F) = (Y_i,t+F − Y_i,t−1) − Σ_{i' ∈ M_it} w_i' (Y_i',t+F − Y_i',t−1).

Future treatment changes are left as realised (the paper's estimand).  Standard
errors: block bootstrap over units with the matched sets and weights held fixed —
each unit carries its own outcome differences as treated and (weighted, negative) as
control, so ``ATT* = Σ_u m_u num_u / Σ_u m_u n_u`` for multinomial unit counts
``m`` — vectorised over the bootstrap replications.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox.nuisance.glm import fit_binary


@dataclass(frozen=True)
class MatchedSets:
    """Treated observations and their (refined) matched sets.

    Attributes
    ----------
    unit, time : ndarray of int, shape (K,)
        Unit and period index of each treated observation.
    rows : ndarray of int, shape (M,)
        Treated-observation index ``k`` of each (treated, control) pair.
    control : ndarray of int, shape (M,)
        Control unit of each pair.
    weight : ndarray, shape (M,)
        Weight of each pair (summing to one within ``k``).
    size_before : ndarray of int, shape (K,)
        Matched-set size before refinement.
    """

    unit: np.ndarray
    time: np.ndarray
    rows: np.ndarray
    control: np.ndarray
    weight: np.ndarray
    size_before: np.ndarray

    @property
    def size_after(self) -> np.ndarray:
        """Controls with positive weight per treated observation, shape (K,)."""
        return np.bincount(self.rows[self.weight > 0], minlength=len(self.unit))


def history_sets(D: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Treated observations and their exact treatment-history matched sets.

    Histories over lags ``1…L`` are coded as integers ``Σ_ℓ D_{t−ℓ} 2^{ℓ−1}``; a
    control matches when its code equals the treated unit's.
    """
    _N, T = D.shape
    powers = 2 ** np.arange(L, dtype=np.int64)
    units: list[int] = []
    times: list[int] = []
    sets: list[np.ndarray] = []
    Di = D.astype(np.int64)
    for t in range(L, T):
        hist = Di[:, t - L : t][:, ::-1] @ powers  # column ℓ−1 is lag ℓ
        treated = np.flatnonzero((Di[:, t] == 1) & (Di[:, t - 1] == 0))
        if not len(treated):
            continue
        pool = Di[:, t] == 0
        for c in np.unique(hist[treated]):
            ctrl = np.flatnonzero(pool & (hist == c))
            for i in treated[hist[treated] == c]:
                units.append(int(i))
                times.append(t)
                sets.append(ctrl)
    return np.array(units, dtype=np.int64), np.array(times, dtype=np.int64), sets


def mahalanobis_distances(
    X: np.ndarray, Sinv: np.ndarray, i: int, ctrl: np.ndarray, t: int, L: int
) -> np.ndarray:
    """Mean over lags ``1…L`` of the Mahalanobis distance of each control to unit ``i``."""
    diff = X[ctrl, t - L : t, :] - X[i, t - L : t, :][None]  # (C, L, p)
    q = np.einsum("clp,pq,clq->cl", diff, Sinv, diff)
    return np.sqrt(np.maximum(q, 0.0)).mean(axis=1)


def refine(
    unit: np.ndarray,
    time: np.ndarray,
    sets: list[np.ndarray],
    X: np.ndarray | None,
    L: int,
    method: str,
    size: int,
) -> MatchedSets:
    """Weights within each matched set (see the module docstring)."""
    K = len(unit)
    size_before = np.array([len(s) for s in sets], dtype=np.int64)
    rows = np.repeat(np.arange(K), size_before)
    control = np.concatenate(sets) if K else np.empty(0, np.int64)
    weight = np.zeros(len(control))
    start = np.concatenate([[0], np.cumsum(size_before)])
    if method == "none" or X is None or X.shape[2] == 0:
        weight = 1.0 / size_before[rows] if len(rows) else weight
        return MatchedSets(unit, time, rows, control, weight, size_before)
    if method == "mahalanobis":
        flat = X.reshape(-1, X.shape[2])
        S = np.atleast_2d(np.cov(flat, rowvar=False))
        Sinv = np.linalg.pinv(S)
        for k in range(K):
            a, b = start[k], start[k + 1]
            if b == a:
                continue
            d = mahalanobis_distances(X, Sinv, int(unit[k]), control[a:b], int(time[k]), L)
            keep = np.lexsort((control[a:b], d))[:size]
            weight[a + keep] = 1.0 / len(keep)
        return MatchedSets(unit, time, rows, control, weight, size_before)
    # propensity score: pooled logit of "treated observation" on the covariates
    # averaged over lags 1…L, fitted on treated observations and their matched controls
    has = size_before > 0
    feat_t = np.stack([X[unit[k], time[k] - L : time[k], :].mean(axis=0) for k in range(K)])
    feat_c = (
        np.stack(
            [
                X[control[m], time[rows[m]] - L : time[rows[m]], :].mean(axis=0)
                for m in range(len(rows))
            ]
        )
        if len(rows)
        else np.empty((0, X.shape[2]))
    )
    Z = np.vstack([feat_t[has], feat_c])
    lab = np.concatenate([np.ones(int(has.sum())), np.zeros(len(feat_c))])
    fit = fit_binary(Z, lab)
    e_t = np.full(K, np.nan)
    e_t[has] = fit.p_hat[: int(has.sum())]
    e_c = fit.p_hat[int(has.sum()) :]
    for k in range(K):
        a, b = start[k], start[k + 1]
        if b == a:
            continue
        if method == "ps_weight":
            odds = e_c[a:b] / (1 - e_c[a:b])
            weight[a:b] = odds / odds.sum()
        else:  # ps_match
            keep = np.lexsort((control[a:b], np.abs(e_c[a:b] - e_t[k])))[:size]
            weight[a + keep] = 1.0 / len(keep)
    return MatchedSets(unit, time, rows, control, weight, size_before)


@dataclass(frozen=True)
class LeadEffect:
    """ATT at one lead with its per-unit contributions.

    Attributes
    ----------
    lead : int
    att : float
    n_treated : int
        Treated observations used (non-empty matched set, ``t + F`` observed).
    num, count : ndarray, shape (N,)
        Per-unit numerator and treated-observation count: ``att = Σ num / Σ count``.
    delta : ndarray, shape (n_treated,)
        ``δ_it(F)`` of each treated observation used.
    """

    lead: int
    att: float
    n_treated: int
    num: np.ndarray
    count: np.ndarray
    delta: np.ndarray


def lead_effect(ms: MatchedSets, Y: np.ndarray, F: int) -> LeadEffect:
    """``ATT(F)`` and the per-unit contributions used by the bootstrap."""
    N, T = Y.shape
    K = len(ms.unit)
    ok = (ms.size_after > 0) & (ms.time + F <= T - 1)
    dy_t = np.where(ok, Y[ms.unit, np.minimum(ms.time + F, T - 1)] - Y[ms.unit, ms.time - 1], 0.0)
    pair_ok = ok[ms.rows] & (ms.weight > 0)
    tr = ms.time[ms.rows]
    dy_c = np.where(pair_ok, Y[ms.control, np.minimum(tr + F, T - 1)] - Y[ms.control, tr - 1], 0.0)
    ctrl_term = np.bincount(ms.rows, ms.weight * dy_c, minlength=K)
    delta = (dy_t - ctrl_term)[ok]
    num = np.bincount(ms.unit[ok], dy_t[ok], minlength=N) - np.bincount(
        ms.control[pair_ok], (ms.weight * dy_c)[pair_ok], minlength=N
    )
    count = np.bincount(ms.unit[ok], minlength=N).astype(np.float64)
    n = int(ok.sum())
    att = float(delta.mean()) if n else float("nan")
    return LeadEffect(F, att, n, num, count, delta)


def unit_bootstrap(effects: list[LeadEffect], B: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap ATTs, shape (B, leads): units resampled, matched sets held fixed."""
    N = len(effects[0].num)
    m = rng.multinomial(N, np.full(N, 1.0 / N), size=B).astype(np.float64)  # (B, N)
    num = np.column_stack([e.num for e in effects])  # (N, leads)
    cnt = np.column_stack([e.count for e in effects])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (m @ num) / (m @ cnt)


def balance(ms: MatchedSets, X: np.ndarray, L: int, sd: np.ndarray, refined: bool) -> np.ndarray:
    """Standardised mean differences, shape (L, p): row ``ℓ−1`` is lag ``ℓ``.

    ``(1/K) Σ_k [X_{i,t−ℓ} − Σ_c w_c X_{c,t−ℓ}] / sd`` over treated observations with a
    non-empty set; ``refined=False`` uses equal weights over the unrefined set.
    """
    K = len(ms.unit)
    w = ms.weight if refined else 1.0 / np.maximum(ms.size_before[ms.rows], 1)
    ok = (ms.size_after if refined else ms.size_before) > 0
    out = np.empty((L, X.shape[2]))
    for lag in range(1, L + 1):
        xt = X[ms.unit, ms.time - lag, :]  # (K, p)
        xc = X[ms.control, ms.time[ms.rows] - lag, :] * w[:, None]  # (M, p)
        wc = np.stack(
            [np.bincount(ms.rows, xc[:, j], minlength=K) for j in range(X.shape[2])], axis=1
        )
        out[lag - 1] = ((xt - wc)[ok]).mean(axis=0) / sd
    return out
