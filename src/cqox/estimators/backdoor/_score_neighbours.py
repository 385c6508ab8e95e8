"""Nearest neighbours on a one-dimensional score with vectorised NumPy (no compilation).

The same matched sets as the compiled kernels :func:`~cqox.estimators.backdoor.
_matching_kernels.nn_intervals` and :func:`~cqox.estimators.backdoor._matching_kernels.
expand_intervals`, bit for bit, for the case without a caliper — the default of
``psm`` and every within-arm match of the Abadie–Imbens variance.  Importing and
first-calling Numba costs about 0.6 s in a fresh process, more than the matching
itself on 10⁵ rows, so the default path of ``psm`` runs without it.

In one dimension the ``M`` nearest neighbours of a point, with ties at the ``M``-th
distance, form a contiguous run of the sorted reference scores: a binary search
(:func:`numpy.searchsorted`), ``M`` two-pointer steps taken for all queries at once,
then the run is widened to the ties by a second binary search.  The tie test is the
compiled kernel's, ``|x − ref[j]| ≤ d_M + tol`` evaluated in the same floating-point
order; because it is monotone in ``j`` along the sorted scores, the binary search only
gives a start and a few exact steps settle the boundary.  ``O(n log n)`` in all.
"""

from __future__ import annotations

import numpy as np

#: Two distances closer than this (relative to the spread of the score) are a tie.
#: Identical covariate rows give bit-identical scores; this only absorbs rounding in
#: the last few bits, and is far below any meaningful difference in propensity.
TIE_RTOL = 1e-10


#: Above this many queries they are searched in sorted order (see :func:`_search`).
SORTED_SEARCH_MIN = 32_768


