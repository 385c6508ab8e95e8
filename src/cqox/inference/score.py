"""Estimate and standard error from a linear orthogonal score.

A model whose moment condition is linear in the target,
``E[ψ(W; θ, η)] = E[ψ_a(W; η)]·θ + E[ψ_b(W; η)] = 0``, supplies its score terms
``psi_a`` and ``psi_b`` (evaluated at the cross-fitted or estimated nuisances η̂); one
function turns them into ``θ̂ = −Σψ_b / Σψ_a`` and the standard error
``σ̂ = sqrt(mean(ψ²) / J² / n)`` with ``J = mean(ψ_a)`` (Chernozhukov et al. 2018,
doi:10.1111/ectj.12097, Theorem 3.1 and Definition 3.2, "DML2").

Repeated sample splits are aggregated with the median: ``θ̂ = median_s θ̂_s`` and the
standard error read back from the median of the upper confidence limits,
``σ̂ = (median_s(θ̂_s + 1.96 σ̂_s) − θ̂) / 1.96`` (DoubleML's rule; Chernozhukov et al.
2018, §3.4, propose ``sqrt(median_s(σ̂_s² + (θ̂_s − θ̂)²))``; both bound the
split-to-split spread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox.errors import EstimationError

#: Normal quantile used by the DoubleML rule to read the aggregated SE back from the
#: median upper confidence limit (the rule is defined with 1.96, not with ``level``).
_AGGREGATION_Z = 1.96


@dataclass(frozen=True)
class LinearScoreResult:
    """Solution of a linear score.

    Attributes
    ----------
    theta : float
        ``−mean(ψ_b) / mean(ψ_a)``.
    se : float
        ``sqrt(mean(ψ²) / J² / n)``.
    psi : ndarray, shape (n,)
        The score ``ψ_a·θ + ψ_b`` at the solution.
    J : float
        ``mean(ψ_a)``, the derivative of the mean score.
    influence : ndarray, shape (n,)
        ``−ψ / J``: the influence function, scaled so that ``se = sqrt(Σ influence²)/n``.
    """

    theta: float
    se: float
    psi: np.ndarray
    J: float
    influence: np.ndarray


def solve_linear_score(psi_a: np.ndarray, psi_b: np.ndarray) -> LinearScoreResult:
    """θ̂ and its standard error from the score terms ``psi_a`` and ``psi_b`` (shape (n,))."""
    J = float(np.mean(psi_a))
    if not np.isfinite(J) or J == 0:
        raise EstimationError(
            "the orthogonal score has a zero (or non-finite) derivative: the treatment "
            "residuals vanish, so the effect is not identified with these nuisance fits",
            details={"J": J},
        )
    theta = -float(np.mean(psi_b)) / J
    psi = psi_a * theta + psi_b
    n = len(psi)
    se = float(np.sqrt(np.mean(psi**2) / J**2 / n))
    return LinearScoreResult(theta, se, psi, J, -psi / J)


def aggregate_repetitions(thetas: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """Median aggregation of repeated cross-fitting (DoubleML's rule); shapes (n_rep,)."""
    thetas = np.asarray(thetas, dtype=np.float64)
    ses = np.asarray(ses, dtype=np.float64)
    theta = float(np.median(thetas))
    upper = float(np.median(thetas + _AGGREGATION_Z * ses))
    return theta, (upper - theta) / _AGGREGATION_Z
