"""Numba kernels of the exact policy-tree search (imported lazily).

``gamma[i, a]`` is row ``i``'s doubly robust reward for action ``a``; a tree's reward is
the sum over rows of the reward of the action of their leaf.  ``order[:, k]`` sorts the
rows by covariate ``k``.  Splits send ``x_k ≤ threshold`` left, with thresholds at
observed values between which the sorted values change.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def leaf(gamma: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """Best single action on the rows of ``mask``: (reward, action)."""
    d = gamma.shape[1]
    tot = np.zeros(d)
    for i in range(gamma.shape[0]):
        if mask[i]:
            for a in range(d):
                tot[a] += gamma[i, a]
    best = 0
    for a in range(1, d):
        if tot[a] > tot[best]:
            best = a
    return tot[best], best


@njit(cache=True)
def depth1(
    X: np.ndarray, order: np.ndarray, gamma: np.ndarray, mask: np.ndarray
) -> tuple[float, int, float, int, int]:
    """Best depth-1 tree on ``mask``: (reward, feature, threshold, left action, right action).

    Feature −1 when no split beats (or no split exists besides) the single best action.
    """
    n, p = X.shape
    d = gamma.shape[1]
    tot = np.zeros(d)
    m = 0
    for i in range(n):
        if mask[i]:
            m += 1
            for a in range(d):
                tot[a] += gamma[i, a]
    best_r, best_a = leaf(gamma, mask)
    best_f = -1
    best_t = 0.0
    best_l = best_a
    best_rt = best_a
    left = np.zeros(d)
    for k in range(p):
        for a in range(d):
            left[a] = 0.0
        seen = 0
        prev = -1
        for q in range(n):
            i = order[q, k]
            if not mask[i]:
                continue
            if prev >= 0 and X[i, k] != X[prev, k] and seen < m:
                # split between prev (left) and i (right)
                la = 0
                ra = 0
                for a in range(1, d):
                    if left[a] > left[la]:
                        la = a
                    if tot[a] - left[a] > tot[ra] - left[ra]:
                        ra = a
                r = left[la] + tot[ra] - left[ra]
                if r > best_r + 1e-12:
                    best_r = r
                    best_f = k
                    best_t = X[prev, k]
                    best_l = la
                    best_rt = ra
            for a in range(d):
                left[a] += gamma[i, a]
            seen += 1
            prev = i
    return best_r, best_f, best_t, best_l, best_rt


@njit(cache=True)
def depth2(
    X: np.ndarray, order: np.ndarray, gamma: np.ndarray, step: int
) -> tuple[float, int, float, np.ndarray, np.ndarray]:
    """Best depth-2 tree by exhaustive search over root splits (every ``step``-th row).

    Returns ``(reward, root feature, root threshold, left, right)`` where ``left`` and
    ``right`` are the depth-1 results ``[reward, feature, threshold, left action,
    right action]`` of the children; root feature −1 when the best tree is depth 1.
    """
    n, p = X.shape
    mask_all = np.ones(n, dtype=np.bool_)
    r1, f1, t1, l1, a1 = depth1(X, order, gamma, mask_all)
    best_r = r1
    best_f = -1
    best_t = 0.0
    best_left = np.array([r1, f1, t1, l1, a1], dtype=np.float64)
    best_right = np.array([0.0, -1.0, 0.0, 0.0, 0.0])
    in_left = np.zeros(n, dtype=np.bool_)
    in_right = np.ones(n, dtype=np.bool_)
    for k in range(p):
        for i in range(n):
            in_left[i] = False
            in_right[i] = True
        for q in range(n - 1):
            i = order[q, k]
            in_left[i] = True
            in_right[i] = False
            nxt = order[q + 1, k]
            if X[nxt, k] == X[i, k] or (q + 1) % step != 0:
                continue
            lr, lf, lt, ll, la = depth1(X, order, gamma, in_left)
            rr, rf, rt, rl, ra = depth1(X, order, gamma, in_right)
            if lr + rr > best_r + 1e-12:
                best_r = lr + rr
                best_f = k
                best_t = X[i, k]
                best_left = np.array([lr, lf, lt, ll, la], dtype=np.float64)
                best_right = np.array([rr, rf, rt, rl, ra], dtype=np.float64)
    return best_r, best_f, best_t, best_left, best_right
