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

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft, linalg, special


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
    D = (s >= s0).astype(np.float64)
    cols = [np.ones(n), s - s0, D, (s - s0) * D]
    names = ["intercept", "time", "level_change", "slope_change"]
    if season_period is not None and season_period > 1:
        if season_method == "dummies":
            phase = np.arange(n) % season_period
            for k in range(1, season_period):
                cols.append((phase == k).astype(np.float64))
                names.append(f"season_{k}")
        else:
            for k in range(1, fourier_order + 1):
                ang = 2 * np.pi * k * s / season_period
                cols += [np.sin(ang), np.cos(ang)]
                names += [f"sin_{k}", f"cos_{k}"]
    if X is not None and X.shape[1]:
        cols += list(X.T)
        names += list(covariate_names or [f"x{j}" for j in range(X.shape[1])])
    return np.column_stack(cols), names


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


def cosine_transform(V: np.ndarray, terms: int) -> np.ndarray:
    """``Φ'V`` along the last axis for the cosines of :func:`cosine_basis`, shape (…, terms).

    ``Σ_s √2 cos(π j (s + ½)/n) v_s`` is ``√2/2`` times the unnormalised DCT-II of ``v``
    at frequency ``j``: one FFT per column, ``O(n log n)``, instead of forming the
    n × ν basis (ν ≈ 0.4 n^{2/3} cosines) and multiplying by it.
    """
    n = V.shape[-1]
    if terms < n:
        return np.asarray(math.sqrt(0.5) * fft.dct(V, type=2, axis=-1)[..., 1 : terms + 1])
    return np.asarray(V @ cosine_basis(n, terms))


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
    """

    coef: np.ndarray
    cov: np.ndarray
    se: np.ndarray
    resid: np.ndarray
    fitted: np.ndarray
    lag: int
    kernel: str = "bartlett"
    Q: np.ndarray | None = field(default=None, repr=False)
    Rinv: np.ndarray | None = field(default=None, repr=False)


def thin_qr(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Economic QR ``Z = QR`` (``Q`` n × k, ``R`` k × k upper triangular).

    SciPy's LAPACK call: NumPy's ``linalg.qr`` forms ``Q`` several times more slowly on
    tall designs (2 ms against 0.4 ms at 10,000 × 7).
    """
    # LAPACK works in place on a Fortran-ordered copy we own: without overwrite_a SciPy
    # makes its own copy in a slower path (0.8 ms against 0.2 ms at 10,000 × 7)
    Q, R = linalg.qr(
        np.array(Z, dtype=np.float64, order="F"),
        mode="economic",
        overwrite_a=True,
        check_finite=False,
    )
    return Q, R


def full_rank(R: np.ndarray, n: int) -> bool:
    """Whether the triangular factor ``R`` of an n-row design has full column rank.

    The tolerance of ``numpy.linalg.matrix_rank`` (``max(n, k)·eps`` times the largest
    scale), applied to the diagonal of ``R``: the residual norm of each column on the
    columns before it.
    """
    d = np.abs(np.diag(R))
    return bool(d.size == 0 or d.min() > d.max() * max(n, R.shape[1]) * np.finfo(float).eps)


