"""Speed of Monte Carlo exposure probabilities (``network_exposure``).

    python -m benchmarks.network_probabilities [--n 50000] [--draws 10000]

Erdős–Rényi graph with mean degree 10, exposure "any treated neighbour", Bernoulli(0.5)
and complete randomisation.  Prints one row per design: seconds, peak traced memory
(NumPy allocations) and the largest deviation from the exact probabilities.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import networkx as nx
import numpy as np

from cqox.estimators.network.exposure import ExposureMapping
from cqox.estimators.network.graph_input import exposure_matrix
from cqox.estimators.network.probabilities import (
    bernoulli_draw,
    complete_draw,
    exact_bernoulli,
    exact_complete,
    monte_carlo_marginals,
)


def main() -> None:
    """Time the Monte Carlo marginals against the exact ones."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--degree", type=float, default=10.0)
    args = ap.parse_args()
    g = nx.fast_gnp_random_graph(args.n, args.degree / (args.n - 1), seed=0)
    a = exposure_matrix(g, list(range(args.n)))
    degree = np.diff(a.indptr)
    mapping = ExposureMapping("count", 1)
    m = args.n // 2
    rows = [
        ("bernoulli", bernoulli_draw(args.n, 0.5), exact_bernoulli(degree, 0.5, mapping)),
        ("complete", complete_draw(args.n, m), exact_complete(degree, m, mapping)),
    ]
    print(f"n={args.n} edges={g.number_of_edges()} draws={args.draws}")
    for name, draw, exact in rows:
        tracemalloc.start()
        t0 = time.perf_counter()
        mc = monte_carlo_marginals(a, mapping, draw, args.draws, np.random.default_rng(0))
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        dev = float(np.abs(mc - exact).max())
        print(f"{name:<10} {secs:7.1f} s  peak {peak:6.0f} MiB  max |MC − exact| {dev:.4f}")


if __name__ == "__main__":
    main()
