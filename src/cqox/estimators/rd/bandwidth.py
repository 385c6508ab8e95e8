"""MSE- and CER-optimal bandwidths for local-polynomial RD (CCT 2014; CCF 2020).

The MSE-optimal bandwidth of the order-``p`` estimator of the ``ν``-th derivative is
``h = [V / (B² + R)]^{1/(2p+3)} n^{-1/(2p+3)}`` with ``V`` the variance constant, ``B`` the
bias constant (which needs the ``(p+1)``-th derivative, estimated with a pilot
bandwidth) and ``R`` a regularisation term.  The selector runs the three-step plug-in
of CCT (2014, §4.2) as implemented in ``rdrobust``: a rule-of-thumb pilot
``c = C_K · min(SD, IQR/1.349) · N^{-1/5}`` (on standardised data), a bandwidth ``d``
for the ``(q+1)``-th derivative, then ``b`` (bias) and ``h`` (estimate).

- ``mserd``: one common ``h`` for the difference of the two sides.
- ``msetwo``: one ``h`` per side.
- ``cerrd`` / ``certwo``: the coverage-error-optimal rescaling
  ``h_CER = h_MSE · N^{-p/((3+p)(3+2p))}`` (Calonico, Cattaneo & Farrell 2020,
  doi:10.1093/ectj/utz022), ``b`` unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cqox.estimators.rd.local_poly import KERNEL_CODE, VCE_CODE

BWSELECTS: tuple[str, ...] = ("mserd", "msetwo", "cerrd", "certwo")
#: Kernel constants of the rule-of-thumb pilot bandwidth.
PILOT_CONSTANT = {"triangular": 2.576, "uniform": 1.843, "epanechnikov": 2.34}
_EPS = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class Bandwidths:
    """Selected bandwidths ``(left, right)`` in the units of the running variable."""

    h: tuple[float, float]
    b: tuple[float, float]
    method: str


def quantile_type2(x: np.ndarray, prob: float, is_sorted: bool = False) -> float:
    """Hyndman–Fan type-2 quantile (averaging at discontinuities), as R's ``type = 2``.

    ``is_sorted=True`` says ``x`` is already ascending (no sort).
    """
    xs = x if is_sorted else np.sort(x)
    n = xs.shape[0]
    hh = n * prob
    j = int(np.floor(hh))
    if hh == j:
        return float(0.5 * (xs[j - 1] + xs[j]))
    return float(xs[j])


def _first_of_run(v: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal values (``np.r_`` costs 30 µs a call)."""
    first = np.empty(v.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(v[1:], v[:-1], out=first[1:])
    return first


def _distinct_sorted(v: np.ndarray) -> np.ndarray:
    """``np.unique(v)`` of a sorted array, without sorting it again."""
    return v[_first_of_run(v)] if v.size else v


class _Side:
    """One side's standardised data and the pilot (V-step) fits, cached by ``(o, ν)``.

    Each fit is one compiled pass over its kernel window (:mod:`._lp_kernel`): ``x`` is
    sorted, so the window is found by binary search.
    """

    def __init__(
        self, x: np.ndarray, Y: np.ndarray, kernel: str, vce: str, nnmatch: int, h_V: float
    ) -> None:
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        self.kern, self.vce, self.nnmatch = KERNEL_CODE[kernel], VCE_CODE[vce], nnmatch
        self.h_V = float(h_V)
        self.cache: dict[tuple[int, int], tuple[float, float, np.ndarray]] = {}

    def v_step(self, o: int, nu: int) -> tuple[float, float, np.ndarray]:
        """Variance of the ν-th derivative and bias constant at the pilot bandwidth."""
        from cqox.estimators.rd._lp_kernel import pilot_terms

        key = (o, nu)
        if key not in self.cache:
            V_V, B_const, s = pilot_terms(
                self.x, self.Y, self.h_V, self.kern, o, nu, self.vce, self.nnmatch
            )
            self.cache[key] = (float(V_V), float(B_const), s)
        return self.cache[key]

    def terms(
        self, o: int, nu: int, o_B: int, h_B: float, scale: float
    ) -> tuple[float, float, float, float]:
        """``(V, B, R, rate)`` of the MSE expansion (``rdrobust_bw``)."""
        from cqox.estimators.rd._lp_kernel import bias_terms

        rate = 1 / (2 * o + 3)
        nan = (float("nan"), float("nan"), float("nan"), rate)
        V_V, B_const, s = self.v_step(o, nu)
        if not np.isfinite(V_V) or not (np.isfinite(h_B) and h_B > 0):
            return nan
        ok, b_s, V_B = bias_terms(
            self.x, self.Y, float(h_B), self.kern, o_B, s, scale > 0, self.vce, self.nnmatch
        )
        if not ok:
            return nan
        reg = 3 * B_const**2 * V_B if scale > 0 else 0.0
        B = math.sqrt(2 * (o + 1 - nu)) * B_const * b_s
        V = (2 * nu + 1) * self.h_V ** (2 * nu + 1) * V_V
        R_ = scale * (2 * (o + 1 - nu)) * reg
        return V, B, R_, rate


def select_bandwidths(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray | None,
    c: float,
    p: int = 1,
    q: int = 2,
    kernel: str = "triangular",
    bwselect: str = "mserd",
    vce: str = "nn",
    nnmatch: int = 3,
) -> Bandwidths:
    """Data-driven ``h`` and ``b`` (``x`` sorted ascending; ``t`` for a fuzzy design)."""
    x_sd = float(np.std(x, ddof=1))
    y_sd = float(np.std(y, ddof=1))
    iqr = quantile_type2(x, 0.75, is_sorted=True) - quantile_type2(x, 0.25, is_sorted=True)
    BWp = min(1.0, (iqr / x_sd) / 1.349)
    # x is ascending: the rows below the cutoff are a prefix
    n_l = int(np.searchsorted(x, c, side="left"))
    left, right = slice(0, n_l), slice(n_l, None)
    xs, cs = x / x_sd, c / x_sd
    X_l, X_r = xs[left] - cs, xs[right] - cs
    Y = (y / y_sd)[:, None]
    if t is not None and np.var(t[left]) > 0 and np.var(t[right]) > 0:
        Y = np.column_stack([Y, t])
    Y_l, Y_r = Y[left], Y[right]
    N = x.shape[0]
    u_l, u_r = _distinct_sorted(X_l), _distinct_sorted(X_r)
    M = u_l.size + u_r.size
    c_bw = PILOT_CONSTANT[kernel] * BWp * M ** (-1 / 5)
    bw_max_l, bw_max_r = abs(float(X_l.min())), abs(float(X_r.max()))
    bw_max = max(bw_max_l, bw_max_r)
    c_bw = min(c_bw, bw_max)
    bw_min: float | None = None
    mass_l = 1 - u_l.size / X_l.size
    mass_r = 1 - u_r.size / X_r.size
    if mass_l >= 0.2 or mass_r >= 0.2:
        # rdrobust's masspoints="adjust": at least 10 distinct values on each side
        check = 10
        near_l = np.sort(np.abs(u_l))[min(check, u_l.size) - 1]
        near_r = np.sort(np.abs(u_r))[min(check, u_r.size) - 1]
        bw_min = max(near_l, near_r) * (1 + _EPS)
        c_bw = max(c_bw, bw_min)
    L = _Side(X_l, Y_l, kernel, vce, nnmatch, c_bw)
    R = _Side(X_r, Y_r, kernel, vce, nnmatch, c_bw)
    range_l, range_r = bw_max_l * (1 + _EPS), bw_max_r * (1 + _EPS)
    Cd_l = L.terms(q + 1, q + 1, q + 2, range_l, 0.0)
    Cd_r = R.terms(q + 1, q + 1, q + 2, range_r, 0.0)
    scale = 1.0
    if bwselect in ("msetwo", "certwo"):
        d_l = min((Cd_l[0] / Cd_l[1] ** 2) ** Cd_l[3], bw_max_l)
        d_r = min((Cd_r[0] / Cd_r[1] ** 2) ** Cd_r[3], bw_max_r)
        if bw_min is not None:
            d_l, d_r = max(d_l, bw_min), max(d_r, bw_min)
        Cb_l = L.terms(q, p + 1, q + 1, d_l, scale)
        Cb_r = R.terms(q, p + 1, q + 1, d_r, scale)
        b_l = min((Cb_l[0] / (Cb_l[1] ** 2 + scale * Cb_l[2])) ** Cb_l[3], bw_max_l)
        b_r = min((Cb_r[0] / (Cb_r[1] ** 2 + scale * Cb_r[2])) ** Cb_r[3], bw_max_r)
        Ch_l = L.terms(p, 0, q, b_l, scale)
        Ch_r = R.terms(p, 0, q, b_r, scale)
        h_l = min((Ch_l[0] / (Ch_l[1] ** 2 + scale * Ch_l[2])) ** Ch_l[3], bw_max_l)
        h_r = min((Ch_r[0] / (Ch_r[1] ** 2 + scale * Ch_r[2])) ** Ch_r[3], bw_max_r)
        h = (x_sd * h_l, x_sd * h_r)
        b = (x_sd * b_l, x_sd * b_r)
    else:
        d = ((Cd_l[0] + Cd_r[0]) / (Cd_r[1] - Cd_l[1]) ** 2) ** Cd_l[3]
        d = min(d, bw_max)
        if bw_min is not None:
            d = max(d, bw_min)
        Cb_l = L.terms(q, p + 1, q + 1, d, scale)
        Cb_r = R.terms(q, p + 1, q + 1, d, scale)
        bb = (
            (Cb_l[0] + Cb_r[0]) / ((Cb_r[1] - Cb_l[1]) ** 2 + scale * (Cb_r[2] + Cb_l[2]))
        ) ** Cb_l[3]
        bb = min(bb, bw_max)
        Ch_l = L.terms(p, 0, q, bb, scale)
        Ch_r = R.terms(p, 0, q, bb, scale)
        hh = (
            (Ch_l[0] + Ch_r[0]) / ((Ch_r[1] - Ch_l[1]) ** 2 + scale * (Ch_r[2] + Ch_l[2]))
        ) ** Ch_l[3]
        hh = min(hh, bw_max)
        h = (x_sd * hh, x_sd * hh)
        b = (x_sd * bb, x_sd * bb)
    if bwselect.startswith("cer"):
        factor = N ** (-(p / ((3 + p) * (3 + 2 * p))))
        h = (h[0] * factor, h[1] * factor)
    return Bandwidths(h, b, bwselect)
