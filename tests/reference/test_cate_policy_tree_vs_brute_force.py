"""The exact policy-tree search against a brute-force twin (every tree enumerated)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cqox.estimators.cate.policy import learn_tree

pytestmark = pytest.mark.reference


def _splits(X: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
    out = []
    for k in range(X.shape[1]):
        vals = np.unique(X[rows, k])
        out += [(k, float(v)) for v in vals[:-1]]
    return out


def _best_leaf(gamma: np.ndarray, rows: np.ndarray) -> float:
    return float(gamma[rows].sum(axis=0).max()) if rows.any() else 0.0


def _best_depth1(X: np.ndarray, gamma: np.ndarray, rows: np.ndarray) -> float:
    best = _best_leaf(gamma, rows)
    for k, v in _splits(X, rows):
        left = rows & (X[:, k] <= v)
        best = max(best, _best_leaf(gamma, left) + _best_leaf(gamma, rows & ~left))
    return best


def _best_depth2(X: np.ndarray, gamma: np.ndarray) -> float:
    rows = np.ones(len(X), dtype=bool)
    best = _best_depth1(X, gamma, rows)
    for k, v in _splits(X, rows):
        left = X[:, k] <= v
        best = max(best, _best_depth1(X, gamma, left) + _best_depth1(X, gamma, ~left))
    return best


def _reward(tree: object, X: np.ndarray, gamma: np.ndarray) -> float:
    a = tree.act(X)  # type: ignore[attr-defined]
    return float(gamma[np.arange(len(X)), a].sum())


@pytest.mark.parametrize(("seed", "n_actions"), list(itertools.product(range(4), (2, 3))))
def test_exact_search_finds_the_brute_force_optimum(seed: int, n_actions: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 4, n), rng.uniform(size=n)])
    gamma = rng.normal(size=(n, n_actions)) + np.outer(X[:, 0] > 0, np.arange(n_actions))
    for depth, want in (
        (1, _best_depth1(X, gamma, np.ones(n, dtype=bool))),
        (2, _best_depth2(X, gamma)),
    ):
        tree = learn_tree(X, gamma, depth)
        assert tree.depth() <= depth
        assert _reward(tree, X, gamma) == pytest.approx(want, abs=1e-9)


def test_greedy_depth_three_never_loses_reward() -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, 3))
    gamma = rng.normal(size=(60, 2))
    r2 = _reward(learn_tree(X, gamma, 2), X, gamma)
    r3 = _reward(learn_tree(X, gamma, 3), X, gamma)
    assert r3 >= r2 - 1e-12