def _search(ref: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """``searchsorted(ref, x, side)`` as int64, many queries searched in sorted order.

    Binary searches for queries in random order touch random parts of ``ref``: past
    the size of the CPU caches each search costs several cache misses, and the time
    grows faster than the rows (0.52 s for 10⁶ queries into 10⁶ scores against
    0.015 s for 10⁵).  In sorted order consecutive searches share their path and
    NumPy narrows each from the previous one (0.21 s including the sort); the
    result is the same.
    """
    if x.shape[0] < SORTED_SEARCH_MIN or bool(np.all(x[1:] >= x[:-1])):
        return np.searchsorted(ref, x, side=side).astype(np.int64)  # type: ignore[call-overload]
    order = np.argsort(x, kind="stable")
    out = np.empty(x.shape[0], np.int64)
    out[order] = np.searchsorted(ref, x[order], side=side)  # type: ignore[call-overload]
    return out


def segment_search(
    ref: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, side: str
) -> np.ndarray:
    """``lo + searchsorted(ref[lo:hi], x, side)`` for each query (its own segment)."""
    n_r = ref.shape[0]
    if x.shape[0] == 0:
        return np.zeros(0, np.int64)
    if bool(np.all(lo == 0)) and bool(np.all(hi == n_r)):
        return _search(ref, x, side)
    out = np.empty(x.shape[0], np.int64)
    keys, inverse = np.unique(lo * (n_r + 1) + hi, return_inverse=True)
    for g, key in enumerate(keys):
        rows = np.flatnonzero(inverse == g)
        a, b = divmod(int(key), n_r + 1)
        out[rows] = a + _search(ref[a:b], x[rows], side)
    return out


def nn_intervals(
    q: np.ndarray,
    seg_lo: np.ndarray,
    seg_hi: np.ndarray,
    self_pos: np.ndarray,
    ref: np.ndarray,
    m: int,
    tol: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``[left, right)`` of sorted ``ref`` holding each query's nearest neighbours.

    Parameters and result as the compiled ``nn_intervals`` with ``caliper = inf``:
    ``q`` the query scores, ``[seg_lo, seg_hi)`` the part of ``ref`` each query may
    match into (sorted within), ``self_pos`` the query's own position in ``ref`` or -1
    (the run contains it: skip it), ``m`` matches with all ties at the ``m``-th
    distance (absolute tie tolerance ``tol``).  ``start``, when given, is
    ``searchsorted(ref, q, "left")`` found by the caller (whole ``ref``, no segments).
    """
    n_q, n_r = q.shape[0], ref.shape[0]
    lo = seg_lo.astype(np.int64)
    hi = seg_hi.astype(np.int64)
    s = self_pos.astype(np.int64)
    if n_r == 0 or n_q == 0:
        start = np.minimum(lo, hi)
        return start.copy(), start.copy()
    has_self = s >= 0
    # a query in the reference (within-arm matching) starts beside its own position;
    # only the others need a binary search
    if bool(has_self.all()):
        lft, rgt = s - 1, s + 1
    else:
        pos = segment_search(ref, lo, hi, q, "left") if start is None else start
        lft = np.where(has_self, s - 1, pos - 1)
        rgt = np.where(has_self, s + 1, pos)
    count = np.zeros(n_q, np.int64)
    d_m = np.zeros(n_q)
    top = n_r - 1
    for _ in range(m):
        can_l = lft >= lo
        can_r = rgt < hi
        active = can_l | can_r
        if not active.any():
            break
        dl = q - ref[np.clip(lft, 0, top)]
        dr = ref[np.clip(rgt, 0, top)] - q
        take_l = active & (~can_r | (can_l & (dl <= dr)))
        take_r = active & ~take_l
        d_m = np.where(take_l, dl, np.where(take_r, dr, d_m))
        lft = lft - take_l
        rgt = rgt + take_r
        count += active
    # Widen to the ties at the m-th distance.  Only queries whose next candidate on a
    # side is itself within ``d_m + tol`` move on that side (with a continuous score,
    # hardly any): the others are settled by that one test, without a binary search.
    c = d_m + tol
    ref_l = ref[np.clip(lft, 0, top)]
    ref_r = ref[np.clip(rgt, 0, top)]
    rows = np.flatnonzero((count > 0) & (lft >= lo) & (q - ref_l <= c))
    if rows.size:
        lft[rows] = _widen_left(ref, q[rows], c[rows], lo[rows], hi[rows], lft[rows])
    rows = np.flatnonzero((count > 0) & (rgt < hi) & (ref_r - q <= c))
    if rows.size:
        rgt[rows] = _widen_right(ref, q[rows], c[rows], lo[rows], hi[rows], rgt[rows])
    a = lft + 1
    b = rgt.copy()
    only_self = has_self & (b - a == 1)
    a[only_self] = s[only_self]
    b[only_self] = s[only_self]
    return a, b


def _widen_left(
    ref: np.ndarray, x: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Where ``while j ≥ lo and x − ref[j] ≤ c: j −= 1`` stops, started at ``start``.

    ``x − ref[j] ≤ c`` holds from some ``J`` upwards (``ref`` is sorted), so the loop
    ends at ``J − 1`` when the test holds at ``start`` and at ``start`` otherwise.
    """
    top = ref.shape[0] - 1

    def holds(j: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return x[rows] - ref[np.clip(j, 0, top)] <= c[rows]

    j = segment_search(ref, lo, hi, x - c, "left")
    j = np.minimum(np.maximum(j, lo), np.maximum(start + 1, lo))
    # settle the boundary with the exact test (the search used x − c, not x − ref ≤ c)
    rows = np.flatnonzero(j > lo)
    while rows.size:
        step = holds(j[rows] - 1, rows)
        rows = rows[step]
        j[rows] -= 1
        rows = rows[j[rows] > lo[rows]]
    rows = np.flatnonzero(j <= start)
    while rows.size:
        fails = ~holds(j[rows], rows)
        rows = rows[fails]
        j[rows] += 1
        rows = rows[j[rows] <= start[rows]]
    return j - 1


def _widen_right(
    ref: np.ndarray, x: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Where ``while j < hi and ref[j] − x ≤ c: j += 1`` stops, started at ``start``."""
    top = ref.shape[0] - 1

    def holds(j: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return ref[np.clip(j, 0, top)] - x[rows] <= c[rows]

    k = segment_search(ref, lo, hi, x + c, "right")
    k = np.minimum(np.maximum(k, start), np.maximum(hi, start))
    rows = np.flatnonzero(k > start)
    while rows.size:
        fails = ~holds(k[rows] - 1, rows)
        rows = rows[fails]
        k[rows] -= 1
        rows = rows[k[rows] > start[rows]]
    rows = np.flatnonzero(k < hi)
    while rows.size:
        step = holds(k[rows], rows)
        rows = rows[step]
        k[rows] += 1
        rows = rows[k[rows] < hi[rows]]
    return k


def expand_intervals(
    left: np.ndarray, right: np.ndarray, self_pos: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compressed-row matched sets ``(ptr, idx)`` from runs, mapped back through ``order``."""
    n_q = left.shape[0]
    width = np.maximum(right - left, 0)
    owner = np.repeat(np.arange(n_q), width)
    starts = np.zeros(n_q + 1, np.int64)
    np.cumsum(width, out=starts[1:])
    j = left[owner] + (np.arange(starts[-1]) - starts[owner])
    keep = j != self_pos[owner]
    counts = np.bincount(owner[keep], minlength=n_q).astype(np.int64)
    ptr = np.zeros(n_q + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order[j[keep]].astype(np.int64)
