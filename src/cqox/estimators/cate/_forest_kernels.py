"""Numba kernels of the causal forest: tree growing and forest prediction.

Imported lazily (only when a forest is fitted), so ``import cqox`` never loads Numba.
The algorithm and its notation are in :mod:`cqox.estimators.cate.forest`; these
functions only compute.  Covariates arrive binned (``uint8`` codes, at most 255 bins
per feature, :func:`cqox.estimators.cate.forest.bin_features`): a node's best split on
a feature is found from a histogram of its rows and a 256-bit bitmap of the codes
present, scanned lowest set bit first, so the cost is ``O(rows + distinct codes)``
whatever the node's size (the scan over the range of codes, and an insertion sort
for small nodes, cost 40% more CPU time on 10k × 50; same splits).

Randomness comes from a per-tree xorshift64* generator seeded from ``(seed, tree)``,
so a forest does not depend on how trees are scheduled on threads.

The compiled kernels are serial and release the GIL (``nogil``); :func:`grow_forest`
and :func:`predict_forest` run them on slices of the trees (rows) in Python threads.
Numba's ``parallel=True`` would do the same at a high compile cost: its parfor passes
and threading layer took 8-10 of the family's 15 s of warm-up CPU time, and loading
a parallel kernel from the cache also starts Numba's thread pool.  Every tree (row
chunk) is computed by the same code whatever the slice, so results do not depend on
the number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_MULT = np.uint64(2685821657736338717)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0
#: De Bruijn sequence and table: the index of an isolated set bit ``low`` of a uint64
#: is ``_DEBRUIJN[(low * _DEBRUIJN_MULT) >> 58]``.
_DEBRUIJN_MULT = np.uint64(0x03F79D71B4CB0A89)
_S58 = np.uint64(58)
_DEBRUIJN = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _DEBRUIJN[(((1 << _i) * 0x03F79D71B4CB0A89) & 0xFFFFFFFFFFFFFFFF) >> 58] = _i


@njit(cache=True)
def _seed_state(seed: int, stream: int) -> np.ndarray:
    """splitmix64 of ``(seed, stream)``: a nonzero xorshift state in a 1-array."""
    z = np.uint64(seed) * _GOLDEN + np.uint64(stream) + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> _S31)
    state = np.empty(1, dtype=np.uint64)
    state[0] = z if z != np.uint64(0) else _GOLDEN
    return state


@njit(cache=True)
def _uniform(state: np.ndarray) -> float:
    x = state[0]
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    state[0] = x
    return float((x * _MULT) >> _S11) * _INV53


@njit(cache=True)
def _randint(state: np.ndarray, k: int) -> int:
    r = int(_uniform(state) * k)
    return r if r < k else k - 1


@njit(cache=True)
def _partial_shuffle(a: np.ndarray, k: int, state: np.ndarray) -> None:
    """Move a uniform random ``k``-subset of ``a`` to ``a[:k]`` (partial Fisher–Yates)."""
    n = len(a)
    for i in range(k):
        j = i + _randint(state, n - i)
        tmp = a[i]
        a[i] = a[j]
        a[j] = tmp


@njit(cache=True)
def _iota32(n: int) -> np.ndarray:
    """``np.arange(n).astype(np.int32)`` as a loop.

    Numba's ``arange`` and ``astype`` overloads cost compile time for nothing here.
    """
    out = np.empty(n, dtype=np.int32)
    for i in range(n):
        out[i] = i
    return out


@njit(cache=True)
def group_sample(n: int, half: int, seed: int, group: int) -> np.ndarray:
    """The rows of little-bag ``group``: ``half`` rows drawn without replacement."""
    state = _seed_state(seed, 1_000_003 * (group + 1))
    rows = _iota32(n)
    if half < n:
        _partial_shuffle(rows, half, state)
    return rows[:half].copy()


@njit(cache=True, inline="always")
def _split_criterion(
    l_n: int,
    l_small: float,
    l_rho: float,
    l_w: float,
    l_ww: float,
    cnt: int,
    tot_small: float,
    tot_rho: float,
    tot_w: float,
    tot_ww: float,
    min_leaf: int,
    min_child_size: float,
) -> float:
    """Criterion of a candidate split from its left-child sums; −inf if not admissible.

    Admissible: each child has ``min_leaf`` rows on both sides of the treatment mean
    (grf's balance rule) and a treatment variation of at least ``min_child_size``.
    The criterion is the sum over children of (Σρ)²/n (Athey, Tibshirani & Wager 2019).
    """
    r_n = cnt - l_n
    r_small = tot_small - l_small
    if l_small < min_leaf or l_n - l_small < min_leaf:
        return -math.inf
    if r_small < min_leaf or r_n - r_small < min_leaf:
        return -math.inf
    r_w = tot_w - l_w
    r_ww = tot_ww - l_ww
    if l_ww - l_w * l_w / l_n < min_child_size:
        return -math.inf
    if r_ww - r_w * r_w / r_n < min_child_size:
        return -math.inf
    r_rho = tot_rho - l_rho
    return l_rho * l_rho / l_n + r_rho * r_rho / r_n


@njit(cache=True)
def _best_split(
    codes: np.ndarray,
    n_bins: np.ndarray,
    idx: np.ndarray,
    start: int,
    end: int,
    rho: np.ndarray,
    w: np.ndarray,
    wbar: float,
    feats: np.ndarray,
    n_try: int,
    min_leaf: int,
    min_child_size: float,
    hist: np.ndarray,
    present: np.ndarray,
    wl: np.ndarray,
    wwl: np.ndarray,
    small: np.ndarray,
) -> tuple[int, int, float]:
    """Best (feature, code threshold, criterion) over ``feats[:n_try]``; feature −1 if none.

    ``hist`` (bins × 5) and ``present`` (4 words) are work buffers, all zero on entry
    and on return.

    Criterion ``(Σ_L ρ)²/n_L + (Σ_R ρ)²/n_R``; a split is admissible when each child
    has at least ``min_leaf`` rows with the treatment below and above the node's mean
    and ``Σ (w − w̄_child)² ≥ min_child_size`` (grf's balance rule, ``alpha``).
    """
    cnt = end - start
    tot_rho = 0.0
    tot_w = 0.0
    tot_ww = 0.0
    tot_small = 0.0
    # the node's treatment values, gathered once for all candidate features
    for k in range(cnt):
        wk = w[idx[start + k]]
        wl[k] = wk
        wwl[k] = wk * wk
        small[k] = 1.0 if wk < wbar else 0.0
        tot_rho += rho[k]
        tot_w += wk
        tot_ww += wwl[k]
        tot_small += small[k]
    best_f = -1
    best_t = -1
    best_crit = -1.0
    for q in range(n_try):
        f = feats[q]
        nb = n_bins[f]
        if nb < 2:
            continue
        # one pass: the histogram of the node's rows and a bitmap of the codes present
        # (``hist`` and ``present`` are all zero on entry and cleared again below)
        for k in range(cnt):
            b = codes[f, idx[start + k]]
            present[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            hist[b, 0] += 1.0
            hist[b, 1] += small[k]
            hist[b, 2] += rho[k]
            hist[b, 3] += wl[k]
            hist[b, 4] += wwl[k]
        # the codes present in increasing order, from the bitmap (lowest set bit first):
        # the scan and the clearing cost O(distinct codes), not O(range of codes)
        l_n = 0
        l_small = 0.0
        l_rho = 0.0
        l_w = 0.0
        l_ww = 0.0
        for word in range(4):
            x = present[word]
            present[word] = np.uint64(0)
            while x != np.uint64(0):
                low = x & (~x + np.uint64(1))
                x ^= low
                b = word * 64 + _DEBRUIJN[(low * _DEBRUIJN_MULT) >> _S58]
                l_n += int(hist[b, 0])
                l_small += hist[b, 1]
                l_rho += hist[b, 2]
                l_w += hist[b, 3]
                l_ww += hist[b, 4]
                for c in range(5):
                    hist[b, c] = 0.0
                if l_n == cnt:
                    continue
                crit = _split_criterion(
                    l_n,
                    l_small,
                    l_rho,
                    l_w,
                    l_ww,
                    cnt,
                    tot_small,
                    tot_rho,
                    tot_w,
                    tot_ww,
                    min_leaf,
                    min_child_size,
                )
                if crit > best_crit:
                    best_crit = crit
                    best_f = f
                    best_t = b
    return best_f, best_t, best_crit


@njit(cache=True)
def _grow_tree(
    codes: np.ndarray,
    n_bins: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    split_rows: np.ndarray,
    est_rows: np.ndarray,
    mtry: int,
    min_leaf: int,
    alpha: float,
    state: np.ndarray,
    feat: np.ndarray,
    thr: np.ndarray,
    left: np.ndarray,
    depth: np.ndarray,
    stats: np.ndarray,
) -> int:
    """Grow one tree on ``split_rows`` and fill its leaves from ``est_rows``; returns nodes.

    Node arrays (``feat``: −1 at a leaf; ``thr``: go left when code ≤ thr; ``left``:
    the left child, the right one is ``left + 1``; ``depth``) and ``stats[node]`` =
    (count, Σw, Σy, Σw², Σwy) of the estimation rows in each leaf.
    """
    p = codes.shape[0]
    ns = len(split_rows)
    idx = split_rows.copy()
    max_nodes = len(feat)
    max_bins = 0
    for j in range(p):
        if n_bins[j] > max_bins:
            max_bins = n_bins[j]
    hist = np.zeros((max_bins, 5))
    present = np.zeros(4, dtype=np.uint64)
    rho = np.empty(ns)
    wl = np.empty(ns)
    wwl = np.empty(ns)
    small = np.empty(ns)
    # int32 like the row indices: _partial_shuffle is compiled for one array type
    feats = _iota32(p)
    stack_node = np.empty(max_nodes, dtype=np.int64)
    stack_start = np.empty(max_nodes, dtype=np.int64)
    stack_end = np.empty(max_nodes, dtype=np.int64)
    top = 0
    stack_node[0] = 0
    stack_start[0] = 0
    stack_end[0] = ns
    top = 1
    n_nodes = 1
    depth[0] = 0
    while top > 0:
        top -= 1
        node = stack_node[top]
        start = stack_start[top]
        end = stack_end[top]
        cnt = end - start
        feat[node] = -1
        if cnt < 4 * min_leaf or n_nodes + 2 > max_nodes:
            continue
        # pseudo-outcomes of the node (grf's causal relabelling)
        wbar = 0.0
        ybar = 0.0
        for k in range(start, end):
            wbar += w[idx[k]]
            ybar += y[idx[k]]
        wbar /= cnt
        ybar /= cnt
        sww = 0.0
        swy = 0.0
        for k in range(start, end):
            dw = w[idx[k]] - wbar
            sww += dw * dw
            swy += dw * (y[idx[k]] - ybar)
        if sww <= 1e-12:
            continue
        tau_p = swy / sww
        for k in range(start, end):
            dw = w[idx[k]] - wbar
            rho[k - start] = dw * ((y[idx[k]] - ybar) - tau_p * dw)
        n_try = mtry if mtry < p else p
        _partial_shuffle(feats, n_try, state)
        f, t, _crit = _best_split(
            codes,
            n_bins,
            idx,
            start,
            end,
            rho,
            w,
            wbar,
            feats,
            n_try,
            min_leaf,
            alpha * sww,
            hist,
            present,
            wl,
            wwl,
            small,
        )
        if f < 0:
            continue
        # partition idx[start:end] into code <= t | code > t
        i = start
        j = end - 1
        while i <= j:
            if codes[f, idx[i]] <= t:
                i += 1
            else:
                tmp = idx[i]
                idx[i] = idx[j]
                idx[j] = tmp
                j -= 1
        mid = i
        feat[node] = f
        thr[node] = t
        child = n_nodes
        left[node] = child
        n_nodes += 2
        depth[child] = depth[node] + 1
        depth[child + 1] = depth[node] + 1
        stack_node[top] = child
        stack_start[top] = start
        stack_end[top] = mid
        top += 1
        stack_node[top] = child + 1
        stack_start[top] = mid
        stack_end[top] = end
        top += 1
    # honest estimation: leaf moments of the estimation rows
    for node in range(n_nodes):
        for c in range(5):
            stats[node, c] = 0.0
    for k in range(len(est_rows)):
        i = est_rows[k]
        node = 0
        while feat[node] >= 0:
            node = left[node] if codes[feat[node], i] <= thr[node] else left[node] + 1
        wi = w[i]
        yi = y[i]
        stats[node, 0] += 1.0
        stats[node, 1] += wi
        stats[node, 2] += yi
        stats[node, 3] += wi * wi
        stats[node, 4] += wi * yi
    return n_nodes


#: Slices of work per thread: the trees (row chunks) are cut into ``threads × this``
#: slices taken in turn, so a thread that draws cheap trees takes more slices.
SLICES_PER_THREAD = 4


def _run_sliced(kernel: Callable[[int, int], None], n_items: int, n_threads: int) -> None:
    """``kernel(lo, hi)`` over slices of ``range(n_items)`` on ``n_threads`` threads.

    ``kernel`` is a ``nogil`` compiled call writing its own slice of the outputs;
    one thread (or one slice) runs it here, with no pool.
    """
    n_slices = min(n_items, max(1, n_threads) * SLICES_PER_THREAD)
    if n_threads <= 1 or n_slices <= 1:
        kernel(0, n_items)
        return
    bounds = [n_items * s // n_slices for s in range(n_slices + 1)]
    with ThreadPoolExecutor(max_workers=min(n_threads, n_slices)) as pool:
        # list(): re-raise a kernel's exception here
        list(pool.map(kernel, bounds[:-1], bounds[1:]))


@njit(cache=True, nogil=True)
def _grow_trees(
    codes: np.ndarray,
    n_bins: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    group_first: int,
    group_size: int,
    half: int,
    tree_size: int,
    honest: bool,
    mtry: int,
    min_leaf: int,
    alpha: float,
    seed: int,
    b_lo: int,
    b_hi: int,
    feat: np.ndarray,
    thr: np.ndarray,
    left: np.ndarray,
    depth: np.ndarray,
    stats: np.ndarray,
    n_nodes: np.ndarray,
) -> None:
    """Grow trees ``b_lo … b_hi − 1`` of a :func:`grow_forest` call into its node arrays."""
    n = len(y)
    for b in range(b_lo, b_hi):
        g = group_first + b // group_size
        tree = group_first * group_size + b
        rows = group_sample(n, half, seed, g)
        state = _seed_state(seed, 2 * tree + 1)
        if tree_size < half:
            _partial_shuffle(rows, tree_size, state)
        drawn = rows[:tree_size]
        if honest:
            n_split = tree_size // 2
            perm = drawn.copy()
            _partial_shuffle(perm, tree_size, state)
            split_rows = perm[:n_split].copy()
            est_rows = perm[n_split:].copy()
        else:
            split_rows = drawn.copy()
            est_rows = drawn.copy()
        n_nodes[b] = _grow_tree(
            codes,
            n_bins,
            y,
            w,
            split_rows,
            est_rows,
            mtry,
            min_leaf,
            alpha,
            state,
            feat[b],
            thr[b],
            left[b],
            depth[b],
            stats[b],
        )


def grow_forest(
    codes: np.ndarray,
    n_bins: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    group_first: int,
    n_groups: int,
    group_size: int,
    half: int,
    tree_size: int,
    honest: bool,
    mtry: int,
    min_leaf: int,
    alpha: float,
    seed: int,
    max_nodes: int,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grow the trees of groups ``group_first … group_first + n_groups − 1`` on threads.

    Each group draws ``half`` rows; each of its ``group_size`` trees draws
    ``tree_size`` of them and (honest) splits on the first half of its draw and
    estimates its leaves on the second.  Returns per tree (first axis) the node
    arrays ``feat, thr, left, depth, stats`` and ``n_nodes``.  ``codes`` is
    ``uint8`` (p, n), ``n_bins`` ``int64``, ``y`` and ``w`` ``float64``: the one
    signature compiled.
    """
    n_trees = n_groups * group_size
    feat = np.full((n_trees, max_nodes), -1, dtype=np.int32)
    thr = np.zeros((n_trees, max_nodes), dtype=np.uint8)
    left = np.zeros((n_trees, max_nodes), dtype=np.int32)
    depth = np.zeros((n_trees, max_nodes), dtype=np.int16)
    stats = np.zeros((n_trees, max_nodes, 5))
    n_nodes = np.zeros(n_trees, dtype=np.int32)

    def kernel(lo: int, hi: int) -> None:
        _grow_trees(
            codes,
            n_bins,
            y,
            w,
            int(group_first),
            int(group_size),
            int(half),
            int(tree_size),
            bool(honest),
            int(mtry),
            int(min_leaf),
            float(alpha),
            int(seed),
            lo,
            hi,
            feat,
            thr,
            left,
            depth,
            stats,
            n_nodes,
        )

    _run_sliced(kernel, n_trees, n_threads)
    return feat, thr, left, depth, stats, n_nodes


@njit(cache=True)
def _debias(var_between: float, group_noise: float, n_good: float) -> float:
    """Grf's objective-Bayes debiasing of the little-bags variance (always positive).

    With ``S = var_between − group_noise`` and its SE
    ``max(var_between, group_noise)·sqrt(2/n_good)``, the posterior mean of the
    variance under a flat prior on ``[0, ∞)``: ``S + SE·φ(S/SE)/Φ(S/SE)``.
    """
    initial = var_between - group_noise
    se = max(var_between, group_noise) * np.sqrt(2.0 / n_good)
    if se <= 0.0:
        return max(initial, 0.0)
    ratio = initial / se
    num = np.exp(-ratio * ratio / 2.0) / np.sqrt(2.0 * np.pi)
    den = 0.5 * math.erfc(-ratio / math.sqrt(2.0))
    if den <= 0.0:
        return 0.0
    return initial + se * num / den


#: Rows routed together down each tree by :func:`predict_forest`.
PREDICT_CHUNK = 32


@njit(cache=True, nogil=True)
def _predict_chunks(
    codes: np.ndarray,
    feat: np.ndarray,
    thr: np.ndarray,
    left: np.ndarray,
    stats: np.ndarray,
    offset: np.ndarray,
    group_size: int,
    oob_bits: np.ndarray,
    use_oob: bool,
    c_lo: int,
    c_hi: int,
    tau: np.ndarray,
    var: np.ndarray,
    used: np.ndarray,
) -> None:
    """Row chunks ``c_lo … c_hi − 1`` of :func:`predict_forest` into ``tau, var, used``."""
    m = codes.shape[0]
    n_trees = len(offset) - 1
    n_groups = n_trees // group_size
    chunk = PREDICT_CHUNK
    for c in range(c_lo, c_hi):
        first = c * chunk
        rows = min(m, first + chunk) - first
        # tree-major routing of the chunk's rows: a tree's nodes stay in cache while
        # all rows of the chunk descend it (row-major routing reloads every tree for
        # every row); ``leaf`` is the node reached, −1 for a tree skipped out-of-bag
        leaf = np.empty((rows, n_trees), dtype=np.int64)
        for b in range(n_trees):
            g = b // group_size
            base = offset[b]
            for r in range(rows):
                i = first + r
                if use_oob and (oob_bits[g, i >> 6] & (np.uint64(1) << np.uint64(i & 63))) != 0:
                    leaf[r, b] = -1
                    continue
                node = 0
                while feat[base + node] >= 0:
                    if codes[i, feat[base + node]] <= thr[base + node]:
                        node = left[base + node]
                    else:
                        node = left[base + node] + 1
                leaf[r, b] = base + node
        tm = np.empty((n_trees, 4))
        ok = np.zeros(n_trees, dtype=np.bool_)
        for r in range(rows):
            i = first + r
            sw = 0.0
            sy = 0.0
            sww = 0.0
            swy = 0.0
            k_used = 0
            for b in range(n_trees):
                ok[b] = False
                node = leaf[r, b]
                if node < 0:
                    continue
                cnt = stats[node, 0]
                if cnt <= 0.0:
                    continue
                ok[b] = True
                tm[b, 0] = stats[node, 1] / cnt
                tm[b, 1] = stats[node, 2] / cnt
                tm[b, 2] = stats[node, 3] / cnt
                tm[b, 3] = stats[node, 4] / cnt
                sw += tm[b, 0]
                sy += tm[b, 1]
                sww += tm[b, 2]
                swy += tm[b, 3]
                k_used += 1
            used[i] = k_used
            if k_used == 0:
                continue
            a = sw / k_used
            cy = sy / k_used
            v = sww / k_used - a * a
            if v <= 1e-14:
                continue
            t_hat = (swy / k_used - a * cy) / v
            tau[i] = t_hat
            # little bags: psi of each tree at the forest's (a, cy, t_hat)
            n_good = 0
            psi_sq = 0.0
            psi_group_sq = 0.0
            psi_group_sum = 0.0
            for g in range(n_groups):
                good = True
                for j in range(group_size):
                    if not ok[g * group_size + j]:
                        good = False
                        break
                if not good:
                    continue
                n_good += 1
                gsum = 0.0
                for j in range(group_size):
                    b = g * group_size + j
                    psi = (
                        tm[b, 3]
                        - a * tm[b, 1]
                        - cy * tm[b, 0]
                        + a * cy
                        - t_hat * (tm[b, 2] - 2.0 * a * tm[b, 0] + a * a)
                    )
                    psi_sq += psi * psi
                    gsum += psi
                gmean = gsum / group_size
                psi_group_sq += gmean * gmean
                psi_group_sum += gmean
            if n_good < 2 or group_size < 2:
                continue
            mean_psi = psi_group_sum / n_good
            var_between = psi_group_sq / n_good - mean_psi * mean_psi
            var_total = psi_sq / (n_good * group_size)
            group_noise = (var_total - psi_group_sq / n_good) / (group_size - 1)
            var[i] = _debias(var_between, group_noise, float(n_good)) / (v * v)


def predict_forest(
    codes: np.ndarray,
    feat: np.ndarray,
    thr: np.ndarray,
    left: np.ndarray,
    stats: np.ndarray,
    offset: np.ndarray,
    group_size: int,
    oob_bits: np.ndarray,
    use_oob: bool,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """τ̂(x) and its little-bags variance for each row of ``codes`` (shape (m, p)).

    Trees are concatenated (tree ``b``'s nodes start at ``offset[b]``).  With
    ``use_oob``, point ``i`` is a training row and groups whose half-sample holds it
    (bit ``i`` of ``oob_bits[g]``) are skipped.  Forest moments are averages over
    trees of leaf means (grf's forest weights); ``τ̂ = Cov_α(W, Y)/Var_α(W)``.  Rows
    go in chunks of :data:`PREDICT_CHUNK`, each chunk routed down one tree after
    another (2.4× less CPU than routing each row through every tree, which reloads
    the trees from memory for every row; same results); the chunks are shared out
    to ``n_threads`` threads.
    Returns ``(tau, var, n_trees_used)``.
    """
    m = codes.shape[0]
    tau = np.full(m, np.nan)
    var = np.full(m, np.nan)
    used = np.zeros(m, dtype=np.int64)

    def kernel(lo: int, hi: int) -> None:
        _predict_chunks(
            codes,
            feat,
            thr,
            left,
            stats,
            offset,
            int(group_size),
            oob_bits,
            bool(use_oob),
            lo,
            hi,
            tau,
            var,
            used,
        )

    _run_sliced(kernel, (m + PREDICT_CHUNK - 1) // PREDICT_CHUNK, n_threads)
    return tau, var, used


@njit(cache=True)
def membership_bits(n: int, half: int, seed: int, n_groups: int) -> np.ndarray:
    """Bit ``i`` of row ``g`` set when row ``i`` is in group ``g``'s half-sample."""
    words = (n + 63) // 64
    bits = np.zeros((n_groups, words), dtype=np.uint64)
    for g in range(n_groups):
        rows = group_sample(n, half, seed, g)
        for k in range(len(rows)):
            i = rows[k]
            bits[g, i >> 6] |= np.uint64(1) << np.uint64(i & 63)
    return bits
