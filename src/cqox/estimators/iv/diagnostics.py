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

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from cqox._lazy import scipy_optimize as optimize
from cqox.estimators.iv.kclass import (
    IVArrays,
    kclass_cov,
    ols_cov,
    orth,
    project,
    score_covariance,
)


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
    return TestStat(name, float(stat), df, float(special.chdtrc(df, stat)), null)


def f_stat(name: str, stat: float, df: int, df_denom: int, null: str) -> TestStat:
    """An F test."""
    return TestStat(name, float(stat), df, float(special.fdtrc(df, df_denom, stat)), null, df_denom)


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


def first_stages(a: IVArrays, names: list[str], se_method: str, debiased: bool) -> list[FirstStage]:
    """First-stage statistics for each endogenous regressor."""
    Z = a.Z
    n, L = Z.shape
    q = a.Zx.shape[1]
    kw = a.W.shape[1]
    # every first stage from the shared QR of Z: π̂ = R⁻¹Q_Z'd, residual M_Z d,
    # (Z'Z/n)⁻¹ = n R⁻¹R⁻ᵀ, Z̃'Z̃ = R_Z̃'R_Z̃ (R_Z̃ the instruments' block of R)
    Rt = a.qr_Z[1][kw:, kw:]
    ZtZ = Rt.T @ Rt
    Rinv = a.Rinv_Z
    Vinv = n * (Rinv @ Rinv.T)
    out = []
    for j, name in enumerate(names):
        qd = a.QZ_X[:, kw + j]  # Q_Z'd
        coef = Rinv @ qd
        resid = a.VD[:, j]  # M_Z d
        cov = kclass_cov(Z, resid, Vinv, a.clusters, se_method, debiased, L)
        pi = coef[-q:]
        C = cov[-q:, -q:]
        wald = float(pi @ np.linalg.solve(C, pi))
        f = wald / q
        # linearmodels' denominator df is n − L for every covariance type
        fs = f_stat("first-stage F", f, q, n - L, f"the instruments do not predict {name}")
        # M_W d = M_Z d + P_Z̃ d: ‖M_W d‖² = ‖M_Z d‖² + ‖Q_Z̃'d‖²
        rss = float(resid @ resid)
        partial_r2 = 1 - rss / (rss + float(qd[kw:] @ qd[kw:]))
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
            ("(" if np.isinf(lo) else "[") + f"{lo:.4g}, {hi:.4g}" + (")" if np.isinf(hi) else "]")
            for lo, hi in self.intervals
        )


def _inf_text(v: float) -> float | str:
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


class _ARParts:
    """The pieces of ``AR(β₀)`` that are linear or quadratic in ``β₀``."""

    def __init__(self, a: IVArrays, se_method: str, debiased: bool) -> None:
        n, L = a.Z.shape
        self.q = a.Zx.shape[1]
        self.n, self.L = n, L
        self.se_method = se_method
        kw = a.W.shape[1]
        # from the shared QR of Z: Z̃'y = R_Z̃'Q_Z̃'y (Z̃ = M_W Z_x ⊥ W), and the residuals
        # of M_W y and M_W d on Z̃ are M_Z y and M_Z d
        Rt = a.qr_Z[1][kw:, kw:]
        self.gy = Rt.T @ a.QZ_y[kw:]
        self.gd = Rt.T @ a.QZ_X[kw:, kw]
        ry, rd = a.My, a.VD[:, 0]
        if se_method == "unadjusted":
            G = Rt.T @ Rt
            self.Ginv = np.linalg.inv(G)
            self.Ryy, self.Ryd, self.Rdd = float(ry @ ry), float(ry @ rd), float(rd @ rd)
        else:
            # S(β₀) = S_yy − 2β₀ S_yd + β₀² S_dd, from the scores z̃ᵢ(r_y − β₀ r_d)ᵢ
            Zt = a.Zt
            fy, fd = Zt * ry[:, None], Zt * rd[:, None]
            k = L  # parameters of the test regression: W and Z_x
            Syy = score_covariance(fy, a.clusters, se_method, debiased, k)
            Sdd = score_covariance(fd, a.clusters, se_method, debiased, k)
            Spp = score_covariance(fy + fd, a.clusters, se_method, debiased, k)
            self.Syy, self.Sdd = Syy * n, Sdd * n
            self.Syd = (Spp * n - self.Syy - self.Sdd) / 2

    def stat(self, b: float) -> float:
        """``AR(b)``: F under ``unadjusted``, else the chi-squared Wald statistic."""
        g = self.gy - b * self.gd
        if self.se_method == "unadjusted":
            rss = self.Ryy - 2 * b * self.Ryd + b * b * self.Rdd
            return float(g @ self.Ginv @ g) / self.q / (rss / (self.n - self.L))
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
        if self.se_method == "unadjusted":
            return float(special.fdtri(self.q, self.n - self.L, level))
        return float(2 * special.gammaincinv(self.q / 2, level))

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
            gGy = float(self.gy @ self.Ginv @ self.gy)
            gGd = float(self.gd @ self.Ginv @ self.gd)
            gGyd = float(self.gy @ self.Ginv @ self.gd)
            return (gGd - h * self.Rdd, -2 * gGyd + 2 * h * self.Ryd, gGy - h * self.Ryy)
        if self.q == 1:
            gy, gd = float(self.gy[0]), float(self.gd[0])
            syy, syd, sdd = float(self.Syy[0, 0]), float(self.Syd[0, 0]), float(self.Sdd[0, 0])
            return (gd * gd - c * sdd, -2 * gy * gd + 2 * c * syd, gy * gy - c * syy)
        return None


