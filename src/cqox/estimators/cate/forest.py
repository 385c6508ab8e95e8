"""Causal forest: a generalized random forest for τ(x) (Athey, Tibshirani & Wager 2019).

Athey, Tibshirani & Wager (2019), "Generalized random forests", *Annals of
Statistics* 47(2):1148–1178, doi:10.1214/18-AOS1709; Wager & Athey (2018),
"Estimation and inference of heterogeneous treatment effects using random forests",
*JASA* 113(523):1228–1242, doi:10.1080/01621459.2017.1319839.  The algorithm follows
grf's ``causal_forest``; the code is our own (Numba kernels in
:mod:`cqox.estimators.cate._forest_kernels`).

**Centring.**  With cross-fitted ``m̂(x) = E[Y | X]`` and ``ê(x) = P(T=1 | X)``
(:mod:`cqox.estimators.cate.nuisances`; grf uses out-of-bag regression forests),
the forest sees ``Ỹ = Y − m̂(X)`` and ``W̃ = T − ê(X)``.

**Trees.**  Trees come in little bags of ``ci_group_size`` (2): each bag draws half
the rows; each tree draws ``sample_fraction·n`` of them and, when ``honest``, splits
on one half of its draw and estimates its leaves on the other (Wager & Athey 2018).
At a node with rows ``J``, the splitting targets are grf's gradient pseudo-outcomes

    ρ_i = (W̃_i − W̄)·[(Ỹ_i − Ȳ) − τ̂_J (W̃_i − W̄)],   τ̂_J = Σ(W̃−W̄)(Ỹ−Ȳ) / Σ(W̃−W̄)²,

and the split maximises ``(Σ_L ρ)²/n_L + (Σ_R ρ)²/n_R`` over ``mtry`` random
covariates.  A split is admissible when each child holds at least
``min_leaf_size`` rows with ``W̃`` below and above the node mean and its treatment
variation ``Σ(W̃ − W̄_child)²`` is at least ``alpha`` times the node's (grf's balance
rule).  Split points are bin boundaries of at most 255 quantile bins per covariate
(every distinct value when there are fewer).

**Prediction.**  With forest weights ``α_i(x) = (1/B) Σ_b 1{i ∈ L_b(x)}/|L_b(x)|``
(estimation rows of the leaf containing ``x``),
``τ̂(x) = Σ α_i (W̃_i − W̄_α)(Ỹ_i − Ȳ_α) / Σ α_i (W̃_i − W̄_α)²``.  For the fitted
rows, only bags whose half-sample excludes the row are used (out-of-bag).

**Variance** (ATW 2019, §4; grf's little bags): with ``ψ_b`` the tree-``b`` leaf mean
of ``(W̃ − W̄_α)(Ỹ − Ȳ_α − τ̂(W̃ − W̄_α))`` and ``ψ̄_g`` its bag mean,
``σ̂² = [Var_g(ψ̄_g) − within-bag noise/(ℓ − 1)]⁺ / Var_α(W̃)²`` with grf's
objective-Bayes correction of the positive part.

**Averages.**  ATE/ATT are AIPW on the forest's nuisances,
``μ̂_w(x) = m̂(x) + (w − ê(x))·τ̂(x)`` (grf's ``average_treatment_effect``).

**Variable importance** (grf's ``variable_importance``): the share of splits on each
covariate at depth ``k = 1 … 4``, weighted by ``k^{−2}`` and normalised.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

#: Most quantile bins per covariate (codes fit in uint8).
MAX_BINS = 255
#: Trees per Numba call: bounds the node buffers (trees × max nodes) held at once.
TREES_PER_CALL = 256
#: Depth and decay of grf's split-frequency variable importance.
IMPORTANCE_MAX_DEPTH = 4
IMPORTANCE_DECAY = 2.0


def default_mtry(p: int) -> int:
    """Grf's default ``mtry = min(ceil(sqrt(p) + 20), p)``."""
    return int(min(math.ceil(math.sqrt(p) + 20), p))


def bin_features(X: np.ndarray, max_bins: int = MAX_BINS) -> list[np.ndarray]:
    """Cut points per covariate: midpoints of distinct values, or quantiles when many.

    A value ``x`` gets code ``#{cuts < x}``; "code ≤ t" is then "x ≤ cuts[t]".
    """
    cuts = []
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])
        if len(u) <= max_bins:
            c = (u[:-1] + u[1:]) / 2
        else:
            q = np.quantile(X[:, j], np.arange(1, max_bins) / max_bins, method="inverted_cdf")
            c = np.unique(q)
            c = c[c < u[-1]]
        cuts.append(np.asarray(c, dtype=np.float64))
    return cuts


def apply_bins(X: np.ndarray, cuts: list[np.ndarray]) -> np.ndarray:
    """Codes of ``X`` (shape (p, m), uint8): ``codes[j, i] = #{cuts_j < X[i, j]}``."""
    out = np.empty((X.shape[1], X.shape[0]), dtype=np.uint8)
    for j, c in enumerate(cuts):
        out[j] = np.searchsorted(c, X[:, j], side="left")
    return out


@dataclass(frozen=True)
class ForestParams:
    """Parameters of the forest (grf's names where grf has them)."""

    n_trees: int = 2000
    sample_fraction: float = 0.5
    honest: bool = True
    mtry: int | None = None
    min_leaf_size: int = 5
    alpha: float = 0.05
    ci_group_size: int = 2
    seed: int = 0
    n_threads: int | None = None


