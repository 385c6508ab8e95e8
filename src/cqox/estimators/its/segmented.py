"""Segmented regression for an interrupted time series (array functions).

Model (Wagner et al. 2002, doi:10.1046/j.1365-2710.2002.00430.x; Bernal, Cummins &
Gasparrini 2017, doi:10.1093/ije/dyw098), with ``s`` the period index (0, 1, …),
``s0`` the index of the first period at or after the interruption and
``D_s = 1{s ≥ s0}``::

    y_s = β0 + β1 (s − s0) + β2 D_s + β3 (s − s0) D_s + γ' seasonal_s + δ' x_s + ε_s

``β2`` is the level change at the interruption (the jump of the fitted line at
``s0``) and ``β3`` the slope change per period.  The counterfactual is the fitted line
with ``β2 = β3 = 0``.  Comparative ITS (a control series ``c_s`` on the same periods)
fits the model to the difference ``y_s − c_s``: ``β2`` and ``β3`` are then the
difference-in-level and difference-in-slope changes (the same numbers as the fully
interacted stacked regression of both series).

Inference (``u_s = z_s ε̂_s``, covariance ``(Z'Z)⁻¹ S (Z'Z)⁻¹``), three choices:

* ``"ewc"`` (default): equal-weighted cosine long-run variance
  ``S = (1/ν) Σ_{j≤ν} Λ_j Λ_j'``, ``Λ_j = Σ_s √2 cos(πj(s+½)/n) u_s``, with
  ``ν = 0.4 n^{2/3}`` (Lazarus, Lewis, Stock & Watson 2018,
  doi:10.1080/07350015.2018.1506926) and design-adjusted fixed-b critical values
  (:func:`fixed_b`).
* ``"fixed_b"``: Newey & West (1987, doi:10.2307/1913610) with Bartlett weights
  ``1 − j/(L+1)``, ``S = Σ_{|j|≤L} w_j Σ_s u_s u_{s−j}'``, at the lag
  ``L = floor(1.3 n^{1/2})`` (Lazarus et al.'s bandwidth ``1.3 T^{1/2}``) or a chosen
  lag, with design-adjusted fixed-b critical values (Kiefer & Vogelsang 2005,
  doi:10.1017/S0266466605050565).
* ``"normal"``: Newey–West at ``floor(4 (n/100)^{2/9})`` (Newey & West 1994,
  doi:10.2307/2297912) or a chosen lag with normal critical values — exactly
  statsmodels' ``OLS.fit(cov_type="HAC")`` (``use_correction`` ↔ ``n/(n−k)``).

Why: with autocorrelated errors the small-bandwidth Newey–West t-ratio is far from normal
in series of the usual ITS length (n = 200, AR(1) φ = 0.5: 86% coverage of a nominal 95%
interval; n = 60 monthly, φ = 0.6: 68–72%).  A larger bandwidth reduces the bias of the
long-run variance and fixed-b critical values account for its sampling noise; the price
is wider intervals (about 1.4× for Newey–West and 1.5× for EWC at n = 200, 1.6–2.4× at
n = 60, relative to the old normal intervals; docs/validation_synth_its_pm.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import fft, special
from scipy.linalg import lapack

from cqox.core.linalg import crossprod


def auto_lag(n: int) -> int:
    """Newey–West (1994) rule ``floor(4 (n/100)^{2/9})``."""
    return math.floor(4 * (n / 100.0) ** (2.0 / 9.0))


def its_design(
    n: int,
    s0: int,
    season_period: int | None = None,
    season_method: str = "fourier",
    fourier_order: int = 2,
    X: np.ndarray | None = None,
    covariate_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Design matrix ``[1, s − s0, D, (s − s0)·D, seasonal…, covariates…]``.

    Parameters
    ----------
    n : int
        Number of periods.
    s0 : int
        Index of the first post-interruption period.
    season_period : int, optional
        Season length in periods (12 for monthly data); ``None`` for no seasonality.
    season_method : {"fourier", "dummies"}
        Harmonic pairs ``sin/cos(2πk s/period)``, ``k = 1…fourier_order``; or
        ``period − 1`` dummies (first season is the reference).
    X : ndarray, shape (n, p), optional
        Time-varying covariates.

    Returns
    -------
    Z : ndarray, shape (n, 4 + seasonal + p)
    names : list of str
    """
    s = np.arange(n, dtype=np.float64)
    names = ["intercept", "time", "level_change", "slope_change"]
    extra: list[np.ndarray] = []
    if season_period is not None and season_period > 1:
        if season_method == "dummies":
            phase = np.arange(n) % season_period
            for k in range(1, season_period):
                extra.append((phase == k).astype(np.float64))
                names.append(f"season_{k}")
        else:
            for k in range(1, fourier_order + 1):
                ang = 2 * np.pi * k * s / season_period
                extra += [np.sin(ang), np.cos(ang)]
                names += [f"sin_{k}", f"cos_{k}"]
    p = X.shape[1] if X is not None else 0
    if X is not None and p:
        names += list(covariate_names or [f"x{j}" for j in range(p)])
    # column-major, as LAPACK's QR reads it: each column is written once, in place
    Z = np.empty((n, 4 + len(extra) + p), order="F")
    Z[:, 0] = 1.0
    np.subtract(s, s0, out=Z[:, 1])
    m = min(max(s0, 0), n)  # D_s = 1{s ≥ s0}
    Z[:m, 2:4] = 0.0
    Z[m:, 2] = 1.0
    Z[m:, 3] = Z[m:, 1]
    for j, col in enumerate(extra):
        Z[:, 4 + j] = col
    if X is not None and p:
        Z[:, 4 + len(extra) :] = X
    return Z, names


