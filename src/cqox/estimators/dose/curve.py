"""The dose-response curve of a fitted estimator: pointwise and uniform inference, optimum.

Every dose-response estimator supplies ``evaluate(doses) → (μ̂(a), Σ̂)``: the estimated
curve at the doses and its covariance ``Σ̂ = ψ'ψ/n²`` (G × G) from the influence functions
``ψ`` (n × G) — a parametric curve computes it from its coefficients' covariance
without forming ``ψ``.  From them:

- pointwise Wald intervals ``μ̂(a) ± z·SE``;
- a uniform band over a grid ``μ̂(a) ± c·SE`` with ``c`` the ``1 − α`` quantile of
  ``max_g |Z_g|/SE_g``, ``Z ~ N(0, Σ̂)`` (the sup-t band; Montiel Olea &
  Plagborg-Møller 2019, doi:10.1002/jae.2656), by ``n_sim`` Gaussian draws;
- the dose that maximises the curve on the grid, with a percentile interval of the
  argmax over the same draws of the curve (``μ̂ + Z``) — a parametric bootstrap of the
  maximiser that needs no refit — shifted back by the draws' mean drift
  ``mean(â*) − â`` (the bootstrap estimate of the maximiser's bias; Efron & Tibshirani
  1993, §10.2).

Why the shift: the curve's SE grows towards the ends of the dose range, so the argmax
of a noisy curve drifts towards the noisier side (a winner's curse), and the draws
``μ̂ + Z`` add that drift a second time on top of ``μ̂``'s own.  For ``dose_dml``'s
undersmoothed kernel curve (its wiggles are shorter than the maximiser's spread) the
plain percentile interval then covered 0.963–0.974 in four seeded studies of 500–800
replications, missing almost only on one side (interval wholly above the optimum 3.5%,
wholly below 0.2%); shifted, 0.948 (docs/validation_dose_response.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

#: Eigenvalues of the curve's covariance below this share of the largest are round-off.
NULL_EIGENVALUE = 1e-12
#: evaluate(doses) → (curve at the doses (G,), its covariance (G, G))
Evaluate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
#: factor(doses) → (curve (G,), its covariance Σ̂ (G, G), a root R (G, r) with RR' = Σ̂)
Factor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
#: draw_argmax(grid, E) → per row e of E (n_sim, r), the grid index maximising μ̂ + R e
DrawArgmax = Callable[[np.ndarray, np.ndarray], np.ndarray]


def influence_cov(psi: np.ndarray) -> np.ndarray:
    """``ψ'ψ/n²`` for influence functions ``ψ`` (n × G)."""
    n = psi.shape[0]
    return np.asarray(psi.T @ psi / (n * n))


def pointwise_se(cov: np.ndarray) -> np.ndarray:
    """Standard errors: the square roots of the covariance's diagonal (negatives as 0).

    ``numpy.maximum`` is what ``numpy.clip(·, 0, None)`` runs, without its dispatch.
    """
    return np.asarray(np.sqrt(np.maximum(cov.diagonal(), 0.0)))


def covariance_root(cov: np.ndarray) -> np.ndarray:
    """``R`` (p, r) with ``RR' = Σ`` over the ``r`` non-null eigen-directions of ``Σ`` (p × p).

    ``R = U_r Λ_r^{1/2}`` from the eigen-decomposition, eigenvalues below
    :data:`NULL_EIGENVALUE` of the largest dropped (round-off of a singular ``Σ``).
    """
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > NULL_EIGENVALUE * max(float(vals.max()), np.finfo(float).tiny)
    return np.asarray(vecs[:, keep] * np.sqrt(vals[keep]))


