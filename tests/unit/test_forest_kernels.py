"""The causal forest's compiled kernels: one specialisation each, threads change nothing.

The kernels are serial ``nogil`` functions run on slices of the trees (rows) in
Python threads (:func:`cqox.estimators.cate._forest_kernels.grow_forest`); before,
they were Numba ``parallel=True`` kernels, whose compilation cost 8-10 s of the
family's warm-up.  The reference values below were computed by that parallel code
(CQOx at 3844830): the trees are identical and the estimates equal to rounding.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cqox.estimators.cate import _forest_kernels
from cqox.estimators.cate.forest import ForestParams, grow

#: Sums of many floats, compared with the parallel code's: the same operations in the
#: same order, so equal to the last bits; this leaves room only for printing them.
REL_TOL = 1e-12

#: (rows, covariates, honest, ci_group_size, seed) → digest of the integer tree arrays
#: and oob bits, then Σ leaf stats, Σ τ̂ and Σ SE out-of-bag, Σ τ̂ and Σ SE on new rows,
#: from the parallel kernels (CQOx 3844830, n_threads=1).
REFERENCE = {
    (300, 3, True, 2, 1): (
        "dd8784c2c36839e2",
        7709.799203047488,
        55.316032221837176,
        43.9826840756122,
        9.053655006750937,
        6.897935511080048,
    ),
    (500, 6, False, 1, 2): (
        "ffa213e353e3d89e",
        27225.937912029505,
        113.01062886130431,
        0.0,
        9.991481862850463,
        0.0,
    ),
    (257, 1, True, 4, 3): (
        "1cd7e98bc9ff21a1",
        7177.031656314544,
        47.56196499641852,
        29.172379163442763,
        8.922333851905393,
        5.891271465867683,
    ),
}


def _fit(
    n: int, p: int, honest: bool, group_size: int, seed: int, n_threads: int
) -> tuple[str, float, float, float, float, float]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 0] = np.round(X[:, 0], 1)  # ties: bins with several rows
    y = rng.normal(size=n) + X[:, 0]
    w = rng.normal(size=n) + 0.5 * X[:, 0]
    params = ForestParams(
        n_trees=40, honest=honest, ci_group_size=group_size, seed=seed, n_threads=n_threads
    )
    forest, codes = grow(X, y, w, params)
    tau, se = forest.predict_oob(codes)
    tau_new, se_new = forest.predict(rng.normal(size=(50, p)))
    digest = hashlib.sha256()
    for a in (forest.feat, forest.thr, forest.left, forest.depth, forest.offset, forest.oob_bits):
        digest.update(np.ascontiguousarray(a).tobytes())
    return (
        digest.hexdigest()[:16],
        float(forest.stats.sum()),
        float(np.nansum(tau)),
        float(np.nansum(se)),
        float(np.nansum(tau_new)),
        float(np.nansum(se_new)),
    )


@pytest.mark.parametrize("design", sorted(REFERENCE))
def test_the_threaded_forest_equals_the_parallel_kernels_results(
    design: tuple[int, int, bool, int, int],
) -> None:
    for n_threads in (1, 3):
        got = _fit(*design, n_threads=n_threads)
        want = REFERENCE[design]
        assert got[0] == want[0]
        assert got[1:] == pytest.approx(want[1:], rel=REL_TOL, abs=0.0)


def test_one_thread_and_several_give_identical_forests() -> None:
    assert _fit(400, 4, True, 2, 7, n_threads=1) == _fit(400, 4, True, 2, 7, n_threads=4)


def test_a_real_fit_compiles_each_forest_kernel_for_one_signature() -> None:
    from cqox.analysis import kernel_cache

    # the warm-up's own causal forest: the real fit `cqox warm-up` compiles for
    kernel_cache._warm_causal_forest()
    _fit(200, 2, False, 1, 4, n_threads=2)  # the direct entry points, another shape
    from numba.core.registry import CPUDispatcher

    kernels = {
        name: obj
        for name, obj in vars(_forest_kernels).items()
        if isinstance(obj, CPUDispatcher) and obj.__module__ == _forest_kernels.__name__
    }
    # a callee compiled into a caller loaded from the cache has no signature of its own
    used = {name: [str(s) for s in k.signatures] for name, k in kernels.items() if k.signatures}
    assert {"_grow_trees", "_predict_chunks", "membership_bits"} <= set(used)
    assert {name: len(sigs) for name, sigs in used.items()} == dict.fromkeys(used, 1), used
    assert not any(k.targetoptions.get("parallel") for k in kernels.values())
    # the threads run the compiled code side by side only if it releases the GIL
    assert kernels["_grow_trees"].targetoptions.get("nogil")
    assert kernels["_predict_chunks"].targetoptions.get("nogil")


def test_slices_run_on_several_threads_at_once() -> None:
    import threading

    met = threading.Barrier(2, timeout=30)  # breaks (raises) unless two slices overlap
    seen: list[int] = []

    def kernel(lo: int, hi: int) -> None:
        if lo < 2:
            met.wait()
        seen.extend(range(lo, hi))

    _forest_kernels._run_sliced(kernel, 8, n_threads=2)
    assert sorted(seen) == list(range(8))


def test_a_kernel_error_in_a_thread_reaches_the_caller() -> None:
    def kernel(lo: int, hi: int) -> None:
        if lo > 0:
            raise ValueError(f"slice {lo}-{hi}")

    with pytest.raises(ValueError, match="slice"):
        _forest_kernels._run_sliced(kernel, 16, n_threads=2)