def llsw_lag(n: int) -> int:
    """Lazarus, Lewis, Stock & Watson (2018) Newey–West bandwidth ``S = 1.3 n^{1/2}``.

    Returned as the Bartlett lag ``L = floor(1.3 n^{1/2})`` (weights ``1 − j/(L+1)``, so
    the bandwidth ``S = L + 1`` is at least ``1.3 n^{1/2}``).
    """
    return math.floor(1.3 * math.sqrt(n))


def ewc_terms(n: int) -> int:
    """Lazarus et al. (2018) number of cosine terms ``ν = 0.4 n^{2/3}`` (rounded, ≥ 1)."""
    return max(1, round(0.4 * n ** (2.0 / 3.0)))


def bartlett_weights(lag: int) -> np.ndarray:
    """Weights ``w_j = 1 − j/(L+1)`` for ``j = 0 … L``."""
    return 1.0 - np.arange(lag + 1) / (lag + 1.0)


def cosine_basis(n: int, terms: int) -> np.ndarray:
    """Type-II cosines ``φ_j(s) = √2 cos(π j (s + ½) / n)``, ``j = 1 … terms`` (n × terms)."""
    s = np.arange(n) + 0.5
    return np.sqrt(2.0) * np.cos(np.outer(s, np.arange(1, terms + 1)) * (np.pi / n))


def cosine_transform(V: np.ndarray, terms: int, overwrite: bool = False) -> np.ndarray:
    """``Φ'V`` along the last axis for the cosines of :func:`cosine_basis`, shape (…, terms).

    ``Σ_s √2 cos(π j (s + ½)/n) v_s`` is ``√2/2`` times the unnormalised DCT-II of ``v``
    at frequency ``j``: one FFT per column, ``O(n log n)``, instead of forming the
    n × ν basis (ν ≈ 0.4 n^{2/3} cosines) and multiplying by it.
    """
    n = V.shape[-1]
    if terms < n:
        # overwrite: V is the caller's own temporary, the transform's scratch (no copy)
        F = fft.dct(V, type=2, axis=-1, overwrite_x=overwrite)
        return np.asarray(math.sqrt(0.5) * F[..., 1 : terms + 1])
    return np.asarray(V @ cosine_basis(n, terms))


