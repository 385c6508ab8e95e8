"""Exposure probabilities: exact under Bernoulli and complete randomisation, else Monte Carlo.

Exact (unweighted graphs).  A unit with ``d`` neighbours is exposed when at least ``k``
of them are treated (``k`` from :func:`~cqox.estimators.network.exposure.neighbours_needed`).
Under Bernoulli(``p``) assignment own treatment and neighbour count are independent:
``P(C = 2a + 1) = p^a (1-p)^(1-a) · P(Bin(d, p) ≥ k)``.  Under complete randomisation
of ``m`` of ``N`` units, given the own arm the neighbours are a draw without replacement
from the other ``N − 1`` units: ``P(exposed | treated) = P(HG(N−1, m−1, d) ≥ k)`` and
``P(exposed | control) = P(HG(N−1, m, d) ≥ k)``.

Monte Carlo.  ``R`` assignments from the design (or a user's function) are drawn in
blocks and held as bits, 64 draws per machine word (:mod:`._bit_kernels`): Bernoulli
draws from random words, complete and cluster randomisation by a Numba partial
Fisher–Yates shuffle, a user's function packed.  Exposure is a bit-sliced count of
treated neighbours over the CSR structure (unweighted graphs; weighted ones use
``A @ Z``), and the marginal and pair-joint probabilities are popcounts of
ANDed condition words.  Memory is ``O(n · block / 8)`` bytes plus ``O(pairs + edges)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy import stats

from cqox.estimators.network._bit_kernels import (
    complete_bits,
    condition_counts,
    exposure_bits,
    joint_counts,
)
from cqox.estimators.network.exposure import (
    ExposureMapping,
    exposed,
    neighbours_needed,
)

#: A design: ``draw(rng, size)`` → 0/1 assignments of shape ``(n, size)``.
Draw = Callable[[np.random.Generator, int], np.ndarray]


def exact_bernoulli(degree: np.ndarray, p: float, mapping: ExposureMapping) -> np.ndarray:
    """Exact ``P(C_i = c)``, shape ``(n, 4)``, under independent Bernoulli(``p``) assignment."""
    d = np.asarray(degree, dtype=np.int64)
    k = neighbours_needed(d, mapping)
    p_exp = stats.binom.sf(k - 1, d, p)
    return _combine(np.full(d.shape, p), p_exp, p_exp)


def exact_complete(degree: np.ndarray, m: int, mapping: ExposureMapping) -> np.ndarray:
    """Exact ``P(C_i = c)``, shape ``(n, 4)``, when exactly ``m`` of the ``n`` units are treated."""
    d = np.asarray(degree, dtype=np.int64)
    n = d.size
    k = neighbours_needed(d, mapping)
    # scipy evaluates hypergeom.sf element by element: evaluate each distinct (d, k) once
    pairs, inverse = np.unique(np.stack([d, k]), axis=1, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    ud, uk = pairs
    p_exp_t = stats.hypergeom.sf(uk - 1, n - 1, max(m - 1, 0), ud)[inverse]
    p_exp_c = stats.hypergeom.sf(uk - 1, n - 1, m, ud)[inverse]
    return _combine(np.full(d.shape, m / n), p_exp_c, p_exp_t)


def _combine(p_own: np.ndarray, p_exp_c: np.ndarray, p_exp_t: np.ndarray) -> np.ndarray:
    out = np.empty((p_own.size, 4))
    out[:, 0] = (1 - p_own) * (1 - p_exp_c)
    out[:, 1] = (1 - p_own) * p_exp_c
    out[:, 2] = p_own * (1 - p_exp_t)
    out[:, 3] = p_own * p_exp_t
    return np.clip(out, 0.0, 1.0)


class BernoulliDraw:
    """Independent Bernoulli(``p``) assignment of ``n`` units (a :data:`Draw` with bits).

    Bits: with ``p`` rounded to ``P / 2³²``, the binary digits ``b_k`` of ``P`` from the
    least significant up turn uniform random words ``U_k`` into
    ``W ← (U_k | W)`` (``b_k = 1``) or ``W ← (U_k & W)`` (``b_k = 0``), after which each
    bit is 1 with probability exactly ``P / 2³²`` (one word per digit; ``p = 0.5`` takes
    one random word per 64 draws).
    """

    def __init__(self, n: int, p: float) -> None:
        self.n = n
        self.p = p

    def bits(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, ⌈size/64⌉)`` words of assignment bits."""
        shape = (self.n, words(size))
        level = round(self.p * 2**32)
        out = np.zeros(shape, dtype=np.uint64)
        if level >= 2**32:
            return ~out
        if level == 0:
            return out
        low = (level & -level).bit_length() - 1  # below the lowest 1 digit W stays 0
        for k in range(low, 32):
            u = rng.integers(0, 2**64 - 1, size=shape, dtype=np.uint64, endpoint=True)
            out = (u | out) if (level >> k) & 1 else (u & out)
        return out

    def __call__(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, size)`` 0/1 assignments (float32)."""
        return unpack(self.bits(rng, size), size)


class CompleteDraw:
    """Complete randomisation: exactly ``m`` of ``n`` units treated (a :data:`Draw` with bits)."""

    def __init__(self, n: int, m: int) -> None:
        self.n = n
        self.m = m

    def bits(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, ⌈size/64⌉)`` words of assignment bits (Numba partial Fisher–Yates)."""
        seed = int(rng.integers(0, 2**31 - 1))
        return np.asarray(complete_bits(self.n, self.m, size, seed))

    def __call__(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, size)`` 0/1 assignments (float32)."""
        return unpack(self.bits(rng, size), size)


class ClusterDraw:
    """Cluster randomisation: ``m_clusters`` clusters treated, all their units with them."""

    def __init__(self, cluster_codes: np.ndarray, m_clusters: int) -> None:
        self.codes = np.asarray(cluster_codes, dtype=np.int64)
        self.inner = CompleteDraw(int(self.codes.max()) + 1, m_clusters)

    def bits(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, ⌈size/64⌉)`` words of assignment bits."""
        return self.inner.bits(rng, size)[self.codes]

    def __call__(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(n, size)`` 0/1 assignments (float32)."""
        return unpack(self.bits(rng, size), size)


def bernoulli_draw(n: int, p: float) -> Draw:
    """Independent Bernoulli(``p``) assignment of ``n`` units."""
    return BernoulliDraw(n, p)


def complete_draw(n: int, m: int) -> Draw:
    """Complete randomisation: exactly ``m`` of ``n`` units treated."""
    return CompleteDraw(n, m)


def cluster_draw(cluster_codes: np.ndarray, m_clusters: int) -> Draw:
    """Cluster randomisation: ``m_clusters`` of the clusters treated, all their units with them."""
    return ClusterDraw(cluster_codes, m_clusters)


def words(size: int) -> int:
    """64-bit words that hold ``size`` draws."""
    return (size + 63) // 64


def pack(z: np.ndarray) -> np.ndarray:
    """``(n, size)`` 0/1 → ``(n, ⌈size/64⌉)`` uint64 words, draw ``r`` at bit ``r & 63``."""
    n, size = z.shape
    b = np.packbits(np.asarray(z) > 0, axis=1, bitorder="little")
    out = np.zeros((n, 8 * words(size)), dtype=np.uint8)
    out[:, : b.shape[1]] = b
    return out.view("<u8").astype(np.uint64, copy=False)


def unpack(bits: np.ndarray, size: int) -> np.ndarray:
    """The inverse of :func:`pack`: ``(n, size)`` 0/1 as float32."""
    raw = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8)
    return np.unpackbits(raw, axis=1, count=size, bitorder="little").astype(np.float32)


def draw_bits(draw: Draw, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Assignment bits of ``size`` draws: the design's own bits, else a checked dense draw."""
    own = getattr(draw, "bits", None)
    if own is not None:
        return np.asarray(own(rng, size))
    z = draw(rng, size)
    _check_draw(z, n, size)
    return pack(z)


def _last_mask(size: int) -> np.uint64:
    rest = size % 64
    return np.uint64(0xFFFFFFFFFFFFFFFF) if rest == 0 else np.uint64((1 << rest) - 1)


def exposure_words(a: sp.csr_array, mapping: ExposureMapping, z_bits: np.ndarray) -> np.ndarray:
    """Exposure bits of every unit for the draws in ``z_bits`` (same shape).

    Unweighted graphs: the bit-sliced counter of :mod:`._bit_kernels` (64 draws per
    operation).  Weighted graphs: the treated-neighbour weights ``A @ Z`` of the unpacked
    draws (float64, 256 draws at a time), thresholded and packed again.
    """
    if a.nnz == 0 or np.all(a.data == 1.0):
        degree = np.diff(a.indptr)
        need = neighbours_needed(degree, mapping)
        return np.asarray(
            exposure_bits(a.indptr.astype(np.int64), a.indices.astype(np.int64), need, z_bits)
        )
    # float64 as the observed conditions (float32 sums can miss a share of exactly 1),
    # 4 words (256 draws) at a time to bound the dense block
    out = np.empty_like(z_bits)
    for w in range(0, z_bits.shape[1], 4):
        part = z_bits[:, w : w + 4]
        dense = unpack(part, 64 * part.shape[1]).astype(np.float64)
        out[:, w : w + 4] = pack(exposed(a, dense, mapping))
    return out


def chunks(total: int, chunk: int) -> list[int]:
    """Sizes of the chunks that make ``total`` draws."""
    sizes = [chunk] * (total // chunk)
    if total % chunk:
        sizes.append(total % chunk)
    return sizes


#: Draws per block of the bit-packed Monte Carlo (32 words: 512 bytes per unit and array).
BLOCK = 2048


def monte_carlo_marginals(
    a: sp.csr_array,
    mapping: ExposureMapping,
    draw: Draw,
    n_draws: int,
    rng: np.random.Generator,
    chunk: int = BLOCK,
) -> np.ndarray:
    """Monte Carlo ``P(C_i = c)``, shape ``(n, 4)``, from ``n_draws`` assignments.

    Draws are bit-packed (:func:`draw_bits`, :func:`exposure_words`) in blocks of
    ``chunk``: memory is ``O(n · chunk / 8 + edges)`` bytes.
    """
    n = a.shape[0]
    counts = np.zeros((n, 4), dtype=np.int64)
    for size in chunks(n_draws, chunk):
        z = draw_bits(draw, rng, n, size)
        e = exposure_words(a, mapping, z)
        counts += condition_counts(z, e, _last_mask(size))
    return counts / n_draws


def monte_carlo_joint(
    a: sp.csr_array,
    mapping: ExposureMapping,
    draw: Draw,
    n_draws: int,
    rng: np.random.Generator,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    cond_i: np.ndarray,
    cond_j: np.ndarray,
    chunk: int = BLOCK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo ``P(C_i = cond_i[i], C_j = cond_j[p])`` for the listed pairs.

    ``cond_i`` gives, per unit, the condition of interest for the first member (its
    observed condition); ``cond_j`` gives one condition per pair for the second.
    Returns the joint probabilities per pair, the marginal ``P(C_i = cond_i[i])`` per
    unit and the marginals ``(n, 4)`` from the same draws.  Each pair costs one AND and
    one popcount per 64 draws.
    """
    n = a.shape[0]
    pi_ = np.asarray(pair_i, dtype=np.int64)
    pj_ = np.asarray(pair_j, dtype=np.int64)
    ci_ = np.asarray(cond_i, dtype=np.int64)
    cj_ = np.asarray(cond_j, dtype=np.int64)
    joint = np.zeros(pi_.size, dtype=np.int64)
    counts = np.zeros((n, 4), dtype=np.int64)
    for size in chunks(n_draws, chunk):
        z = draw_bits(draw, rng, n, size)
        e = exposure_words(a, mapping, z)
        mask = _last_mask(size)
        counts += condition_counts(z, e, mask)
        if pi_.size:
            joint += joint_counts(z, e, mask, pi_, pj_, ci_, cj_)
    marg = counts / n_draws
    return joint / n_draws, marg[np.arange(n), ci_], marg


def _check_draw(z: np.ndarray, n: int, size: int) -> None:
    from cqox.errors import ParameterError

    if z.shape != (n, size) or not ((z == 0) | (z == 1)).all():
        raise ParameterError(
            f"the 'assign' function must return 0/1 assignments of shape ({n}, {size}) "
            f"for (rng, {size}); got shape {getattr(z, 'shape', None)}",
            details={"parameter": "assign"},
        )
