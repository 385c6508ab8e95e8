"""Synthetic-control weights, gaps, placebos and leave-one-out refits (array functions).

Weights (Abadie & Gardeazabal 2003, doi:10.1257/000282803321455188; Abadie, Diamond &
Hainmueller 2010, doi:10.1198/jasa.2009.ap08746).  With predictors rescaled to unit
standard deviation across the units in the problem (R Synth, pysyncon),

    W*(V) = argmin_{w ∈ Δ^J} ‖X1 − X0 w‖²_V + λ Σ_j w_j ‖X1 − X0_j‖²_V,
    V*    = argmin_{V diagonal, V ≥ 0, tr V = 1} (1/|T_opt|) Σ_{t ∈ T_opt} (Y1_t − Y0_t W*(V))²,

where ``λ = 0`` is ADH and ``λ > 0`` the penalised estimator of Abadie & L'Hour (2021,
doi:10.1080/01621459.2021.1971535), which favours donors close to the treated unit and
makes the weights unique.  The inner problem is an exact simplex QP
(:func:`~cqox.estimators.synth._qp.simplex_qp`); the outer one is Nelder–Mead over
``log V`` from equal weights, restarted from its own optimum until it stops improving
(restarts let the simplex escape the early collapses that a non-convex ``V`` surface
produces).  The effect path is the gap ``α_t = Y1_t − Y0_t W*``; the estimand is the
treated unit's mean post-period gap (ATT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox._lazy import scipy_optimize as optimize

#: Nelder–Mead stops when the simplex is this small in ``log V`` (scipy's ``xatol``) ...
V_XATOL = 1e-4
#: ... and the relative change of the pre-period MSPE (normalised to its value at equal
#: weights) is below this (scipy's ``fatol``, applied to the normalised loss).
V_FATOL = 1e-10
#: Edge of the initial Nelder–Mead simplex in ``log V`` (V_k changes by a factor
#: e^0.5 ≈ 1.65): scipy's default around 0 would be 0.00025, too small to leave the
#: flat region around equal weights.
SIMPLEX_STEP = 0.5
#: A restart must lower the normalised loss by at least this much to count.
RESTART_GAIN = 1e-9


@dataclass(frozen=True)
class SynthFit:
    """One synthetic-control fit.

    Attributes
    ----------
    w : ndarray, shape (J,)
        Donor weights on the simplex.
    v : ndarray, shape (k,)
        Predictor weights (diagonal of ``V``, summing to one).
    loss_w : float
        ``‖X1 − X0 w‖²_V`` on the rescaled predictors (plus the penalty term).
    loss_v : float
        Mean squared prediction error over the optimisation periods.
    n_evaluations : int
        Inner QP solves (1 when ``V`` is given).
    """

    w: np.ndarray
    v: np.ndarray
    loss_w: float
    loss_v: float
    n_evaluations: int


def scale_predictors(X: np.ndarray) -> np.ndarray:
    """Rows divided by their standard deviation (ddof = 1) across units; shape kept."""
    sd = X.std(axis=1, ddof=1) if X.shape[1] > 1 else np.ones(X.shape[0])
    sd = np.where(sd > 0, sd, 1.0)
    return X / sd[:, None]


def inner_problem(
    X0s: np.ndarray, X1s: np.ndarray, v: np.ndarray, penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """``P`` (J × J) and ``q`` (J,) of the weight QP for predictor weights ``v``."""
    Xv = X0s * v[:, None]
    P = X0s.T @ Xv
    q = -(Xv.T @ X1s)
    if penalty > 0:
        D = X0s - X1s[:, None]
        q = q + 0.5 * penalty * np.einsum("kj,k,kj->j", D, v, D)
    return P, q


def synth_weights(
    X0: np.ndarray,
    X1: np.ndarray,
    Z0: np.ndarray,
    Z1: np.ndarray,
    v: np.ndarray | None = None,
    penalty: float = 0.0,
    max_iter: int = 1000,
    restarts: int = 2,
) -> SynthFit:
    """Synthetic-control weights for one treated unit.

    Parameters
    ----------
    X0 : ndarray, shape (k, J)
        Donors' predictors (raw; rescaled here across the ``J + 1`` units).
    X1 : ndarray, shape (k,)
        Treated unit's predictors.
    Z0 : ndarray, shape (T_opt, J)
        Donors' outcomes over the optimisation periods.
    Z1 : ndarray, shape (T_opt,)
        Treated unit's outcomes over the optimisation periods.
    v : ndarray, shape (k,), optional
        Predictor weights to use as given (normalised to sum to one); by default
        chosen by the nested optimisation.
    penalty : float
        Abadie–L'Hour ``λ ≥ 0``.
    max_iter : int
        Nelder–Mead iterations per start.
    restarts : int
        Nelder–Mead restarts from the current optimum.
    """
    # compiled QP (Numba) imported on use: listing the registry must not import Numba
    from cqox.estimators.synth._qp import LOG_V_FLOOR, nested_loss, simplex_qp

    Xs = scale_predictors(np.column_stack([X1, X0]))
    X1s, X0s = np.ascontiguousarray(Xs[:, 0]), np.ascontiguousarray(Xs[:, 1:])
    k, _J = X0s.shape

    def solve(vv: np.ndarray, w0: np.ndarray | None) -> tuple[np.ndarray, float]:
        P, q = inner_problem(X0s, X1s, vv, penalty)
        res = simplex_qp(P, q, w0)
        return res.w, 2.0 * res.objective + float(X1s @ (vv * X1s))

    def mspe(w: np.ndarray) -> float:
        r = Z1 - Z0 @ w
        return float(r @ r) / len(r)

    if v is not None:
        vv = np.abs(np.asarray(v, dtype=float))
        vv = vv / vv.sum()
        w, lw = solve(vv, None)
        return SynthFit(w, vv, lw, mspe(w), 1)

    n_eval = [0]
    Z0c, Z1c = (
        np.ascontiguousarray(Z0, dtype=np.float64),
        np.ascontiguousarray(Z1, dtype=np.float64),
    )

    def loss(theta: np.ndarray) -> float:
        n_eval[0] += 1
        return float(nested_loss(np.asarray(theta, float), X0s, X1s, Z0c, Z1c, penalty, 500)[0])

    theta = np.zeros(k)
    base = loss(theta)
    norm = base if base > 0 else 1.0
    best = base / norm
    if k > 1:
        for _ in range(restarts + 1):
            simplex = np.vstack([theta, theta + SIMPLEX_STEP * np.eye(k)])
            res = optimize.minimize(
                lambda th: loss(th) / norm,
                theta,
                method="Nelder-Mead",
                options={
                    "initial_simplex": simplex,
                    "maxiter": max_iter,
                    "maxfev": max_iter * 2,
                    "xatol": V_XATOL,
                    "fatol": V_FATOL,
                    "adaptive": k > 5,
                },
            )
            gain = best - float(res.fun)
            if float(res.fun) < best:
                best, theta = float(res.fun), np.asarray(res.x)
            if gain < RESTART_GAIN:
                break
    e = np.exp(np.maximum(theta - theta.max(), -LOG_V_FLOOR))
    vv = e / e.sum()
    w, lw = solve(vv, None)
    return SynthFit(w, vv, lw, mspe(w), n_eval[0] + 1)


@dataclass(frozen=True)
class UnitRun:
    """The synthetic control of one unit (the treated unit or a placebo).

    Attributes
    ----------
    fit : SynthFit
        Weights over this run's donors.
    donors : ndarray, shape (J_run,)
        Column indices (into the panel) of this run's donors.
    gap : ndarray, shape (T,)
        ``Y_t − Σ_j w_j Y_jt`` over every period of the panel.
    pre_rmspe, post_rmspe : float
        Root mean squared gap before the treatment and over the effect periods.
    att : float
        Mean gap over the effect periods.
    """

    fit: SynthFit
    donors: np.ndarray
    gap: np.ndarray
    pre_rmspe: float
    post_rmspe: float
    att: float

    @property
    def ratio(self) -> float:
        """Post/pre RMSPE ratio (Abadie, Diamond & Hainmueller 2010, Section 4)."""
        return self.post_rmspe / self.pre_rmspe if self.pre_rmspe > 0 else np.inf


def run_unit(
    X: np.ndarray,
    Y: np.ndarray,
    target: int,
    donors: np.ndarray,
    opt_rows: np.ndarray,
    pre_rows: np.ndarray,
    effect_rows: np.ndarray,
    v: np.ndarray | None,
    penalty: float,
) -> UnitRun:
    """Fit unit ``target`` (column of ``X``/``Y``) on the columns ``donors``.

    ``X`` is (k, N), ``Y`` is (T, N); the row masks select the optimisation,
    pre-treatment and effect periods of ``Y``.
    """
    fit = synth_weights(
        X[:, donors], X[:, target], Y[np.ix_(opt_rows, donors)], Y[opt_rows, target], v, penalty
    )
    gap = Y[:, target] - Y[:, donors] @ fit.w
    pre = float(np.sqrt(np.mean(gap[pre_rows] ** 2)))
    post = float(np.sqrt(np.mean(gap[effect_rows] ** 2)))
    return UnitRun(fit, donors, gap, pre, post, float(np.mean(gap[effect_rows])))


@dataclass(frozen=True)
class PlaceboSummary:
    """In-space placebo inference (Abadie, Diamond & Hainmueller 2010, Section 4).

    Attributes
    ----------
    runs : list of UnitRun
        One run per donor refitted as if treated, donors = the other donors.
    kept : ndarray of bool, shape (J,)
        Placebos kept for inference (pre-MSPE within the cutoff, when one is set).
    p_ratio : float
        Permutation p-value of the post/pre RMSPE ratio:
        ``(1 + #{kept placebos with ratio ≥ treated ratio}) / (1 + #kept)``.
    p_att : float
        The same for ``|ATT|``.
    se : float
        Standard deviation (ddof = 1) of the kept placebo ATTs.
    ci : tuple of float
        ``(ATT − q_{1−α/2}, ATT − q_{α/2})`` with ``q`` the empirical quantiles of the
        placebo ATTs (Conley & Taber 2011, doi:10.1162/REST_a_00049): valid when the
        placebo gaps share the treated unit's error distribution.
    """

    runs: list[UnitRun]
    kept: np.ndarray
    p_ratio: float
    p_att: float
    se: float
    ci: tuple[float, float]


def placebo_inference(
    treated: UnitRun,
    placebos: list[UnitRun],
    level: float,
    mspe_cutoff: float | None,
) -> PlaceboSummary:
    """Permutation p-values, placebo SD and placebo-quantile interval."""
    pre = np.array([r.pre_rmspe for r in placebos])
    kept = np.ones(len(placebos), bool)
    if mspe_cutoff is not None:
        kept = pre**2 <= mspe_cutoff * treated.pre_rmspe**2
    ratios = np.array([r.ratio for r in placebos])[kept]
    atts = np.array([r.att for r in placebos])[kept]
    m = int(kept.sum())
    p_ratio = float((1 + np.sum(ratios >= treated.ratio)) / (1 + m))
    p_att = float((1 + np.sum(np.abs(atts) >= abs(treated.att))) / (1 + m))
    se = float(np.std(atts, ddof=1)) if m > 1 else float("nan")
    if m >= 2:
        a = 1 - level
        lo_q, hi_q = np.quantile(atts, [a / 2, 1 - a / 2])
        ci = (treated.att - float(hi_q), treated.att - float(lo_q))
    else:
        ci = (float("nan"), float("nan"))
    return PlaceboSummary(placebos, kept, p_ratio, p_att, se, ci)