class LeastSquaresQR:
    """Householder QR ``Z = QR`` of a design, as LAPACK leaves it (``geqrf``).

    One factorisation serves the rank check (the diagonal of ``R``), the coefficients
    (``R⁻¹Q'y`` with ``Q'y`` applied from the Householder reflectors, ``ormqr``), the
    bread ``(Z'Z)⁻¹ = R⁻¹R⁻ᵀ`` and, only when the fixed-b law asks for it, the explicit
    ``Q`` (``orgqr``, formed on first use).  LAPACK is called directly: SciPy's
    ``linalg.qr`` adds a workspace query and checks that cost more than the
    factorisation of a 1,000 × 4 design.
    """

    __slots__ = ("R", "_Q", "_Rinv", "n", "packed", "tau")

    def __init__(self, Z: np.ndarray) -> None:
        n, k = Z.shape
        # geqrf works in place on a Fortran-ordered copy we own (its_design builds one)
        a = np.array(Z, dtype=np.float64, order="F", copy=True)
        packed, tau, _, info = _GEQRF(a, lwork=max(1, 64 * k), overwrite_a=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise np.linalg.LinAlgError(f"geqrf failed (info={info})")
        self.n = n
        self.packed = packed
        self.tau = tau
        R = packed[: min(n, k)].copy()
        for i in range(1, R.shape[0]):  # below the diagonal: the reflectors, not R
            R[i, :i] = 0.0
        self.R = R
        self._Q: np.ndarray | None = None
        self._Rinv: np.ndarray | None = None

    @property
    def Q(self) -> np.ndarray:  # noqa: N802 - matrix notation (Z = QR)
        """The thin ``Q`` (n × k), formed from the reflectors on first use."""
        if self._Q is None:
            q, _, info = _ORGQR(self.packed, self.tau, lwork=max(1, 64 * self.R.shape[1]))
            if info != 0:  # pragma: no cover - LAPACK argument error
                raise np.linalg.LinAlgError(f"orgqr failed (info={info})")
            self._Q = q
        return self._Q

    @property
    def Rinv(self) -> np.ndarray:  # noqa: N802 - matrix notation (R⁻¹)
        """``R⁻¹`` (upper triangular; needs full rank)."""
        if self._Rinv is None:
            rinv, info = _TRTRI(self.R)
            if info != 0:
                raise np.linalg.LinAlgError("the design is rank-deficient")
            self._Rinv = rinv
        return self._Rinv

    def qty(self, y: np.ndarray) -> np.ndarray:
        """The first k entries of ``Q'y`` (the reflectors applied to ``y``)."""
        k = self.R.shape[1]
        c, _, info = _ORMQR(b"L", b"T", self.packed, self.tau, y[:, None], max(1, 64))
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise np.linalg.LinAlgError(f"ormqr failed (info={info})")
        return np.asarray(c[:k, 0])


_GEQRF, _ORGQR, _ORMQR, _TRTRI = lapack.get_lapack_funcs(
    ("geqrf", "orgqr", "ormqr", "trtri"), dtype=np.float64
)


@dataclass(frozen=True)
class HACFit:
    """OLS with a heteroskedasticity- and autocorrelation-robust (HAR) covariance.

    Attributes
    ----------
    coef : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
        HAR covariance of ``coef`` (Newey–West or EWC).
    se : ndarray, shape (k,)
    resid : ndarray, shape (n,)
    fitted : ndarray, shape (n,)
    lag : int
        Bartlett truncation lag ``L`` (Newey–West) or number of cosine terms ``ν`` (EWC).
    kernel : str
        ``"bartlett"`` (Newey–West) or ``"ewc"`` (equal-weighted cosine).
    factor : LeastSquaresQR or None
        The QR of the design (its ``Q`` and ``R⁻¹`` serve :func:`fixed_b`).
    """

    coef: np.ndarray
    cov: np.ndarray
    se: np.ndarray
    resid: np.ndarray
    fitted: np.ndarray
    lag: int
    kernel: str = "bartlett"
    factor: LeastSquaresQR | None = field(default=None, repr=False)

    @property
    def Q(self) -> np.ndarray | None:  # noqa: N802 - matrix notation (Z = QR)
        """Thin ``Q`` of the design's QR (``None`` without the factorisation)."""
        return None if self.factor is None else self.factor.Q

    @property
    def Rinv(self) -> np.ndarray | None:  # noqa: N802 - matrix notation (R⁻¹)
        """``R⁻¹`` of the design's QR (``None`` without the factorisation)."""
        return None if self.factor is None else self.factor.Rinv


def thin_qr(Z: np.ndarray) -> LeastSquaresQR:
    """Householder QR of ``Z`` (see :class:`LeastSquaresQR`): ``.R``, ``.Q``, ``.Rinv``."""
    return LeastSquaresQR(Z)


def full_rank(R: np.ndarray, n: int) -> bool:
    """Whether the triangular factor ``R`` of an n-row design has full column rank.

    The tolerance of ``numpy.linalg.matrix_rank`` (``max(n, k)·eps`` times the largest
    scale), applied to the diagonal of ``R``: the residual norm of each column on the
    columns before it.
    """
    d = np.abs(R.diagonal())
    return bool(d.size == 0 or d.min() > d.max() * max(n, R.shape[1]) * _EPS)


_EPS = float(np.finfo(np.float64).eps)


def _ols(
    y: np.ndarray, Z: np.ndarray, qr: LeastSquaresQR | None
) -> tuple[LeastSquaresQR, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(factor, coef, fitted, ε̂, U')``: ``U' = (z_s ε̂_s)'`` as a contiguous k × n array."""
    f = LeastSquaresQR(Z) if qr is None else qr
    coef = f.Rinv @ f.qty(y)
    fitted = Z @ coef
    e = y - fitted
    # rows of Z' are contiguous for a column-major Z: the lag products below read rows
    Ut = np.multiply(Z.T, e)
    return f, coef, fitted, e, Ut


def _sandwich(f: LeastSquaresQR, S: np.ndarray, correction: bool) -> np.ndarray:
    """``(Z'Z)⁻¹ S (Z'Z)⁻¹`` (times ``n/(n−k)`` with the correction)."""
    bread = f.Rinv @ f.Rinv.T  # (Z'Z)^{-1}
    cov = bread @ S @ bread
    if correction:
        n, k = f.n, f.R.shape[1]
        cov *= n / (n - k)
    return np.asarray(cov)


def ols_hac(
    y: np.ndarray,
    Z: np.ndarray,
    lag: int,
    correction: bool = False,
    qr: LeastSquaresQR | None = None,
) -> HACFit:
    """OLS of ``y`` on ``Z`` with the Newey–West (Bartlett) covariance at lag ``lag``.

    ``qr`` is :func:`thin_qr` of ``Z`` when the caller already has it.
    """
    f, coef, fitted, e, Ut = _ols(y, Z, qr)
    S = newey_west_meat(Ut, min(lag, len(y) - 1))
    cov = _sandwich(f, S, correction)
    return HACFit(coef, cov, np.sqrt(cov.diagonal()), e, fitted, lag, "bartlett", f)


def ols_ewc(
    y: np.ndarray,
    Z: np.ndarray,
    terms: int,
    correction: bool = False,
    qr: LeastSquaresQR | None = None,
) -> HACFit:
    """OLS of ``y`` on ``Z`` with the equal-weighted cosine (EWC) covariance.

    ``S = (1/ν) Σ_{j=1}^{ν} Λ_j Λ_j'`` with ``Λ_j = Σ_s φ_j(s) z_s ε̂_s`` and the
    type-II cosines of :func:`cosine_basis` (Lazarus, Lewis, Stock & Watson 2018,
    doi:10.1080/07350015.2018.1506926); covariance ``(Z'Z)⁻¹ S (Z'Z)⁻¹``.  ``qr`` is
    :func:`thin_qr` of ``Z`` when the caller already has it.
    """
    f, coef, fitted, e, Ut = _ols(y, Z, qr)
    Lam = cosine_transform(Ut, terms, overwrite=True)  # (Φ'U)', (k, ν); Ut is ours
    cov = _sandwich(f, Lam @ Lam.T / terms, correction)
    return HACFit(coef, cov, np.sqrt(cov.diagonal()), e, fitted, terms, "ewc", f)


#: Up to this ``k·n·(L+1)`` the Newey–West meat sums shifted copies in one product
#: (measured at k = 4: 40% faster at 200 periods and lag 4, equal near 700 periods and
#: lag 5, where copying the overlapping windows for BLAS costs as much as the calls saved).
SHIFTED_SUMS_UP_TO = 16_000


def newey_west_meat(Ut: np.ndarray, lag: int) -> np.ndarray:
    """``S = Σ_{|j|≤L} (1 − |j|/(L+1)) Σ_s u_s u_{s−j}'`` from ``U'`` (k × n, rows contiguous).

    For short lags the autocovariances ``Γ_j = Σ_s u_s u_{s−j}'`` are summed directly
    (statsmodels' ``S_hac_simple``: one small matrix product per lag); for long ones
    ``S = B'B/(L+1)`` with ``B`` the width-``L+1`` moving sums of ``U`` (``K = CC'/(L+1)``
    for the Bartlett matrix), a fixed number of passes whatever the lag.  The crossover
    (measured: lag 7 at 1,000 × 4, lag 16 at 10,000 × 4) grows with the size because a
    cumulative sum costs more per element than a matrix product.  Small problems
    (``k n (L+1) ≤`` :data:`SHIFTED_SUMS_UP_TO`) take the lag-weighted sums of shifted
    copies of ``U`` in one product and one more for ``S``: a third of the calls.
    """
    k, n = Ut.shape
    if k * n * (lag + 1) <= SHIFTED_SUMS_UP_TO:
        # G = ½Γ_0 + Σ_{j≥1} w_j Γ_j = U'B' with B_s = ½u_s + Σ_j w_j u_{s−j}, S = G + G'
        # (symmetric to the last bit).  B in one product: the weights times the L + 1
        # shifted copies of U, read as overlapping windows of U padded with L zeros in
        # front of each row (window i, entry a(n+L)+s, is u_{a,s−(L−i)}, zero before 0)
        m = n + lag
        P = np.zeros((k, m))
        P[:, lag:] = Ut
        size = k * m - lag
        windows = np.ndarray((lag + 1, size), np.float64, buffer=P, strides=(8, 8))
        B = np.empty(k * m)
        np.matmul(_shifted_weights(lag), windows, out=B[:size])
        G = Ut @ B.reshape(k, m)[:, :n].T
        return np.asarray(G + G.T)
    # Γ_0 by gemm (crossprod): NumPy would call BLAS syrk for Ut @ Ut.T, several times
    # slower for a short, wide k × n operand
    if lag <= 6 + (k * n) // 4000:
        S = crossprod(Ut.T)
        if lag:
            A = np.zeros((k, k))  # Σ_{j≥1} w_j Γ_j (Γ_{−j} = Γ_j' comes with the symmetrisation)
            for j in range(1, lag + 1):
                A += (1.0 - j / (lag + 1.0)) * (Ut[:, j:] @ Ut[:, : n - j].T)
            S += 2.0 * A
        # symmetric to the last bit (gemm need not round Γ_0 symmetrically)
        return np.asarray(S + S.T) * 0.5
    # moving sums b_i = Σ_{t=i−L}^{i} u_t = P_{i+L+1} − P_i, i = 0 … n+L−1, with P the
    # cumulative sums of U padded by L+1 zeros in front and the total behind
    P = np.empty((k, n + 2 * lag + 1))
    P[:, : lag + 1] = 0.0
    np.cumsum(Ut, axis=1, out=P[:, lag + 1 : lag + 1 + n])
    P[:, lag + 1 + n :] = P[:, lag + n : lag + n + 1]
    B = P[:, lag + 1 :] - P[:, : n + lag]
    S = crossprod(B.T)
    S += S.T
    S *= 0.5 / (lag + 1.0)
    return np.asarray(S)


@functools.lru_cache(maxsize=64)
def _shifted_weights(lag: int) -> np.ndarray:
    """``[w_L, …, w_1, ½]`` (``w_j = 1 − j/(L+1)``) for :func:`newey_west_meat`'s windows.

    Window ``i`` is ``U`` shifted by ``L − i`` periods; ``w_0`` is halved because ``S`` is
    ``G + G'``.  Read-only, kept per lag.
    """
    w = np.arange(1.0, lag + 2.0) / (lag + 1.0)  # w_{L−i} = (i + 1)/(L + 1)
    w[lag] = 0.5
    w.flags.writeable = False
    return w


def bartlett_smooth(V: np.ndarray, lag: int) -> np.ndarray:
    """``K V`` along axis −2 for the Bartlett matrix ``K_st = (1 − |s−t|/(L+1))_+``.

    ``K = C C'/(L+1)`` with ``C`` the width-``L+1`` moving-sum operator, so two running
    sums (cumulative sums) give ``K V`` in ``O(n)`` per column whatever the lag.
    """
    n = V.shape[-2]
    pad = list(V.shape)
    pad[-2] = lag
    cp = np.cumsum(np.concatenate([V, np.zeros(pad)], axis=-2), axis=-2)  # length n + L
    # b1[i] = Σ_{t=i−L}^{i} V_t = cp[i] − cp[i−L−1], i = 0 … n+L−1
    b1 = cp.copy()
    b1[..., lag + 1 :, :] -= cp[..., : n - 1, :]
    cb = np.cumsum(b1, axis=-2)
    # b2[s] = Σ_{i=s}^{s+L} b1[i], s = 0 … n−1
    b2 = cb[..., lag : lag + n, :].copy()
    b2[..., 1:, :] -= cb[..., : n - 1, :]
    return b2 / (lag + 1.0)


@dataclass(frozen=True)
class FixedB:
    """Design-adjusted fixed-b reference distribution of each coefficient's t-ratio.

    ``t_j / scale_j`` is approximately Student-t with ``df_j`` degrees of freedom, so the
    two-sided critical value at level ``1 − α`` is ``scale_j · t_{df_j, 1−α/2}``.
    """

    scale: np.ndarray
    df: np.ndarray

    def critical_value(self, level: float) -> np.ndarray:
        """``scale · t_{df, (1+level)/2}`` per coefficient."""
        return np.asarray(self.scale * student_t_quantiles(self.df, 0.5 + level / 2.0))

    def p_value(self, t: np.ndarray) -> np.ndarray:
        """Two-sided p-values of the t-ratios ``t``."""
        return np.asarray(2.0 * special.stdtr(self.df, -np.abs(t) / self.scale))


#: Student-t quantiles kept per (degrees of freedom, probability); the oldest goes first
T_QUANTILES_KEPT = 64
_T_QUANTILES: dict[tuple[bytes, float], np.ndarray] = {}


def student_t_quantiles(df: np.ndarray, prob: float) -> np.ndarray:
    """``t_{df, prob}`` per entry of ``df`` (SciPy's ``stdtrit``), kept per ``(df, prob)``.

    ``stdtrit`` inverts the t distribution function iteratively (~7 µs for four
    coefficients, as much as the EWC variance of 1,000 periods), and the degrees of
    freedom of the fixed-b law depend on the design only: a series estimated again
    (both estimands, the dashboard's re-runs) reuses them.  Read-only.
    """
    key = (df.tobytes(), prob)
    q = _T_QUANTILES.get(key)
    if q is None:
        q = np.asarray(special.stdtrit(df, prob), dtype=np.float64)
        q.flags.writeable = False
        if len(_T_QUANTILES) >= T_QUANTILES_KEPT:
            _T_QUANTILES.pop(next(iter(_T_QUANTILES), (b"", 0.0)), None)
        _T_QUANTILES[key] = q
    return q


def clear_caches() -> None:
    """Forget the kept t and normal quantiles and Newey–West window weights."""
    _T_QUANTILES.clear()
    normal_critical_value.cache_clear()
    _shifted_weights.cache_clear()


def fixed_b(fit: HACFit, correction: bool = False, s0: int | None = None) -> FixedB:
    """Two-moment (Satterthwaite) fit to the exact t-ratio law under Gaussian white noise.

    With ``a_j`` the j-th row of ``(Z'Z)⁻¹Z'``, ``M = I − Z(Z'Z)⁻¹Z'`` and ``K`` the
    kernel matrix of the HAR estimator (Bartlett ``K_st = w_{|s−t|}``; EWC
    ``K = ΦΦ'/ν``), the HAR variance of ``β̂_j`` is the quadratic form ``ε'A_jε`` with
    ``A_j = c·M D_{a_j} K D_{a_j} M`` (``c = n/(n−k)`` with the correction, else 1).
    Under Gaussian white noise ``a_j'ε`` is independent of ``Mε`` (``M a_j = 0``),
    ``Var(a_j'ε) = a_j'a_j`` and ``ε'A_jε`` is matched to ``(tr A_j/df_j)·χ²_{df_j}``
    (Satterthwaite 1946, doi:10.2307/3002019) with ``df_j = (tr A_j)² / tr(A_j²)``, so
    ``t_j ≈ scale_j · t_{df_j}``, ``scale_j = (a_j'a_j / tr A_j)^{1/2}``.

    This white-noise law *is* the fixed-b limit of the t-ratio for this design (Kiefer &
    Vogelsang 2005, doi:10.1017/S0266466605050565): with the bandwidth a fixed fraction of
    n, any error process whose partial sums obey a functional CLT gives the same limit as
    white noise, because the ITS regressors are deterministic functions of ``s/n``.  The
    textbook fixed-b critical values (Kiefer–Vogelsang's polynomial in ``b``, ``t_ν`` for
    EWC) assume stationary regressors and are too small for trend, step and ramp
    regressors; the design-adjusted values include the trend effect.  For a mean-only
    design EWC gives exactly ``scale = 1``, ``df = ν`` (the ``t_ν`` of Lazarus et al.).
    Cost ``O(k² n + k n log n)`` (Newey–West) or ``O(k² n ν + k n log n)`` (EWC); no
    n × n matrix is formed.

    ``s0`` says that the design is the bare four-column ITS design of :func:`its_design`
    (no seasonal term, no covariate) interrupted at ``s0``: every quantity above depends
    on the design only through its column space, so the closed-form basis of
    :func:`_segment_basis` replaces the QR's ``Q`` (no ``orgqr``) and half of the
    products of basis columns vanish (fewer transforms).
    """
    if fit.factor is None:
        raise ValueError("fixed_b needs the QR factors kept by ols_hac / ols_ewc")
    n, k = fit.factor.n, fit.factor.R.shape[1]
    Rinv = fit.factor.Rinv if s0 is None else _segment_coefficients(n, s0)
    # a_j'a_j = (R⁻¹Q'QR⁻ᵀ)_jj = Σ_a (R⁻¹_ja)², Q having orthonormal columns
    aa = np.einsum("ja,ja->j", Rinv, Rinv)
    if fit.kernel == "ewc":
        nu = fit.lag
        # C = (D_a Φ)' M (D_a Φ) = Φ'D_{a²}Φ − (Q'D_aΦ)'(Q'D_aΦ), for every coefficient.
        # 2 cos(πv x) cos(πw x) = cos(π(v−w)x) + cos(π(v+w)x), so Φ'D_{a²}Φ needs only
        # c(m) = Σ_s a_s² cos(πm(s+½)/n), m = 0 … 2ν: one DCT-II of a² (O(n log n)).
        if 2 * nu + 1 <= n and s0 is not None:
            # the products of the closed-form basis, no basis or gather formed
            cm, QG = _ewc_from_products(_segment_products(n, s0), _SEGMENT_PAIRS, Rinv, nu)
        elif 2 * nu + 1 <= n:
            cm, QG = _ewc_transforms(fit.factor.Q, Rinv, nu)
        else:
            Q = fit.factor.Q if s0 is None else _segment_basis(n, s0)
            Arows = Rinv @ Q.T  # (k, n): row j is a_j
            a2 = Arows * Arows
            grid = np.outer(np.arange(n) + 0.5, np.arange(2 * nu + 1)) * (np.pi / n)
            cm = a2 @ np.cos(grid)
            QG = cosine_transform(Q.T[None, :, :] * Arows[:, None, :], nu)  # (k, k, ν)
        trA, trA2 = ewc_cross_moments(cm, QG, nu)
    else:
        Q = fit.factor.Q if s0 is None else _segment_basis(n, s0)
        L = min(fit.lag, n - 1)
        w = bartlett_weights(L)
        Arows = Rinv @ Q.T
        a2 = Arows * Arows
        # tr(B²) = Σ_{s,t} a_s² a_t² w_{|s−t|}² from the autocovariances of a² (FFT)
        m = 1 << (2 * n - 1).bit_length()
        f = np.fft.rfft(a2, m, axis=1)
        acov = np.fft.irfft(f * f.conj(), m, axis=1)[:, : L + 1]
        trB2 = acov[:, 0] + 2.0 * (acov[:, 1:] @ (w[1:] ** 2))
        BQ = Arows[:, :, None] * bartlett_smooth(Arows[:, :, None] * Q[None, :, :], L)
        QBQ = np.matmul(Q.T, BQ)  # (k, k, k): Q' D_a K D_a Q
        trA = aa - np.trace(QBQ, axis1=1, axis2=2)
        trA2 = trB2 - 2.0 * np.einsum("jnp,jnp->j", BQ, BQ) + np.einsum("jmp,jmp->j", QBQ, QBQ)
    c = n / (n - k) if correction else 1.0
    return FixedB(np.sqrt(aa / (c * trA)), trA**2 / trA2)


def ewc_cross_moments(cm: np.ndarray, QG: np.ndarray, nu: int) -> tuple[np.ndarray, np.ndarray]:
    """``(tr A_j, tr A_j²)`` of the EWC quadratic forms of :func:`fixed_b` (``c = 1``).

    ``C_j = G_j − H_j'H_j`` (ν × ν) with ``G_j[v, w] = c_j(|v − w|) + c_j(v + w)`` (``cm``,
    shape (k, ≥ 2ν + 1)) and ``H_j = Q'D_{a_j}Φ`` (``QG``, shape (k, k, ν)); ``tr A_j =
    tr C_j / ν`` and ``tr A_j² = ‖C_j‖²_F / ν²``.
    """
    k = QG.shape[0]
    # C_j formed in the buffer of H'H: one batched product, and ‖C‖² without the
    # cancellation of its expansion ‖G‖² − 2⟨HG, H⟩ + ‖HH'‖².  H' is copied: NumPy
    # multiplies a matrix by its own transpose with BLAS syrk, twice as slow as gemm here
    C = np.matmul(np.ascontiguousarray(QG.transpose(0, 2, 1)), QG)  # (k, ν, ν)
    # G = Toeplitz + Hankel from its two windowed views straight into C's buffer: a k·ν²
    # temporary for G cost ten times the sums at ν = 186 (n = 10,000).  Both views read
    # one buffer, cm[ν−1], …, cm[1], cm[0], cm[1], …, cm[2ν] (one copy, no flags: they
    # live only here), the Toeplitz row v−1 from ν − v, the Hankel row from ν + v
    # (:func:`_toeplitz_hankel_views`, ~2 µs less a call)
    seq = np.concatenate((cm[:, nu - 1 : 0 : -1], cm[:, : 2 * nu + 1]), axis=1)
    b0, b1 = seq.strides
    shape = (k, nu, nu)
    np.subtract(np.ndarray(shape, np.float64, seq, (nu + 1) * b1, (b0, b1, b1)), C, out=C)
    C += np.ndarray(shape, np.float64, seq, (nu - 1) * b1, (b0, -b1, b1))
    trA = C.trace(axis1=1, axis2=2) / nu
    flat = C.reshape(k, nu * nu)
    # ‖C_j‖² as k dot products (one call; a batched matmul of flat by its transpose or
    # einsum is slower here)
    trA2 = np.vecdot(flat, flat) / nu**2
    return trA, trA2


def _segment_basis(n: int, s0: int) -> np.ndarray:
    """Orthonormal basis of the bare ITS design's columns (closed form), n × 4.

    The columns ``[1, s − s0, D, (s − s0)·D]`` span the lines on the pre segment
    (``s < s0``, ``p = s0`` periods) and on the post segment (``r = n − s0``): with
    ``l = s − m`` centred on each segment's mean ``m`` and ``‖l‖² = p(p² − 1)/12``, the
    basis is ``q = [1_pre/√p, l·1_pre/‖l_pre‖, 1_post/√r, l·1_post/‖l_post‖]``
    (column-major).  Needs ``p, r ≥ 2``.
    """
    p, m_pre, m_post, lp, lr = _segment_sizes(n, s0)
    Q = np.zeros((n, 4), order="F")
    Q[:p, 0] = 1.0 / math.sqrt(p)
    np.subtract(np.arange(p, dtype=np.float64), m_pre, out=Q[:p, 1])
    Q[:p, 1] /= lp
    Q[p:, 2] = 1.0 / math.sqrt(n - p)
    np.subtract(np.arange(p, n, dtype=np.float64), m_post, out=Q[p:, 3])
    Q[p:, 3] /= lr
    return Q


def _segment_coefficients(n: int, s0: int) -> np.ndarray:
    """``B`` with ``a_j = Σ_a B_ja q_a`` for the basis of :func:`_segment_basis`, 4 × 4.

    The least-squares rows ``a_j`` of ``(Z'Z)⁻¹Z'`` read off the two segment fits
    (``β1`` the pre slope, ``β0`` the pre line at ``s0``, ``β2`` and ``β3`` the post
    line's level at ``s0`` and slope minus the pre ones): the role ``R⁻¹`` plays for
    the QR's ``Q``.
    """
    p, m_pre, m_post, lp, lr = _segment_sizes(n, s0)
    rp, rr = math.sqrt(p), math.sqrt(n - p)
    dp, dr = (s0 - m_pre) / lp, (s0 - m_post) / lr
    return np.array(
        [
            [1.0 / rp, dp, 0.0, 0.0],
            [0.0, 1.0 / lp, 0.0, 0.0],
            [-1.0 / rp, -dp, 1.0 / rr, dr],
            [0.0, -1.0 / lp, 0.0, 1.0 / lr],
        ]
    )


def _segment_products(n: int, s0: int) -> np.ndarray:
    """The products ``q_a ⊙ q_b`` of :func:`_segment_basis` listed in ``_SEGMENT_PAIRS``.

    Rows ``1/p, l/(√p‖l‖), l²/‖l‖²`` on the pre segment, then the same on the post
    segment (zero elsewhere), written straight from the closed forms (6 × n): at
    n = 10,000 gathering them from the basis took longer than their transforms.
    """
    p, m_pre, m_post, lp, lr = _segment_sizes(n, s0)
    P = np.zeros((6, n))
    for row, lo, hi, mean, norm in ((0, 0, p, m_pre, lp), (3, p, n, m_post, lr)):
        size = hi - lo
        P[row, lo:hi] = 1.0 / size
        centred = np.subtract(np.arange(lo, hi, dtype=np.float64), mean, out=P[row + 1, lo:hi])
        np.multiply(centred, centred, out=P[row + 2, lo:hi])
        P[row + 2, lo:hi] /= norm * norm
        centred /= norm * math.sqrt(size)
    return P


def _segment_sizes(n: int, s0: int) -> tuple[int, float, float, float, float]:
    """``(p, m_pre, m_post, ‖l_pre‖, ‖l_post‖)``: segment means and centred-index norms.

    Exact sums for integer periods: ``Σ (s − m)² = p(p² − 1)/12`` over ``p`` periods.
    """
    p, r = s0, n - s0
    return (
        p,
        0.5 * (p - 1),
        s0 + 0.5 * (r - 1),
        math.sqrt(p * (p * p - 1) / 12.0),
        math.sqrt(r * (r * r - 1) / 12.0),
    )


#: Products of :func:`_segment_basis` columns that are not zero (same segment), a ≤ b
_SEGMENT_PAIRS = (np.array([0, 0, 1, 2, 2, 3]), np.array([0, 1, 1, 2, 3, 3]))


def _ewc_transforms(Q: np.ndarray, Rinv: np.ndarray, nu: int) -> tuple[np.ndarray, np.ndarray]:
    """``c(m) = Σ_s a_js² cos(πm(s+½)/n)`` (m ≤ 2ν) and ``Q'D_{a_j}Φ``, from one DCT batch.

    ``a_j = Σ_a R⁻¹_ja q_a`` is a combination of the columns of ``Q``, so both transforms
    are combinations of the DCT-II of the ``k(k+1)/2`` products ``q_a ⊙ q_b``: one batch
    of that many transforms instead of ``k + k²`` (4 + 16 for the basic ITS design).
    Needs ``2ν + 1 ≤ n``.
    """
    k = Q.shape[1]
    # the pairs a ≤ b (row-major upper triangle), without triu_indices' index grids
    ia = np.repeat(np.arange(k), np.arange(k, 0, -1))
    ib = np.concatenate([np.arange(a, k) for a in range(k)])
    Qt = Q.T
    return _ewc_from_products(Qt[ia] * Qt[ib], (ia, ib), Rinv, nu)


def _ewc_from_products(
    products: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], Rinv: np.ndarray, nu: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_ewc_transforms` from the products ``q_a ⊙ q_b`` (rows) of the pairs ``a ≤ b``.

    A pair not listed has a zero product (the segment basis: 6 of its 10).  The
    products are the transform's scratch (overwritten).
    """
    k = Rinv.shape[0]
    ia, ib = pairs
    F = fft.dct(products, type=2, axis=1, overwrite_x=True)[:, : 2 * nu + 1]
    full = (
        np.zeros((k, k, 2 * nu + 1)) if len(ia) < k * (k + 1) // 2 else np.empty((k, k, 2 * nu + 1))
    )
    full[ia, ib] = F
    full[ib, ia] = F
    # c_j = ½ Σ_ab R⁻¹_ja R⁻¹_jb DCT(q_a q_b); QG_j = √½ Σ_a R⁻¹_ja DCT(q_a q_r)[1 … ν]
    # (matrix products: einsum's path search costs more than the sums at n = 1,000)
    pair = (Rinv[:, :, None] * Rinv[:, None, :]).reshape(k, k * k)
    cm = 0.5 * (pair @ full.reshape(k * k, 2 * nu + 1))
    band = np.ascontiguousarray(full[:, :, 1 : nu + 1]).reshape(k, k * nu)
    QG = math.sqrt(0.5) * (Rinv @ band).reshape(k, k, nu)
    return cm, QG


def _toeplitz_plus_hankel(cm: np.ndarray, nu: int) -> np.ndarray:
    """``G[j, v−1, w−1] = cm[j, |v−w|] + cm[j, v+w]`` for ``v, w = 1 … ν``, shape (k, ν, ν).

    Sliding windows over ``cm`` (views) instead of fancy indexing with two ν × ν index
    arrays, which costs 20 times more (2.3 ms at ν = 186).
    """
    toeplitz, hankel = _toeplitz_hankel_views(cm, nu)
    return np.asarray(toeplitz + hankel)


def _toeplitz_hankel_views(cm: np.ndarray, nu: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only strided views ``cm[j, |v−w|]`` and ``cm[j, v+w]`` (v, w = 1 … ν), (k, ν, ν)."""
    # row v−1 of the Toeplitz part is cm[|v−w|], w = 1 … ν: a window of the sequence
    # cm[ν−1], …, cm[1], cm[0], cm[1], …, cm[ν−1] starting at ν − v
    k = cm.shape[0]
    seq = np.concatenate([cm[:, nu - 1 : 0 : -1], cm[:, :nu]], axis=1)
    # windows as views built by the ndarray constructor over a C-contiguous buffer
    # (as_strided costs 4 µs a view, sliding_window_view more: the sums at ν = 40 cost
    # about as much); read-only, they alias their buffer
    s0, s1 = seq.strides
    toeplitz = np.ndarray(
        (k, nu, nu), np.float64, buffer=seq, offset=(nu - 1) * s1, strides=(s0, -s1, s1)
    )
    band = np.ascontiguousarray(cm, dtype=np.float64)  # no copy for a matrix product's cm
    b0, b1 = band.strides
    hankel = np.ndarray((k, nu, nu), np.float64, buffer=band, offset=2 * b1, strides=(b0, b1, b1))
    toeplitz.flags.writeable = False
    hankel.flags.writeable = False
    return toeplitz, hankel  # cm[|v − w|], cm[v + w]


@functools.lru_cache(maxsize=16)
def normal_critical_value(level: float) -> float:
    """``z_{(1+level)/2}`` (standard normal quantile), kept per level."""
    return float(special.ndtri(0.5 + level / 2.0))


def normal_p_value(t: np.ndarray) -> np.ndarray:
    """Two-sided normal p-values ``2 Φ(−|t|)``."""
    return np.asarray(2.0 * special.ndtr(-np.abs(t)))
