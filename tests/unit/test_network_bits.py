"""The bit-packed Monte Carlo equals the dense computation draw by draw."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from cqox.estimators.network.exposure import ExposureMapping, conditions, exposed
from cqox.estimators.network.graph_input import exposure_matrix
from cqox.estimators.network.probabilities import (
    bernoulli_draw,
    cluster_draw,
    complete_draw,
    exposure_words,
    pack,
    unpack,
)

#: Binomial frequency checks: 5 standard errors (a false alarm once in ~3.5 million).
Z_SE = 5.0


def _graph(n: int, seed: int, weighted: bool = False) -> tuple[nx.Graph, list[int]]:
    g = nx.gnp_random_graph(n, 6.0 / n, seed=seed)
    g.add_edges_from((0, j) for j in range(1, 40))  # a hub: wider counters
    if weighted:
        rng = np.random.default_rng(seed)
        for u, v in g.edges():
            g[u][v]["weight"] = float(rng.uniform(0.2, 2.0))
    return g, list(range(n))


def test_pack_and_unpack_round_trip_with_a_partial_last_word() -> None:
    z = (np.random.default_rng(0).random((7, 131)) < 0.4).astype(np.float32)
    bits = pack(z)
    assert bits.shape == (7, 3) and bits.dtype == np.uint64
    np.testing.assert_array_equal(unpack(bits, 131), z)


@pytest.mark.parametrize(
    "mapping",
    [
        ExposureMapping("count", 1),
        ExposureMapping("count", 2),
        ExposureMapping("count", 5),
        ExposureMapping("share", 0.5),
        ExposureMapping("share", 1.0),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_exposure_bits_equal_the_dense_threshold_draw_by_draw(
    mapping: ExposureMapping, weighted: bool
) -> None:
    g, ids = _graph(300, 1, weighted)
    a = exposure_matrix(g, ids, weighted=weighted)
    z = (np.random.default_rng(2).random((300, 200)) < 0.3).astype(np.float32)
    got = unpack(exposure_words(a, mapping, pack(z)), 200)
    want = exposed(a, z, mapping)
    np.testing.assert_array_equal(got.astype(bool), want)
    c = conditions(a, z, mapping)
    assert set(np.unique(c)) <= {0, 1, 2, 3}


def test_complete_bits_treat_exactly_m_and_every_unit_equally_often() -> None:
    n, m, size = 50, 17, 4000
    z = complete_draw(n, m)(np.random.default_rng(3), size)
    assert z.shape == (n, size)
    np.testing.assert_array_equal(z.sum(axis=0), m)
    p = m / n
    se = np.sqrt(p * (1 - p) / size)
    assert np.abs(z.mean(axis=1) - p).max() < Z_SE * se


@pytest.mark.parametrize("p", [0.5, 0.3, 0.01])
def test_bernoulli_bits_have_the_stated_probability(p: float) -> None:
    z = bernoulli_draw(400, p)(np.random.default_rng(4), 5000)
    se = np.sqrt(p * (1 - p) / z.size)
    assert abs(z.mean() - p) < Z_SE * se


def test_cluster_bits_move_whole_clusters() -> None:
    codes = np.repeat(np.arange(10), 5)
    z = cluster_draw(codes, 4)(np.random.default_rng(5), 300)
    for k in range(10):
        block = z[codes == k]
        assert (block == block[0]).all()
    np.testing.assert_array_equal(z.sum(axis=0), 20)
