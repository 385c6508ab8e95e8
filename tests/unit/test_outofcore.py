"""Out-of-core estimation from Parquet directories equals the in-memory estimators.

Proves: regression adjustment and IPW (Hájek, Horvitz–Thompson, clipped) computed
partition by partition give the estimate and standard error of ``cqox.estimate`` on
the whole table to 1e-8, for ATE, ATT and ATC; bad input is refused by name; and
(``ci_bounded``) on a two-worker ``LocalCluster`` whose workers may each use less
memory than the Parquet directory holds, the estimates still match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.compute.outofcore import estimate_parquet
from cqox.errors import EstimationError, ParameterError

pytest.importorskip("dask.dataframe", reason="the dask extra: pip install 'cqox[dask]'")

#: |out-of-core − in-memory|: the same sums in another order, and normal equations
#: solved directly instead of by QR — agreement far below 1e-8 (the issue's bar).
AGREEMENT = 1e-8
COVARIATES = ["x1", "x2", "x3", "x4"]


def _write_parts(df: pd.DataFrame, folder: Path, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, len(df), rows)):
        df.iloc[start : start + rows].to_parquet(folder / f"part-{k:04d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    df, _ = cqox.simulate.confounded_binary(n=12_000, p=4, seed=21)
    return df, _write_parts(df, tmp_path_factory.mktemp("parquet"), 1_700)


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
@pytest.mark.parametrize(
    ("estimator", "params"),
    [
        ("regression_adjustment", {}),
        ("ipw", {}),
        ("ipw", {"weighting": "horvitz_thompson"}),
        ("ipw", {"clip": 0.05}),
    ],
)
def test_out_of_core_equals_in_memory(
    table: tuple[pd.DataFrame, Path], estimator: str, params: dict[str, Any], estimand: str
) -> None:
    df, folder = table
    roles = {"outcome": "y", "treatment": "t", "covariates": COVARIATES}
    ooc = estimate_parquet(folder, estimator, estimand=estimand, **roles, **params)
    mem = cqox.estimate(estimator, df, estimand=estimand, **roles, **params)
    assert abs(ooc.estimate - mem.estimate) < AGREEMENT
    assert abs(ooc.se - mem.se) < AGREEMENT
    assert (ooc.n, ooc.n_treated, ooc.n_control) == (mem.n, mem.n_treated, mem.n_control)
    assert ooc.diagnostics["out_of_core"] is True


def test_bad_input_is_refused_by_name(table: tuple[pd.DataFrame, Path], tmp_path: Path) -> None:
    df, folder = table
    roles = {"outcome": "y", "treatment": "t", "covariates": COVARIATES}
    with pytest.raises(ParameterError, match="'aipw' does not run out of core"):
        estimate_parquet(folder, "aipw", **roles)
    with pytest.raises(ParameterError, match="'nope'"):
        estimate_parquet(folder, "ipw", outcome="y", treatment="t", covariates=["x1", "nope"])
    with pytest.raises(ParameterError, match="trim"):
        estimate_parquet(folder, "ipw", trim=0.1, **roles)
    broken = df.copy()
    broken.loc[5, "x2"] = np.nan
    bad = _write_parts(broken, tmp_path / "missing", 4_000)
    with pytest.raises(EstimationError, match="complete rows"):
        estimate_parquet(bad, "regression_adjustment", **roles)


#: Each worker's memory limit in the cluster test, and the table's size in memory,
#: which is larger: 9 million rows × 8 float64 columns ≈ 549 MiB.
WORKER_MEMORY = "512MiB"
BIG_ROWS = 9_000_000


@pytest.mark.ci_bounded
def test_parquet_larger_than_worker_memory_on_a_two_worker_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    df, _ = cqox.simulate.confounded_binary(n=BIG_ROWS, p=6, seed=5)
    covariates = [f"x{k}" for k in range(1, 7)]
    df = df[["y", "t", *covariates]].astype(np.float64)
    folder = _write_parts(df, tmp_path / "big", 300_000)
    in_memory_bytes = int(df.memory_usage(index=False).sum())
    limit = 512 * 2**20
    assert in_memory_bytes > limit
    roles = {"outcome": "y", "treatment": "t", "covariates": covariates}
    expected = {
        (name, estimand): cqox.estimate(name, df, estimand=estimand, **roles)
        for name in ("regression_adjustment", "ipw")
        for estimand in ("ATE", "ATT")
    }
    del df
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=WORKER_MEMORY,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=120)
        for (name, estimand), mem in expected.items():
            ooc = estimate_parquet(folder, name, estimand=estimand, client=client, **roles)
            assert abs(ooc.estimate - mem.estimate) < AGREEMENT, (name, estimand)
            assert abs(ooc.se - mem.se) < AGREEMENT, (name, estimand)
            assert ooc.n == BIG_ROWS
        # both workers took part, and neither was restarted for lack of memory
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
