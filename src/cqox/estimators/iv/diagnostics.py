"""Diagnostics of IV models, as values: first stage, weak instruments, AR set, J, DWH.

Every test returns a :class:`TestStat` (statistic, degrees of freedom, p-value, null);
a test that does not apply returns ``None`` and the caller says why in a Gate.

- First stage: per endogenous regressor, the Wald test that the excluded instruments'
  coefficients are zero, divided by their number ``q`` (an F statistic), with the
  model's covariance type; the partial R².
- Effective F of Montiel Olea & Pflueger (2013, doi:10.1080/00401706.2013.806694) for
  one endogenous regressor: ``F_eff = π̂' Z̃'Z̃ π̂ / tr(Σ̂_π Z̃'Z̃)`` with ``Z̃`` the
  excluded instruments net of the exogenous regressors and ``Σ̂_π`` the robust (or
  clustered) covariance of ``π̂``; it equals the usual F under homoskedasticity and
  the robust F with one instrument.
- Anderson–Rubin (1949) confidence set for the coefficient ``β`` of one endogenous
  regressor: ``{β₀ : AR(β₀) ≤ c}`` where ``AR(β₀)`` tests ``π = 0`` in the regression of
  ``y − β₀ d`` on ``[W, Z_x]`` (an ``F(q, n−L)`` test under ``unadjusted``, a
  ``χ²_q`` Wald test with the robust or clustered covariance otherwise).  Its size is
  right whatever the strength of the instruments; the set may be a bounded interval,
  the whole line, the complement of an interval (two rays) or empty.  Inverted
  analytically (a quadratic inequality) except for a robust test with several
  instruments, which is inverted on a grid refined by root finding.
- Over-identification: Sargan (1958) ``n(1 − ê'M_Z ê / ê'ê)`` and Hansen's (1982) J
  of two-step efficient GMM (robust or clustered weight matrix), ``χ²_{q−k_d}``.
- Endogeneity: Durbin (1954) and Wu–Hausman (Wu 1973; Hausman 1978) tests of the
  exogeneity of ``D`` (homoskedastic), and Wooldridge's (2010, §6.3.1) regression test
  (control function, with the model's covariance type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
from scipy import special

from cqox._lazy import scipy_optimize as optimize
from cqox.core.linalg import gemm
from cqox.errors import EstimationError
from cqox.estimators.iv.kclass import IVArrays, KClassResult, meat_scale, score_gram, solve


@dataclass(frozen=True)
class TestStat:
    """A test statistic with its null distribution.

    ``df_denom`` is set for an F statistic and ``None`` for a chi-squared one.
    """

    name: str
    statistic: float
    df: int
    p_value: float
    null: str
    df_denom: int | None = None

    def __init__(
        self,
        name: str,
        statistic: float,
        df: int,
        p_value: float,
        null: str,
        df_denom: int | None = None,
    ) -> None:
        # the dataclass's __init__ written out: one update of the instance's dict, not a
        # frozen object.__setattr__ per field (0.7 -> 0.35 µs; five tests every fit)
        self.__dict__.update(
            {
                "name": name,
                "statistic": statistic,
                "df": df,
                "p_value": p_value,
                "null": null,
                "df_denom": df_denom,
            }
        )

    @property
    def distribution(self) -> str:
        """``F(df, df_denom)`` or ``chi2(df)``."""
        if self.df_denom is not None:
            return f"F({self.df}, {self.df_denom})"
        return f"chi2({self.df})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "name": self.name,
            "statistic": self.statistic,
            "df": self.df,
            "df_denom": self.df_denom,
            "p_value": self.p_value,
            "null": self.null,
            "distribution": self.distribution,
        }


def chi2_stat(name: str, stat: float, df: int, null: str) -> TestStat:
    """A chi-squared test."""
    stat = float(stat)
    if df == 1 and 0.0 < stat < 1400.0:
        # P(χ²₁ > s) = P(|N(0, 1)| > √s) = erfc(√(s/2)): the math module's erfc, a tenth
        # of the cost of a scipy ufunc call on one number, equal to rounding (below 1400,
        # where both are normal numbers; scipy's underflows to 0 beyond ~1420)
        p = math.erfc(math.sqrt(stat / 2))
    else:  # float degrees of freedom: the ufunc's double loop without a cast search
        p = float(special.chdtrc(float(df), stat))
    return TestStat(name, stat, df, p, null)


def f_stat(name: str, stat: float, df: int, df_denom: int, null: str) -> TestStat:
    """An F test."""
    p = float(special.fdtrc(float(df), float(df_denom), stat))
    return TestStat(name, float(stat), df, p, null, df_denom)


@dataclass(frozen=True)
class FirstStage:
    """First-stage regression of one endogenous regressor on ``[W, Z_x]``.

    Attributes
    ----------
    name : str
    pi : ndarray, shape (q,)
        Coefficients on the excluded instruments.
    se : ndarray, shape (q,)
    f : TestStat
        Wald statistic of ``π = 0`` over ``q`` (F(q, n−L) under ``unadjusted``).
    partial_r2 : float
        R² of ``M_W d`` on ``M_W Z_x``.
    effective_f : float
        Montiel Olea–Pflueger effective F.
    """

    name: str
    pi: np.ndarray
    se: np.ndarray
    f: TestStat
    partial_r2: float
    effective_f: float


@dataclass(frozen=True)
class InstrumentScores:
    """Meats of the scores ``z̃ᵢuᵢ`` of the partialled-out instruments ``Z̃ = M_W Z_x``.

    One cross-product serves every first stage and the Anderson–Rubin set: for the
    residuals ``u ∈ [M_Z d_1, …, M_Z d_{k_d}, M_Z y]`` (``r = k_d + 1`` of them), the
    score columns ``z̃_i ⊙ u_j`` are stacked at ``i·r + j``.

    Attributes
    ----------
    gram : ndarray, shape (q·r, q·r)
        ``Σᵢ sᵢsᵢ'`` (robust) or ``Σ_g s_g s_g'`` over cluster sums (clustered).
    r : int
        Residuals: ``k_d + 1`` (the outcome's last).
    n_clusters : int or None
    resid : ndarray, shape (n, r)
        The residuals ``[M_Z D, M_Z y]``.
    resid_coef : ndarray, shape (m, r)
        Their coefficients on the columns of ``M``: ``resid = M · resid_coef``.
    columns : ndarray, shape (n, r + q)
        ``[M_Z D, M_Z y, Z̃]``: ``resid`` and the partialled instruments side by side
        (any column of the span of ``[M_W D, M_W y]`` is this times a small matrix).
    """

    gram: np.ndarray
    r: int
    n_clusters: int | None
    resid: np.ndarray
    resid_coef: np.ndarray
    columns: np.ndarray

    def block(self, j1: int, j2: int) -> np.ndarray:
        """``Σᵢ z̃ᵢz̃ᵢ' u_{j1,i} u_{j2,i}`` (or its cluster form), shape (q, q)."""
        return self.gram[j1 :: self.r, j2 :: self.r]


def reduced_form_residuals(a: IVArrays) -> np.ndarray:
    """``[M_Z D, M_Z y]``, shape (n, k_d + 1): ``[D, y] − Z R_Z⁻¹(Q'[D, y])[:L]``."""
    return np.asarray(a.M @ reduced_form_coef(a))


def reduced_form_coef(a: IVArrays) -> np.ndarray:
    """``C`` with ``M C = [M_Z D, M_Z y]``: ``[−R_Z⁻¹(Q'[D, y])_{:L}; I]``, shape (m, k_d + 1)."""
    L = a.L
    C = np.empty((a.R.shape[0], a.kd + 1))
    np.negative(a.rinv_z() @ a.R[:L, L:], out=C[:L])
    C[L:] = _eye(a.kd + 1)
    return C


def instrument_scores(a: IVArrays, se_method: str) -> InstrumentScores:
    """:class:`InstrumentScores` of ``a`` (``robust`` or ``clustered``).

    ``U = [M_Z D, M_Z y]`` and ``Z̃ = M_W Z_x`` are columns of ``M`` less their fits, so
    both come from one product ``M C`` with the coefficients stacked in ``C``:
    ``[−R_Z⁻¹(Q'[D, y])_{:L}; I]`` and ``[−R_W⁻¹R_{W,Z_x}; I; 0]``.
    """
    q, r, kw, L = a.q, a.kd + 1, a.kw, a.L
    Rinv, R = a.rinv_z(), a.R
    C = np.zeros((R.shape[0], r + q))
    C[:L, :r] = Rinv @ R[:L, L:]
    C[:kw, r:] = Rinv[:kw, :kw] @ R[:kw, kw:L]
    C *= -1.0
    C[L:, :r] = _eye(r)
    C[kw:L, r:] = _eye(q)
    UZ = gemm(a.M, C)  # column-major: the score products below run along columns
    U, Zt = UZ[:, :r], UZ[:, r:]
    S = Zt * U if q == 1 else (Zt[:, :, None] * U[:, None, :]).reshape(a.n, q * r)
    gram, G = score_gram(S, a.clusters, se_method)
    return InstrumentScores(gram, r, G, U, C[:, :r], UZ)


@cache
def _eye(k: int) -> np.ndarray:
    """The ``k × k`` identity (read-only, shared)."""
    eye = np.eye(k)
    eye.flags.writeable = False
    return eye


def first_stages(
    a: IVArrays,
    names: list[str],
    se_method: str,
    debiased: bool,
    scores: InstrumentScores | None = None,
) -> list[FirstStage]:
    """First-stage statistics for each endogenous regressor.

    Every first stage comes from the shared factorisation: by Frisch–Waugh–Lovell the
    coefficients on the excluded instruments are ``π̂ = R_Z̃⁻¹ Q_Z̃'d`` (``R_Z̃`` the
    instruments' block of ``R``, ``Z̃'Z̃ = R_Z̃'R_Z̃``), their covariance
    ``(Z̃'Z̃)⁻¹ (Σᵢ z̃ᵢz̃ᵢ'vᵢ²) (Z̃'Z̃)⁻¹`` with ``v = M_Z d`` (robust; ``s²(Z̃'Z̃)⁻¹``
    unadjusted), and ``‖M_Z d‖² = ‖(Q'd)[L:]‖²``.  ``scores`` is
    :func:`instrument_scores` when the caller already has it.
    """
    n, L, kw, q, kd = a.n, a.L, a.kw, a.q, a.kd
    R = a.R
    scale = 0.0
    if se_method != "unadjusted":
        scores = scores if scores is not None else instrument_scores(a, se_method)
        # linearmodels' small-sample factor counts the L columns of Z
        scale = meat_scale(n, L, scores.n_clusters, debiased) * n
    # unadjusted: s² = ‖M_Z d‖² / n (/(n − L) when debiased)
    s2_scale = 1.0 / (n - L if debiased else n)
    # ‖M_Z d_j‖²: the squares of Q'd_j from row L on (R's rows L…L+k_d)
    rss_list = [sum(v * v for v in col) for col in R[L : L + kd, L : L + kd].T.tolist()]
    null = "the instruments do not predict {}"
    out = []
    if q == 1:  # scalars: 1 × 1 matrices cost more in NumPy calls than in arithmetic
        rt = float(R[kw, kw])
        ztz = rt * rt
        qds = R[kw, L : L + kd].tolist()
        g = None if scores is None else scores.gram.diagonal().tolist()
        for j, name in enumerate(names):
            qd, rss = qds[j], rss_list[j]
            pi = qd / rt
            c = rss * s2_scale / ztz if g is None else g[j] / ztz * scale / ztz
            fs = f_stat("first-stage F", pi * pi / c, 1, n - L, null.format(name))
            partial_r2 = 1 - rss / (rss + qd * qd)
            eff = pi * ztz * pi / (c * ztz)
            out.append(
                FirstStage(name, np.array([pi]), np.array([math.sqrt(c)]), fs, partial_r2, eff)
            )
        return out
    Rt = R[kw:L, kw:L]
    Rt_inv = a.rinv_z()[kw:, kw:]
    ZtZ = Rt.T @ Rt
    ZtZ_inv = Rt_inv @ Rt_inv.T
    Pi = Rt_inv @ R[kw:L, L : L + kd]
    for j, name in enumerate(names):
        pi = Pi[:, j]
        rss = rss_list[j]
        if scores is None:
            C = rss * s2_scale * ZtZ_inv
        else:
            C = ZtZ_inv @ scores.block(j, j) @ ZtZ_inv * scale
            C = (C + C.T) / 2
        wald = float(pi @ np.linalg.solve(C, pi))
        # linearmodels' denominator df is n − L for every covariance type
        fs = f_stat("first-stage F", wald / q, q, n - L, null.format(name))
        # M_W d = M_Z d + P_Z̃ d: ‖M_W d‖² = ‖M_Z d‖² + ‖Q_Z̃'d‖²
        qd = R[kw:L, L + j]
        partial_r2 = 1 - rss / (rss + float(qd @ qd))
        eff = float(pi @ ZtZ @ pi) / float(np.trace(C @ ZtZ))
        out.append(FirstStage(name, pi, np.sqrt(np.diag(C)), fs, partial_r2, eff))
    return out


@dataclass(frozen=True)
class ARSet:
    """Anderson–Rubin confidence set for one coefficient.

    Attributes
    ----------
    intervals : list of (float, float)
        Disjoint closed intervals, ordered; ``±inf`` ends for rays.
    kind : str
        ``bounded``, ``unbounded`` (two rays or the whole line), ``whole_line`` or
        ``empty``.
    level : float
    test_zero : TestStat
        AR test of ``β = 0``.
    method : str
        ``analytic`` or ``grid``.
    """

    intervals: list[tuple[float, float]]
    kind: str
    level: float
    test_zero: TestStat
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``inf`` written as a string)."""
        return {
            "intervals": [[_inf_text(lo), _inf_text(hi)] for lo, hi in self.intervals],
            "kind": self.kind,
            "level": self.level,
            "method": self.method,
            "test_zero": self.test_zero.to_dict(),
        }

    def describe(self) -> str:
        """The set in words, e.g. ``[0.02, 0.31]`` or ``(-inf, -1.2] ∪ [0.4, inf)``."""
        if not self.intervals:
            return "empty"
        return " ∪ ".join(
            ("(" if math.isinf(lo) else "[")
            + f"{lo:.4g}, {hi:.4g}"
            + (")" if math.isinf(hi) else "]")
            for lo, hi in self.intervals
        )


def _inf_text(v: float) -> float | str:
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


class _ARParts:
    """The pieces of ``AR(β₀)`` that are linear or quadratic in ``β₀``."""

    def __init__(
        self,
        a: IVArrays,
        se_method: str,
        debiased: bool,
        scores: InstrumentScores | None = None,
    ) -> None:
        n, L, kw = a.n, a.L, a.kw
        self.q = a.q
        self.n, self.L = n, L
        self.se_method = se_method
        R = a.R
        if se_method == "unadjusted":
            ry, rd = R[L:, -1], R[L:, L]
            self.Ryy, self.Ryd, self.Rdd = float(ry @ ry), float(ry @ rd), float(rd @ rd)
        else:
            # S(β₀) = S_yy − 2β₀ S_yd + β₀² S_dd, from the scores z̃ᵢ(r_y − β₀ r_d)ᵢ; the
            # test regression has the L parameters of W and Z_x
            scores = scores if scores is not None else instrument_scores(a, se_method)
            scale = meat_scale(n, L, scores.n_clusters, debiased) * n
        # Z̃'y = R_Z̃'Q_Z̃'y (Z̃ = M_W Z_x ⊥ W); the residuals of M_W y and M_W d on Z̃ are
        # M_Z y and M_Z d, whose coordinates are the rows of Q'[d, y] from L on
        self.scalars: tuple[float, ...] | None = None
        if self.q == 1:  # the statistic in Python floats: 1 × 1 arrays cost more
            rt = float(R[kw, kw])
            gy, gd = rt * float(R[kw, -1]), rt * float(R[kw, L])
            if scores is None:
                self.scalars = (gy, gd, 1.0 / (rt * rt))
            else:
                (dd, dy), (yd, yy) = scores.gram[:2, :2].tolist()
                self.scalars = (gy, gd, yy * scale, (yd + dy) / 2 * scale, dd * scale)
            return
        Rt = R[kw:L, kw:L]
        self.gy = Rt.T @ R[kw:L, -1]
        self.gd = Rt.T @ R[kw:L, L]
        if scores is None:
            self.Ginv = np.linalg.inv(Rt.T @ Rt)
        else:
            self.Syy = scores.block(1, 1) * scale
            self.Sdd = scores.block(0, 0) * scale
            self.Syd = (scores.block(1, 0) + scores.block(0, 1)) / 2 * scale

    def stat(self, b: float) -> float:
        """``AR(b)``: F under ``unadjusted``, else the chi-squared Wald statistic."""
        if self.se_method == "unadjusted":
            rss = self.Ryy - 2 * b * self.Ryd + b * b * self.Rdd
            if self.scalars is not None:
                gy, gd, ginv = self.scalars
                gs = gy - b * gd
                return gs * ginv * gs / self.q / (rss / (self.n - self.L))
            g = self.gy - b * self.gd
            return float(g @ self.Ginv @ g) / self.q / (rss / (self.n - self.L))
        if self.scalars is not None:
            gy, gd, syy, syd, sdd = self.scalars
            gs = gy - b * gd
            return gs * gs / (syy - 2 * b * syd + b * b * sdd)
        g = self.gy - b * self.gd
        S = self.Syy - 2 * b * self.Syd + b * b * self.Sdd
        return float(g @ np.linalg.solve(S, g))

    def stat_many(self, bs: np.ndarray) -> np.ndarray:
        """``AR(b)`` for each ``b`` of ``bs`` (robust or clustered), vectorised."""
        g = self.gy[None, :] - bs[:, None] * self.gd[None, :]
        S = (
            self.Syy[None]
            - 2 * bs[:, None, None] * self.Syd[None]
            + (bs * bs)[:, None, None] * self.Sdd[None]
        )
        return np.einsum("pi,pi->p", g, np.linalg.solve(S, g[:, :, None])[:, :, 0])

    def critical(self, level: float) -> float:
        df_denom = self.n - self.L if self.se_method == "unadjusted" else None
        return _ar_critical(self.q, df_denom, level)

    def test(self, b: float) -> TestStat:
        s = self.stat(b)
        null = f"the coefficient equals {b:g} (robust to weak instruments)"
        if self.se_method == "unadjusted":
            return f_stat("Anderson-Rubin", s, self.q, self.n - self.L, null)
        return chi2_stat("Anderson-Rubin", s, self.q, null)

    def quadratic(self, c: float) -> tuple[float, float, float] | None:
        """``(A, B, C)`` with ``AR(β) ≤ c ⇔ Aβ² + Bβ + C ≤ 0``, when the set is a quadratic."""
        if self.se_method == "unadjusted":
            h = c * self.q / (self.n - self.L)
            if self.scalars is not None:
                gy, gd, ginv = self.scalars
                return (
                    gd * ginv * gd - h * self.Rdd,
                    -2 * (gy * ginv * gd) + 2 * h * self.Ryd,
                    gy * ginv * gy - h * self.Ryy,
                )
            gGy = float(self.gy @ self.Ginv @ self.gy)
            gGd = float(self.gd @ self.Ginv @ self.gd)
            gGyd = float(self.gy @ self.Ginv @ self.gd)
            return (gGd - h * self.Rdd, -2 * gGyd + 2 * h * self.Ryd, gGy - h * self.Ryy)
        if self.scalars is not None:
            gy, gd, syy, syd, sdd = self.scalars
            return (gd * gd - c * sdd, -2 * gy * gd + 2 * c * syd, gy * gy - c * syy)
        return None


@lru_cache(maxsize=256)
def _ar_critical(q: int, df_denom: int | None, level: float) -> float:
    """The AR test's critical value: ``F(q, df_denom)`` (``None``: ``χ²_q``) at ``level``.

    Kept per arguments: the quantile functions cost microseconds and the arguments
    repeat from call to call (the level, the instruments, often the rows).
    """
    if df_denom is not None:
        return float(special.fdtri(q, df_denom, level))
    if q == 1:  # the χ²₁ quantile is the square of the normal's at (1 + level)/2
        return float(special.ndtri((1.0 + level) / 2)) ** 2
    return float(2 * special.gammaincinv(q / 2, level))


@lru_cache(maxsize=64)
def normal_quantile(level: float) -> float:
    """``z_{(1+level)/2}``, the two-sided normal critical value, kept per level.

    The expression of :func:`cqox.core.estimate.normal_inference` (the same number).
    """
    return float(special.ndtri(0.5 + level / 2))


def clear_caches() -> None:
    """Forget the kept critical values (AR and normal): the next call computes them.

    What a first call costs; a benchmark that wants every timed run to pay it calls this
    between runs, outside the clock.
    """
    _ar_critical.cache_clear()
    normal_quantile.cache_clear()


def anderson_rubin_set(
    a: IVArrays,
    se_method: str,
    debiased: bool,
    level: float,
    center: float,
    scale: float,
    scores: InstrumentScores | None = None,
) -> ARSet:
    """Anderson–Rubin confidence set for the (single) endogenous regressor's coefficient.

    ``center`` and ``scale`` (the 2SLS estimate and its SE) place the grid when the set
    must be found numerically; ``scores`` is :func:`instrument_scores` when the caller
    already has it.
    """
    parts = _ARParts(a, se_method, debiased, scores)
    c = parts.critical(level)
    test_zero = parts.test(0.0)
    quad = parts.quadratic(c)
    if quad is not None:
        intervals = _solve_quadratic(*quad)
        method = "analytic"
    else:
        intervals = _grid_set(parts.stat, parts.stat_many, c, center, scale)
        method = "grid"
    return ARSet(intervals, _kind(intervals), level, test_zero, method)


def _kind(intervals: list[tuple[float, float]]) -> str:
    if not intervals:
        return "empty"
    if len(intervals) == 1 and math.isinf(intervals[0][0]) and math.isinf(intervals[0][1]):
        return "whole_line"
    if any(math.isinf(v) for iv in intervals for v in iv):
        return "unbounded"
    return "bounded" if len(intervals) == 1 else "disjoint"


def _solve_quadratic(A: float, B: float, C: float) -> list[tuple[float, float]]:
    """``{β : Aβ² + Bβ + C ≤ 0}`` as intervals."""
    inf = float("inf")
    scale = max(abs(A), abs(B), abs(C), 1e-300)
    if abs(A) <= 1e-12 * scale:
        if abs(B) <= 1e-12 * scale:
            return [(-inf, inf)] if C <= 0 else []
        root = -C / B
        return [(-inf, root)] if B > 0 else [(root, inf)]
    disc = B * B - 4 * A * C
    if disc < 0:
        return [] if A > 0 else [(-inf, inf)]
    sq = math.sqrt(disc)
    r1, r2 = sorted(((-B - sq) / (2 * A), (-B + sq) / (2 * A)))
    if A > 0:
        return [(float(r1), float(r2))]
    return [(-inf, float(r1)), (float(r2), inf)]


def _grid_set(
    stat: Any, stat_many: Any, c: float, center: float, scale: float, points: int = 801
) -> list[tuple[float, float]]:
    """``{β : stat(β) ≤ c}`` on a wide grid, with crossings refined by Brent's method."""
    scale = scale if np.isfinite(scale) and scale > 0 else max(abs(center), 1.0)
    width = 200 * scale
    grid = center + np.sinh(np.linspace(-np.arcsinh(width), np.arcsinh(width), points))
    inside = stat_many(grid) <= c
    f = lambda b: stat(b) - c  # noqa: E731
    intervals: list[tuple[float, float]] = []
    start: float | None = -float("inf") if inside[0] else None
    for i in range(1, points):
        if inside[i] != inside[i - 1]:
            root = float(optimize.brentq(f, grid[i - 1], grid[i], xtol=1e-12 * (1 + scale)))
            if inside[i]:
                start = root
            else:
                intervals.append((start if start is not None else root, root))
                start = None
    if start is not None:
        intervals.append((start, float("inf")))
    return intervals