def gaussian_factors(
    cov: np.ndarray, n_sim: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(E, root)`` with ``E @ root.T`` ``n_sim`` draws of ``Z ~ N(0, Σ̂)``.

    The covariance is factored once by its eigen-decomposition and only its ``r``
    non-null directions are drawn (a polynomial curve of degree ``d`` spans ``d + 1``):
    ``E`` is (n_sim, r) standard normal, ``root`` (G, r), so a draw costs ``O(rG)``.
    """
    root = covariance_root(cov)
    return rng.standard_normal((n_sim, root.shape[1])), root


def gaussian_draws(cov: np.ndarray, n_sim: int, rng: np.random.Generator) -> np.ndarray:
    """``n_sim`` draws of ``Z ~ N(0, Σ̂)``, shape (n_sim, G) (:func:`gaussian_factors`)."""
    E, root = gaussian_factors(cov, n_sim, rng)
    return np.asarray(E @ root.T)


def linear_quantiles(x: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """``numpy.quantile(x, q)`` (its default ``linear`` method) of a 1-D array, bit for bit.

    Hyndman & Fan's (1996) definition 7: the order statistics ``x₍ⱼ₎``, ``x₍ⱼ₊₁₎`` around
    ``v = (n − 1)q`` interpolated as NumPy's ``_lerp`` does (``a + (b − a)t``, or
    ``b − (b − a)(1 − t)`` for ``t ≥ 0.5``), with NaN when ``x`` has one.  Without NumPy's
    general-purpose dispatch (axes, methods, weights), which costs ~50 µs a call —
    more than the partition of a few thousand draws it wraps.
    """
    n = x.shape[0]
    v = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(v).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    # the few distinct order statistics wanted, as a Python set (np.unique's dispatch
    # costs more than the partition of a few thousand draws)
    part = np.partition(x, sorted({*lo.ravel().tolist(), *hi.ravel().tolist(), n - 1}))
    if np.isnan(part[-1]):
        return np.full(v.shape, np.nan)
    a, b = part[lo], part[hi]
    t = v - lo
    d = b - a
    return np.asarray(np.where(t >= 0.5, b - d * (1 - t), a + d * t))


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's ``_lerp`` of two floats: ``a + (b − a)t``, or ``b − (b − a)(1 − t)`` if ``t ≥ 0.5``.

    Python floats are IEEE doubles: NumPy's numbers, bit for bit.
    """
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def linear_quantile(x: np.ndarray, q: float) -> float:
    """:func:`linear_quantiles` at one ``q``, in Python floats (~10 µs less a call).

    The same partition and interpolation (NaN when ``x`` has one).
    """
    n = x.shape[0]
    v = (n - 1) * float(q)
    lo = math.floor(v)
    hi = min(lo + 1, n - 1)
    part = np.partition(x, sorted({lo, hi, n - 1}))
    if math.isnan(part[-1]):
        return math.nan
    return _lerp(float(part[lo]), float(part[hi]), v - lo)


def grid_quantiles(grid: np.ndarray, index: np.ndarray, q: tuple[float, ...]) -> list[float]:
    """``linear_quantiles(grid[index], q)`` without sorting: from the counts per grid point.

    ``grid`` is increasing (:func:`dose_grid`), so the ``j``-th order statistic of
    ``grid[index]`` is ``grid[g]`` for the first ``g`` whose running count of ``index``
    exceeds ``j`` — the same numbers, interpolated as NumPy does, without the partition
    of the ``n_sim`` draws.
    """
    n = index.shape[0]
    upto = np.cumsum(np.bincount(index, minlength=len(grid)))
    out = []
    for level in q:
        v = (n - 1) * float(level)
        lo = math.floor(v)
        hi = min(lo + 1, n - 1)
        g_lo, g_hi = np.searchsorted(upto, [lo, hi], side="right").tolist()
        out.append(_lerp(float(grid[g_lo]), float(grid[g_hi]), v - lo))
    return out


@dataclass(frozen=True)
class CurveInference:
    """A curve on a grid with pointwise and uniform inference and its maximiser.

    Attributes
    ----------
    grid, estimate, se : ndarray, shape (G,)
    crit : float
        Uniform critical value ``c`` (the band is ``estimate ± c·se``).
    optimum : float
        Grid dose with the largest estimated curve.
    optimum_ci : tuple of float
        Percentile interval of the argmax over the draws, shifted back by the draws'
        mean drift from ``optimum`` (clipped to the grid).
    optimum_se : float
        Standard deviation of the argmax over the draws.
    max_value, max_value_se : float
        ``μ̂(optimum)`` and its standard error.
    at_boundary : bool
        Whether the maximiser is an end of the grid (the curve may keep rising).
    """

    grid: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    crit: float
    optimum: float
    optimum_ci: tuple[float, float]
    optimum_se: float
    max_value: float
    max_value_se: float
    at_boundary: bool

    def table(self, level: float) -> pd.DataFrame:
        """``dose, estimate, se, ci_lower, ci_upper, band_lower, band_upper`` on the grid."""
        return pd.DataFrame(self.columns(level))

    def columns(self, level: float) -> dict[str, np.ndarray]:
        """The columns of :meth:`table` (a :class:`~cqox.core.tables.Tables` source)."""
        z = float(special.ndtri(0.5 + level / 2))
        return {
            "dose": self.grid,
            "estimate": self.estimate,
            "se": self.se,
            "ci_lower": self.estimate - z * self.se,
            "ci_upper": self.estimate + z * self.se,
            "band_lower": self.estimate - self.crit * self.se,
            "band_upper": self.estimate + self.crit * self.se,
        }


