"""The compiled matching kernels: ties, calipers, self-exclusion and scaling."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cqox.estimators.backdoor._matching_kernels import brute_neighbours, kd_neighbours
from cqox.estimators.backdoor.matching import match_scores, match_within

#: An O(n²) search over 2·10⁵ × 2·10⁵ pairs takes minutes; O(n log n) takes well under a
#: second.  The bound is loose enough for a busy shared machine.
LARGE_N_SECONDS = 10.0


def _sets(m) -> list[list[int]]:
    return [sorted(m.idx[m.ptr[i] : m.ptr[i + 1]].tolist()) for i in range(len(m.ptr) - 1)]


def test_ties_at_the_mth_distance_are_all_kept() -> None:
    ref = np.array([0.0, 1.0, 1.0, 3.0, 5.0])
    m = match_scores(np.array([2.0]), ref, 1)
    # distance 1 to the two 1.0s and to 3.0: all three are tied nearest
    assert _sets(m) == [[1, 2, 3]]


def test_caliper_drops_far_matches_and_leaves_unmatched_empty() -> None:
    ref = np.array([0.0, 10.0])
    m = match_scores(np.array([0.5, 5.0]), ref, 1, caliper=1.0)
    assert _sets(m) == [[0], []]


def test_within_matching_excludes_self_even_with_duplicates() -> None:
    s = np.array([1.0, 1.0, 2.0, 4.0])
    m = match_within(s, 1)
    assert _sets(m) == [[1], [0], [0, 1], [2]]


def test_within_cells_never_crosses_a_cell() -> None:
    s = np.array([0.0, 0.1, 0.2, 0.3])
    cells = np.array([0, 1, 0, 1])
    m = match_within(s, 1, cells)
    assert _sets(m) == [[2], [3], [0], [1]]


def test_matching_scales_to_large_samples() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    s_q, s_r = rng.standard_normal(n), rng.standard_normal(n)
    match_scores(s_q[:10], s_r[:10], 1)  # compile outside the timing
    match_within(s_r[:10], 2)
    start = time.perf_counter()
    m = match_scores(s_q, s_r, 1)
    w = match_within(s_r, 2)
    elapsed = time.perf_counter() - start
    assert len(m.ptr) == n + 1 and len(w.ptr) == n + 1
    assert elapsed < LARGE_N_SECONDS


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("caliper", [np.inf, 1.05])  # off the 0.1 grid of distances
def test_brute_force_search_equals_kd_tree(exclude_self: bool, caliper: float) -> None:
    rng = np.random.default_rng(1)
    Zr = np.round(rng.standard_normal((400, 4)), 1)  # rounding creates ties
    Zq = Zr if exclude_self else np.round(rng.standard_normal((150, 4)), 1)
    kd = kd_neighbours(Zq, Zr, 2, caliper, exclude_self)
    brute = brute_neighbours(Zq, Zr, 2, caliper, exclude_self, block=64)
    assert np.array_equal(kd[0], brute[0])
    for i in range(len(Zq)):
        a = np.sort(kd[1][kd[0][i] : kd[0][i + 1]])
        b = np.sort(brute[1][brute[0][i] : brute[0][i + 1]])
        assert np.array_equal(a, b)


def test_massive_ties_are_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import cqox
    from cqox.estimators.backdoor import matching

    monkeypatch.setattr(matching, "MAX_MATCHED_PAIRS", 1000)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, 400)  # one binary covariate: two distinct propensities
    t = (rng.random(400) < 0.3 + 0.3 * x).astype(int)
    df = pd.DataFrame({"y": rng.standard_normal(400), "t": t, "x": x})
    with pytest.raises(cqox.EstimationError, match="mahalanobis"):
        cqox.estimate("psm", df, outcome="y", treatment="t", covariates=["x"])


def test_psm_without_covariates_says_so() -> None:
    import cqox

    df, _ = cqox.simulate.confounded_binary(n=200, seed=0)
    with pytest.raises(cqox.EstimationError, match="covariate"):
        cqox.estimate("psm", df, outcome="y", treatment="t", covariates=[])