def overid_tests(
    a: IVArrays, res: KClassResult, tsls: KClassResult, se_method: str
) -> tuple[TestStat | None, TestStat | None]:
    """Sargan's test (residuals of the fit ``res``) and Hansen's J; ``None`` if just-identified.

    Hansen's J is that of two-step efficient GMM whose weight matrix is estimated from
    the residuals of the 2SLS fit ``tsls``.  Both come from the coordinates of the
    shared factorisation: ``ê'M_Z ê = ‖(Q'ê)[L:]‖²``, ``X'Z = (Q_Z'X)'R_Z``,
    ``Z'y = R_Z'Q_Z'y``.
    """
    n, L = a.n, a.L
    df = a.q - a.kd
    if df <= 0:
        return None, None
    null = "the over-identifying restrictions hold (the instruments are valid)"
    c = res.resid_q
    sargan = chi2_stat("Sargan", n * (1 - float(c[L:] @ c[L:]) / float(c @ c)), df, null)
    kind = "clustered" if se_method == "clustered" else "robust"
    gram = tsls.score_gram
    if gram is None or tsls.score_gram_kind != kind:
        gram, _ = score_gram(a.M[:, :L] * tsls.resid[:, None], a.clusters, kind)
    Wm = np.linalg.inv(gram / n)
    RZ = a.R[:L, :L]
    A = a.R[:L, a.x_index]  # Q_Z'X
    rz = a.R[:L, -1]  # Q_Z'y
    XZ = A.T @ RZ / n
    Zy = RZ.T @ rz / n
    beta = np.linalg.solve(XZ @ Wm @ XZ.T, XZ @ Wm @ Zy)
    g = RZ.T @ (rz - A @ beta) / n
    hansen = chi2_stat("Hansen J", n * float(g @ Wm @ g), df, null)
    return sargan, hansen


