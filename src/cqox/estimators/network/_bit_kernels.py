"""Numba kernels of the bit-packed Monte Carlo: 64 assignments per machine word.

Layout: an array of shape ``(n, W)`` and dtype ``uint64`` holds, for each unit, ``64·W``
draws of a 0/1 quantity; draw ``r`` is bit ``r & 63`` of word ``r >> 6`` (the layout
``numpy.packbits(..., bitorder="little")`` gives on a little-endian machine).  With
treatment bits ``Z`` and exposure bits ``E`` the four exposure conditions are
``~Z & ~E``, ``~Z & E``, ``Z & ~E`` and ``Z & E``, so one pass over the edges serves 64
draws and memory is ``O(n · W)`` per block of draws.

Exposure "at least ``k_i`` treated neighbours" (unweighted graphs; a share threshold is
a per-unit count, :func:`cqox.estimators.network.exposure.neighbours_needed`) is a
bit-sliced counter: each neighbour's word is added to ``L = bit_length(d_i)`` slices
with carries (a ripple adder on 64 lanes at once) and ``count ≥ k_i`` is read off the
slices from the most significant one.  For ``k_i = 1`` it is the OR of the neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def popcount64(x: np.uint64) -> int:  # pragma: no cover - compiled
    """Set bits of a word (SWAR: pairs, nibbles, bytes, then a multiply)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def exposure_bits(
    indptr: np.ndarray, indices: np.ndarray, need: np.ndarray, z: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Bits of ``Σ_{j ∈ N(i)} z_j ≥ need_i`` for every unit ``i`` and draw; shape of ``z``.

    ``indptr``/``indices``: the CSR structure of the exposure matrix (row ``i`` lists the
    units whose treatment reaches ``i``); ``need_i > degree_i`` means never exposed.
    """
    n, w_count = z.shape
    out = np.zeros((n, w_count), dtype=np.uint64)
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        d = stop - start
        k = need[i]
        if d == 0 or k > d or k < 1:
            continue
        if k == 1:
            for p in range(start, stop):
                j = indices[p]
                for w in range(w_count):
                    out[i, w] |= z[j, w]
            continue
        n_slices = 0
        while (d >> n_slices) > 0:
            n_slices += 1
        c = np.zeros((n_slices, w_count), dtype=np.uint64)
        for p in range(start, stop):
            j = indices[p]
            for w in range(w_count):
                carry = z[j, w]
                s = 0
                while carry != 0 and s < n_slices:
                    t = c[s, w] & carry
                    c[s, w] ^= carry
                    carry = t
                    s += 1
        for w in range(w_count):
            gt = np.uint64(0)
            eq = _ONES
            for s in range(n_slices - 1, -1, -1):
                if (k >> s) & 1:
                    eq &= c[s, w]
                else:
                    gt |= eq & c[s, w]
                    eq &= ~c[s, w]
            out[i, w] = gt | eq
    return out


@njit(cache=True, nogil=True)
def _flips(cond: int) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - compiled
    """XOR masks that turn ``(Z, E)`` into the two factors of condition ``cond``."""
    zf = np.uint64(0) if cond >= 2 else _ONES
    ef = np.uint64(0) if (cond & 1) == 1 else _ONES
    return zf, ef


@njit(cache=True, nogil=True)
def _condition(zw: np.uint64, ew: np.uint64, cond: int) -> np.uint64:  # pragma: no cover
    zf, ef = _flips(cond)
    return (zw ^ zf) & (ew ^ ef)


@njit(cache=True, nogil=True)
def condition_counts(
    z: np.ndarray, e: np.ndarray, last_mask: np.uint64
) -> np.ndarray:  # pragma: no cover - compiled
    """Draws in each of the four conditions per unit, shape ``(n, 4)`` (int64).

    ``last_mask`` keeps the valid draws of the last word (the others are padding).
    """
    n, w_count = z.shape
    out = np.zeros((n, 4), dtype=np.int64)
    for i in range(n):
        for w in range(w_count):
            m = last_mask if w == w_count - 1 else _ONES
            for cond in range(4):
                out[i, cond] += popcount64(_condition(z[i, w], e[i, w], cond) & m)
    return out


@njit(cache=True, nogil=True)
def joint_counts(
    z: np.ndarray,
    e: np.ndarray,
    last_mask: np.uint64,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    cond_i: np.ndarray,
    cond_j: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """Draws with ``C_i = cond_i[i]`` and ``C_j = cond_j[p]`` for every pair ``p`` (int64)."""
    n, w_count = z.shape
    # the four condition words of every unit, once per block: a pair then reads two rows
    words = np.empty((4, n, w_count), dtype=np.uint64)
    for c in range(4):
        zf, ef = _flips(c)
        for i in range(n):
            for w in range(w_count):
                words[c, i, w] = (z[i, w] ^ zf) & (e[i, w] ^ ef)
            words[c, i, w_count - 1] &= last_mask
    out = np.zeros(pair_i.size, dtype=np.int64)
    for p in range(pair_i.size):
        a = words[cond_i[pair_i[p]], pair_i[p]]
        b = words[cond_j[p], pair_j[p]]
        s = 0
        for w in range(w_count):
            s += popcount64(a[w] & b[w])
        out[p] = s
    return out


@njit(cache=True, nogil=True)
def _splitmix64(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """Next state and output of SplitMix64 (Steele, Lea & Flood 2014)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    x = state
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True)
def complete_bits(n: int, m: int, size: int, seed: int) -> np.ndarray:  # pragma: no cover
    """``size`` complete randomisations (exactly ``m`` of ``n`` treated) as bits.

    A partial Fisher–Yates shuffle per draw picks the smaller of the treated and the
    control groups (``min(m, n − m)`` swaps); the shuffle continues from the previous
    draw's order, which leaves each draw's subset uniform.  Random indices come from
    SplitMix64 (53-bit uniforms scaled to the range: bias below ``n / 2⁵³``), and the
    bits are set in a word-major array (64 draws write one contiguous row of ``n``
    words) that is transposed at the end.
    """
    w_count = (size + 63) // 64
    out = np.zeros((w_count, n), dtype=np.uint64)
    flip = m > n // 2
    k = n - m if flip else m
    perm = np.arange(n)
    state = np.uint64(seed)
    scale = 1.0 / 9007199254740992.0  # 2⁻⁵³
    for r in range(size):
        for t in range(k):
            state, x = _splitmix64(state)
            u = t + np.int64(np.float64(x >> np.uint64(11)) * scale * (n - t))
            perm[t], perm[u] = perm[u], perm[t]
        bit = np.uint64(1) << np.uint64(r & 63)
        row = out[r >> 6]
        for t in range(k):
            row[perm[t]] |= bit
    if flip:
        for w in range(w_count):
            for i in range(n):
                out[w, i] = ~out[w, i]
    return np.ascontiguousarray(out.T)
