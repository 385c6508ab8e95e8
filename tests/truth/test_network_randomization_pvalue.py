"""The randomization p-value of ``network_exposure`` is valid under the sharp null.

Under the sharp null of no effect of any assignment the outcomes are fixed, and the
p-value computed from re-draws of the same design is exact: ``P(p ≤ α) ≤ α``.  Data:
:func:`cqox.simulate.network.network_interference` with ``direct = spillover = 0``;
with a large spillover the test rejects.
"""

from __future__ import annotations

import numpy as np

import cqox
from cqox.simulate.network import network_interference

#: 60 null replications at α = 0.1: 6 rejections expected, SD 2.3; 13 is 3 SD above.
MAX_NULL_REJECTIONS = 13


def _p(seed: int, spillover: float) -> float:
    df, edges, _ = network_interference(
        n=300, mean_degree=2.0, direct=0.0, spillover=spillover, seed=seed
    )
    est = cqox.estimate(
        "network_exposure",
        df,
        outcome="y",
        treatment="t",
        unit="id",
        network=edges,
        estimand="spillover",
        n_draws=300,
        n_perm=199,
        seed=seed,
    )
    assert est.p_value == est.diagnostics["p_value_randomization"]
    return float(est.p_value)


def test_randomization_p_value_keeps_its_size_under_the_sharp_null() -> None:
    p = np.array([_p(seed, 0.0) for seed in range(60)])
    assert int(np.sum(p <= 0.1)) <= MAX_NULL_REJECTIONS, np.sort(p)[:15]
    assert p.min() >= 1 / 200  # the +1 in numerator and denominator


def test_randomization_p_value_rejects_a_large_spillover() -> None:
    p = np.array([_p(seed, 1.5) for seed in range(10)])
    assert np.mean(p <= 0.05) >= 0.8, p
