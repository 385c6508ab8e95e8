"""Compiled nearest-neighbour kernels for matching, all O(n log n).

In one dimension (a propensity score) the ``M`` nearest neighbours of a point, with
ties at the ``M``-th distance, form a contiguous run of the sorted reference scores.
:func:`nn_intervals` finds that run for every query by a binary search followed by a
two-pointer expansion: ``O(log n + M + ties)`` per query, never a scan of all units.
:func:`greedy_without_replacement` does greedy matching without replacement with
"next available" pointers kept in two union–find forests (path halving), so removal
and search stay near-constant amortised time.

For a multivariate (Mahalanobis) distance :func:`kd_neighbours` works on whitened
covariates: in low dimension (``p ≤ KD_MAX_DIM``) it queries a
:class:`scipy.spatial.cKDTree` (``O(n log n)``), adding ties by a ball query for the
few rows that have them.  In higher dimension a KD-tree degrades to a slow brute-force
search (no exact nearest-neighbour method is sub-quadratic there), so a blocked
brute-force search by matrix products is used instead: ``O(n_q·n_r·p)`` time but
``O(block·n_r)`` memory and BLAS speed.

Matched sets are returned in compressed-row form: ``ptr`` (shape ``(q + 1,)``) and
``idx`` (reference positions), the matches of query ``i`` being
``idx[ptr[i]:ptr[i + 1]]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from cqox.estimators.backdoor._score_neighbours import TIE_RTOL

#: Largest dimension for which the KD-tree is used for Mahalanobis matching.
KD_MAX_DIM = 12
#: Query rows per block of the brute-force search (bounds memory to block × n_r).
BRUTE_BLOCK = 512
#: Relative tolerance of squared distances from ``|q|² + |r|² − 2q·r`` (cancellation).
BRUTE_TIE_RTOL = 1e-9


@njit(cache=True, nogil=True)
def _bisect_left(a: np.ndarray, x: float, lo: int, hi: int) -> int:
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def nn_intervals(
    q: np.ndarray,
    seg_lo: np.ndarray,
    seg_hi: np.ndarray,
    self_pos: np.ndarray,
    ref: np.ndarray,
    m: int,
    tol: float,
    caliper: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``[left, right)`` of sorted ``ref`` holding each query's nearest neighbours.

    Parameters
    ----------
    q : ndarray, shape (n_q,)
        Query scores.
    seg_lo, seg_hi : ndarray of int, shape (n_q,)
        The part of ``ref`` each query may match into (an exact-matching cell).
    self_pos : ndarray of int, shape (n_q,)
        Position of the query itself in ``ref`` (excluded from its matches), or -1.
    ref : ndarray, shape (n_r,)
        Reference scores, sorted within each segment.
    m : int
        Matches requested; ties at the ``m``-th distance are all included.
    tol : float
        Absolute tie tolerance on distances.
    caliper : float
        Matches farther than this are dropped (``inf`` for none).

    Returns
    -------
    left, right : ndarray of int, shape (n_q,)
        The run (it contains ``self_pos`` when that is given: skip it).
    """
    n_q = q.shape[0]
    left = np.empty(n_q, np.int64)
    right = np.empty(n_q, np.int64)
    for i in range(n_q):
        lo = seg_lo[i]
        hi = seg_hi[i]
        s = self_pos[i]
        x = q[i]
        if s >= 0:
            lft = s - 1
            rgt = s + 1
        else:
            pos = _bisect_left(ref, x, lo, hi)
            lft = pos - 1
            rgt = pos
        count = 0
        d_m = 0.0
        while count < m and (lft >= lo or rgt < hi):
            if rgt >= hi or (lft >= lo and x - ref[lft] <= ref[rgt] - x):
                d_m = x - ref[lft]
                lft -= 1
            else:
                d_m = ref[rgt] - x
                rgt += 1
            count += 1
        if count > 0:
            while lft >= lo and x - ref[lft] <= d_m + tol:
                lft -= 1
            while rgt < hi and ref[rgt] - x <= d_m + tol:
                rgt += 1
        a = lft + 1
        b = rgt
        # drop matches beyond the caliper: they sit at the two ends of the run
        while a < b and a != s and abs(x - ref[a]) > caliper:
            a += 1
        while b > a and b - 1 != s and abs(ref[b - 1] - x) > caliper:
            b -= 1
        if s >= 0 and b - a == 1:
            a = s
            b = s
        left[i] = a
        right[i] = b
    return left, right


