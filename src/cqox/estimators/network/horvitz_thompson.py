"""Horvitz–Thompson and Hájek contrasts of exposure conditions with the Aronow–Samii variance.

For a contrast of conditions ``a`` and ``b`` over the ``N`` units that can be in both
(``π_i(a) > 0`` and ``π_i(b) > 0``), with observed conditions ``o_i`` and signs
``s_i = +1`` (``o_i = a``), ``−1`` (``o_i = b``):

* Horvitz–Thompson: ``τ̂ = N⁻¹ Σ_i s_i y_i / π_i(o_i)``;
* Hájek: ``τ̂ = μ̂(a) − μ̂(b)`` with ``μ̂(c) = Σ_{o_i=c} y_i/π_i(c) / Σ_{o_i=c} 1/π_i(c)``.

Variance (Aronow & Samii 2017, eqs. 8–11 and Prop. 6.1 — the conservative estimator
with Young's-inequality terms for pairs that cannot be observed together): with
``w_i = e_i / π_i(o_i)`` (``e_i = y_i`` for HT, the Hájek residual ``y_i − μ̂(o_i)``
for Hájek, the usual linearisation),

``N² V̂ = Σ_i (1 − π_i) w_i² + Σ_{i≠j, π_ij>0} s_i s_j (π_ij − π_i π_j)/π_ij · w_i w_j
         + Σ_i π_i w_i² · (#{j ≠ i: π_ij(o_i, o_i) = 0} + #{j: π_ij(o_i, ō_i) = 0})``

where ``π_ij = P(C_i = o_i, C_j = o_j)`` and ``ō_i`` is the other condition of the
contrast (the count includes ``j = i``, which can never be in both).

Approximation (documented): joint probabilities are counted from Monte Carlo draws of
the design, and only for pairs whose closed in-neighbourhoods share a unit (or, under
cluster randomisation, a cluster).  Other pairs are independent under Bernoulli and
cluster designs, and nearly so under complete randomisation, so their terms are
treated as zero.  A joint probability not seen in the draws is taken as zero (the
conservative Young term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class ContrastResult:
    """Point estimate, its variance and the population it refers to."""

    estimate: float
    variance: float
    n_population: int
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float


def dependent_pairs(
    a: sp.csr_array, groups: sp.csr_array | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs ``i ≠ j`` whose exposures depend on a common unit (or cluster).

    ``M = 1{A > 0} + I`` lists each unit's closed in-neighbourhood; with the unit →
    cluster incidence ``G`` (identity for unit-level designs) the pairs are the
    off-diagonal non-zeros of ``(M G)(M G)ᵀ``.
    """
    n = a.shape[0]
    m = (sp.csr_array(a, dtype=np.float64) != 0).astype(np.float64) + sp.eye_array(n, format="csr")
    if groups is not None:
        m = m @ groups
    s = sp.coo_array(m @ m.T)
    keep = s.row != s.col
    return s.row[keep].astype(np.int64), s.col[keep].astype(np.int64)


def point_estimates(
    y: np.ndarray, obs: np.ndarray, pi_obs: np.ndarray, pop: np.ndarray, a: int, b: int
) -> tuple[float, float, float, float, float, float]:
    """HT means of ``a`` and ``b``, Hájek means of ``a`` and ``b``, and ``N``-scaled sums."""
    n_pop = float(pop.sum())
    in_a = pop & (obs == a)
    in_b = pop & (obs == b)
    ht_a = float(np.sum(y[in_a] / pi_obs[in_a])) / n_pop
    ht_b = float(np.sum(y[in_b] / pi_obs[in_b])) / n_pop
    wa = float(np.sum(1 / pi_obs[in_a]))
    wb = float(np.sum(1 / pi_obs[in_b]))
    hj_a = ht_a * n_pop / wa if wa > 0 else float("nan")
    hj_b = ht_b * n_pop / wb if wb > 0 else float("nan")
    return ht_a, ht_b, hj_a, hj_b, wa, wb


def aronow_samii_variance(
    e: np.ndarray,
    obs: np.ndarray,
    sign: np.ndarray,
    pi_obs: np.ndarray,
    pi_mc_obs: np.ndarray,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    pair_same: np.ndarray,
    joint: np.ndarray,
    n_pop: int,
) -> float:
    """The conservative variance of the module docstring, for a contrast of two conditions.

    ``e`` are the values (``y`` or residuals) of the observed units (``sign ≠ 0``);
    pairs are ordered ``(i, j)`` with ``i`` observed; ``pair_same`` says whether the
    joint probability is for ``C_j = o_i`` (else for the other condition) and ``joint``
    holds ``P(C_i = o_i, C_j = that condition)`` from the draws.
    """
    inn = sign != 0
    w = np.zeros_like(e, dtype=np.float64)
    w[inn] = e[inn] / pi_obs[inn]
    total = float(np.sum(((1 - pi_obs) * w * w)[inn]))
    zero = joint <= 0
    zeros = np.bincount(pair_i[zero], minlength=e.size).astype(np.float64)
    zeros[inn] += 1.0  # j = i can never be in the other condition
    total += float(np.sum((pi_obs * w * w * zeros)[inn]))
    # product terms: j observed in the condition the joint probability is for
    j_cond_matches = np.where(
        pair_same, obs[pair_j] == obs[pair_i], (obs[pair_j] != obs[pair_i]) & (sign[pair_j] != 0)
    )
    use = (~zero) & j_cond_matches & (sign[pair_j] != 0)
    i, j = pair_i[use], pair_j[use]
    pij = joint[use]
    cov = (pij - pi_mc_obs[i] * pi_mc_obs[j]) / pij
    total += float(np.sum(sign[i] * sign[j] * cov * w[i] * w[j]))
    return max(total, 0.0) / float(n_pop) ** 2
