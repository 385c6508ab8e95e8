"""``network_regression`` recovers known effects; its network HAC equals a brute-force twin.

Data: :func:`cqox.simulate.network.network_interference` (complete randomisation, so
treatment and exposure are unconfounded and the linear model holds with β_ze = 0):
truth within 3 SE on three graph kinds × three estimands.  Measured coverage (150
replications, 1,000 units, mean degree 4) is in docs/validation_network.md.
"""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.estimators.network.graph_input import build_graph, exposure_matrix
from cqox.estimators.network.horvitz_thompson import dependent_pairs
from cqox.estimators.network.regression import network_hac
from cqox.simulate.network import network_interference

KINDS = ["erdos_renyi", "small_world", "stochastic_block"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("estimand", ["direct", "spillover", "total"])
def test_truth_within_three_se(kind: str, estimand: str) -> None:
    df, edges, truth = network_interference(n=2000, kind=kind, mean_degree=4.0, seed=11)
    est = cqox.estimate(
        "network_regression",
        df,
        outcome="y",
        treatment="t",
        unit="id",
        network=edges,
        estimand=estimand,
    )
    assert abs(est.estimate - truth[estimand]) < 3 * est.se, (est.estimate, est.se)


def test_network_hac_equals_a_double_loop_over_units_sharing_a_neighbour() -> None:
    df, edges, _ = network_interference(n=60, mean_degree=3.0, seed=2)
    ids = df["id"].tolist()
    a = exposure_matrix(build_graph(edges, ids), ids)
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(60), rng.normal(size=(60, 2))])
    u = rng.normal(size=60)
    c = np.array([0.0, 1.0, 0.0])
    pi, pj = dependent_pairs(a)
    got = network_hac(x, u, c, pi, pj)
    # twin: closed neighbourhoods as sets, every pair checked by hand, dense matrices
    hood = [{i, *a.indices[a.indptr[i] : a.indptr[i + 1]].tolist()} for i in range(60)]
    inv = np.linalg.inv(x.T @ x)
    hat = x @ inv @ x.T
    g = x @ inv @ c / np.sqrt(1 - np.diag(hat))
    K = np.array(
        [[1.0 if i == j or hood[i] & hood[j] else 0.0 for j in range(60)] for i in range(60)]
    )
    W = g[:, None] * K * g[None, :]
    M = np.eye(60) - hat
    G = M @ W @ M
    # unbiased under independent homoskedastic errors: scaled by c'(X'X)⁻¹c / tr(G)
    want = float((u * g) @ K @ (u * g)) * float(c @ inv @ c) / np.trace(G)
    want_df = np.trace(G) ** 2 / np.trace(G @ G)
    assert not got.fell_back
    assert got.var == pytest.approx(want, rel=1e-10)
    assert got.var_hc2 == pytest.approx(float(np.sum((u * g) ** 2)), rel=1e-10)
    assert got.df == pytest.approx(want_df, rel=1e-10)


def test_bell_mccaffrey_df_of_hc2_without_pairs_is_the_dense_trace_ratio() -> None:
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(40), rng.integers(0, 2, 40), rng.normal(size=40)])
    u = rng.normal(size=40)
    c = np.array([0.0, 1.0, 0.0])
    none = np.zeros(0, dtype=np.int64)
    got = network_hac(x, u, c, none, none)
    inv = np.linalg.inv(x.T @ x)
    hat = x @ inv @ x.T
    g = x @ inv @ c / np.sqrt(1 - np.diag(hat))
    M = np.eye(40) - hat
    G = M @ np.diag(g**2) @ M
    assert got.var == pytest.approx(got.var_hc2, rel=1e-12)
    assert got.scale == pytest.approx(1.0, rel=1e-10)
    assert got.df == pytest.approx(np.trace(G) ** 2 / np.trace(G @ G), rel=1e-10)
    # a two-group mean difference: HC2 is unbiased and ν below n − k
    assert 1 < got.df < 40 - 3
