"""Conformal inference for synthetic control (Chernozhukov, Wüthrich & Zhu 2021).

Chernozhukov, Wüthrich & Zhu (2021), "An exact and robust conformal inference method
for counterfactual and synthetic controls", JASA 116(536), 1849–1864,
doi:10.1080/01621459.2021.1920957.

Setup: the treated unit's outcome ``Y1_t`` and the donors' ``Y0_t`` (``J``) over ``T``
periods, of which the set ``P`` (``T* = |P|``, the post / effect periods) may be
treated.  For a hypothesised effect path ``θ_t`` (here a constant ``θ`` on ``P``):

1. impose the null: ``Y1^N_t = Y1_t − θ·1{t ∈ P}``;
2. refit the synthetic control on *all* ``T`` periods (pre and post alike), as
   constrained least squares on outcomes (their default SC estimator, no predictor
   weighting ``V``)::

       ŵ(θ) = argmin_{w ≥ 0, 1ᵀw = 1} Σ_t (Y1^N_t − Y0_t w)²;

3. residuals ``û_t(θ) = Y1^N_t − Y0_t ŵ(θ)`` and the statistic
   ``S(û) = (1/√T*) Σ_{t ∈ P} |û_t|`` (``q = 1``);
4. p-value by permutations ``π`` of time applied to the residuals (no refit):
   ``p̂(θ) = (1/|Π|) Σ_{π ∈ Π} 1{S(û_π) ≥ S(û)}``, with ``Π`` the ``T`` moving-block
   (cyclic shift) permutations, or i.i.d. permutations (every ``T*``-subset when there
   are few, else random draws plus the identity).

Because the null data are fitted symmetrically in time, the residuals are exchangeable
(i.i.d. permutations) or a stationary weakly dependent series (moving blocks) when the
null is true, so ``P(p̂ ≤ α) ≤ α`` exactly under exchangeability and approximately
under the paper's conditions (a consistent SC estimator and stationary, weakly dependent
errors).  The confidence set for a constant effect inverts the test,
``{θ : p̂(θ) > α}``; ``ŵ(θ)`` is found by the exact simplex QP of
:mod:`cqox.estimators.synth._qp` with ``P = Ỹ0ᵀỸ0`` formed once (``θ`` enters only the
linear term) and warm-started from the nearest solved ``θ``.  The set is located by
doubling outwards from the span of the pre-period SC estimate, 0 and the caller's
point estimate until several doublings in a row are rejected, scanning a grid over that
bracket and bisecting every accept/reject change found.

The set need not be an interval: ŵ(θ) adapts to a wrong θ, so ``p̂(θ)`` is not
monotone, and about one data set in ten (factor-model simulations, constant effect) has
holes or a spurious piece far from the estimate.  ``ci`` is the piece nearest the point
estimate (coverage by simulation within 0.5 points of the set's, which is exact);
``hull`` the conservative summary; ``components`` the whole set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from cqox.errors import EstimationError

#: Permutation schemes of the paper: cyclic moving blocks or i.i.d. permutations.
PERMUTATIONS = ("moving_block", "iid")
#: Statistics within this relative distance of the observed one count as ties (≥):
#: cyclic shifts of the same residuals sum them in a different order.
TIE_RTOL = 1e-10
#: p-values are multiples of 1/|Π| and α = 1 − level carries rounding (1 − 0.95 =
#: 0.05000000000000004): p ≤ α + this counts as a rejection.
ALPHA_ATOL = 1e-12
#: Grid points scanned over the bracket of the confidence set before bisection.
GRID_POINTS = 81
#: Bisection stops when the bracket is below this fraction of the residual scale.
BISECT_RTOL = 1e-7
#: Doubling steps allowed when searching for a rejected θ on each side.
MAX_DOUBLINGS = 60
#: The outward search stops after this many consecutive rejected doublings (the
#: distance has grown 2^(REJECT_RUN−1)-fold past the last accepted θ): with an effect
#: that is not constant, p̂(θ) is not monotone and accepted stretches can lie beyond a
#: rejected one.
REJECT_RUN = 4


def permutation_positions(
    T: int,
    post: np.ndarray,
    method: str,
    n_perm: int,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, bool]:
    """Positions that each permutation puts into the post block.

    Row 0 is the identity (the observed post periods).  Returns the ``(|Π|, T*)``
    index matrix and whether ``Π`` is a random sample (then
    ``p = (1 + #{S_π ≥ S}) / (1 + n_perm)``) rather than a full group.

    ``moving_block``: the ``T`` cyclic shifts ``t ↦ t + s mod T``.  ``iid``: every
    ``T*``-subset of the periods when there are at most ``n_perm`` of them (the
    statistic depends only on which residuals land in the post block), else ``n_perm``
    random permutations.
    """
    pos = np.flatnonzero(post)
    if method == "moving_block":
        return (pos[None, :] + np.arange(T)[:, None]) % T, False
    k = len(pos)
    if math.comb(T, k) <= n_perm:
        rows = np.array(list(combinations(range(T), k)), dtype=np.int64)
        first = int(np.flatnonzero((rows == pos[None, :]).all(axis=1))[0])
        rows[[0, first]] = rows[[first, 0]]
        return rows, False
    if rng is None:
        raise EstimationError(
            f"{n_perm} random i.i.d. permutations of {T} periods need a random generator"
        )
    draws = rng.permuted(np.tile(np.arange(T), (n_perm, 1)), axis=1)[:, :k]
    return np.vstack([pos[None, :], draws]), True


def permutation_p_value(u: np.ndarray, positions: np.ndarray) -> float:
    """``p̂`` of the residuals ``u`` under the permutations in ``positions`` (row 0 observed)."""
    stats = np.abs(u)[positions].sum(axis=1)
    scale = float(np.abs(u).max()) * positions.shape[1]
    # row 0 (the identity) is always a hit: with random draws this is the "1 +" of
    # (1 + #{S_π ≥ S}) / (1 + n_perm)
    return int(np.sum(stats >= stats[0] - TIE_RTOL * scale)) / len(stats)


@dataclass(frozen=True)
class ConformalResult:
    """Conformal test of no effect and confidence set for a constant effect.

    Attributes
    ----------
    p_value : float
        ``p̂(0)``: the p-value of the sharp null of no effect in any post period.
    ci : tuple of float
        The interval of ``{θ : p̂(θ) > α}`` nearest the centre (the point estimate):
        the whole set when it is connected.  Infinite ends when the test cannot reject
        at ``α`` (too few permutations, or no period outside the post block); NaN when
        it rejects every constant effect.
    hull : tuple of float
        ``(min, max)`` of the set: conservative (it contains the set, whose coverage is
        the guaranteed one) but it also fills the holes and spans spurious far pieces.
    components : tuple of (float, float)
        The accepted intervals found, in order (one when the set is connected).
    theta_hat : float
        Mean post-period gap of the outcome SC fitted on the pre-period only (the
        centre of the search).
    permutation : str
        ``moving_block`` or ``iid``.
    n_permutations : int
        ``|Π|`` (including the identity).
    min_p : float
        Smallest attainable p-value, ``1/|Π|``.
    n_qp_solves : int
        Simplex QPs solved (one per θ evaluated, plus the pre-period fit).
    """

    p_value: float
    ci: tuple[float, float]
    hull: tuple[float, float]
    components: tuple[tuple[float, float], ...]
    theta_hat: float
    permutation: str
    n_permutations: int
    min_p: float
    n_qp_solves: int

    @property
    def connected(self) -> bool:
        """Whether the accepted set found is one interval (else ``ci`` is one piece)."""
        return len(self.components) <= 1


class ConformalSC:
    """The outcome SC refitted under ``H0: θ_t = θ on the post periods``.

    Parameters
    ----------
    y1 : ndarray, shape (T,)
        Treated unit's outcomes.
    Y0 : ndarray, shape (T, J)
        Donors' outcomes.
    post : ndarray of bool, shape (T,)
        Periods where the effect ``θ`` is imposed.

    Because ``1ᵀw = 1``, subtracting the per-period donor mean from ``y1`` and every
    column of ``Y0`` leaves ``ŵ`` and ``û`` unchanged and conditions ``P`` better.
    """

    def __init__(self, y1: np.ndarray, Y0: np.ndarray, post: np.ndarray) -> None:
        m = Y0.mean(axis=1)
        scale = float(np.std(Y0)) or 1.0
        self.scale = scale
        self.y1 = (np.asarray(y1, float) - m) / scale
        self.Y0 = np.ascontiguousarray((Y0 - m[:, None]) / scale)
        self.d = np.asarray(post, float)
        self.P = self.Y0.T @ self.Y0
        self.q0 = -(self.Y0.T @ self.y1)
        self.g = self.Y0.T @ self.d
        self.n_solves = 0

    def weights(self, theta: float, w0: np.ndarray | None = None) -> np.ndarray:
        """``ŵ(θ)`` (warm-started from ``w0``)."""
        self.n_solves += 1
        t = theta / self.scale
        from cqox.estimators.synth._qp import simplex_qp  # Numba: imported on use

        return simplex_qp(self.P, self.q0 + t * self.g, w0).w

    def residuals(self, theta: float, w: np.ndarray) -> np.ndarray:
        """``û(θ)`` for weights ``w`` (in the original outcome units)."""
        return (self.y1 - (theta / self.scale) * self.d - self.Y0 @ w) * self.scale


def conformal_inference(
    y1: np.ndarray,
    Y0: np.ndarray,
    post: np.ndarray,
    level: float,
    method: str = "moving_block",
    n_perm: int = 5000,
    rng: np.random.Generator | None = None,
    anchors: tuple[float, ...] = (),
    centre: float | None = None,
) -> ConformalResult:
    """p-value of no effect and the constant-effect confidence set (CWZ 2021).

    Parameters
    ----------
    y1 : ndarray, shape (T,)
        Treated unit's outcomes, periods in time order.
    Y0 : ndarray, shape (T, J)
        Donors' outcomes.
    post : ndarray of bool, shape (T,)
        Post-treatment (effect) periods.
    level : float
        Confidence level ``1 − α``.
    method : str
        ``moving_block`` (default of the paper) or ``iid``.
    n_perm : int
        i.i.d. permutations: enumerate every post-block subset when there are at most
        this many, else draw this many at random from ``rng``.
    rng : numpy Generator, optional
        Needed only for random i.i.d. permutations.
    anchors : tuple of float
        Further effects to include in the search bracket (e.g. the ADH ATT); the
        bracket always spans the pre-period SC estimate and 0.
    centre : float, optional
        The point estimate whose nearest accepted interval is ``ci`` (default: the
        pre-period SC estimate ``theta_hat``).
    """
    y1 = np.asarray(y1, dtype=np.float64)
    Y0 = np.asarray(Y0, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    T = len(y1)
    alpha = 1.0 - level
    positions, _ = permutation_positions(T, post, method, n_perm, rng)
    n_pi = positions.shape[0]
    model = ConformalSC(y1, Y0, post)

    # centre: SC on pre-period outcomes only, mean post gap
    pre = ~post
    Yp = model.Y0[pre]
    model.n_solves += 1
    from cqox.estimators.synth._qp import simplex_qp  # Numba: imported on use

    w_pre = simplex_qp(Yp.T @ Yp, -(Yp.T @ model.y1[pre])).w
    gap = (model.y1 - model.Y0 @ w_pre) * model.scale
    theta_hat = float(gap[post].mean())
    resid_scale = float(np.sqrt(np.mean(gap[pre] ** 2))) if pre.any() else 0.0
    step = max(resid_scale, 1e-6 * (abs(theta_hat) + float(np.std(y1)) + 1.0))

    solved: dict[float, np.ndarray] = {}

    def p_of(theta: float) -> float:
        near = min(solved, key=lambda s: abs(s - theta)) if solved else None
        w = model.weights(theta, solved[near] if near is not None else None)
        solved[theta] = w
        return permutation_p_value(model.residuals(theta, w), positions)

    p0 = p_of(0.0)
    min_p = 1.0 / n_pi
    nan_ci = (math.nan, math.nan)
    if min_p > alpha + ALPHA_ATOL or not pre.any():
        # no permutation can reject: every θ is accepted
        whole = (-math.inf, math.inf)
        return ConformalResult(
            p0, whole, whole, (whole,), theta_hat, method, n_pi, min_p, model.n_solves
        )

    verdict: dict[float, bool] = {0.0: p0 > alpha + ALPHA_ATOL}

    def accepted(theta: float) -> bool:
        if theta not in verdict:
            verdict[theta] = p_of(theta) > alpha + ALPHA_ATOL
        return verdict[theta]

    # bracket: from the span of the anchors (the pre-period estimate, 0 and the
    # caller's point estimates) double outwards until rejected on each side
    points = [theta_hat, 0.0, *(float(a) for a in anchors if math.isfinite(a))]
    ends: list[float] = []
    for sign, base in ((-1.0, min(points)), (1.0, max(points))):
        h, run = step, 0
        for _ in range(MAX_DOUBLINGS):
            run = 0 if accepted(base + sign * h) else run + 1
            if run == REJECT_RUN:
                break
            h *= 2.0
        else:  # never rejected for long: treat the set as unbounded on this side
            h = math.inf
        ends.append(base + sign * h)
    if math.isinf(ends[0]) or math.isinf(ends[1]):
        whole = (ends[0], ends[1])
        return ConformalResult(
            p0, whole, whole, (whole,), theta_hat, method, n_pi, min_p, model.n_solves
        )
    for x in (*points, *np.linspace(ends[0], ends[1], GRID_POINTS)):
        accepted(float(x))
    thetas = np.array(sorted(verdict))
    acc = np.array([verdict[t] for t in thetas])
    if not acc.any():
        return ConformalResult(
            p0, nan_ci, nan_ci, (), theta_hat, method, n_pi, min_p, model.n_solves
        )
    tol = BISECT_RTOL * max(resid_scale, step)

    def bisect(inside: float, outside: float) -> float:
        while abs(outside - inside) > tol:
            mid = 0.5 * (inside + outside)
            if accepted(mid):
                inside = mid
            else:
                outside = mid
        return 0.5 * (inside + outside)

    # runs of accepted grid points; the bracket ends were rejected, so each run's edges
    # lie between an accepted and a rejected point
    edges = np.flatnonzero(np.diff(np.concatenate([[0], acc.astype(np.int8), [0]])))
    components = tuple(
        (
            bisect(float(thetas[i]), float(thetas[i - 1])),
            bisect(float(thetas[j - 1]), float(thetas[j])),
        )
        for i, j in zip(edges[::2], edges[1::2], strict=True)
    )
    c = theta_hat if centre is None else centre
    ci = min(components, key=lambda ab: max(ab[0] - c, c - ab[1], 0.0))
    hull = (components[0][0], components[-1][1])
    return ConformalResult(p0, ci, hull, components, theta_hat, method, n_pi, min_p, model.n_solves)