@dataclass(frozen=True)
class EndogeneityTests:
    """Tests of the null that the endogenous regressors are exogenous."""

    durbin: TestStat
    wu_hausman: TestStat
    wooldridge: TestStat


def endogeneity_tests(
    a: IVArrays,
    res: KClassResult,
    se_method: str,
    debiased: bool,
    scores: InstrumentScores | None = None,
) -> EndogeneityTests:
    """Durbin, Wu–Hausman and Wooldridge's regression test of exogeneity of ``D``.

    ``res`` is the fitted IV model (2SLS or LIML), whose residuals enter as in
    linearmodels.  OLS of ``y`` on ``X`` runs on the coordinates ``Q'X = R[:, x]`` and
    ``Q'y``; ``P_{[Z, D]} = P_Z + P_V`` (``V = M_Z D``) keeps the first ``L + k_d``
    coordinates.  Wooldridge's test regresses ``y`` on ``[X, V]``; by Frisch–Waugh–Lovell
    the coefficients on ``V`` are ``γ̂ = (Ṽ'Ṽ)⁻¹Ṽ'y`` with ``Ṽ = M_X V``, and their
    covariance ``(Ṽ'Ṽ)⁻¹ (Σᵢ ṽᵢṽᵢ'ê_{w,i}²) (Ṽ'Ṽ)⁻¹`` (robust, or its cluster form;
    ``s²(Ṽ'Ṽ)⁻¹`` unadjusted) is the ``V`` block of the regression's sandwich.
    ``scores`` (:func:`instrument_scores`) supplies ``V`` when the caller has it.
    """
    if a.kd == 1:
        return _endogeneity_tests_one(a, res, se_method, debiased, scores)
    n, L, kd, k = a.n, a.L, a.kd, a.k
    null = "the endogenous regressors are exogenous (OLS is consistent)"
    kA = k + kd  # coefficients of the test regression [X, V]
    robust = se_method != "unadjusted"
    R, Rx = a.R, a.Rx
    # Q'[V, y] (V = M_Z D: the rows L…L+k_d of Q'D), regressed on X in one solve
    Y = np.zeros((R.shape[0], kd + 1))
    Y[L : L + kd, :kd] = R[L : L + kd, L : L + kd]
    Y[:, kd] = R[:, -1]
    B, info = solve(Rx.T @ Rx, Rx.T @ Y)  # [t, b̂₀]: V on X, y on X
    if info != 0:  # pragma: no cover - X'X is nonsingular once the IV fit succeeded
        raise EstimationError("the endogeneity test regression is singular: X'X is singular")
    C = Y - Rx @ B  # Q'[Ṽ, M_X y], Ṽ = M_X V
    G = C.T @ C  # [[Ṽ'Ṽ, Ṽ'M_X y], [·, ‖M_X y‖²]]
    c0 = C[:, kd]
    # P_[Z, D] = P_Z + P_{M_Z D}: the first L + k_d coordinates
    ss1 = float(c0[: L + kd] @ c0[: L + kd])
    ss0 = float(G[kd, kd])
    durbin, wh = _durbin_wu_hausman(a, res, ss0, ss1, null)
    try:
        VtV_inv = np.linalg.inv(G[:kd, :kd])
    except np.linalg.LinAlgError:
        raise EstimationError(
            "the endogeneity test regression is singular: the instruments predict the "
            "endogenous regressors exactly"
        ) from None
    gamma = VtV_inv @ G[:kd, kd]
    if robust:
        V = (reduced_form_residuals(a) if scores is None else scores.resid)[:, :kd]
        Mx = a.M @ (a.Sx @ B)  # X t and X b̂₀
        y_x = a.M[:, -1] - Mx[:, kd]  # M_X y
        Vt = V - Mx[:, :kd]  # M_X V
        ew = y_x - Vt @ gamma  # M_{[X, V]} y
        gram, n_clusters = score_gram(Vt * ew[:, None], a.clusters, se_method)
        cov = VtV_inv @ gram @ VtV_inv * (meat_scale(n, kA, n_clusters, debiased) * n)
    else:
        cw = c0 - C[:, :kd] @ gamma
        cov = VtV_inv * (float(cw @ cw) / (n - kA if debiased else n))
    wald = float(gamma @ np.linalg.solve(cov, gamma))
    wool = chi2_stat("Wooldridge regression", wald, kd, null)
    return EndogeneityTests(durbin, wh, wool)


