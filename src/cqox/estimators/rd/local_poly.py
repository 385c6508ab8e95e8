"""Local-polynomial RD estimation with robust bias correction (Calonico, Cattaneo & Titiunik 2014).

Sharp RD estimand: ``τ = lim_{x↓c} E[Y|X=x] − lim_{x↑c} E[Y|X=x]``, the average effect
at the cutoff for units with ``X = c`` (continuity of the potential-outcome regression
functions at ``c``).  Fuzzy RD: ``τ = τ_Y / τ_T``, the jump in the outcome over the
jump in the treatment probability, the average effect for compliers at the cutoff.

On each side ``s ∈ {−, +}`` a weighted polynomial of order ``p`` in ``x − c`` with kernel
weights ``K((x − c)/h)/h`` gives ``β̂_p,s``; the conventional estimate is the difference
of intercepts.  Its leading bias ``h^{p+1} B_s`` is estimated with a polynomial of order
``q = p + 1`` and bandwidth ``b`` (CCT 2014, doi:10.3982/ECTA11757, eq. 9), giving the
bias-corrected ``τ̂_bc``; its variance, which accounts for the variability of the bias
estimate, gives the robust interval ``τ̂_bc ± z·SE_rb`` (CCT 2014, Theorem 1).  The
residual variance uses the nearest-neighbour estimator with ``nnmatch`` matches
(default, ``vce="nn"``) or heteroskedasticity-robust plug-in residuals (``hc0``–``hc3``).
The arithmetic follows the authors' ``rdrobust`` package (Calonico, Cattaneo, Farrell &
Titiunik 2017, *Stata Journal* 17(2)) so that numbers agree to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from cqox.errors import EstimationError, ParameterError

KERNELS: tuple[str, ...] = ("triangular", "uniform", "epanechnikov")
VCES: tuple[str, ...] = ("nn", "hc0", "hc1", "hc2", "hc3")


def kernel_weights(u_num: np.ndarray, h: float, kernel: str) -> np.ndarray:
    """``K((x − c)/h)/h`` for centred ``u_num = x − c``."""
    u = np.abs(u_num / h)
    inside = u <= 1
    if kernel == "uniform":
        return 0.5 * inside / h
    if kernel == "epanechnikov":
        return 0.75 * (1 - u * u) * inside / h
    return (1 - u) * inside / h


def kernel_window(xc: np.ndarray, h: float, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of sorted centred ``xc`` with positive weight ``K(xc/h)/h``, and those weights.

    Returns ``(rows, w)``: positions in ``xc`` (ascending) and their weights, the same as
    ``w_all = kernel_weights(xc, h, kernel); rows = flatnonzero(w_all > 0)`` but found by
    binary search on the sorted values, so the cost is that of the window, not of ``xc``.
    The search bounds ``|x| ≤ h (1 + 1e-12)`` contain every row whose rounded ``|x/h|``
    is at most 1; the weights then decide, as in the full pass.
    """
    lo, hi = window_bounds(xc, h)
    w = kernel_weights(xc[lo:hi], h, kernel)
    keep = w > 0
    if keep.all():
        return np.arange(lo, hi), w
    return lo + np.flatnonzero(keep), w[keep]


def window_bounds(xc: np.ndarray, h: float) -> tuple[int, int]:
    """``(lo, hi)``: ``xc[lo:hi]`` holds every row of sorted ``xc`` with ``|x/h| ≤ 1``."""
    reach = h * (1.0 + 1e-12)
    lo = int(np.searchsorted(xc, -reach, side="left"))
    hi = int(np.searchsorted(xc, reach, side="right"))
    return lo, hi


def vander(u: np.ndarray, p: int) -> np.ndarray:
    """``[1, u, …, u^p]``, shape (n, p + 1)."""
    out = np.empty((u.shape[0], p + 1))
    out[:, 0] = 1.0
    for j in range(1, p + 1):
        out[:, j] = out[:, j - 1] * u
    return out


def n_distinct_sorted(v: np.ndarray) -> int:
    """Distinct values of a sorted array: ``np.unique(v).size`` without sorting it again."""
    return int(v.size and 1 + np.count_nonzero(v[1:] != v[:-1]))


def tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``x``: size of each row's tie group and its 1-based rank inside it."""
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(x[1:], x[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sizes = np.diff(starts, append=n)
    group = np.repeat(np.arange(starts.shape[0]), sizes)
    dups = sizes[group].astype(np.int64)
    dupsid = (np.arange(n) - starts[group] + 1).astype(np.int64)
    return dups, dupsid


def nn_residuals(
    x: np.ndarray, Y: np.ndarray, dups: np.ndarray, dupsid: np.ndarray, matches: int
) -> np.ndarray:
    """Nearest-neighbour residuals ``√(J/(J+1))·(Y_i − mean of its J neighbours)``.

    The compiled kernel :func:`cqox.estimators.rd._nn_kernel.nn_residuals`, imported on
    first use so that listing the estimators does not import Numba.
    """
    from cqox.estimators.rd._nn_kernel import nn_residuals as kernel

    return kernel(x, Y, dups, dupsid, matches)


def residuals(
    x: np.ndarray,
    Y: np.ndarray,
    R: np.ndarray,
    beta: np.ndarray,
    invG: np.ndarray,
    RW: np.ndarray,
    vce: str,
    nnmatch: int,
    dups: np.ndarray,
    dupsid: np.ndarray,
) -> np.ndarray:
    """Residuals for the variance: nearest-neighbour, or plug-in with an HC factor."""
    if vce == "nn":
        return nn_residuals(x, Y, dups, dupsid, nnmatch)
    e = Y - R @ beta
    n, d = R.shape
    if vce == "hc0":
        return e
    if vce == "hc1":
        return e * np.sqrt(n / (n - d))
    hii = np.sum((R @ invG) * RW, axis=1)
    one_minus = np.maximum(1 - hii, 1e-8)
    w = np.sqrt(1 / one_minus) if vce == "hc2" else 1 / one_minus
    return e * w[:, None]


def inv_spd(A: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix (Cholesky; pseudo-inverse fallback).

    ``A = LL'``, ``A⁻¹ = L⁻ᵀL⁻¹`` with LAPACK's ``potrf`` and ``trtri`` called directly:
    an RD estimate with its gates inverts some 60 matrices of order 2–5, where NumPy's
    wrappers cost three times the arithmetic.
    """
    L, info = lapack.dpotrf(A, lower=1)
    if info == 0:
        Linv, info = lapack.dtrtri(L, lower=1)
    if info != 0 or not np.all(np.isfinite(L)):
        return np.asarray(np.linalg.pinv(A))
    return np.asarray(Linv.T @ Linv)


@dataclass(frozen=True)
class SideFit:
    """Local-polynomial fits on one side of the cutoff.

    Attributes
    ----------
    beta_p, beta_bc : ndarray, shape (p + 1, k)
        Conventional and bias-corrected coefficients (columns: outcome, treatment).
    V_cl, V_rb : callables' inputs
        ``inv_g_p``, ``RW_p``, ``Q_q`` and residuals to form variances for any ``s``.
    n_h, n_b : int
        Rows with positive weight under ``h`` and under ``b``.
    rows : ndarray of int, shape (m,)
        Positions, in the side's input arrays, of the ``m`` rows of the fit.
    """

    beta_p: np.ndarray
    beta_bc: np.ndarray
    inv_g_p: np.ndarray
    RW_p: np.ndarray
    Q_q: np.ndarray
    res_h: np.ndarray
    res_b: np.ndarray
    n_h: int
    n_b: int
    rows: np.ndarray

    def scores(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row terms ``ψ_i`` of ``s'β̂[0, :]``, conventional and robust: ``Σ ψ_i² = V``.

        ``ψ_i = (e₀'G⁻¹ r_i w_i)(ε̂_i's)`` with the conventional design row ``r_i w_i``
        (``RW_p``) or the bias-corrected one (``Q_q``) — the terms whose sum of squares
        :meth:`variances` returns, and whose spatially weighted sum is Conley's.
        """
        lead = self.inv_g_p[:, 0]
        return (self.RW_p @ lead) * (self.res_h @ s), (self.Q_q @ lead) * (self.res_b @ s)

    def variances(self, s: np.ndarray) -> tuple[float, float]:
        """Conventional and robust variances of ``s'β̂[0, :]`` on this side."""
        r_h = self.res_h @ s
        r_b = self.res_b @ s
        A = self.RW_p * r_h[:, None]
        B = self.Q_q * r_b[:, None]
        V_cl = self.inv_g_p @ (A.T @ A) @ self.inv_g_p
        V_rb = self.inv_g_p @ (B.T @ B) @ self.inv_g_p
        return float(V_cl[0, 0]), float(V_rb[0, 0])


def fit_side(
    xc: np.ndarray,
    Y: np.ndarray,
    h: float,
    b: float,
    p: int,
    q: int,
    kernel: str,
    vce: str,
    nnmatch: int,
) -> SideFit:
    """Fit one side (``xc = x − c`` sorted ascending, ``Y`` columns outcome[, treatment]).

    Only the rows inside the larger bandwidth are touched (found by binary search on the
    sorted ``xc``): the cost of a fit is that of its window, not of the side.
    """
    lo, hi = window_bounds(xc, max(h, b))
    w_h_all = kernel_weights(xc[lo:hi], h, kernel)
    w_b_all = kernel_weights(xc[lo:hi], b, kernel)
    n_h = int(np.count_nonzero(w_h_all > 0))
    n_b = int(np.count_nonzero(w_b_all > 0))
    ind = w_h_all > 0 if h > b else w_b_all > 0
    rows = lo + np.flatnonzero(ind)
    ex, eY = xc[rows], Y[rows]
    # ``ex`` is sorted (as ``xc``): distinct values counted without np.unique's sort
    if n_distinct_sorted(ex[w_h_all[ind] > 0]) < p + 1 or n_distinct_sorted(ex) < q + 1:
        raise EstimationError(
            "too few distinct running-variable values inside the bandwidth to fit the "
            f"polynomials (p = {p}, q = {q}); use a larger bandwidth or a lower order",
            details={"h": h, "b": b},
        )
    W_h, W_b = w_h_all[ind], w_b_all[ind]
    u = ex / h
    R_q = vander(ex, q)
    R_p = R_q[:, : p + 1]
    RW_p = R_p * W_h[:, None]
    RW_q = R_q * W_b[:, None]
    inv_g_p = inv_spd(R_p.T @ RW_p)
    invG_q = inv_spd(R_q.T @ RW_q)
    L = RW_p.T @ u ** (p + 1)
    m = (R_q @ invG_q[p + 1, :]) * W_b
    Q_q = RW_p - h ** (p + 1) * m[:, None] * L[None, :]
    beta_p = inv_g_p @ (RW_p.T @ eY)
    beta_q = invG_q @ (RW_q.T @ eY)
    beta_bc = inv_g_p @ (Q_q.T @ eY)
    dups, dupsid = tie_groups(ex)
    res_h = residuals(ex, eY, R_p, beta_p, inv_g_p, RW_p, vce, nnmatch, dups, dupsid)
    res_b = (
        res_h
        if vce == "nn"
        else residuals(ex, eY, R_q, beta_q, invG_q, RW_q, vce, nnmatch, dups, dupsid)
    )
    return SideFit(beta_p, beta_bc, inv_g_p, RW_p, Q_q, res_h, res_b, n_h, n_b, rows)


@dataclass(frozen=True)
class ConleySpec:
    """Coordinates and kernel for Conley (1999) spatial-HAC variances of an RD fit.

    Attributes
    ----------
    lat_l, lon_l, lat_r, lon_r : ndarray
        Coordinates (decimal degrees) of the rows of ``x_l`` and ``x_r``, in their order.
    cutoff_km : float
    kernel : {"uniform", "bartlett"}
    """

    lat_l: np.ndarray
    lon_l: np.ndarray
    lat_r: np.ndarray
    lon_r: np.ndarray
    cutoff_km: float
    kernel: str


def conley_variances(
    left: SideFit, right: SideFit, s: np.ndarray, spec: ConleySpec
) -> tuple[float, float]:
    """Conley variances (conventional, robust) of ``s'(β̂_+[0] − β̂_−[0])``.

    The estimate is linear in the outcomes of both sides, ``τ̂ = Σ_i ψ_i`` up to its
    residuals, with ``ψ_i`` from :meth:`SideFit.scores` (negated on the left side), so
    ``V = Σ_i Σ_j K(d_ij / c) ψ_i ψ_j`` over the rows of both sides: places on opposite
    sides of the cutoff that lie close together (across a border, in ``geo_rd``) are
    correlated too.  With no two places within the cutoff it is the HC0 sum ``Σ ψ_i²``.
    """
    # imported here: only spatial fits need the KD-tree search
    from cqox.inference.spatial_hac import conley_meat

    cl_l, rb_l = left.scores(s)
    cl_r, rb_r = right.scores(s)
    psi = np.column_stack([np.r_[-cl_l, cl_r], np.r_[-rb_l, rb_r]])
    lat = np.r_[spec.lat_l[left.rows], spec.lat_r[right.rows]]
    lon = np.r_[spec.lon_l[left.rows], spec.lon_r[right.rows]]
    meat = conley_meat(psi, lat, lon, spec.cutoff_km, spec.kernel)
    return float(meat[0, 0]), float(meat[1, 1])


@dataclass(frozen=True)
class RDFit:
    """Local-polynomial RD estimate at given bandwidths.

    Attributes
    ----------
    tau_cl, tau_bc : float
        Conventional and bias-corrected estimates.
    se_cl, se_rb : float
        Conventional and robust standard errors.
    tau_t_cl, tau_t_bc, se_t_cl, se_t_rb : float
        First stage (jump in treatment) in a fuzzy design (NaN when sharp).
    mu_l, mu_r : float
        Conventional intercepts of the outcome on each side.
    n_h, n_b : tuple of int
        Effective rows (left, right) under ``h`` and ``b``.
    beta_l, beta_r : ndarray, shape (p + 1,)
        Outcome polynomial coefficients on each side (for plots).
    """

    tau_cl: float
    tau_bc: float
    se_cl: float
    se_rb: float
    tau_t_cl: float
    tau_t_bc: float
    se_t_cl: float
    se_t_rb: float
    mu_l: float
    mu_r: float
    n_h: tuple[int, int]
    n_b: tuple[int, int]
    beta_l: np.ndarray
    beta_r: np.ndarray


def rd_fit(
    x_l: np.ndarray,
    Y_l: np.ndarray,
    x_r: np.ndarray,
    Y_r: np.ndarray,
    h: tuple[float, float],
    b: tuple[float, float],
    p: int = 1,
    q: int = 2,
    kernel: str = "triangular",
    vce: str = "nn",
    nnmatch: int = 3,
    conley: ConleySpec | None = None,
) -> RDFit:
    """Estimate the jump at 0 of centred, sorted data ``x_l < 0 ≤ x_r``.

    ``Y_*`` has one column (sharp) or two (outcome, treatment: fuzzy).  With ``conley``
    every variance is :func:`conley_variances` over the residuals of ``vce`` (the
    caller passes plug-in ``"hc0"`` residuals).
    """
    L = fit_side(x_l, Y_l, h[0], b[0], p, q, kernel, vce, nnmatch)
    R = fit_side(x_r, Y_r, h[1], b[1], p, q, kernel, vce, nnmatch)
    nan = float("nan")
    tY_cl = float(R.beta_p[0, 0] - L.beta_p[0, 0])
    tY_bc = float(R.beta_bc[0, 0] - L.beta_bc[0, 0])
    if Y_l.shape[1] == 1:
        s = np.array([1.0])
        tau_cl, tau_bc = tY_cl, tY_bc
        tT_cl = tT_bc = se_t_cl = se_t_rb = nan
    else:
        tT_cl = float(R.beta_p[0, 1] - L.beta_p[0, 1])
        tT_bc = float(R.beta_bc[0, 1] - L.beta_bc[0, 1])
        if tT_cl == 0:
            raise EstimationError("fuzzy RD: the treatment does not jump at the cutoff")
        tau_cl = tY_cl / tT_cl
        s = np.array([1 / tT_cl, -tY_cl / tT_cl**2])
        tau_bc = tau_cl - float(s @ np.array([tY_cl - tY_bc, tT_cl - tT_bc]))
        sT = np.array([0.0, 1.0])
        v_cl, v_rb = _variances(L, R, sT, conley)
        se_t_cl, se_t_rb = np.sqrt(v_cl), np.sqrt(v_rb)
    v_cl, v_rb = _variances(L, R, s, conley)
    return RDFit(
        tau_cl,
        tau_bc,
        float(np.sqrt(v_cl)),
        float(np.sqrt(v_rb)),
        tT_cl,
        tT_bc,
        float(se_t_cl),
        float(se_t_rb),
        float(L.beta_p[0, 0]),
        float(R.beta_p[0, 0]),
        (L.n_h, R.n_h),
        (L.n_b, R.n_b),
        L.beta_p[:, 0].copy(),
        R.beta_p[:, 0].copy(),
    )


def _variances(
    left: SideFit, right: SideFit, s: np.ndarray, conley: ConleySpec | None
) -> tuple[float, float]:
    """Conventional and robust variances of the jump in ``s'β̂[0, :]``."""
    if conley is not None:
        v_cl, v_rb = conley_variances(left, right, s, conley)
        if min(v_cl, v_rb) < 0:
            raise ParameterError(
                f"the Conley variance is negative with the {conley.kernel} kernel at "
                f"conley_cutoff_km={conley.cutoff_km:g}; use conley_kernel='bartlett' or a "
                "smaller cutoff",
                details={"parameter": "conley_kernel"},
            )
        return v_cl, v_rb
    vl, vr = left.variances(s), right.variances(s)
    return vl[0] + vr[0], vl[1] + vr[1]
