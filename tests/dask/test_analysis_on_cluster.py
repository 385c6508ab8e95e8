"""A comprehensive analysis on a two-worker Dask cluster equals the in-process one.

A ``distributed.LocalCluster`` of two single-threaded worker processes on 127.0.0.1
stands for a cluster, reached by its address as ``cqox analyze --dask tcp://HOST:PORT``
reaches one (``cqox.compute.use`` of a :class:`~cqox.compute.DaskExecutor` connected
by address).  Proves:

- every backdoor estimator of the comprehensive analysis (linear/logit nuisances, every
  default estimand), its gates, the data-level gates, the consensus and the sensitivity
  analysis are the in-process ones to 1e-8 — the deterministic steps run in the calling
  process, and the seeded steps that run on the cluster (the five refuters, each with
  its own stream) draw the same numbers there;
- the cluster did the work (its workers ran the refuters' tasks), and the Analysis
  JSON records ``"compute": {"backend": "dask", "scheduler": ADDRESS, "workers": 2}``;
- the refuters give the same draws on every executor for a seed (in-process, a local
  process pool, the cluster), and other draws for another seed;
- synthetic control's in-space placebos (one refit per donor) give the same numbers on
  an executor (a process pool);
- a task runs its own loops in-process (no pool inside a pool, no task waiting on
  tasks it submitted);
- an executor map that outlives its ``timeout`` is cancelled and fails by name instead
  of waiting.

Nothing waits without a bound: the cluster starts and the client connects under a
timeout, every map on the cluster has one, and each test has pytest's.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import cqox
from cqox import compute
from cqox.analysis.refute import REFUTERS, refutation_gates
from cqox.core.context import Context
from cqox.errors import EstimationError, ParameterError

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install 'cqox[dask]'")

#: |cluster − in-process| for every number of the analysis (the issue's bar).
AGREEMENT = 1e-8
#: Seconds to start the cluster and connect, and for any one map on it (generous: a
#: machine shared with other jobs can stretch a sub-second map many times).
START_TIMEOUT = 60
MAP_TIMEOUT = 120
COVARIATES = ["x1", "x2", "x3", "x4", "x5"]
#: The comprehensive analysis of the cold-start goal: every backdoor estimator, DML with
#: linear/logit nuisances, gates and sensitivity (what `cqox analyze --set
#: dml_plr.learner=linear --set dml_irm.learner=linear` runs).
LINEAR_DML = {"dml_plr": {"learner": "linear"}, "dml_irm": {"learner": "linear"}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes on loopback; torn down with the module.

    Workers never pause for memory (a paused worker holds its tasks and waits) and a
    lost worker fails its tasks at once instead of having them retried elsewhere.
    """
    import dask

    config = {
        "distributed.worker.memory.pause": False,
        "distributed.scheduler.allowed-failures": 0,
        "distributed.comm.timeouts.connect": START_TIMEOUT,
    }
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="2GiB",
            timeout=START_TIMEOUT,
        ) as lc,
        distributed.Client(lc, set_as_default=False, timeout=START_TIMEOUT) as client,
    ):
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield client


def _executed(client: Any) -> int:
    """Tasks the cluster's workers have run so far."""
    counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return int(sum(counts.values()))


