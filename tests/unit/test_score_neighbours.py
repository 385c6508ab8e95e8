"""The NumPy score-matching kernels give the compiled kernels' matched sets exactly."""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.backdoor import _matching_kernels as compiled
from cqox.estimators.backdoor import _score_neighbours as vectorised
from cqox.estimators.backdoor.matching import _cells_sort, _tie_tol


def _scores(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "continuous":
        return rng.standard_normal(n)
    if kind == "coarse":  # many exact ties
        return rng.integers(0, 7, n) / 7.0
    # ties up to rounding: values one ulp apart count as ties within TIE_RTOL
    base = rng.integers(0, 20, n) / 3.0
    return base + rng.integers(0, 2, n) * np.spacing(base + 1.0)


def _cells(rng: np.random.Generator, n: int, with_cells: bool) -> np.ndarray | None:
    # cell 3 is left empty in the reference half so that empty segments are exercised
    return rng.integers(0, 5, n) if with_cells else None


@pytest.mark.parametrize("kind", ["continuous", "coarse", "near_ties"])
@pytest.mark.parametrize("m", [1, 2, 4])
@pytest.mark.parametrize("with_cells", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_query_matching_equals_the_compiled_kernel(
    kind: str, m: int, with_cells: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    s_q, s_r = _scores(rng, 300, kind), _scores(rng, 200, kind)
    cq, cr = _cells(rng, 300, with_cells), _cells(rng, 200, with_cells)
    if cr is not None:
        cr[cr == 3] = 4
    order, ref, lo, hi = _cells_sort(s_r, cr, s_q, cq)
    no_self = np.full(len(s_q), -1, np.int64)
    tol = _tie_tol(s_q, s_r)
    want = compiled.nn_intervals(s_q, lo, hi, no_self, ref, m, tol, np.inf)
    got = vectorised.nn_intervals(s_q, lo, hi, no_self, ref, m, tol)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    want_sets = compiled.expand_intervals(*want, no_self, order.astype(np.int64))
    got_sets = vectorised.expand_intervals(*got, no_self, order)
    np.testing.assert_array_equal(got_sets[0], want_sets[0])
    np.testing.assert_array_equal(got_sets[1], want_sets[1])


@pytest.mark.parametrize("kind", ["continuous", "coarse", "near_ties"])
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("with_cells", [False, True])
def test_within_matching_equals_the_compiled_kernel(kind: str, m: int, with_cells: bool) -> None:
    rng = np.random.default_rng(7)
    s = _scores(rng, 400, kind)
    c = _cells(rng, 400, with_cells)
    order, ref, lo, hi = _cells_sort(s, c, s, c)
    inv = np.empty(len(s), np.int64)
    inv[order] = np.arange(len(s))
    tol = _tie_tol(s)
    want = compiled.nn_intervals(ref[inv], lo, hi, inv, ref, m, tol, np.inf)
    got = vectorised.nn_intervals(ref[inv], lo, hi, inv, ref, m, tol)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    want_sets = compiled.expand_intervals(*want, inv, order.astype(np.int64))
    got_sets = vectorised.expand_intervals(*got, inv, order)
    np.testing.assert_array_equal(got_sets[1], want_sets[1])
    np.testing.assert_array_equal(got_sets[0], want_sets[0])


def test_a_single_unit_and_an_empty_reference_give_empty_sets() -> None:
    one = np.array([0.5])
    ptr, idx = vectorised.expand_intervals(
        *vectorised.nn_intervals(one, np.array([0]), np.array([1]), np.array([0]), one, 1, 0.0),
        np.array([0]),
        np.array([0]),
    )
    assert ptr.tolist() == [0, 0] and idx.size == 0
    empty = np.zeros(0)
    left, right = vectorised.nn_intervals(
        one, np.array([0]), np.array([0]), np.array([-1]), empty, 2, 0.0
    )
    assert (right - left).tolist() == [0]