def anderson_rubin_set(
    a: IVArrays, se_method: str, debiased: bool, level: float, center: float, scale: float
) -> ARSet:
    """Anderson–Rubin confidence set for the (single) endogenous regressor's coefficient.

    ``center`` and ``scale`` (the 2SLS estimate and its SE) place the grid when the set
    must be found numerically.
    """
    parts = _ARParts(a, se_method, debiased)
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
    if len(intervals) == 1 and np.isinf(intervals[0][0]) and np.isinf(intervals[0][1]):
        return "whole_line"
    if any(np.isinf(v) for iv in intervals for v in iv):
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
    sq = np.sqrt(disc)
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
    a: IVArrays, resid: np.ndarray, resid_2sls: np.ndarray, se_method: str
) -> tuple[TestStat | None, TestStat | None]:
    """Sargan's test (model residuals ``resid``) and Hansen's J; ``None`` if just-identified.

    Hansen's J is that of two-step efficient GMM whose weight matrix is estimated from
    the 2SLS residuals ``resid_2sls``.
    """
    Z, X = a.Z, a.X
    n = Z.shape[0]
    df = a.Zx.shape[1] - a.D.shape[1]
    if df <= 0:
        return None, None
    null = "the over-identifying restrictions hold (the instruments are valid)"
    e = resid
    u = e - project(a.QZ, e)
    sargan = chi2_stat("Sargan", n * (1 - float(u @ u) / float(e @ e)), df, null)
    kind = "clustered" if se_method == "clustered" else "robust"
    S = score_covariance(Z * resid_2sls[:, None], a.clusters, kind, False, X.shape[1])
    Wm = np.linalg.inv(S)
    XZ = X.T @ Z / n
    Zy = Z.T @ a.y / n
    beta = np.linalg.solve(XZ @ Wm @ XZ.T, XZ @ Wm @ Zy)
    g = Z.T @ (a.y - X @ beta) / n
    hansen = chi2_stat("Hansen J", n * float(g @ Wm @ g), df, null)
    return sargan, hansen


@dataclass(frozen=True)
class EndogeneityTests:
    """Tests of the null that the endogenous regressors are exogenous."""

    durbin: TestStat
    wu_hausman: TestStat
    wooldridge: TestStat


def endogeneity_tests(
    a: IVArrays, resid: np.ndarray, se_method: str, debiased: bool
) -> EndogeneityTests:
    """Durbin, Wu–Hausman and Wooldridge's regression test of exogeneity of ``D``.

    ``resid`` are the residuals of the fitted IV model (2SLS or LIML), as in linearmodels.
    """
    X = a.X
    n = a.n
    kw, kd = a.W.shape[1], a.D.shape[1]
    null = "the endogenous regressors are exogenous (OLS is consistent)"
    b0 = np.linalg.solve(X.T @ X, X.T @ a.y)
    e0 = a.y - X @ b0
    V = a.VD
    # P_[Z, D] = P_Z + P_{M_Z D}: two orthogonal pieces, no new factorisation of [Z, D]
    ss1 = float(np.sum((a.QZ.T @ e0) ** 2) + np.sum((orth(V).T @ e0) ** 2))
    ss2 = float(np.sum((a.QZ.T @ resid) ** 2))
    delta = ss1 - ss2
    ss0 = float(e0 @ e0)
    df_denom = n - kw - kd - kd
    # an outcome fitted exactly by OLS (ss0 = 0) leaves nothing to test: NaN, not a crash
    with np.errstate(divide="ignore", invalid="ignore"):
        durbin_stat = np.float64(delta) / np.float64(ss0 / n)
        wh_stat = np.float64(delta / kd) / np.float64((ss0 - delta) / max(df_denom, 1))
    exact = ss0 <= 1e-300 or df_denom < 1
    durbin = chi2_stat("Durbin", float("nan") if exact else float(durbin_stat), kd, null)
    wh = f_stat("Wu-Hausman", float("nan") if exact else float(wh_stat), kd, df_denom, null)
    coef, cov, _ = ols_cov(np.column_stack([X, V]), a.y, a.clusters, se_method, debiased)
    g = coef[-kd:]
    wald = float(g @ np.linalg.solve(cov[-kd:, -kd:], g))
    wool = chi2_stat("Wooldridge regression", wald, kd, null)
    return EndogeneityTests(durbin, wh, wool)
