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

Future treatment changes are left as realised (the paper's estimand).

Standard errors.  PanelMatch's bootstrap (and its ``conditional``/``unconditional``
analytic SEs) hold the weights fixed and treat each unit's weighted outcome sum
``Σ_t W_it Y_it`` as a free draw.  When refinement matches on the lagged outcome
(or on covariates that predict the outcome change), a treated unit and its matched
controls were *chosen* to have similar ``Y_{t−1}``, so the ``Y_{t−1}`` terms of the
differences largely cancel within a set; treating treated and control contributions
as independent then counts that cancelled variation and over-states the variance
(27% in SE on the staggered benchmark design).  The default here is the linear
representation of matching estimators with a regression adjustment (Abadie & Imbens
2006, doi:10.1111/j.1468-0262.2006.00655.x; Otsu & Rai 2017,
doi:10.1080/01621459.2016.1231613): with ``m̂_0(H)`` the least-squares fit of the
controls' ``ΔY = Y_{t+F} − Y_{t−1}`` on the variables the refinement matches on
(period intercepts, the treatment lags, and the covariate lags for ``mahalanobis`` or
the logit index for ``ps_match``; no covariates for ``none``/``ps_weight``, whose
weights do not pair controls with treated units by ``H``),

    δ_it(F) = [ΔY_it − Σ_i' w_i' m̂_0(H_i')] − Σ_i' w_i' [ΔY_i' − m̂_0(H_i')],

exactly (the ``m̂_0`` terms cancel, so the ATT is unchanged).  Each unit carries the
first bracket for its own treated observations and its weighted residuals as a
control; ``ψ_u`` collects them, the analytic SE is ``sqrt(G/(G−1) Σ_u (ψ_u − ATT·n_u)²)
/ Σ_u n_u`` and the unit block bootstrap resamples ``ψ_u`` (``ATT* = Σ_u m_u ψ_u /
Σ_u m_u n_u`` for multinomial counts ``m``, vectorised over replications).  Residuals
measure the controls' noise given their history, so cancelled ``Y_{t−1}`` variation is
no longer counted; if ``m̂_0`` is misspecified the residuals grow and the SE errs on
the conservative side.  ``num_fixed`` keeps PanelMatch's per-unit sums for
``se_method="fixed_sets"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
    pair_index : ndarray, shape (M,), or None
        Logit index of each pair's control (propensity refinements only).
    """

    unit: np.ndarray
    time: np.ndarray
    rows: np.ndarray
    control: np.ndarray
    weight: np.ndarray
    size_before: np.ndarray
    pair_index: np.ndarray | None = None

    @cached_property
    def positive(self) -> np.ndarray:
        """Indices of the pairs with positive weight, shape (M+,)."""
        return np.flatnonzero(self.weight > 0)

    @cached_property
    def size_after(self) -> np.ndarray:
        """Controls with positive weight per treated observation, shape (K,)."""
        return np.bincount(self.rows[self.positive], minlength=len(self.unit))


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


#: Largest (treated × control × lag × covariate) block of differences formed at once
#: by the Mahalanobis refinement (bounds memory at ~32 MB of float64).
DISTANCE_BLOCK = 4_000_000


def whitening(X: np.ndarray) -> np.ndarray:
    """``W`` with ``W Wᵀ`` the pseudo-inverse of the pooled covariance of ``X`` (N, T, p).

    Mahalanobis distances are then Euclidean distances of ``X @ W``.  Eigenvalues
    below ``1e-15`` × the largest are dropped, as :func:`numpy.linalg.pinv` does.
    """
    S = np.atleast_2d(np.cov(X.reshape(-1, X.shape[2]), rowvar=False))
    lam, V = np.linalg.eigh(S)
    keep = lam > 1e-15 * max(float(lam.max()), 0.0)
    return np.asarray(V[:, keep] / np.sqrt(lam[keep]))


def mahalanobis_weights(
    Z: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    sets: list[np.ndarray],
    start: np.ndarray,
    L: int,
    size: int,
    weight: np.ndarray,
) -> None:
    """Set ``weight`` to ``1/size`` on the ``size`` closest controls of each set.

    Distance: mean over lags ``1…L`` of the Mahalanobis distance (Euclidean in the
    whitened covariates ``Z``); ties go to the lower control index.  Treated
    observations sharing one control array (same period and history) are handled
    together, in blocks of at most ``DISTANCE_BLOCK`` differences.
    """
    K = len(unit)
    k = 0
    while k < K:
        g = k + 1
        while g < K and sets[g] is sets[k] and time[g] == time[k]:
            g += 1
        ctrl = sets[k]
        if len(ctrl):
            t = int(time[k])
            order = np.argsort(ctrl, kind="stable")
            zc = Z[ctrl[order], t - L : t, :]  # (C, L, r)
            step = max(1, DISTANCE_BLOCK // max(zc.size, 1))
            for s0 in range(k, g, step):
                s1 = min(g, s0 + step)
                diff = zc[None] - Z[unit[s0:s1], t - L : t, :][:, None]  # (n, C, L, r)
                d = np.sqrt(np.einsum("nclr,nclr->ncl", diff, diff)).mean(axis=2)
                near = np.argsort(d, axis=1, kind="stable")[:, :size]
                weight[(start[s0:s1, None] + order[near]).ravel()] = 1.0 / near.shape[1]
        k = g


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
        Z = X @ whitening(X)
        mahalanobis_weights(Z, unit, time, sets, start, L, size, weight)
        return MatchedSets(unit, time, rows, control, weight, size_before)
    # propensity score: pooled logit of "treated observation" on the covariates
    # averaged over lags 1…L, fitted on treated observations and their matched controls
    has = size_before > 0
    lags = np.arange(L, 0, -1)  # periods t−L … t−1

    def lag_mean(u: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.asarray(X[u[:, None], t[:, None] - lags[None], :].mean(axis=1))

    feat_t = lag_mean(unit, time)
    feat_c = lag_mean(control, time[rows])
    Z = np.vstack([feat_t[has], feat_c])
    lab = np.concatenate([np.ones(int(has.sum())), np.zeros(len(feat_c))])
    fit = fit_binary(Z, lab)
    e_t = np.full(K, np.nan)
    e_t[has] = fit.p_hat[: int(has.sum())]
    e_c = fit.p_hat[int(has.sum()) :]
    p_c = np.clip(e_c, 1e-12, 1 - 1e-12)
    index = np.log(p_c / (1 - p_c))
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
    return MatchedSets(unit, time, rows, control, weight, size_before, index)


#: Minimum residual degrees of freedom per parameter of the control-outcome
#: regression before its covariate columns are dropped (the fit then keeps period
#: intercepts and treatment lags): below it the residuals would absorb real noise.
MIN_DOF_PER_PARAMETER = 2


@dataclass(frozen=True)
class ControlDesign:
    """Regressors of the control-outcome regression, one row per (control, period).

    Attributes
    ----------
    unit, time : ndarray of int, shape (n,)
        Every distinct (control unit, period) of the unrefined matched sets.
    base : ndarray, shape (n, q0)
        Period intercepts and the treatment lags ``D_{t−1} … D_{t−L}``.
    extra : ndarray, shape (n, q1)
        What the refinement matches on: the covariate lags (``mahalanobis``), the
        logit index (``ps_match``), or nothing.
    pair_row : ndarray of int, shape (M+,)
        Row of each positive-weight pair (:attr:`MatchedSets.positive`).
    """

    unit: np.ndarray
    time: np.ndarray
    base: np.ndarray
    extra: np.ndarray
    pair_row: np.ndarray


def control_design(
    ms: MatchedSets, X: np.ndarray | None, D: np.ndarray, L: int, method: str
) -> ControlDesign:
    """The rows and regressors of ``m̂_0`` (see :func:`control_mean_fit`)."""
    N, T = D.shape
    tr = ms.time[ms.rows]
    row = np.full((N, T), -1, dtype=np.int64)
    row[ms.control, tr] = 0
    c, t = np.nonzero(row == 0)
    row[c, t] = np.arange(len(c))
    _, tcode = np.unique(t, return_inverse=True)
    lag = t[:, None] - np.arange(1, L + 1)[None]
    base = np.hstack([np.eye(int(tcode.max()) + 1 if len(t) else 0)[tcode], D[c[:, None], lag]])
    if method == "mahalanobis" and X is not None and X.shape[2]:
        extra = X[c[:, None], lag, :].reshape(len(c), L * X.shape[2])
    elif method == "ps_match" and ms.pair_index is not None:
        idx = np.zeros((N, T))
        idx[ms.control, tr] = ms.pair_index
        extra = idx[c, t][:, None]
    else:
        extra = np.empty((len(c), 0))
    pos = ms.positive
    return ControlDesign(c, t, base, extra, row[ms.control[pos], tr[pos]])


def control_mean_fit(design: ControlDesign, Y: np.ndarray, F: int) -> np.ndarray:
    """``m̂_0(H)`` of each positive-weight pair for lead ``F``, shape (M+,).

    Least squares of the controls' ``ΔY = Y_{t+F} − Y_{t−1}`` over the rows of
    ``design`` with ``t + F`` observed, on ``base`` and ``extra`` (only ``base`` when
    the residual degrees of freedom would fall below ``MIN_DOF_PER_PARAMETER`` per
    parameter; only the mean when even that is too rich).  Zero for pairs whose lead
    is not observed.
    """
    T = Y.shape[1]
    use = design.time + F <= T - 1
    c, t = design.unit[use], design.time[use]
    fit_all = np.zeros(len(design.unit))
    if len(c):
        dy = Y[c, t + F] - Y[c, t - 1]
        fit = _ols_fit(np.hstack([design.base[use], design.extra[use]]), dy)
        if fit is None and design.extra.shape[1]:
            fit = _ols_fit(design.base[use], dy)
        fit_all[use] = np.full(len(dy), dy.mean()) if fit is None else fit
    return fit_all[design.pair_row]


def _ols_fit(Z: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Fitted values of ``y`` on ``Z`` by minimum-norm least squares.

    ``None`` when the residual degrees of freedom fall below ``MIN_DOF_PER_PARAMETER``
    per parameter.
    """
    beta, _res, rank, _sv = np.linalg.lstsq(Z, y, rcond=None)
    if len(y) - rank < MIN_DOF_PER_PARAMETER * rank:
        return None
    return np.asarray(Z @ beta)


@dataclass(frozen=True)
class LeadEffect:
    """ATT at one lead with its per-unit contributions.

    Attributes
    ----------
    lead : int
    att : float
    n_treated : int
        Treated observations used (non-empty matched set, ``t + F`` observed).
    num : ndarray, shape (N,)
        Per-unit sum ``ψ_u`` of the regression-adjusted linear representation (module
        docstring): ``att = Σ num / Σ count``.
    num_fixed : ndarray, shape (N,)
        PanelMatch's per-unit weighted outcome-change sums (fixed weights, raw
        outcomes): also ``att = Σ num_fixed / Σ count``.
    count : ndarray, shape (N,)
        Treated observations per unit.
    delta : ndarray, shape (n_treated,)
        ``δ_it(F)`` of each treated observation used.
    """

    lead: int
    att: float
    n_treated: int
    num: np.ndarray
    num_fixed: np.ndarray
    count: np.ndarray
    delta: np.ndarray


def lead_effect(ms: MatchedSets, Y: np.ndarray, F: int, m0: np.ndarray | None = None) -> LeadEffect:
    """``ATT(F)`` and the per-unit contributions used for its standard error.

    ``m0`` is :func:`control_mean_fit` for this lead, one value per positive-weight
    pair (``None``: no adjustment, so ``num`` equals ``num_fixed``).
    """
    N, T = Y.shape
    K = len(ms.unit)
    ok = (ms.size_after > 0) & (ms.time + F <= T - 1)
    dy_t = np.where(ok, Y[ms.unit, np.minimum(ms.time + F, T - 1)] - Y[ms.unit, ms.time - 1], 0.0)
    pos = ms.positive
    rows, ctrl, w = ms.rows[pos], ms.control[pos], ms.weight[pos]
    tr = ms.time[rows]
    pair_ok = ok[rows]
    dy_c = np.where(pair_ok, Y[ctrl, np.minimum(tr + F, T - 1)] - Y[ctrl, tr - 1], 0.0)
    delta = (dy_t - np.bincount(rows, w * dy_c, minlength=K))[ok]
    count = np.bincount(ms.unit[ok], minlength=N).astype(np.float64)
    m0 = np.zeros(len(pos)) if m0 is None else np.where(pair_ok, m0, 0.0)
    fit_term = np.bincount(rows, w * m0, minlength=K)

    def per_unit(treated: np.ndarray, control: np.ndarray) -> np.ndarray:
        return np.bincount(ms.unit[ok], treated[ok], minlength=N) - np.bincount(
            ctrl, w * control, minlength=N
        )

    num = per_unit(dy_t - fit_term, dy_c - m0)
    num_fixed = per_unit(dy_t, dy_c)
    n = int(ok.sum())
    att = float(delta.mean()) if n else float("nan")
    return LeadEffect(F, att, n, num, num_fixed, count, delta)


def analytic_se(att: float, num: np.ndarray, count: np.ndarray) -> float:
    """Unit-clustered SE of ``Σ num / Σ count``.

    ``sqrt(G/(G−1) Σ_u (num_u − att·n_u)²) / Σ_u n_u`` over the ``G`` units with a
    non-zero contribution.
    """
    tot = count.sum()
    psi = num - att * count
    G = int(np.count_nonzero((num != 0) | (count != 0)))
    if tot <= 0 or G < 2:
        return float("nan")
    return float(np.sqrt(G / (G - 1) * np.sum(psi**2)) / tot)


def unit_bootstrap(
    num: np.ndarray, count: np.ndarray, B: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap ATTs, shape (B, leads): units resampled, ``Σ m_u num_u / Σ m_u n_u``.

    ``num`` and ``count`` have shape (N, leads).  Replication ``b`` draws ``N`` unit
    indices ``rng.integers(N, size=(B, N))[b]`` with replacement; ``m_u`` counts them.
    """
    N = num.shape[0]
    idx = rng.integers(N, size=(B, N))
    m = np.bincount((idx + N * np.arange(B)[:, None]).ravel(), minlength=B * N)
    m = m.reshape(B, N).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((m @ num) / (m @ count))


def balance(ms: MatchedSets, X: np.ndarray, L: int, sd: np.ndarray, refined: bool) -> np.ndarray:
    """Standardised mean differences, shape (L, p): row ``ℓ−1`` is lag ``ℓ``.

    ``(1/K) Σ_k [X_{i,t−ℓ} − Σ_c w_c X_{c,t−ℓ}] / sd`` over treated observations with a
    non-empty set; ``refined=False`` uses equal weights over the unrefined set.
    """
    K = len(ms.unit)
    pick = ms.positive if refined else np.arange(len(ms.rows))
    rows, ctrl = ms.rows[pick], ms.control[pick]
    w = ms.weight[pick] if refined else 1.0 / np.maximum(ms.size_before[rows], 1)
    ok = (ms.size_after if refined else ms.size_before) > 0
    out = np.empty((L, X.shape[2]))
    for lag in range(1, L + 1):
        xt = X[ms.unit, ms.time - lag, :]  # (K, p)
        xc = X[ctrl, ms.time[rows] - lag, :] * w[:, None]  # (M, p)
        wc = np.stack([np.bincount(rows, xc[:, j], minlength=K) for j in range(X.shape[2])], axis=1)
        out[lag - 1] = ((xt - wc)[ok]).mean(axis=0) / sd
    return out