def curve_inference(
    evaluate: Evaluate,
    grid: np.ndarray,
    level: float,
    n_sim: int,
    rng: np.random.Generator,
    factor: Factor | None = None,
    draw_argmax: DrawArgmax | None = None,
) -> CurveInference:
    """Pointwise SEs, the uniform critical value and the maximiser of the curve on ``grid``.

    ``factor``, when the curve has one, gives a root of ``Σ̂`` without factoring the
    G × G matrix: a parametric curve ``μ̂(a) = b(a)'β̂`` has ``Σ̂ = B V̂ B'``, so
    ``R = B L`` with ``LL' = V̂`` ((p × p), p coefficients) and ``Z = R e``,
    ``e ~ N(0, I_p)``, has the law of the eigen-route's draws (a rotation of ``e``);
    for a given seed the draws differ, not their distribution.  ``draw_argmax``, with
    ``factor``, finds each draw's maximiser without the n_sim × G matrix of the draws
    (a quadratic's vertex: :func:`~cqox.estimators.dose.msm.quadratic_argmax`).
    """
    if factor is None:
        mu, cov = evaluate(grid)
        se = pointwise_se(cov)
        E, root = gaussian_factors(cov, n_sim, rng)
    else:
        mu, cov, root = factor(grid)
        se = pointwise_se(cov)
        E = rng.standard_normal((n_sim, root.shape[1]))
    ok = se > 0
    # the draws Z = E root' in two products, each laid out for its reduction: the sup-t
    # statistic max_g |Z_g|/SE_g over the grid (axis 0 of the G × n_sim product, root
    # scaled by 1/SE first) and the argmax over the grid of μ̂ + Z (axis 1 of the
    # n_sim × G product [E, 1][root, μ̂]', which adds μ̂ in the same call).  One such
    # array at a time, each freed before the next: two freed together make the C
    # allocator return the memory to the system, and the next call faults it back in
    # page by page (~1.5 ms of system time a call on the benchmark machine)
    if ok.all():  # the usual curve: no masked copies
        scaled = (root / se[:, None]) @ E.T
        sup = np.abs(scaled, out=scaled).max(axis=0)
        del scaled
    elif ok.any():
        scaled = (root[ok] / se[ok, None]) @ E.T
        sup = np.abs(scaled, out=scaled).max(axis=0)
        del scaled
    else:
        sup = np.zeros(n_sim)
    crit = linear_quantile(sup, level)
    best = int(np.argmax(mu))
    if draw_argmax is not None and factor is not None:
        index = draw_argmax(grid, E)
    else:
        shifted = np.column_stack([E, np.ones(n_sim)]) @ np.column_stack([root, mu]).T
        index = shifted.argmax(axis=1)
        del shifted
    arg = grid[index]
    alpha = 1.0 - level
    # numpy.mean(arg) and numpy.std(arg, ddof=1) bit for bit (the same sums), without
    # their dispatch
    arg_mean = np.add.reduce(arg) / n_sim
    dev = arg - arg_mean
    np.multiply(dev, dev, out=dev)
    arg_sd = math.sqrt(np.add.reduce(dev) / (n_sim - 1)) if n_sim > 1 else math.nan
    # bias-corrected percentile interval: the draws' maximiser drifts from μ̂'s by the
    # maximiser's own bias (towards the noisier doses), so the interval is shifted back
    drift = float(arg_mean - grid[best])
    g_lo, g_hi = float(grid[0]), float(grid[-1])
    lo, hi = (
        min(max(x - drift, g_lo), g_hi)
        for x in grid_quantiles(grid, index, (alpha / 2, 1 - alpha / 2))
    )
    return CurveInference(
        grid=grid,
        estimate=mu,
        se=se,
        crit=crit,
        optimum=float(grid[best]),
        optimum_ci=(lo, hi),
        optimum_se=arg_sd,
        max_value=float(mu[best]),
        max_value_se=float(se[best]),
        at_boundary=best in (0, len(grid) - 1),
    )


#: Columns of :meth:`DoseCurve.table` (an Index is immutable: one serves every table).
_CURVE_COLUMNS = pd.Index(["dose", "estimate", "se", "ci_lower", "ci_upper"])


