"""Networks with interference and known direct and spillover effects.

Units sit on an Erdős–Rényi, small-world (Watts–Strogatz) or stochastic-block graph
(NetworkX generators).  Half of them (rounded down) are treated by complete
randomisation, and the outcome follows the exposure mapping "any treated neighbour"::

    y_i = α_i + direct · z_i + spillover · e_i + ε_i,   e_i = 1{Σ_j A_ij z_j ≥ 1}

so that the ``direct`` contrast (treated, unexposed − control, unexposed) is
``direct``, ``spillover`` is ``spillover`` and ``total`` is their sum.  The graph and
the unit effects ``α_i ~ N(0, 1)`` depend on ``graph_seed`` only, so that repeated
``seed`` values re-randomise the assignment and the noise on one fixed network.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd


def make_graph(n: int, kind: str, mean_degree: float, graph_seed: int) -> nx.Graph:
    """An undirected graph of ``n`` nodes ``0..n-1`` with about ``mean_degree``."""
    if kind == "erdos_renyi":
        return nx.fast_gnp_random_graph(n, mean_degree / (n - 1), seed=graph_seed)
    if kind == "small_world":
        return nx.watts_strogatz_graph(n, max(2, round(mean_degree)), 0.1, seed=graph_seed)
    if kind == "stochastic_block":
        k = 10
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        p_out = 0.2 * mean_degree / (n - n / k)
        p_in = 0.8 * mean_degree / (n / k - 1)
        probs = [[p_in if i == j else p_out for j in range(k)] for i in range(k)]
        g = nx.stochastic_block_model(sizes, probs, seed=graph_seed, sparse=True)
        return nx.convert_node_labels_to_integers(g)
    raise ValueError(f"unknown graph kind {kind!r}")


def network_interference(
    n: int = 1000,
    kind: str = "erdos_renyi",
    mean_degree: float = 4.0,
    direct: float = 1.0,
    spillover: float = 0.5,
    noise: float = 1.0,
    seed: int = 0,
    graph_seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Units ``(id, y, t)``, edges ``(source, target)`` and the true effects."""
    g = make_graph(n, kind, mean_degree, graph_seed)
    alpha = np.random.default_rng(graph_seed + 10_000).normal(size=n)
    rng = np.random.default_rng(seed)
    z = np.zeros(n)
    z[rng.choice(n, n // 2, replace=False)] = 1.0
    a = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr")
    e = np.asarray(a @ z) >= 1
    y = alpha + direct * z + spillover * e + noise * rng.normal(size=n)
    units = pd.DataFrame({"id": np.arange(n), "y": y, "t": z.astype(int)})
    edges = pd.DataFrame(list(g.edges()), columns=["source", "target"])
    truth = {"direct": direct, "spillover": spillover, "total": direct + spillover}
    return units, edges, truth
