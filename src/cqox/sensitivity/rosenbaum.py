"""Rosenbaum bounds for matched pairs: Wilcoxon's signed-rank test under hidden bias.

Model (Rosenbaum 2002, *Observational Studies*, 2nd ed., §4.3, doi:10.1007/978-1-4757-3692-2):
within a matched pair, an unobserved confounder may make the odds of treatment of the
two units differ by a factor of at most ``Γ ≥ 1``.  For pair differences ``D_s``
(treated − control; zeros dropped) with ranks ``q_s`` of ``|D_s|`` (average ranks for
ties), the signed-rank statistic ``T = Σ_s q_s 1{D_s > 0}`` is, under the null of no
effect, bounded in distribution between two sums of independent terms ``q_s·B_s`` with
``B_s ~ Bernoulli(p)``, ``p⁺ = Γ/(1 + Γ)`` (upper) and ``p⁻ = 1/(1 + Γ)`` (lower).

With the normal approximation (as in Rosenbaum 2002 and R's ``rbounds::psens``)::

    E⁺ = p⁺ Σ q_s,   V⁺ = p⁺(1 − p⁺) Σ q_s²,   p_upper = 1 − Φ((T − E⁺)/sqrt(V⁺))

and likewise ``p_lower`` with ``p⁻``.  ``method="exact"`` computes the tails of the
bounding distributions exactly by convolution over the (half-integer) ranks.
The critical ``Γ`` is the smallest ``Γ`` at which the upper-bound p-value reaches
``alpha``: the strength of hidden bias that could explain away the effect.

Without the pairs, :func:`sign_test_bounds` recovers approximate bounds for the sign
test of ``n`` pairs from a reported estimate and confidence interval.

A matching estimator publishes its matched sets as the table :data:`MATCHED_PAIRS_TABLE`
of its :class:`~cqox.core.estimate.Estimate` (column ``difference``: treated minus
matched control outcome of each matched set), and :func:`bounds_of_matched_pairs` turns
it into bounds, so the bounds describe exactly the matching of that estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox._lazy import scipy_optimize as optimize

DEFAULT_GAMMAS = tuple(np.round(np.arange(1.0, 6.01, 0.25), 2).tolist())
#: Grid of the summary approximation (:func:`sign_test_bounds`).
SIGN_TEST_GAMMAS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)
#: Name of the table in which a matching estimator publishes its matched sets.
MATCHED_PAIRS_TABLE = "matched_pairs"
#: Largest Γ searched for the critical value of the summary approximation.
SIGN_TEST_MAX_GAMMA = 1000.0


@dataclass(frozen=True)
class RosenbaumBounds:
    """Wilcoxon signed-rank p-value bounds over a grid of ``Γ``.

    Attributes
    ----------
    gammas : ndarray, shape (g,)
    p_lower, p_upper : ndarray, shape (g,)
        Smallest and largest one-sided p-value consistent with bias ``Γ``.
    statistic : float
        The signed-rank statistic ``T``.
    n_pairs, n_zero : int
        Pairs used, and pairs dropped for a zero difference.
    gamma_critical : float
        Smallest ``Γ`` with ``p_upper ≥ alpha`` (``inf`` if none up to 1e4; 1 when the
        effect is not significant even without bias).
    alpha : float
    method : {"normal", "exact"}
    """

    gammas: np.ndarray
    p_lower: np.ndarray
    p_upper: np.ndarray
    statistic: float
    n_pairs: int
    n_zero: int
    gamma_critical: float
    alpha: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per ``Γ``."""
        return pd.DataFrame(
            {"gamma": self.gammas, "p_lower": self.p_lower, "p_upper": self.p_upper}
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary."""
        return {
            "test": "wilcoxon_signed_rank",
            "method": self.method,
            "statistic": self.statistic,
            "n_pairs": self.n_pairs,
            "n_zero_dropped": self.n_zero,
            "alpha": self.alpha,
            "gamma_critical": self.gamma_critical,
            "gamma": self.gammas.tolist(),
            "p_lower": self.p_lower.tolist(),
            "p_upper": self.p_upper.tolist(),
        }


def _ranks(d: np.ndarray) -> np.ndarray:
    """Ranks of ``|d|`` with ties averaged (``scipy.stats.rankdata(method="average")``)."""
    a = np.abs(d)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # ties share the mean of the 1-based positions they occupy: (first + last) / 2
    new = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    dense = np.cumsum(new)
    bounds = np.r_[np.flatnonzero(new), len(a)]
    avg = 0.5 * (bounds[dense] + bounds[dense - 1] + 1)
    ranks = np.empty(len(a))
    ranks[order] = avg
    return ranks


def _tail_normal(T: float, q: np.ndarray, p: float) -> float:
    mean = p * q.sum()
    var = p * (1 - p) * np.sum(q * q)
    return float(special.ndtr(-(T - mean) / np.sqrt(var)))  # normal upper tail


def _tail_exact(T: float, q: np.ndarray, p: float) -> float:
    # ranks are multiples of 1/2: work in half-units, convolve Bernoulli(p)·q_s terms
    h = np.rint(2 * q).astype(np.int64)
    dist = np.zeros(int(h.sum()) + 1)
    dist[0] = 1.0
    top = 0
    for step in h:
        new = dist * (1 - p)
        new[step : top + step + 1] += p * dist[: top + 1]
        dist = new
        top += step
    t_half = int(np.rint(2 * T))
    return float(min(1.0, dist[t_half:].sum()))


def rosenbaum_bounds(
    treated: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray | None = None,
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    alpha: float = 0.05,
    method: str = "normal",
) -> RosenbaumBounds:
    """Rosenbaum bounds for Wilcoxon's signed-rank test on matched pairs.

    Parameters
    ----------
    treated, control : array-like
        Outcomes of the treated and control unit of each pair; or, with ``control``
        omitted, the pair differences.  The alternative is a positive effect; pass
        ``control − treated`` for a negative one.
    gammas : sequence of float
        The grid of ``Γ ≥ 1``.
    alpha : float
        Level for the critical ``Γ``.
    method : {"normal", "exact"}

    Example
    -------
    >>> b = rosenbaum_bounds([3.0, 2.5, 4.1, 0.7, 2.2, 1.9], [1.0, 2.0, 1.5, 1.1, 0.4, 0.8])
    >>> bool(b.p_upper[0] == b.p_lower[0])  # no bias: one p-value
    True
    """
    if method not in ("normal", "exact"):
        raise ValueError(f"method must be 'normal' or 'exact'; got {method!r}")
    d = np.asarray(treated, dtype=np.float64)
    if control is not None:
        d = d - np.asarray(control, dtype=np.float64)
    nonzero = d != 0
    n_zero = int((~nonzero).sum())
    d = d[nonzero]
    if d.size == 0:
        raise ValueError("every pair difference is zero; the signed-rank test is undefined")
    q = _ranks(d)
    T = float(q[d > 0].sum())
    tail = _tail_normal if method == "normal" else _tail_exact
    g = np.asarray(gammas, dtype=np.float64)
    if np.any(g < 1):
        raise ValueError("every Γ must be at least 1")
    p_up = np.array([tail(T, q, gi / (1 + gi)) for gi in g])
    p_lo = np.array([tail(T, q, 1 / (1 + gi)) for gi in g])

    def excess(log_gamma: float) -> float:
        gi = float(np.exp(log_gamma))
        return tail(T, q, gi / (1 + gi)) - alpha

    if excess(0.0) >= 0:
        critical = 1.0
    elif excess(np.log(1e4)) < 0:
        critical = float("inf")
    else:
        critical = float(np.exp(optimize.brentq(excess, 0.0, np.log(1e4), xtol=1e-10)))
    return RosenbaumBounds(g, p_lo, p_up, T, int(d.size), n_zero, critical, alpha, method)


def bounds_of_matched_pairs(
    tables: Mapping[str, pd.DataFrame], estimate: float, alpha: float = 0.05
) -> dict[str, Any] | None:
    """Rosenbaum bounds of an estimate's own matched sets, or ``None`` if it has none.

    The bounds test the sign of the effect found: the differences are flipped for a
    negative ``estimate``.  A set of differences the test cannot use gives
    ``{"applicable": False, "reason": ...}``.
    """
    table = tables.get(MATCHED_PAIRS_TABLE)
    if table is None:
        return None
    sign = 1.0 if estimate >= 0 else -1.0
    try:
        d = sign * table["difference"].to_numpy(dtype=np.float64)
        return rosenbaum_bounds(d, alpha=alpha).to_dict()
    except ValueError as exc:
        return {"applicable": False, "reason": str(exc)}


def _sign_test_upper_p(t: float, n: int, gamma: float) -> float:
    p = gamma / (1.0 + gamma)
    z = (t - n * p) / math.sqrt(n * p * (1.0 - p))
    return float(special.ndtr(-z))  # normal upper tail, as scipy.stats.norm.sf


def sign_test_bounds(
    estimate: float,
    ci: tuple[float, float],
    ci_level: float,
    n_pairs: int,
    gammas: Sequence[float] | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Rosenbaum bounds for the sign test of ``n_pairs`` pairs, from a summary.

    Rosenbaum (2002, ch. 4): the standard error is ``se = (high − low) / (2 z_{1−α/2})``,
    the deviate ``z = |estimate| / se``, and the number of pairs favouring the effect is
    taken as ``T = n/2 + z·√n/2`` (the sign test's normal approximation at Γ = 1).
    Under hidden bias Γ a pair favours treatment with probability at most
    ``p_Γ = Γ/(1+Γ)``, so the one-sided p-value is at most
    ``1 − Φ((T − n p_Γ) / √(n p_Γ (1 − p_Γ)))``.  ``gamma_star`` is the Γ at which this
    bound reaches ``alpha`` (``None`` beyond :data:`SIGN_TEST_MAX_GAMMA`).  An
    approximation from summary numbers: the pairs themselves give the exact signed-rank
    bounds of :func:`rosenbaum_bounds`.
    """
    crit = float(special.ndtri(0.5 + ci_level / 2))
    se = (ci[1] - ci[0]) / (2 * crit)
    if not se > 0:
        return {"applicable": False, "reason": "the confidence interval has zero width"}
    z = abs(estimate) / se
    n = int(n_pairs)
    t = min(float(n), n / 2 + z * math.sqrt(n) / 2)
    grid = sorted(set(gammas or SIGN_TEST_GAMMAS) | {1.0})
    rows = [{"gamma": g, "p_upper": _sign_test_upper_p(t, n, g)} for g in grid]
    if _sign_test_upper_p(t, n, 1.0) >= alpha:
        gamma_star = 1.0
    else:
        lo, hi = 1.0, SIGN_TEST_MAX_GAMMA
        if _sign_test_upper_p(t, n, hi) < alpha:
            gamma_star = math.inf
        else:
            for _ in range(100):  # bisection on the log scale
                mid = math.sqrt(lo * hi)
                if _sign_test_upper_p(t, n, mid) < alpha:
                    lo = mid
                else:
                    hi = mid
            gamma_star = hi
    return {
        "applicable": True,
        "method": "sign test, normal approximation from the estimate and CI",
        "z": z,
        "n_pairs": n,
        "alpha": alpha,
        "bounds": rows,
        "gamma_star": gamma_star if math.isfinite(gamma_star) else None,
    }