def _ols(
    y: np.ndarray, Z: np.ndarray, qr: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    Q, R = thin_qr(Z) if qr is None else qr
    Rinv = linalg.solve_triangular(R, np.eye(R.shape[0]), check_finite=False)
    coef = Rinv @ (Q.T @ y)
    return Q, Rinv, coef, Z @ coef


def ols_hac(
    y: np.ndarray,
    Z: np.ndarray,
    lag: int,
    correction: bool = False,
    qr: tuple[np.ndarray, np.ndarray] | None = None,
) -> HACFit:
    """OLS of ``y`` on ``Z`` with the Newey–West (Bartlett) covariance at lag ``lag``.

    ``qr`` is :func:`thin_qr` of ``Z`` when the caller already has it.
    """
    n, k = Z.shape
    Q, Rinv, coef, fitted = _ols(y, Z, qr)
    e = y - fitted
    U = Z * e[:, None]
    # S = Σ_{|j|≤L} w_j Σ_s u_s u_{s−j}' = U'KU with K the Bartlett matrix (running sums:
    # O(n k) whatever the lag)
    S = U.T @ bartlett_smooth(U, min(lag, n - 1))
    S = 0.5 * (S + S.T)
    bread = Rinv @ Rinv.T  # (Z'Z)^{-1}
    cov = bread @ S @ bread
    if correction:
        cov *= n / (n - k)
    return HACFit(coef, cov, np.sqrt(np.diag(cov)), e, fitted, lag, "bartlett", Q, Rinv)


def ols_ewc(
    y: np.ndarray,
    Z: np.ndarray,
    terms: int,
    correction: bool = False,
    qr: tuple[np.ndarray, np.ndarray] | None = None,
) -> HACFit:
    """OLS of ``y`` on ``Z`` with the equal-weighted cosine (EWC) covariance.

    ``S = (1/ν) Σ_{j=1}^{ν} Λ_j Λ_j'`` with ``Λ_j = Σ_s φ_j(s) z_s ε̂_s`` and the
    type-II cosines of :func:`cosine_basis` (Lazarus, Lewis, Stock & Watson 2018,
    doi:10.1080/07350015.2018.1506926); covariance ``(Z'Z)⁻¹ S (Z'Z)⁻¹``.  ``qr`` is
    :func:`thin_qr` of ``Z`` when the caller already has it.
    """
    n, k = Z.shape
    Q, Rinv, coef, fitted = _ols(y, Z, qr)
    e = y - fitted
    Lam = cosine_transform((Z * e[:, None]).T, terms).T  # Φ'U, (ν, k)
    bread = Rinv @ Rinv.T
    cov = bread @ (Lam.T @ Lam / terms) @ bread
    if correction:
        cov *= n / (n - k)
    return HACFit(coef, cov, np.sqrt(np.diag(cov)), e, fitted, terms, "ewc", Q, Rinv)


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
        return np.asarray(self.scale * special.stdtrit(self.df, 0.5 + level / 2.0))

    def p_value(self, t: np.ndarray) -> np.ndarray:
        """Two-sided p-values of the t-ratios ``t``."""
        return np.asarray(2.0 * special.stdtr(self.df, -np.abs(t) / self.scale))


def fixed_b(fit: HACFit, correction: bool = False) -> FixedB:
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
    """
    if fit.Q is None or fit.Rinv is None:
        raise ValueError("fixed_b needs the QR factors kept by ols_hac / ols_ewc")
    Q, Rinv = fit.Q, fit.Rinv
    n, k = Q.shape
    Arows = Rinv @ Q.T  # (k, n): row j is a_j
    aa = np.einsum("jn,jn->j", Arows, Arows)
    if fit.kernel == "ewc":
        nu = fit.lag
        # C = (D_a Φ)' M (D_a Φ) = Φ'D_{a²}Φ − (Q'D_aΦ)'(Q'D_aΦ), for every coefficient.
        # 2 cos(πv x) cos(πw x) = cos(π(v−w)x) + cos(π(v+w)x), so Φ'D_{a²}Φ needs only
        # c(m) = Σ_s a_s² cos(πm(s+½)/n), m = 0 … 2ν: one DCT-II of a² (O(n log n)).
        if 2 * nu + 1 <= n:
            cm, QG = _ewc_transforms(Q, Rinv, nu)
        else:
            a2 = Arows * Arows
            grid = np.outer(np.arange(n) + 0.5, np.arange(2 * nu + 1)) * (np.pi / n)
            cm = a2 @ np.cos(grid)
            QG = cosine_transform(Q.T[None, :, :] * Arows[:, None, :], nu)  # (k, k, ν)
        GG = _toeplitz_plus_hankel(cm, nu)
        # C = G − H'H (H = QG_j, k × ν) is never formed: tr C = tr G − ‖H‖² and
        # ‖C‖² = ‖G‖² − 2⟨HG, H⟩ + ‖HH'‖² need only k × ν and k × k products
        HG = np.matmul(QG, GG)  # (k, k, ν)
        HH = np.matmul(QG, QG.transpose(0, 2, 1))  # (k, k, k)
        trA = (np.trace(GG, axis1=1, axis2=2) - np.einsum("jrv,jrv->j", QG, QG)) / nu
        trA2 = (
            np.einsum("jvw,jvw->j", GG, GG)
            - 2.0 * np.einsum("jrv,jrv->j", HG, QG)
            + np.einsum("jrs,jrs->j", HH, HH)
        ) / nu**2
    else:
        L = min(fit.lag, n - 1)
        w = bartlett_weights(L)
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


def _ewc_transforms(Q: np.ndarray, Rinv: np.ndarray, nu: int) -> tuple[np.ndarray, np.ndarray]:
    """``c(m) = Σ_s a_js² cos(πm(s+½)/n)`` (m ≤ 2ν) and ``Q'D_{a_j}Φ``, from one DCT batch.

    ``a_j = Σ_a R⁻¹_ja q_a`` is a combination of the columns of ``Q``, so both transforms
    are combinations of the DCT-II of the ``k(k+1)/2`` products ``q_a ⊙ q_b``: one batch
    of that many transforms instead of ``k + k²`` (4 + 16 for the basic ITS design).
    Needs ``2ν + 1 ≤ n``.
    """
    k = Q.shape[1]
    ia, ib = np.triu_indices(k)
    Qt = Q.T
    F = fft.dct(Qt[ia] * Qt[ib], type=2, axis=1)[:, : 2 * nu + 1]
    full = np.empty((k, k, 2 * nu + 1))
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
    # row v−1 of the Toeplitz part is cm[|v−w|], w = 1 … ν: a window of the sequence
    # cm[ν−1], …, cm[1], cm[0], cm[1], …, cm[ν−1] starting at ν − v
    seq = np.concatenate([cm[:, nu - 1 : 0 : -1], cm[:, :nu]], axis=1)
    toeplitz = sliding_window_view(seq, nu, axis=1)[:, ::-1, :]
    hankel = sliding_window_view(cm[:, 2 : 2 * nu + 1], nu, axis=1)  # cm[v + w]
    return np.asarray(toeplitz + hankel)


def normal_critical_value(level: float) -> float:
    """``z_{(1+level)/2}`` (standard normal quantile)."""
    return float(special.ndtri(0.5 + level / 2.0))


def normal_p_value(t: np.ndarray) -> np.ndarray:
    """Two-sided normal p-values ``2 Φ(−|t|)``."""
    return np.asarray(2.0 * special.ndtr(-np.abs(t)))
