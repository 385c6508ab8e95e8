"""Manipulation test: continuity of the running variable's density at the cutoff.

Local-polynomial density estimator of Cattaneo, Jansson & Ma (2020,
doi:10.1080/01621459.2019.1635480): on each side, regress the empirical CDF
``F̂(x_i) = (1/n) Σ_j 1{x_j ≤ x_i}`` on ``[1, (x_i − c), …, (x_i − c)^p]`` with kernel
weights; the slope estimates the one-sided density ``f(c±)``.  The test of
``H₀: f(c−) = f(c+)`` is ``T = (f̂₊ − f̂₋) / SE``, standard normal under the null.

Variance.  ``β̂ = G⁻¹ Σ_i w_i r_i F̂(x_i) = (1/n) Σ_j a_j`` with
``a_j = G⁻¹ Σ_i w_i r_i 1{x_j ≤ x_i}``: the estimator is a sample mean of ``a_j`` up to
the (higher-order) randomness of ``G``, so its variance (and the covariance between the
two sides, which share the ECDF) is estimated by the sample covariance of ``a_j``
over all ``n`` rows divided by ``n`` — the Hájek projection that CJM's asymptotic
variance describes.  Bias is handled by robust bias correction in the simplest form:
the test uses ``p = 3`` (one order above the point estimator's ``p = 2``) at a
rule-of-thumb bandwidth ``h = 2.576 · min(SD, IQR/1.349) · n^{-1/5}`` per side (capped
at the side's range).  This is CJM's estimator and test statistic, but not
``rddensity``'s data-driven bandwidth selector or jackknife variance; its size is
checked by simulation (``tests/truth/test_rd_truth.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from cqox.estimators.rd.local_poly import inv_spd, kernel_weights, vander


@dataclass(frozen=True)
class DensityTest:
    """Result of the density-continuity test."""

    f_left: float
    f_right: float
    statistic: float
    p_value: float
    h: tuple[float, float]
    n_h: tuple[int, int]
    p: int

    def to_dict(self) -> dict[str, float | int | list[float] | list[int] | str]:
        """JSON-ready dictionary."""
        return {
            "f_left": self.f_left,
            "f_right": self.f_right,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "h": list(self.h),
            "n_h": list(self.n_h),
            "p": self.p,
            "null": "the density of the running variable is continuous at the cutoff",
        }


def _side_influence(
    x: np.ndarray, xs_side: np.ndarray, h: float, p: int, kernel: str, n: int
) -> tuple[float, np.ndarray, int]:
    """Slope estimate on one side and ``a_j`` (slope coordinate) for every row ``j``."""
    w = kernel_weights(xs_side, h, kernel)
    ind = w > 0
    xi, wi = xs_side[ind], w[ind]
    R = vander(xi, p)
    RW = R * wi[:, None]
    Ginv = inv_spd(R.T @ RW)
    g = (Ginv @ RW.T)[1]  # slope row: a_j = Σ_i g_i 1{x_j ≤ x_i}
    order = np.argsort(xi)
    xi_sorted, g_sorted = xi[order], g[order]
    tail = np.r_[np.cumsum(g_sorted[::-1])[::-1], 0.0]  # Σ_{i ≥ k} g_i
    k = np.searchsorted(xi_sorted, x, side="left")  # first i with x_i ≥ x_j
    a = tail[k]
    return float(a.mean()), a, int(ind.sum())


def density_test(x: np.ndarray, c: float, p: int = 3, kernel: str = "triangular") -> DensityTest:
    """Cattaneo–Jansson–Ma local-polynomial test of density continuity at ``c``."""
    xc = x - c
    n = xc.shape[0]
    sd = float(np.std(xc, ddof=1))
    iqr = float(np.subtract(*np.percentile(xc, [75, 25])))
    h0 = 2.576 * min(sd, iqr / 1.349) * n ** (-1 / 5)
    left = xc < 0
    h_l = min(h0, float(-xc[left].min()))
    h_r = min(h0, float(xc[~left].max()))
    f_l, a_l, n_l = _side_influence(xc, xc[left], h_l, p, kernel, n)
    f_r, a_r, n_r = _side_influence(xc, xc[~left], h_r, p, kernel, n)
    diff = a_r - a_l
    se = float(np.std(diff, ddof=0) / np.sqrt(n))
    T = (f_r - f_l) / se if se > 0 else float("nan")
    pv = float(2 * stats.norm.sf(abs(T))) if np.isfinite(T) else float("nan")
    return DensityTest(f_l, f_r, float(T), pv, (h_l, h_r), (n_l, n_r), p)
