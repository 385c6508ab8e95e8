"""Multiplier bootstrap and analytic standard errors from unit influence functions.

For estimates with unit-level influence functions ``ψ_i`` (shape (n, K)), summed within
clusters ``S_c = Σ_{i∈c} ψ_i``: the analytic SE is ``sqrt(Σ_c S_c²)/n``; the multiplier
bootstrap draws ``θ* − θ̂ = Σ_c V_c S_c / n`` with Rademacher ``V_c``, takes the SE as
``IQR(θ*) / (z_.75 − z_.25)`` and the uniform critical value as the ``1 − α`` quantile of
``max_k |θ*_k − θ̂_k| / SE_k`` (Callaway & Sant'Anna 2021, Algorithm 1,
doi:10.1016/j.jeconom.2020.12.001).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special


def cluster_sums(scores: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum rows of ``scores`` (n, k) within clusters, shape (n_clusters, k)."""
    s = scores if scores.ndim == 2 else scores[:, None]
    return np.stack(
        [np.bincount(cluster, weights=s[:, j], minlength=n_clusters) for j in range(s.shape[1])],
        axis=1,
    )


#: Rademacher draws are multiplied in blocks of at most this many entries.
BOOT_BLOCK = 4_000_000


def influence_sums(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Influence functions summed within clusters (unchanged without clusters)."""
    if cluster is None:
        return inf
    return cluster_sums(inf, cluster, int(cluster.max()) + 1)


def analytic_se(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """``sqrt(Σ_c S_c²)/n`` per column of the unit influence functions (n, K)."""
    n = inf.shape[0]
    S = influence_sums(inf if inf.ndim == 2 else inf[:, None], cluster)
    return np.sqrt(np.sum(S * S, axis=0)) / n


@dataclass(frozen=True)
class BootstrapResult:
    """Multiplier bootstrap of several estimates.

    Attributes
    ----------
    se : ndarray, shape (K,)
        Interquartile-range standard errors (NaN for degenerate columns).
    crit : float
        Simultaneous critical value over the non-degenerate columns.
    """

    se: np.ndarray
    crit: float


def bootstrap_draws(
    inf: np.ndarray, cluster: np.ndarray | None, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Rademacher multiplier draws ``θ* − θ = Σ_c V_c S_c / n``, shape (n_boot, K).

    Vectorised: the (draws × clusters) Rademacher matrix is multiplied with the
    (clusters × K) influence sums, in blocks that bound the memory.
    """
    n = inf.shape[0]
    S = influence_sums(inf if inf.ndim == 2 else inf[:, None], cluster)
    m = S.shape[0]
    draws = np.empty((n_boot, S.shape[1]))
    block = max(1, BOOT_BLOCK // max(m, 1))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        V = (rng.integers(0, 2, size=(b, m), dtype=np.int8) * 2 - 1).astype(np.float64)
        draws[start : start + b] = (V @ S) / n
    return draws


#: (z_.75 − z_.25): the interquartile range of a standard normal.
IQR_NORMAL = float(special.ndtri(0.75) - special.ndtri(0.25))


def bootstrap_se(draws: np.ndarray) -> np.ndarray:
    """Bootstrap SEs ``IQR(θ*) / (z_.75 − z_.25)`` per column (NaN when degenerate)."""
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0)
    se = (q75 - q25) / IQR_NORMAL
    return np.where(np.isfinite(se) & (se > 0), se, np.nan)


def summarise_draws(
    draws: np.ndarray, alpha: float, se: np.ndarray | None = None
) -> BootstrapResult:
    """Bootstrap SEs and the uniform critical value of a block of draws (B, K).

    The uniform critical value is the ``1 − alpha`` quantile of
    ``max_k |θ*_k − θ_k| / SE_k`` over the non-degenerate columns (Callaway &
    Sant'Anna 2021, Algorithm 1).  ``se`` reuses SEs already computed from ``draws``.
    """
    se = bootstrap_se(draws) if se is None else se
    ok = np.isfinite(se)
    if not ok.any():
        return BootstrapResult(se, float("nan"))
    tmax = np.max(np.abs(draws[:, ok] / se[ok]), axis=1)
    return BootstrapResult(se, float(np.quantile(tmax, 1 - alpha)))


def multiplier_bootstrap(
    inf: np.ndarray,
    cluster: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator,
    alpha: float,
) -> BootstrapResult:
    """Multiplier bootstrap of the estimates with unit influence functions ``inf``."""
    return summarise_draws(bootstrap_draws(inf, cluster, n_boot, rng), alpha)
