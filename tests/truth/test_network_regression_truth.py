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
    got, hc, fell_back = network_hac(x, u, c, pi, pj)
    # twin: closed neighbourhoods as sets, every pair checked by hand
    hood = [{i, *a.indices[a.indptr[i] : a.indptr[i + 1]].tolist()} for i in range(60)]
    psi = x @ np.linalg.inv(x.T @ x) @ c * u
    want = sum(
        psi[i] * psi[j] for i in range(60) for j in range(60) if i == j or hood[i] & hood[j]
    ) * (60 / 57)
    assert not fell_back
    assert got == pytest.approx(want, rel=1e-10)
    assert hc == pytest.approx(float(np.sum(psi**2)) * 60 / 57, rel=1e-10)
