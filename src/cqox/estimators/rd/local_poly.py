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

from cqox.errors import EstimationError, ParameterError

KERNELS: tuple[str, ...] = ("triangular", "uniform", "epanechnikov")
VCES: tuple[str, ...] = ("nn", "hc0", "hc1", "hc2", "hc3")
#: Codes of the kernels and variances in the compiled fits (:mod:`._lp_kernel`).
KERNEL_CODE = {k: i for i, k in enumerate(KERNELS)}
VCE_CODE = {v: i for i, v in enumerate(VCES)}


def n_distinct_sorted(v: np.ndarray) -> int:
    """Distinct values of a sorted array: ``np.unique(v).size`` without sorting it again."""
    return int(v.size and 1 + np.count_nonzero(v[1:] != v[:-1]))


def tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``x``: size of each row's tie group and its 1-based rank inside it."""
    from cqox.estimators.rd._lp_kernel import tie_groups as kernel

    return kernel(np.ascontiguousarray(x, dtype=np.float64))


def nn_residuals(
    x: np.ndarray, Y: np.ndarray, dups: np.ndarray, dupsid: np.ndarray, matches: int
) -> np.ndarray:
    """Nearest-neighbour residuals ``√(J/(J+1))·(Y_i − mean of its J neighbours)``.

    The compiled kernel :func:`cqox.estimators.rd._lp_kernel.nn_residuals`, imported on
    first use so that listing the estimators does not import Numba.
    """
    from cqox.estimators.rd._lp_kernel import nn_residuals as kernel

    return kernel(x, Y, dups, dupsid, matches)


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
        """Conventional and robust variances of ``s'β̂[0, :]`` on this side.

        ``[G_p⁻¹ (Σ_i (ε̂_i's)² r_i r_iᵀ) G_p⁻¹]₀₀`` with the conventional rows
        ``r_i = RW_p,i`` and residuals ``ε̂_h`` (conventional) or the bias-corrected rows
        ``Q_q,i`` and ``ε̂_b`` (robust); compiled: :func:`._lp_kernel.side_variances`.
        """
        from cqox.estimators.rd._lp_kernel import side_variances

        v_cl, v_rb = side_variances(self.inv_g_p, self.RW_p, self.Q_q, self.res_h, self.res_b, s)
        return float(v_cl), float(v_rb)


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

    On the rows with positive weight under the larger of ``h`` and ``b`` (found by binary
    search on the sorted ``xc``: the cost of a fit is that of its window, not of the
    side), with ``R_p``/``R_q`` the polynomials of order ``p``/``q`` in ``x`` and ``W_h``,
    ``W_b`` the kernel weights: ``β̂_p = G_p⁻¹ R_pᵀW_hY`` (``G_p = R_pᵀW_hR_p``) and
    the bias-corrected ``β̂_bc = G_p⁻¹ Q_qᵀY`` with
    ``Q_q = W_hR_p − h^{p+1} (W_bR_q G_q⁻¹ e_{p+1}) Lᵀ``, ``L = R_pᵀW_h (x/h)^{p+1}``
    (CCT 2014, eq. 9).  One compiled pass (:func:`._lp_kernel.fit_side`).
    """
    from cqox.estimators.rd._lp_kernel import TOO_FEW
    from cqox.estimators.rd._lp_kernel import fit_side as kernel_fit

    status, *arrays, n_h, n_b, rows = kernel_fit(
        np.ascontiguousarray(xc, dtype=np.float64),
        np.ascontiguousarray(Y, dtype=np.float64),
        float(h),
        float(b),
        p,
        q,
        KERNEL_CODE[kernel],
        VCE_CODE[vce],
        nnmatch,
    )
    if status == TOO_FEW:
        raise EstimationError(
            "too few distinct running-variable values inside the bandwidth to fit the "
            f"polynomials (p = {p}, q = {q}); use a larger bandwidth or a lower order",
            details={"h": h, "b": b},
        )
    beta_p, beta_bc, inv_g_p, RW_p, Q_q, res_h, res_b = arrays
    return SideFit(beta_p, beta_bc, inv_g_p, RW_p, Q_q, res_h, res_b, int(n_h), int(n_b), rows)


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
