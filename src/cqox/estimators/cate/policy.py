"""Policy learning: a shallow decision tree that says whom to treat.

Athey & Wager (2021), "Policy learning with observational data", *Econometrica*
89(1):133–161, doi:10.3982/ECTA15732; the tree search of Sverdrup, Kanodia, Zhou,
Athey & Wager (2020), "policytree: Policy learning via doubly robust empirical
welfare maximization over trees", *JOSS* 5(50):2232, doi:10.21105/joss.02232.

With doubly robust rewards
``Γ_i(1) = μ̂₁ + T(Y − μ̂₁)/ê − cost``, ``Γ_i(0) = μ̂₀ + (1 − T)(Y − μ̂₀)/(1 − ê)``
(cross-fitted nuisances), the policy ``π`` maximises ``Σ_i Γ_i(π(x_i))`` over trees of
the given depth: exhaustively for depth 1 and 2 (every split point of every covariate,
or every ``split_step``-th for large tables), greedily below for depth 3 (each leaf of
the best depth-2 tree split by its own best depth-1 tree).

Its value ``V(π) = E[Y(π(X))]`` is estimated on held-out folds: the tree is learned on
``K − 1`` folds and scored ``mean Γ_i(π̂_{−k}(x_i))`` on the rest, so the reward of a
row never chose its own action; SE ``sd/√n``.  The advantage over treating everyone
and no one is reported with its SE (paired differences of the same rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Node:
    """A policy-tree node: a split (``feature`` ≥ 0) or a leaf with its ``action``."""

    feature: int = -1
    threshold: float = 0.0
    left: Node | None = None
    right: Node | None = None
    action: int = 0

    def act(self, X: np.ndarray) -> np.ndarray:
        """The action for each row of ``X`` (shape (m, p))."""
        if self.feature < 0 or self.left is None or self.right is None:
            return np.full(len(X), self.action, dtype=np.int64)
        go_left = X[:, self.feature] <= self.threshold
        out = np.empty(len(X), dtype=np.int64)
        out[go_left] = self.left.act(X[go_left])
        out[~go_left] = self.right.act(X[~go_left])
        return out

    def to_dict(self, names: list[str]) -> dict[str, Any]:
        """Nested JSON form (``split``: covariate and threshold; leaves: ``action``)."""
        if self.feature < 0 or self.left is None or self.right is None:
            return {"action": int(self.action)}
        return {
            "split": {"covariate": names[self.feature], "threshold": float(self.threshold)},
            "left": self.left.to_dict(names),
            "right": self.right.to_dict(names),
        }

    def depth(self) -> int:
        """Depth of the tree (0 for a leaf)."""
        if self.feature < 0 or self.left is None or self.right is None:
            return 0
        return 1 + max(self.left.depth(), self.right.depth())


def dr_rewards(
    y: np.ndarray,
    t: np.ndarray,
    mu0: np.ndarray,
    mu1: np.ndarray,
    e: np.ndarray,
    cost: float = 0.0,
) -> np.ndarray:
    """Doubly robust rewards ``Γ``, shape (n, 2): column 0 control, column 1 treat (net of cost)."""
    g1 = mu1 + t * (y - mu1) / e - cost
    g0 = mu0 + (1 - t) * (y - mu0) / (1 - e)
    return np.column_stack([g0, g1])


def _from_depth1(r: np.ndarray | tuple[float, int, float, int, int]) -> Node:
    _, f, thr, la, ra = (float(v) for v in r)
    if f < 0:
        return Node(action=int(la))
    return Node(int(f), thr, Node(action=int(la)), Node(action=int(ra)))


def _orders(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.argsort(X, axis=0, kind="stable"))


def learn_tree(X: np.ndarray, gamma: np.ndarray, depth: int, split_step: int = 1) -> Node:
    """The reward-maximising tree of ``depth`` (1, 2 exact; 3 greedy below depth 2)."""
    from cqox.estimators.cate import _policy_kernels as k

    X = np.ascontiguousarray(X, dtype=np.float64)
    gamma = np.ascontiguousarray(gamma, dtype=np.float64)
    order = _orders(X)
    if depth == 1:
        return _from_depth1(k.depth1(X, order, gamma, np.ones(len(X), dtype=np.bool_)))
    _, f, thr, left, right = k.depth2(X, order, gamma, max(1, split_step))
    if f < 0:
        tree = _from_depth1(left)
    else:
        tree = Node(int(f), float(thr), _from_depth1(left), _from_depth1(right))
    if depth >= 3:
        tree = _grow_leaves(tree, X, order, gamma, np.ones(len(X), dtype=np.bool_))
    return tree


def _grow_leaves(
    node: Node, X: np.ndarray, order: np.ndarray, gamma: np.ndarray, mask: np.ndarray
) -> Node:
    """Split each depth-2 leaf by its best depth-1 tree (the greedy third level)."""
    from cqox.estimators.cate import _policy_kernels as k

    if node.feature < 0 or node.left is None or node.right is None:
        return _from_depth1(k.depth1(X, order, gamma, mask))
    go_left = X[:, node.feature] <= node.threshold
    return Node(
        node.feature,
        node.threshold,
        _grow_leaves(node.left, X, order, gamma, mask & go_left),
        _grow_leaves(node.right, X, order, gamma, mask & ~go_left),
    )


@dataclass(frozen=True)
class PolicyValue:
    """Held-out value of a learned policy and its advantages.

    Attributes
    ----------
    value, se : float
        ``mean Γ_i(π̂_{−k(i)}(x_i))`` and ``sd/√n``.
    advantage_all, advantage_all_se, advantage_none, advantage_none_se : float
        Value minus that of treating everyone / no one (paired SEs).
    actions : ndarray, shape (n,)
        Held-out actions of the fitted rows.
    """

    value: float
    se: float
    advantage_all: float
    advantage_all_se: float
    advantage_none: float
    advantage_none_se: float
    actions: np.ndarray


def _mean_se(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


def heldout_value(
    X: np.ndarray, gamma: np.ndarray, folds: np.ndarray, depth: int, split_step: int = 1
) -> PolicyValue:
    """Cross-fitted policy value: learn on ``K − 1`` folds, score on the held-out fold."""
    actions = np.empty(len(X), dtype=np.int64)
    for f in np.unique(folds):
        test = folds == f
        tree = learn_tree(X[~test], gamma[~test], depth, split_step)
        actions[test] = tree.act(X[test])
    reward = gamma[np.arange(len(X)), actions]
    value, se = _mean_se(reward)
    a_all, s_all = _mean_se(reward - gamma[:, 1])
    a_none, s_none = _mean_se(reward - gamma[:, 0])
    return PolicyValue(value, se, a_all, s_all, a_none, s_none, actions)


def tree_table(node: Node, names: list[str]) -> pd.DataFrame:
    """One row per node, depth-first: ``node, depth, covariate, threshold, left, right, action``."""
    rows: list[dict[str, Any]] = []

    def walk(nd: Node, depth: int) -> int:
        me = len(rows)
        rows.append(
            {
                "node": me,
                "depth": depth,
                "covariate": None,
                "threshold": None,
                "left": None,
                "right": None,
                "action": None,
            }
        )
        if nd.feature < 0 or nd.left is None or nd.right is None:
            rows[me]["action"] = int(nd.action)
            return me
        rows[me]["covariate"] = names[nd.feature]
        rows[me]["threshold"] = float(nd.threshold)
        rows[me]["left"] = walk(nd.left, depth + 1)
        rows[me]["right"] = walk(nd.right, depth + 1)
        return me

    walk(node, 0)
    return pd.DataFrame(rows)
