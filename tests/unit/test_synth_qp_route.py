"""The synthetic-control QP kernel survives a Numba without its private LAPACK wrapper.

:mod:`cqox.estimators.synth._qp` calls ``numba_xgesv`` (private to Numba) only when it
imports and passes a probe at import; otherwise it solves the KKT systems with Numba's
public ``np.linalg.solve``, which makes the same LAPACK call on the same bytes.  The
public route is forced here on a copy of the module imported while Numba's private
names are missing (into its own Numba cache: it has the module's file and function
names, so it would otherwise load the direct route's machine code).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numba
import numba.np.linalg
import numpy as np
import pandas as pd
import pytest
from numba import _helperlib

from cqox.analysis import kernel_cache
from cqox.estimators.synth import _qp
from tests.unit.test_synth_qp_kernel import kernel_values


@pytest.fixture(scope="module")
def public_route(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A copy of ``_qp`` imported while ``numba.np.linalg`` lacks ``F_INT_nbtype``.

    The name is back once the copy is imported (Numba's own ``np.linalg.solve`` needs
    it: a Numba without it would have its own).  One copy for the module: its kernels
    compile once (seconds), into a Numba cache of their own.
    """
    spec = importlib.util.spec_from_file_location(_qp.__name__, _qp.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numba.config, "CACHE_DIR", str(tmp_path_factory.mktemp("numba")))
        with pytest.MonkeyPatch.context() as numba_without:
            numba_without.delattr(numba.np.linalg, "F_INT_nbtype")
            spec.loader.exec_module(module)
        yield module


def test_this_numba_takes_the_direct_lapack_route() -> None:
    # the Numba this project is tested with: a failure here means a Numba release
    # moved its LAPACK wrapper, and synth warm-up costs ~3 s more CPU until _qp follows
    assert _qp.KKT_SOLVER == "numba_xgesv"
    assert _qp._solve is _qp._solve_lapack


def _drop_private_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(numba.np.linalg, "F_INT_nptype")


def _drop_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(vars(_helperlib)["c_helpers"], "xgesv")


def _fail_numbas_lapack_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise RuntimeError("This copy of Numba was built for ILP64 BLAS/LAPACK")

    monkeypatch.setattr(numba.np.linalg, "ensure_lapack", refuse)


def _another_integer_width(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = np.int64 if numba.np.linalg.F_INT_nptype is np.int32 else np.int32
    monkeypatch.setattr(numba.np.linalg, "F_INT_nptype", wrong)


@pytest.mark.parametrize(
    "break_numba",
    [_drop_private_names, _drop_the_wrapper, _fail_numbas_lapack_check, _another_integer_width],
)
def test_a_missing_or_failing_wrapper_is_not_taken(
    monkeypatch: pytest.MonkeyPatch, break_numba: Callable[[pytest.MonkeyPatch], Any]
) -> None:
    assert _qp._lapack_gesv() is not None
    break_numba(monkeypatch)
    assert _qp._lapack_gesv() is None


#: Compiling the public route's kernels (Numba's generic ``np.linalg.solve`` among them)
#: costs ~10 s of CPU: CI runs these two (``--ci-bounded``), a plain run skips them.
compiles_the_public_route = pytest.mark.ci_bounded


@compiles_the_public_route
def test_the_public_route_gives_the_same_weights_to_the_last_bit(
    public_route: ModuleType,
) -> None:
    assert public_route.KKT_SOLVER == "np.linalg.solve"
    assert public_route._solve is public_route._solve_numpy
    assert kernel_values(public_route) == kernel_values(_qp)


@compiles_the_public_route
def test_the_public_route_gives_the_same_synthetic_control(public_route: ModuleType) -> None:
    """Nested weights, placebo and conformal inference: every number and table equal."""
    runs = []
    for route in (_qp, public_route):
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(sys.modules, _qp.__name__, route)  # the estimator imports it on use
            runs.append(_synth(route))
    (fast, fast_tables), (public, public_tables) = runs
    assert public == fast
    assert fast_tables.keys() == public_tables.keys()
    for name, table in fast_tables.items():
        pd.testing.assert_frame_equal(public_tables[name], table, check_exact=True)


def _synth(route: ModuleType) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The warm-up's synthetic control (5 donors, 99 conformal permutations) via ``route``."""
    r = kernel_cache._warm_synth()
    assert route.nested_loss.stats.cache_misses or route.nested_loss.stats.cache_hits
    numbers = {"estimate": r.estimate, "se": r.se, "ci": r.ci, "p_value": r.p_value}
    return {**numbers, **r.diagnostics}, dict(r.tables)
