"""``network_regression`` recovers known effects; its network HAC equals a brute-force twin.

Data: :func:`cqox.simulate.network.network_interference` (complete randomisation, so
treatment and exposure are unconfounded and the linear model holds with β_ze = 0):
truth within 3 SE on three graph kinds × three estimands; the variance against a dense
twin; and the coverage study (``slow``, bounded form ``ci_bounded``) of the small-sample
corrected intervals on one fixed graph per kind, assignment and noise re-drawn
(numbers in docs/validation_network.md and docs/accuracy.md).
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


def coverage(kind: str, reps: int, estimands: tuple[str, ...], seed0: int) -> dict[str, float]:
    """Share of intervals covering the truth, 1,000 units, mean degree 4, fixed graph."""
    hits = dict.fromkeys(estimands, 0)
    for seed in range(seed0, seed0 + reps):
        df, edges, truth = network_interference(n=1000, kind=kind, mean_degree=4.0, seed=seed)
        for e in estimands:
            est = cqox.estimate(
                "network_regression",
                df,
                outcome="y",
                treatment="t",
                unit="id",
                network=edges,
                estimand=e,
            )
            hits[e] += est.ci[0] <= truth[e] <= est.ci[1]
    return {e: h / reps for e, h in hits.items()}


#: 300 replications: a 95% rate has a Monte-Carlo SE of 1.26 points, so the 93–97%
#: band is widened by one SE on each side.
BAND_300 = (0.917, 0.983)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 900 fits, ~2 min of CPU; more wall time on a shared machine
@pytest.mark.parametrize("kind", KINDS)
def test_coverage_in_band(kind: str) -> None:
    # before the correction (normal quantile, n/(n − k)): 91.5–92.5% on the small-world
    # graph over 1,500 replications; after: 94.0–94.4% over 2,000
    cov = coverage(kind, 300, ("direct", "spillover", "total"), seed0=5000)
    assert all(BAND_300[0] <= c <= BAND_300[1] for c in cov.values()), cov


@pytest.mark.ci_bounded
def test_coverage_in_band_bounded() -> None:
    # the graph that under-covered most; 120 replications (MCSE 2 points)
    cov = coverage("small_world", 120, ("spillover",), seed0=7000)
    assert 0.90 <= cov["spillover"] <= 1.0, cov