@dataclass(frozen=True)
class DoseCurve:
    """What :meth:`cqox.Estimate.curve` reads: the fitted curve at any dose."""

    evaluate: Evaluate
    level: float

    def table(self, doses: np.ndarray | list[float]) -> pd.DataFrame:
        """``dose, estimate, se, ci_lower, ci_upper`` at ``doses`` (pointwise Wald)."""
        a = np.atleast_1d(np.asarray(doses, dtype=np.float64))
        mu, cov = self.evaluate(a)
        se = pointwise_se(cov)
        z = float(special.ndtri(0.5 + self.level / 2))
        # one float block under a shared column index: the frame a dict of the five
        # columns gives, at a seventh of pandas' cost (~90 µs, more than the curve)
        values = np.empty((a.shape[0], 5))
        values[:, 0] = a
        values[:, 1] = mu
        values[:, 2] = se
        np.subtract(mu, z * se, out=values[:, 3])
        np.add(mu, z * se, out=values[:, 4])
        return pd.DataFrame(values, columns=_CURVE_COLUMNS)


def dose_grid(a: np.ndarray, n_grid: int, grid_quantile: float) -> np.ndarray:
    """``n_grid`` equally spaced doses between the ``q`` and ``1 − q`` quantiles of ``a``.

    The quantiles are ``numpy.quantile``'s (:func:`linear_quantiles`), their order
    statistics selected within brackets when ``a`` is long (:func:`select_ranks`).
    """
    n = a.shape[0]
    if n >= BRACKET_MIN_ROWS and not math.isnan(a.max()):  # NaN: numpy.quantile's NaN
        v = [(n - 1) * grid_quantile, (n - 1) * (1.0 - grid_quantile)]
        lo = [math.floor(x) for x in v]
        hi = [min(r + 1, n - 1) for r in lo]
        found = select_ranks(a, sorted({*lo, *hi}))
        if found is not None:
            ends = [_lerp(found[r], found[h], x - r) for x, r, h in zip(v, lo, hi, strict=True)]
            return np.linspace(ends[0], ends[1], n_grid)
    lo_q, hi_q = linear_quantiles(a, np.array([grid_quantile, 1.0 - grid_quantile]))
    return np.linspace(float(lo_q), float(hi_q), n_grid)


#: Values in the evenly spaced sample of :func:`select_ranks` that brackets each rank.
BRACKET_SAMPLE = 256
#: Below this many values a plain partition costs about as much as the brackets.
BRACKET_MIN_ROWS = 4096
#: Half-width of a bracket in binomial SDs of the sample's count below the rank (a rank
#: falls outside with probability ~1e-4 for values in random order; then the partition).
BRACKET_SDS = 4.0


def select_ranks(x: np.ndarray, ranks: list[int]) -> dict[int, float] | None:
    """The order statistics ``x₍ᵣ₎`` at 0-based ``ranks`` (sorted) of a 1-D array without NaN.

    Each rank (or run of nearby ranks) is bracketed by two values ``L ≤ U`` of a sorted,
    evenly spaced sample of :data:`BRACKET_SAMPLE` values, a few binomial SDs either
    side of the rank's place in it.  Exactly: the values below ``L``, those in
    ``[L, U]`` and those above ``U`` are consecutive blocks of ``x`` sorted (ties
    included), so ``x₍ᵣ₎`` is the ``(r − #{x < L})``-th smallest value in ``[L, U]``
    whenever ``#{x < L} ≤ r < #{x ≤ U}`` — and only those values (~12% of them around
    a 5% quantile) are partitioned.  Why: introselect of all ``n`` values mispredicts
    a branch per value and step (~150 µs at 10,000 in the benchmark's call), where the
    comparisons with ``L`` and ``U`` are branch-free and vectorised.  ``None`` when a
    bracket misses its rank (a sample unlike the rest, as a pattern repeating at the
    sample's stride can make it): then partition all.
    """
    n = x.shape[0]
    sample = np.sort(x[:: n // BRACKET_SAMPLE])
    m = sample.shape[0]
    found: dict[int, float] = {}
    groups: list[list[int]] = []
    for r in ranks:  # ranks close together share a bracket
        if groups and r - groups[-1][0] <= n // m:
            groups[-1].append(r)
        else:
            groups.append([r])
    for group in groups:
        first, last = group[0], group[-1]
        p = first / max(n - 1, 1)
        margin = int(BRACKET_SDS * math.sqrt(m * p * (1.0 - p))) + 2
        i_lo = math.floor(first * (m - 1) / (n - 1)) - margin
        i_hi = math.ceil(last * (m - 1) / (n - 1)) + margin
        low = float(sample[i_lo]) if i_lo >= 0 else -math.inf
        high = float(sample[i_hi]) if i_hi < m else math.inf
        below = int(np.count_nonzero(x < low))
        inside = x[(x >= low) & (x <= high)]
        if not below <= first or not last < below + inside.shape[0]:
            return None
        part = np.partition(inside, [r - below for r in group])
        for r in group:
            found[r] = float(part[r - below])
    return found
