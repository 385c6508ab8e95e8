"""Executors: the same numbers in-process, in a local process pool and on a Dask cluster.

A two-worker ``distributed.LocalCluster`` on loopback stands for a cluster.  Proves:
``map`` keeps the items' order on every executor; a bootstrap gives bit-identical
replicates, SE and interval on every executor for a given seed, and so do the
cross-fitting folds (of DML here; AIPW and the CATE learners share the code); every
task runs with one BLAS thread; an analysis records the executor as ``compute``;
``cqox analyze --dask ADDRESS`` and ``CQOX_DASK_SCHEDULER`` run on the cluster; bad
executor specs are refused by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cqox
from cqox import compute
from cqox.errors import ParameterError

distributed = pytest.importorskip("distributed", reason="the dask extra: pip install 'cqox[dask]'")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes on 127.0.0.1."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="2GiB",
        ) as lc,
        distributed.Client(lc, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


def _square_plus_draw(b: int) -> float:
    return float(b * b + np.random.default_rng([7, b]).normal())


def test_map_keeps_order_and_values_on_every_executor(cluster: Any) -> None:
    items = list(range(37))
    expected = [_square_plus_draw(b) for b in items]
    for ex in (
        compute.SerialExecutor(),
        compute.ProcessExecutor(2),
        compute.DaskExecutor(client=cluster),
    ):
        seen: list[tuple[int, int]] = []

        def report(done: int, total: int, seen: list[tuple[int, int]] = seen) -> None:
            seen.append((done, total))

        assert ex.map(_square_plus_draw, items, report) == expected
        assert seen[-1] == (37, 37)


def test_bootstrap_is_identical_on_every_executor(cluster: Any) -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, p=3, seed=11)
    kwargs: dict[str, Any] = {
        "outcome": "y",
        "treatment": "t",
        "covariates": ["x1", "x2", "x3"],
        "base_estimator": "ipw",
        "n_boot": 48,
        "seed": 5,
    }
    results = {}
    for name, ex in (
        ("serial", compute.SerialExecutor()),
        ("processes", compute.ProcessExecutor(2)),
        ("dask", compute.DaskExecutor(client=cluster)),
    ):
        with compute.use(ex):
            e = cqox.estimate("bootstrap", df, **kwargs)
        results[name] = (e.estimate, e.se, e.ci)
    assert results["processes"] == results["serial"]
    assert results["dask"] == results["serial"]
    # and the same as without any executor (the default local path)
    e = cqox.estimate("bootstrap", df, n_jobs=1, **kwargs)
    assert (e.estimate, e.se, e.ci) == results["serial"]


@pytest.mark.timeout(120)
def test_cross_fitting_folds_are_identical_on_every_executor(cluster: Any) -> None:
    """The folds' fits run on the executor in force (each fold seeded by its number)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    df, _ = cqox.simulate.confounded_binary(n=400, p=3, seed=13)
    # seeded forests: the same trees wherever a fold runs
    forests = {
        "outcome_learner": RandomForestRegressor(n_estimators=10, max_depth=4, random_state=1),
        "treatment_learner": RandomForestClassifier(n_estimators=10, max_depth=4, random_state=2),
    }
    kwargs: dict[str, Any] = {
        "outcome": "y",
        "treatment": "t",
        "covariates": ["x1", "x2", "x3"],
        "n_folds": 4,
        "seed": 3,
    }
    results = {}
    for name, ex in (
        ("none", None),
        ("processes", compute.ProcessExecutor(2)),
        ("dask", compute.DaskExecutor(client=cluster)),
    ):
        with compute.use(ex):
            plr = cqox.estimate("dml_plr", df, n_rep=1, **forests, **kwargs)
        results[name] = (plr.estimate, plr.se, plr.diagnostics["rmse_l"])
    assert results["processes"] == results["none"]
    assert results["dask"] == results["none"]


def _blas_threads(_: int) -> int:
    from threadpoolctl import threadpool_info

    return max((p["num_threads"] for p in threadpool_info()), default=1)


@pytest.mark.timeout(60)
def test_each_task_uses_one_blas_thread(cluster: Any) -> None:
    for ex in (compute.ProcessExecutor(2), compute.DaskExecutor(client=cluster)):
        assert set(ex.map(_blas_threads, list(range(4)))) == {1}


def test_analysis_records_the_executor(cluster: Any) -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, p=3, seed=2)
    with compute.use(compute.DaskExecutor(client=cluster)):
        an = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"], seed=1)
    assert an.to_dict()["compute"] == {
        "backend": "dask",
        "scheduler": cluster.scheduler.address,
        "workers": 2,
    }
    plain = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"], seed=1)
    assert plain.to_dict()["compute"]["backend"] == "local"


def test_cli_dask_flag_and_environment_run_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, p=3, seed=4)
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    address = cluster.scheduler.address
    base = [sys.executable, "-m", "cqox.cli.main", "analyze", str(data)]
    base += ["--outcome", "y", "--treatment", "t", "--estimators", "bootstrap", "--quiet"]
    base += ["--set", "bootstrap.base_estimator=ipw", "--set", "bootstrap.n_boot=24"]
    outputs = {}
    for how, extra, env in (
        ("flag", ["--dask", address], {}),
        ("env", [], {compute.SCHEDULER_ENV: address}),
        ("local", [], {}),
    ):
        out = tmp_path / f"{how}.json"
        done = subprocess.run(
            [*base, *extra, "--json", str(out)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outputs[how] = json.loads(out.read_text())
    for how in ("flag", "env"):
        assert outputs[how]["compute"] == {"backend": "dask", "scheduler": address, "workers": 2}
    assert outputs["local"]["compute"]["backend"] == "local"
    se = {how: o["estimates"][0]["se"] for how, o in outputs.items()}
    assert se["flag"] == se["env"] == se["local"]


@pytest.mark.parametrize("spec", ["processes:two", "ftp", "dask"])
def test_unknown_executor_specs_are_refused_by_name(spec: str) -> None:
    with pytest.raises(ParameterError, match="executor"):
        compute.from_spec(spec)


def test_from_spec_builds_each_executor() -> None:
    assert isinstance(compute.from_spec("serial"), compute.SerialExecutor)
    assert compute.from_spec("processes:3").workers == 3
    ex = compute.from_spec("tcp://127.0.0.1:1")
    assert isinstance(ex, compute.DaskExecutor) and ex.scheduler == "tcp://127.0.0.1:1"