def _assert_close(got: Any, want: Any, where: str) -> None:
    """Equal structures; numbers to :data:`AGREEMENT` (NaN equals NaN)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for key in want:
            _assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(want), where
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{where}[{k}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, int | float), where
        if math.isnan(want):
            assert math.isnan(got), where
        else:
            assert abs(got - want) <= AGREEMENT, (where, got, want)
    else:
        assert got == want, (where, got, want)


@pytest.mark.timeout(300)
def test_comprehensive_analysis_on_a_two_worker_cluster_equals_the_in_process_one(
    cluster: Any,
) -> None:
    df, _ = cqox.simulate.confounded_binary(n=3_000, p=5, seed=17)
    kwargs: dict[str, Any] = {
        "outcome": "y",
        "treatment": "t",
        "covariates": COVARIATES,
        "params": LINEAR_DML,
        "seed": 4,
    }
    local = cqox.analyze(df, **kwargs)
    address = cluster.scheduler.address
    executor = compute.DaskExecutor(address, timeout=MAP_TIMEOUT)  # as `--dask ADDRESS`
    before = _executed(cluster)
    try:
        with compute.use(executor):
            remote = cqox.analyze(df, **kwargs)
    finally:
        executor.close()
    # the cluster ran the seeded loops (one task per refuter: five items, five chunks)
    assert _executed(cluster) - before >= len(REFUTERS)

    mine, theirs = json.loads(remote.to_json()), json.loads(local.to_json())
    assert mine["compute"] == {"backend": "dask", "scheduler": address, "workers": 2}
    assert theirs["compute"]["backend"] == "local"
    # the same estimators and estimands, in the same order, and none failed
    ran = [(e["estimator"], e["estimand"]) for e in theirs["estimates"]]
    assert [(e["estimator"], e["estimand"]) for e in mine["estimates"]] == ran
    assert {name for name, _ in ran} >= {
        "ipw",
        "regression_adjustment",
        "aipw",
        "psm",
        "stratification",
        "g_computation",
        "dml_plr",
        "dml_irm",
    }
    assert mine["failures"] == theirs["failures"] == []
    for got, want in zip(mine["estimates"], theirs["estimates"], strict=True):
        where = f"{want['estimator']}:{want['estimand']}"
        for key in ("estimate", "se", "ci", "p_value", "n", "gates", "diagnostics"):
            _assert_close(got[key], want[key], f"{where}.{key}")
    # the data-level gates (refutations included), consensus and sensitivity
    refuted = [g for g in theirs["gates"] if g["name"].startswith("refute_")]
    assert len(refuted) == len(REFUTERS)
    for section in ("gates", "consensus", "sensitivity", "quality"):
        _assert_close(mine[section], theirs[section], section)


@pytest.mark.timeout(120)
def test_refuters_draw_the_same_numbers_on_every_executor_for_a_seed(cluster: Any) -> None:
    df, _ = cqox.simulate.confounded_binary(n=1_500, p=4, seed=8)
    y, t = df["y"].to_numpy(float), df["t"].to_numpy(float)
    X = df[["x1", "x2", "x3", "x4"]].to_numpy(float)

    def details(seed: int, executor: compute.Executor | None) -> list[Any]:
        with compute.use(executor):
            gates = refutation_gates(y, t, X, Context(seed=seed))
        return [(g.name, g.value, g.details["new_effect"]) for g in gates]

    expected = details(3, None)
    assert len(expected) == len(REFUTERS)
    for executor in (
        compute.SerialExecutor(),
        compute.ProcessExecutor(2),
        compute.DaskExecutor(client=cluster, timeout=MAP_TIMEOUT),
    ):
        _assert_close(details(3, executor), expected, executor.backend)
    # another seed draws other placebos, noise columns, subsets and confounders
    other = details(5, None)
    moved = [a[2] != b[2] for a, b in zip(other, expected, strict=True)]
    assert all(moved), moved


@pytest.mark.timeout(120)
def test_synth_placebos_are_the_same_on_every_executor() -> None:
    """The in-space placebos (one refit per donor) run on the executor, same numbers."""
    from cqox.simulate.synth import synth_factor_model

    df, _ = synth_factor_model(n_donors=8, n_pre=12, n_post=4, seed=2)
    kwargs: dict[str, Any] = {
        "outcome": "y",
        "roles": {"unit": "unit", "time": "time", "treatment": "treated"},
        "v_method": "equal",
        "leave_one_out": False,
    }
    local = cqox.estimate("synth", df, **kwargs)
    # a process pool (the Dask path of the same map is exercised above; a Dask worker's
    # first placebo would load the Numba kernels of the QP solver, tens of seconds on a
    # loaded machine)
    for executor in (compute.SerialExecutor(), compute.ProcessExecutor(2)):
        with compute.use(executor):
            other = cqox.estimate("synth", df, **kwargs)
        assert (other.estimate, other.se, other.ci, other.p_value) == (
            local.estimate,
            local.se,
            local.ci,
            local.p_value,
        ), executor.backend
        assert other.to_dict()["tables"] == local.to_dict()["tables"], executor.backend


def _backend_inside(_: int) -> str:
    inside = compute.current()
    return "none" if inside is None else inside.backend


@pytest.mark.timeout(120)
def test_a_task_runs_its_own_loops_in_process(cluster: Any) -> None:
    """No nested fan-out: a bootstrap replicate's folds run inside the replicate's task."""
    for executor in (
        compute.ProcessExecutor(2),
        compute.DaskExecutor(client=cluster, timeout=MAP_TIMEOUT),
    ):
        with compute.use(executor):
            assert executor.map(_backend_inside, [0, 1, 2]) == ["serial"] * 3
        assert compute.current() is None


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.timeout(60)
def test_a_map_that_outlives_its_timeout_fails_instead_of_waiting(cluster: Any) -> None:
    with pytest.raises(ParameterError, match="'timeout'"):
        compute.DaskExecutor(client=cluster, timeout=0)
    executor = compute.DaskExecutor(client=cluster, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(EstimationError, match=r"timeout=0\.5"):
        executor.map(_sleep, [2.0, 2.0])
    assert time.monotonic() - started < 1.9
    # the cluster is still usable once the cancelled tasks end
    quick = compute.DaskExecutor(client=cluster, timeout=MAP_TIMEOUT)
    assert quick.map(np.sqrt, [4.0, 9.0]) == [2.0, 3.0]


def test_dask_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``CQOX_DASK_TIMEOUT`` bounds the executor of ``--dask`` (a spec); refused by name."""
    monkeypatch.setenv(compute.TIMEOUT_ENV, "45")
    executor = compute.from_spec("tcp://127.0.0.1:1")
    assert isinstance(executor, compute.DaskExecutor) and executor.timeout == 45.0
    monkeypatch.setenv(compute.TIMEOUT_ENV, "soon")
    with pytest.raises(ParameterError, match="CQOX_DASK_TIMEOUT"):
        compute.from_spec("tcp://127.0.0.1:1")
    monkeypatch.delenv(compute.TIMEOUT_ENV)
    assert compute.from_spec("tcp://127.0.0.1:1").timeout is None
