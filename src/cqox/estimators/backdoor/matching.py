"""The matching engine: nearest neighbours on a score or by Mahalanobis distance.

Each target row is matched to its ``M`` nearest rows of the other arm *with all ties at
the M-th distance* (Abadie & Imbens 2006, doi:10.1111/j.1468-0262.2006.00655.x), within
exact-matching cells and a caliper when given, with or without replacement.  Matched
sets are kept in compressed rows (:class:`Matches`).  All matching is ``O(n log n)``:
binary search plus a two-pointer expansion on the sorted one-dimensional score
(vectorised NumPy without a caliper, :mod:`cqox.estimators.backdoor._score_neighbours`;
compiled with Numba with a caliper or without replacement,
:mod:`cqox.estimators.backdoor._matching_kernels`, imported on first use), a KD-tree for
the Mahalanobis distance.  Plain array functions: no estimator, no context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox.errors import EstimationError, ParameterError
from cqox.estimators.backdoor import _score_neighbours
from cqox.estimators.backdoor._score_neighbours import TIE_RTOL


@dataclass(frozen=True)
class Matches:
    """Matched sets in compressed-row form.

    Attributes
    ----------
    ptr : ndarray of int, shape (n_q + 1,)
        Query ``i``'s matches are ``idx[ptr[i]:ptr[i + 1]]``.
    idx : ndarray of int, shape (total,)
        Row positions (into the full data) of the matches.
    order : ndarray of int or None
        The stable sort order of the reference scores, when they were sorted without
        exact cells: another match against the same reference can reuse it.
    """

    ptr: np.ndarray
    idx: np.ndarray
    order: np.ndarray | None = None

    @property
    def sizes(self) -> np.ndarray:
        """Number of matches of each query, shape (n_q,)."""
        return np.diff(self.ptr)


def _cells_sort(
    s_r: np.ndarray,
    cell_r: np.ndarray | None,
    s_q: np.ndarray,
    cell_q: np.ndarray | None,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort the reference by (cell, score); each query's segment of it.

    ``order`` is the reference's stable sort order if already known (no cells).
    """
    if cell_r is None or cell_q is None:
        if order is None:
            order = np.argsort(s_r, kind="stable")
        n_q = len(s_q)
        return order, s_r[order], np.zeros(n_q, np.int64), np.full(n_q, len(s_r), np.int64)
    order = np.lexsort((s_r, cell_r))
    cells_sorted = cell_r[order]
    lo = np.searchsorted(cells_sorted, cell_q, "left").astype(np.int64)
    hi = np.searchsorted(cells_sorted, cell_q, "right").astype(np.int64)
    return order, s_r[order], lo, hi


#: Most (target, match) pairs kept in memory (int64: 8 bytes each).  All-ties matching on a
#: score with few distinct values (one binary covariate) makes every target match every
#: unit of its cell; beyond this the matching is refused with a hint instead.
MAX_MATCHED_PAIRS = 50_000_000


def _check_pairs(left: np.ndarray, right: np.ndarray) -> None:
    total = int(np.sum(right - left))
    if total > MAX_MATCHED_PAIRS:
        raise EstimationError(
            f"matching with all ties kept would form {total:,} matched pairs: the "
            "propensity score takes few distinct values (coarse covariates). Add "
            "continuous covariates, use distance='mahalanobis', or use stratification",
            details={"pairs": total, "limit": MAX_MATCHED_PAIRS},
        )


def _tie_tol(*scores: np.ndarray) -> float:
    spread = max((float(np.ptp(s)) for s in scores if s.size), default=1.0)
    return TIE_RTOL * max(spread, 1.0)