@dataclass(frozen=True)
class CausalForest:
    """A grown causal forest.

    Attributes
    ----------
    feat, thr, left, depth : ndarray, shape (total nodes,)
        Concatenated node arrays (``feat`` −1 at leaves; left child ``left``, right
        ``left + 1``; go left when code ≤ ``thr``).
    stats : ndarray, shape (total nodes, 5)
        Leaf (count, ΣW̃, ΣỸ, ΣW̃², ΣW̃Ỹ) of the estimation rows.
    offset : ndarray, shape (n_trees + 1,)
        Start of each tree's nodes.
    cuts : list of ndarray
        Bin cut points per covariate.
    oob_bits : ndarray of uint64, shape (n_groups, ceil(n/64))
        Half-sample membership of the fitted rows per bag.
    params : ForestParams
    """

    feat: np.ndarray
    thr: np.ndarray
    left: np.ndarray
    depth: np.ndarray
    stats: np.ndarray
    offset: np.ndarray
    cuts: list[np.ndarray]
    oob_bits: np.ndarray
    params: ForestParams
    n_features: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_trees(self) -> int:
        """Trees grown."""
        return len(self.offset) - 1

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``τ̂(x)`` and its standard error for new rows ``X`` (shape (m, p))."""
        return self._predict(apply_bins(np.asarray(X, dtype=np.float64), self.cuts), False)

    def predict_oob(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-bag ``τ̂`` and SE of the fitted rows (their codes, shape (p, n))."""
        return self._predict(codes, True)

    def _predict(self, codes: np.ndarray, oob: bool) -> tuple[np.ndarray, np.ndarray]:
        from cqox.estimators.cate import _forest_kernels as k

        tau, var, _ = k.predict_forest(
            np.ascontiguousarray(codes.T),
            self.feat,
            self.thr,
            self.left,
            self.stats,
            self.offset,
            self.params.ci_group_size,
            self.oob_bits,
            oob,
            forest_threads(self.params.n_threads),
        )
        return tau, np.sqrt(var)

    def variable_importance(self) -> np.ndarray:
        """Grf's split-frequency importance, shape (p,), summing to one."""
        p = self.n_features
        num = np.zeros(p)
        den = 0.0
        split = self.feat >= 0
        for k in range(IMPORTANCE_MAX_DEPTH):
            at = split & (self.depth == k)
            counts = np.bincount(self.feat[at], minlength=p).astype(np.float64)
            total = counts.sum()
            if total == 0:
                continue
            weight = (k + 1) ** -IMPORTANCE_DECAY
            num += weight * counts / total
            den += weight
        return num / den if den > 0 else num


def forest_threads(n: int | None) -> int:
    """Threads for growing and predicting: ``n`` (default: all), at most ``NUMBA_NUM_THREADS``.

    ``NUMBA_NUM_THREADS`` (default: the machine's cores) caps the kernels' threads as
    it capped Numba's own thread pool; reading it starts no threads.
    """
    import numba

    most = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
    return max(1, min(n or most, most))


def grow(
    X: np.ndarray, y_res: np.ndarray, w_res: np.ndarray, params: ForestParams
) -> tuple[CausalForest, np.ndarray]:
    """Grow a causal forest on centred ``Ỹ``, ``W̃``; returns it and the row codes (p, n)."""
    import time

    from cqox.estimators.cate import _forest_kernels as k

    n, p = X.shape
    t0 = time.perf_counter()
    cuts = bin_features(X)
    codes = apply_bins(X, cuts)
    n_bins = np.array([len(c) + 1 for c in cuts], dtype=np.int64)
    group_size = params.ci_group_size
    tree_size = max(2, round(params.sample_fraction * n))
    # a bag draws half the rows; a "bag" of one tree draws exactly the tree's rows, so
    # that its membership bits are the tree's own sample (out-of-bag = not drawn)
    half = n // 2 if group_size > 1 else min(tree_size, n)
    tree_size = min(tree_size, half)
    n_split = tree_size // 2 if params.honest else tree_size
    max_nodes = 2 * (n_split // max(1, 2 * params.min_leaf_size)) + 3
    mtry = params.mtry if params.mtry is not None else default_mtry(p)
    n_groups = max(1, -(-params.n_trees // group_size))
    y_res = np.ascontiguousarray(y_res, dtype=np.float64)
    w_res = np.ascontiguousarray(w_res, dtype=np.float64)
    parts: list[tuple[np.ndarray, ...]] = []
    groups_per_call = max(1, TREES_PER_CALL // group_size)
    t1 = time.perf_counter()
    n_threads = forest_threads(params.n_threads)
    for g0 in range(0, n_groups, groups_per_call):
        ng = min(groups_per_call, n_groups - g0)
        feat, thr, left, depth, stats, n_nodes = k.grow_forest(
            codes,
            n_bins,
            y_res,
            w_res,
            g0,
            ng,
            group_size,
            half,
            tree_size,
            params.honest,
            mtry,
            params.min_leaf_size,
            params.alpha,
            params.seed,
            max_nodes,
            n_threads,
        )
        for b in range(len(n_nodes)):
            m = n_nodes[b]
            parts.append((feat[b, :m], thr[b, :m], left[b, :m], depth[b, :m], stats[b, :m]))
    bits = k.membership_bits(n, half, params.seed, n_groups)
    sizes = np.array([len(part[0]) for part in parts], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(sizes)])
    forest = CausalForest(
        feat=np.concatenate([q[0] for q in parts]),
        thr=np.concatenate([q[1] for q in parts]),
        left=np.concatenate([q[2] for q in parts]),
        depth=np.concatenate([q[3] for q in parts]),
        stats=np.concatenate([q[4] for q in parts]),
        offset=offset,
        cuts=cuts,
        oob_bits=bits,
        params=params,
        n_features=p,
        timings={"binning_s": t1 - t0, "trees_s": time.perf_counter() - t1},
    )
    return forest, codes


def cpu_threads() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1