@njit(cache=True, nogil=True)
def expand_intervals(
    left: np.ndarray, right: np.ndarray, self_pos: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compressed-row matched sets from runs, mapped back through ``order``."""
    n_q = left.shape[0]
    ptr = np.zeros(n_q + 1, np.int64)
    for i in range(n_q):
        k = right[i] - left[i]
        if self_pos[i] >= left[i] and self_pos[i] < right[i]:
            k -= 1
        ptr[i + 1] = ptr[i] + max(k, 0)
    idx = np.empty(ptr[n_q], np.int64)
    for i in range(n_q):
        p = ptr[i]
        for j in range(left[i], right[i]):
            if j != self_pos[i]:
                idx[p] = order[j]
                p += 1
    return ptr, idx


@njit(cache=True, nogil=True)
def _find(parent: np.ndarray, j: int) -> int:
    while parent[j] != j:
        parent[j] = parent[parent[j]]
        j = parent[j]
    return j


@njit(cache=True, nogil=True)
def greedy_without_replacement(
    q: np.ndarray,
    seg_lo: np.ndarray,
    seg_hi: np.ndarray,
    ref: np.ndarray,
    m: int,
    caliper: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k:1 matching without replacement, queries served in the given order.

    Each query takes, one at a time, the nearest still-available reference unit in its
    segment (within the caliper), up to ``m``.  Available neighbours are found with
    two union–find forests: ``up[j]`` leads to the first available position ``≥ j``
    and ``down[j + 1]`` to one past the last available position ``≤ j``.

    Returns compressed-row matched sets as sorted-``ref`` positions (``ptr``, ``pos``).
    """
    n_q = q.shape[0]
    n_r = ref.shape[0]
    up = np.arange(n_r + 1)  # n_r is the sentinel "none to the right"
    down = np.arange(n_r + 1)  # position j + 1 stands for j; 0 is "none to the left"
    ptr = np.zeros(n_q + 1, np.int64)
    pos = np.empty(n_q * m, np.int64)
    p = 0
    for i in range(n_q):
        lo = seg_lo[i]
        hi = seg_hi[i]
        x = q[i]
        start = _bisect_left(ref, x, lo, hi)
        for _ in range(m):
            r = _find(up, start)
            lp1 = _find(down, start)  # one past the last available position < start
            lft = lp1 - 1
            has_r = r < hi
            has_l = lft >= lo
            if not has_r and not has_l:
                break
            j = r if has_r and (not has_l or ref[r] - x < x - ref[lft]) else lft
            if abs(ref[j] - x) > caliper:
                break
            pos[p] = j
            p += 1
            up[j] = j + 1
            down[j + 1] = j
        ptr[i + 1] = p
    return ptr, pos[:p]


def kd_neighbours(
    Zq: np.ndarray,
    Zr: np.ndarray,
    m: int,
    caliper: float,
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` nearest rows of ``Zr`` (Euclidean) for each row of ``Zq``, with ties.

    ``Zq``/``Zr`` are already whitened, so Euclidean distance is Mahalanobis distance.
    With ``exclude_self`` the query rows are the reference rows and each row's own
    position is skipped.  Returns compressed-row ``(ptr, idx)``.
    """
    if Zq.shape[1] > KD_MAX_DIM:
        return brute_neighbours(Zq, Zr, m, caliper, exclude_self)
    n_q, n_r = Zq.shape[0], Zr.shape[0]
    k = min(m + 1 + int(exclude_self), n_r)
    if n_q == 0 or n_r - int(exclude_self) <= 0:
        return np.zeros(n_q + 1, np.int64), np.empty(0, np.int64)
    tree = cKDTree(Zr)
    dist, nbr = tree.query(Zq, k=k)
    dist = dist.reshape(n_q, k)
    nbr = nbr.reshape(n_q, k)
    if exclude_self:
        own = nbr == np.arange(n_q)[:, None]
        # push the row itself to the end so the first columns are the others
        order = np.argsort(own, axis=1, kind="stable")
        dist = np.take_along_axis(dist, order, axis=1)[:, : k - 1]
        nbr = np.take_along_axis(nbr, order, axis=1)[:, : k - 1]
        k -= 1
    m_eff = min(m, k)
    scale = float(np.max(np.abs(dist[:, m_eff - 1]))) if n_q else 0.0
    tol = TIE_RTOL * max(scale, 1.0)
    d_m = dist[:, m_eff - 1]
    tied = (k > m_eff) & (dist[:, k - 1] <= d_m + tol) if k > m_eff else np.zeros(n_q, bool)
    tied_rows = np.flatnonzero(tied)
    extra: dict[int, np.ndarray] = {}
    if tied_rows.size:
        balls = tree.query_ball_point(Zq[tied_rows], r=d_m[tied_rows] + tol)
        for r_i, members in zip(tied_rows, balls, strict=True):
            arr = np.asarray(members, dtype=np.int64)
            if exclude_self:
                arr = arr[arr != r_i]
            extra[int(r_i)] = arr
    within = dist[:, :m_eff] <= caliper
    if not extra:
        counts = within.sum(axis=1).astype(np.int64)
        idx = nbr[:, :m_eff][within]
    else:
        lists: list[np.ndarray] = []
        counts = np.empty(n_q, np.int64)
        for i in range(n_q):
            if i in extra:
                arr = extra[i]
                arr = arr[np.linalg.norm(Zr[arr] - Zq[i], axis=1) <= caliper]
            else:
                arr = nbr[i, :m_eff][within[i]]
            lists.append(arr)
            counts[i] = arr.size
        idx = np.concatenate(lists)
    ptr = np.zeros(n_q + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, idx.astype(np.int64)


def brute_neighbours(
    Zq: np.ndarray,
    Zr: np.ndarray,
    m: int,
    caliper: float,
    exclude_self: bool = False,
    block: int = BRUTE_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """Blocked brute-force version of :func:`kd_neighbours` (same output, with ties)."""
    n_q, n_r = Zq.shape[0], Zr.shape[0]
    avail = n_r - int(exclude_self)
    if n_q == 0 or avail <= 0:
        return np.zeros(n_q + 1, np.int64), np.empty(0, np.int64)
    m_eff = min(m, avail)
    rn = np.einsum("ij,ij->i", Zr, Zr)
    qn = np.einsum("ij,ij->i", Zq, Zq)
    cal2 = caliper * caliper if np.isfinite(caliper) else np.inf
    counts = np.empty(n_q, np.int64)
    chunks: list[np.ndarray] = []
    for start in range(0, n_q, block):
        stop = min(start + block, n_q)
        d2 = qn[start:stop, None] + rn[None, :] - 2.0 * (Zq[start:stop] @ Zr.T)
        np.maximum(d2, 0.0, out=d2)
        if exclude_self:
            rows = np.arange(stop - start)
            d2[rows, start + rows] = np.inf
        d_m = np.partition(d2, m_eff - 1, axis=1)[:, m_eff - 1]
        tol = BRUTE_TIE_RTOL * (qn[start:stop] + rn.max() + 1.0)
        keep = (d2 <= (d_m + tol)[:, None]) & (d2 <= cal2)
        counts[start:stop] = keep.sum(axis=1)
        chunks.append(np.nonzero(keep)[1])
    ptr = np.zeros(n_q + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, np.concatenate(chunks).astype(np.int64)