def match_scores(
    s_q: np.ndarray,
    s_r: np.ndarray,
    m: int,
    caliper: float = np.inf,
    cell_q: np.ndarray | None = None,
    cell_r: np.ndarray | None = None,
    order: np.ndarray | None = None,
    query_order: np.ndarray | None = None,
) -> Matches:
    """``m`` nearest reference scores of each query score, with ties, within cells.

    Returns matches as positions into ``s_r``.  ``order`` is the stable sort order of
    ``s_r`` when already known (``Matches.order`` of a within-arm match of ``s_r``),
    ``query_order`` that of ``s_q``: the binary searches of the queries then run in
    sorted order, each narrowed by the previous one (a fifth of the time of searches
    in random order at 10⁴ rows).
    """
    order, ref, lo, hi = _cells_sort(s_r, cell_r, s_q, cell_q, order)
    no_self = np.full(len(s_q), -1, np.int64)
    q = np.ascontiguousarray(s_q, np.float64)
    tol = _tie_tol(s_q, s_r)
    if np.isinf(caliper):
        # NumPy: the same matched sets as the compiled kernel, without Numba's start-up
        start = None
        if query_order is not None and (cell_r is None or cell_q is None):
            start = np.empty(len(q), np.int64)
            start[query_order] = np.searchsorted(ref, q[query_order], "left")
        return _nearest_runs(q, lo, hi, no_self, ref, m, tol, order, start)
    from cqox.estimators.backdoor._matching_kernels import expand_intervals, nn_intervals

    left, right = nn_intervals(q, lo, hi, no_self, ref, m, tol, caliper)
    _check_pairs(left, right)
    ptr, idx = expand_intervals(left, right, no_self, order.astype(np.int64))
    return Matches(ptr, idx)


def match_within(s: np.ndarray, m: int, cell: np.ndarray | None = None) -> Matches:
    """``m`` nearest other units (same set) of each unit, with ties, within cells."""
    order, ref, lo, hi = _cells_sort(s, cell, s, cell)
    inv = np.empty(len(s), np.int64)
    inv[order] = np.arange(len(s))
    sets = _nearest_runs(ref[inv], lo, hi, inv, ref, m, _tie_tol(s), order)
    return Matches(sets.ptr, sets.idx, order if cell is None else None)


#: Queries searched at a time by :func:`_nearest_runs`: the vectorised search keeps
#: about fifteen temporaries per query, so at 10⁶ queries one pass would hold some
#: 150 MB; blocks bound that to a few MB.  Each query's run depends on that query
#: alone, so the matched sets are the same.
MATCH_BLOCK = 131_072


def _nearest_runs(
    q: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    self_pos: np.ndarray,
    ref: np.ndarray,
    m: int,
    tol: float,
    order: np.ndarray,
    start: np.ndarray | None = None,
) -> Matches:
    """Matched sets of the queries ``q`` (no caliper), searched :data:`MATCH_BLOCK` at a time.

    The arguments are those of :func:`_score_neighbours.nn_intervals`; ``order`` maps
    positions in the sorted ``ref`` back to rows; ``start`` holds the queries'
    insertion positions in ``ref`` when already found.  All runs are found (and their
    total size checked) before any is expanded.
    """
    n_q = q.shape[0]
    blocks = [slice(a, min(a + MATCH_BLOCK, n_q)) for a in range(0, n_q, MATCH_BLOCK)] or [
        slice(0, 0)
    ]
    runs = [
        _score_neighbours.nn_intervals(
            q[b], lo[b], hi[b], self_pos[b], ref, m, tol, None if start is None else start[b]
        )
        for b in blocks
    ]
    if len(runs) == 1:
        (left, right), b = runs[0], blocks[0]
        _check_pairs(left, right)
        ptr, idx = _score_neighbours.expand_intervals(left, right, self_pos[b], order)
        return Matches(ptr, idx)
    _check_pairs(np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs]))
    sizes: list[np.ndarray] = []
    idx_parts: list[np.ndarray] = []
    for (left, right), b in zip(runs, blocks, strict=True):
        part_ptr, part_idx = _score_neighbours.expand_intervals(left, right, self_pos[b], order)
        sizes.append(np.diff(part_ptr))
        idx_parts.append(part_idx)
    ptr = np.zeros(n_q + 1, np.int64)
    np.cumsum(np.concatenate(sizes), out=ptr[1:])
    return Matches(ptr, np.concatenate(idx_parts))