def _durbin_wu_hausman(
    a: IVArrays, res: KClassResult, ss0: float, ss1: float, null: str
) -> tuple[TestStat, TestStat]:
    """Durbin's and the Wu–Hausman statistics from ``‖M_X y‖²`` and ``‖P_[Z,D] M_X y‖²``."""
    n, kw, kd = a.n, a.kw, a.kd
    cr = res.resid_q[: a.L]
    delta = ss1 - float(cr @ cr)
    df_denom = n - kw - kd - kd
    # an outcome fitted exactly by OLS (ss0 = 0) leaves nothing to test: NaN, not a crash
    if ss0 <= 1e-300 or df_denom < 1:
        durbin_stat = wh_stat = float("nan")
    else:
        durbin_stat = _divide(delta, ss0 / n)
        wh_stat = _divide(delta / kd, (ss0 - delta) / df_denom)
    durbin = chi2_stat("Durbin", durbin_stat, kd, null)
    return durbin, f_stat("Wu-Hausman", wh_stat, kd, df_denom, null)


def _endogeneity_tests_one(
    a: IVArrays,
    res: KClassResult,
    se_method: str,
    debiased: bool,
    scores: InstrumentScores | None,
) -> EndogeneityTests:
    """:func:`endogeneity_tests` for one endogenous regressor ``d``, in Python floats.

    By Frisch–Waugh–Lovell every regression on ``X = [W, d]`` is one on ``d̃ = M_W d``
    among the coordinates after ``W``'s (rows ``k_w…`` of ``Q'·``, ``q + 2`` of them):
    ``d̃`` is ``R[k_w:L+1, L]``, ``M_W y`` is ``R[k_w:, −1]`` and ``V = M_Z d`` has the one
    coordinate ``R_LL`` (row ``L``).  With ``s_z = ‖P_Z̃ d‖²`` and ``‖d̃‖² = s_z + R_LL²``,
    ``M_X y = M_W y − b̂ d̃`` (``b̂ = d̃'y/‖d̃‖²``) and ``Ṽ = M_X V = V − t d̃`` with
    ``t = R_LL²/‖d̃‖²``, so ``Ṽ'Ṽ = R_LL² s_z/‖d̃‖²`` without cancellation.  The robust
    meat needs ``ṽ`` and ``ê_w = M_X y − γ̂ṽ`` as n-vectors: both are combinations of
    ``[M_Z d, M_Z y, Z̃]`` (``M_W d = M_Z d + Z̃π̂``, ``M_W y = M_Z y + Z̃ρ̂``), one product
    with :attr:`InstrumentScores.columns`.
    """
    n, L, kw, q = a.n, a.L, a.kw, a.q
    R = a.R
    null = "the endogenous regressors are exogenous (OLS is consistent)"
    dt = R[kw : L + 1, L].tolist()  # d̃, q + 1 coordinates (the last is R_LL)
    yt = R[kw:, -1].tolist()  # M_W y, q + 2 coordinates
    r_ll = dt[q]
    s_z = sum(v * v for v in dt[:q])
    dd = s_z + r_ll * r_ll
    b = sum(u * v for u, v in zip(dt, yt, strict=False)) / dd  # yt has one more
    c0 = [yt[i] - b * dt[i] for i in range(q + 1)]
    ss1 = sum(v * v for v in c0)  # ‖P_[Z, D] M_X y‖²: the coordinates up to row L
    c0.append(yt[q + 1])
    ss0 = ss1 + yt[q + 1] * yt[q + 1]  # ‖M_X y‖²
    durbin, wh = _durbin_wu_hausman(a, res, ss0, ss1, null)
    t = r_ll * r_ll / dd
    one_t = s_z / dd  # 1 − t
    vt = [-t * v for v in dt[:q]]
    vt.append(r_ll * one_t)
    vtv = r_ll * r_ll * one_t
    if vtv == 0.0:
        raise EstimationError(
            "the endogeneity test regression is singular: the instruments predict the "
            "endogenous regressors exactly"
        )
    g0 = sum(u * v for u, v in zip(vt, c0, strict=False)) / vtv  # c0 has one more
    kA = a.k + 1  # coefficients of the test regression [X, V]
    if se_method == "unadjusted":
        cw = [c - g0 * v for c, v in zip(c0, vt, strict=False)]  # c0 has one more
        var = (sum(v * v for v in cw) + c0[q + 1] ** 2) / (n - kA if debiased else n) / vtv
    else:
        if scores is None:
            scores = instrument_scores(a, se_method)
        # ṽ = (1 − t)v − tZ̃π̂ and ê_w = u_y − (b̂ + γ̂(1 − t))v + Z̃(ρ̂ − (b̂ − γ̂t)π̂), with
        # [π̂, ρ̂] = −resid_coef[k_w:L] (the excluded instruments' first-stage coefficients)
        h = b - g0 * t
        K = [[one_t, -(b + g0 * one_t)], [0.0, 1.0]]
        K += [[t * p, h * p - rho] for p, rho in scores.resid_coef[kw:L].tolist()]
        VE = gemm(scores.columns, np.array(K))
        s = VE[:, 0] * VE[:, 1]  # ṽᵢ ê_{w,i}
        if se_method == "robust":  # Σᵢ sᵢ²: one dot product, not a 1 × 1 Gram by BLAS
            meat, n_clusters = float(s @ s), None
        else:
            gram, n_clusters = score_gram(s[:, None], a.clusters, se_method)
            meat = float(gram[0, 0])
        var = meat / vtv / vtv * (meat_scale(n, kA, n_clusters, debiased) * n)
    wool = chi2_stat("Wooldridge regression", _divide(g0 * g0, var), 1, null)
    return EndogeneityTests(durbin, wh, wool)


def _divide(a: float, b: float) -> float:
    """``a / b`` with IEEE results for ``b = 0`` (``±inf``, or NaN for ``0/0``)."""
    if b != 0.0:
        return a / b
    return (
        math.nan
        if a == 0.0 or math.isnan(a)
        else math.copysign(math.inf, a) * math.copysign(1.0, b)
    )
