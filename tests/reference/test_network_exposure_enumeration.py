"""Exposure probabilities against exhaustive enumeration of every assignment on small graphs.

The enumeration computes each unit's exposure by walking its NetworkX neighbours (not
with the package's sparse code) and weights every assignment by its design probability.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from cqox.estimators.network.exposure import ExposureMapping, conditions
from cqox.estimators.network.graph_input import exposure_matrix
from cqox.estimators.network.horvitz_thompson import aronow_samii_variance, dependent_pairs
from cqox.estimators.network.probabilities import (
    complete_draw,
    exact_bernoulli,
    exact_complete,
    monte_carlo_joint,
    monte_carlo_marginals,
)

N = 9
MAPPINGS = [ExposureMapping("count", 1), ExposureMapping("count", 2), ExposureMapping("share", 0.5)]


def graph(seed: int) -> nx.Graph:
    g = nx.gnp_random_graph(N, 0.35, seed=seed)
    return g


def condition_by_walk(g: nx.Graph, z: tuple[int, ...], mapping: ExposureMapping) -> list[int]:
    out = []
    for i in range(N):
        nb = list(g.neighbors(i))
        treated = sum(z[j] for j in nb)
        if not nb:
            e = False
        elif mapping.kind == "share":
            e = treated / len(nb) >= mapping.threshold - 1e-12
        else:
            e = treated >= mapping.threshold
        out.append(2 * z[i] + int(e))
    return out


def enumerate_design(
    design: str, p: float = 0.3, m: int = 4
) -> list[tuple[tuple[int, ...], float]]:
    if design == "bernoulli":
        return [
            (z, p ** sum(z) * (1 - p) ** (N - sum(z))) for z in itertools.product((0, 1), repeat=N)
        ]
    combos = list(itertools.combinations(range(N), m))
    return [(tuple(int(i in c) for i in range(N)), 1 / len(combos)) for c in combos]


def exhaustive(g: nx.Graph, design: str, mapping: ExposureMapping) -> tuple[np.ndarray, list]:
    pi = np.zeros((N, 4))
    table = []
    for z, w in enumerate_design(design):
        c = condition_by_walk(g, z, mapping)
        pi[np.arange(N), c] += w
        table.append((z, w, c))
    return pi, table


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: f"{m.kind}{m.threshold:g}")
def test_exact_probabilities_equal_enumeration(seed: int, mapping: ExposureMapping) -> None:
    g = graph(seed)
    degree = np.array([g.degree(i) for i in range(N)])
    pi_b, _ = exhaustive(g, "bernoulli", mapping)
    np.testing.assert_allclose(exact_bernoulli(degree, 0.3, mapping), pi_b, atol=1e-12)
    pi_c, _ = exhaustive(g, "complete", mapping)
    np.testing.assert_allclose(exact_complete(degree, 4, mapping), pi_c, atol=1e-12)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: f"{m.kind}{m.threshold:g}")
def test_monte_carlo_marginals_and_joints_match_enumeration(mapping: ExposureMapping) -> None:
    g = graph(4)
    a = exposure_matrix(g, list(range(N)))
    pi, table = exhaustive(g, "complete", mapping)
    r = 40_000
    mc = monte_carlo_marginals(a, mapping, complete_draw(N, 4), r, np.random.default_rng(0))
    tol = 4.5 * np.sqrt(pi * (1 - pi) / r) + 1e-12
    assert np.all(np.abs(mc - pi) <= tol)
    # joint P(C_i = c_i, C_j = c_j) for every ordered pair and a fixed choice of conditions
    ci = np.array([k % 4 for k in range(N)])
    ii, jj = np.array([(i, j) for i in range(N) for j in range(N) if i != j]).T
    cj = (ci[jj] + 1) % 4
    joint, _, _ = monte_carlo_joint(
        a, mapping, complete_draw(N, 4), r, np.random.default_rng(1), ii, jj, ci, cj
    )
    exact = np.zeros(ii.size)
    for _, w, c in table:
        c = np.asarray(c)
        exact += w * ((c[ii] == ci[ii]) & (c[jj] == cj))
    assert np.all(np.abs(joint - exact) <= 4.5 * np.sqrt(exact * (1 - exact) / r) + 1e-12)


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("contrast", [(2, 0), (1, 0), (3, 0)], ids=["direct", "spillover", "total"])
def test_ht_is_unbiased_and_aronow_samii_variance_conservative_by_enumeration(
    seed: int, contrast: tuple[int, int]
) -> None:
    """Bernoulli(0.5): E[τ̂_HT] = τ and E[V̂] ≥ Var(τ̂), both exactly over all 2^N draws."""
    mapping = ExposureMapping("count", 1)
    g = nx.gnp_random_graph(N, 0.3, seed=seed)
    a_mat = exposure_matrix(g, list(range(N)))
    degree = np.diff(a_mat.indptr)
    pi = exact_bernoulli(degree, 0.5, mapping)
    a, b = contrast
    pop = (pi[:, a] > 0) & (pi[:, b] > 0)
    rng = np.random.default_rng(seed)
    y_pot = rng.normal(size=(N, 4)) + np.array([0.0, 0.7, 1.5, 2.0])  # y_i(c), heterogeneous
    tau = float(np.mean(y_pot[pop, a] - y_pot[pop, b]))
    design = enumerate_design("bernoulli", p=0.5)
    pair_i, pair_j = dependent_pairs(a_mat)
    # exact joint probabilities P(C_i = c, C_j = c') for all pairs and conditions
    conds = np.array([conditions(a_mat, np.array(z, float), mapping) for z, _ in design])
    weights = np.array([w for _, w in design])
    ests, vhats = [], []
    for c_obs in conds:
        sign = np.where(pop & (c_obs == a), 1.0, np.where(pop & (c_obs == b), -1.0, 0.0))
        y = y_pot[np.arange(N), c_obs]
        pi_obs = pi[np.arange(N), c_obs]
        ests.append(float(np.sum(sign * y / pi_obs) / pop.sum()))
        other = np.where(c_obs == a, b, a)
        keep = (sign[pair_i] != 0) & pop[pair_j]
        pi2 = np.concatenate([pair_i[keep]] * 2)
        pj2 = np.concatenate([pair_j[keep]] * 2)
        same = np.repeat([True, False], keep.sum())
        cj = np.where(same, c_obs[pi2], other[pi2])
        joint = weights @ ((conds[:, pi2] == c_obs[pi2]) & (conds[:, pj2] == cj))
        vhats.append(
            aronow_samii_variance(
                y, c_obs, sign, pi_obs, pi_obs, pi2, pj2, same, joint, int(pop.sum())
            )
        )
    ests_a = np.array(ests)
    mean = float(weights @ ests_a)
    var = float(weights @ (ests_a - mean) ** 2)
    assert mean == pytest.approx(tau, abs=1e-10)
    assert float(weights @ np.array(vhats)) >= var * (1 - 1e-9)