def match_scores_without_replacement(
    s_q: np.ndarray,
    s_r: np.ndarray,
    m: int,
    caliper: float,
    query_order: np.ndarray,
    cell_q: np.ndarray | None = None,
    cell_r: np.ndarray | None = None,
) -> Matches:
    """Greedy matching without replacement, queries served in ``query_order``."""
    from cqox.estimators.backdoor._matching_kernels import greedy_without_replacement

    order, ref, lo, hi = _cells_sort(s_r, cell_r, s_q, cell_q)
    qo = query_order
    ptr_p, pos = greedy_without_replacement(
        np.ascontiguousarray(s_q[qo], np.float64), lo[qo], hi[qo], ref, m, caliper
    )
    sizes_p = np.diff(ptr_p)
    owner = np.repeat(qo, sizes_p)
    regroup = np.argsort(owner, kind="stable")
    sizes = np.zeros(len(s_q), np.int64)
    sizes[qo] = sizes_p
    ptr = np.zeros(len(s_q) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    return Matches(ptr, order[pos[regroup]].astype(np.int64))


def whiten(X: np.ndarray) -> np.ndarray:
    """Transform ``X`` so that Euclidean distance is Mahalanobis distance.

    Uses the full-sample covariance; directions with zero variance are dropped
    (a pseudo-inverse square root).
    """
    Xc = X - X.mean(axis=0)
    cov = np.atleast_2d(np.cov(Xc, rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > vals.max() * 1e-12 if vals.size else np.zeros(0, bool)
    return (Xc @ vecs[:, keep]) / np.sqrt(vals[keep])


def csr_take(m: Matches, rows: np.ndarray) -> Matches:
    """The matched sets of the given queries only."""
    sizes = m.sizes[rows]
    ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    starts = np.repeat(m.ptr[rows], sizes)
    offs = np.arange(ptr[-1]) - np.repeat(ptr[:-1], sizes)
    return Matches(ptr, m.idx[starts + offs])


def segment_sums(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Sum of ``values[ptr[i]:ptr[i + 1]]`` for each ``i`` (empty segments give 0)."""
    cs = np.zeros(len(values) + 1)
    np.cumsum(values, out=cs[1:])
    return cs[ptr[1:]] - cs[ptr[:-1]]


def kd_match(
    Zq: np.ndarray,
    Zr: np.ndarray,
    m: int,
    caliper: float,
    cq: np.ndarray | None,
    cr: np.ndarray | None,
    exclude_self: bool,
) -> Matches:
    """KD-tree matching, cell by cell when exact cells are given."""
    from cqox.estimators.backdoor._matching_kernels import kd_neighbours

    if cq is None or cr is None:
        ptr, idx = kd_neighbours(Zq, Zr, m, caliper, exclude_self)
        return Matches(ptr, idx)
    sizes = np.zeros(len(Zq), np.int64)
    pieces: dict[int, np.ndarray] = {}
    for c in np.unique(cq):
        qi = np.flatnonzero(cq == c)
        ri = np.flatnonzero(cr == c)
        if ri.size == 0:
            continue
        ptr_c, idx_c = kd_neighbours(Zq[qi], Zr[ri], m, caliper, exclude_self)
        sz = np.diff(ptr_c)
        sizes[qi] = sz
        for j, row in enumerate(qi):
            pieces[int(row)] = ri[idx_c[ptr_c[j] : ptr_c[j + 1]]]
    ptr = np.zeros(len(Zq) + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    chunks = [pieces[i] for i in range(len(Zq)) if sizes[i] > 0]
    return Matches(ptr, np.concatenate(chunks) if chunks else np.empty(0, np.int64))


def exact_cells(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Integer cell id of each row from the combination of the exact-matching columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"The 'exact' parameter of psm names column '{missing[0]}', which is not among "
            f"the roles in use ({', '.join(map(str, frame.columns))}); add it to the covariates",
            details={"parameter": "exact", "column": missing[0]},
        )
    codes = [pd.factorize(frame[c], sort=True)[0] for c in columns]
    return np.unique(np.column_stack(codes), axis=0, return_inverse=True)[1].ravel()
