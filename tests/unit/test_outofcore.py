"""Out-of-core estimation from Parquet directories equals the in-memory estimators.

Proves: regression adjustment, IPW (Hájek, Horvitz–Thompson, clipped), parametric
AIPW (logit propensity, OLS by arm, M-estimation SE; clipped or not) and cross-fitted
DML with linear learners (``dml_plr``, ``dml_irm`` on the in-memory folds) computed
partition by partition give the estimate and standard error of ``cqox.estimate`` on
the whole table to 1e-8, for ATE, ATT and ATC; bad input is refused by name; and a
pass that outlives its ``timeout`` fails instead of waiting.  The same estimators on a
two-worker ``LocalCluster`` and a table larger than each worker's memory limit:
``tests/dask/test_outofcore_on_cluster.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.compute.outofcore import ParquetTable, estimate_parquet
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
        ("aipw", {}),
        ("aipw", {"clip": 0.05}),
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
    for key in ("mu1", "mu0", "propensity_min", "propensity_max"):
        if key in mem.diagnostics and key in ooc.diagnostics:
            assert abs(ooc.diagnostics[key] - mem.diagnostics[key]) < AGREEMENT, key


@pytest.mark.parametrize(
    ("estimator", "estimand", "params"),
    [
        ("dml_plr", "ATE", {}),
        ("dml_irm", "ATE", {"propensity_calibration": "none"}),
        ("dml_irm", "ATT", {"propensity_calibration": "none"}),
        ("dml_irm", "ATE", {"propensity_calibration": "none", "clip": 0.2, "n_folds": 3}),
    ],
)
def test_cross_fitted_dml_out_of_core_equals_in_memory_on_the_same_folds(
    table: tuple[pd.DataFrame, Path], estimator: str, estimand: str, params: dict[str, Any]
) -> None:
    """Same seed, same folds: linear-learner DML out of core is the in-memory estimate."""
    df, folder = table
    roles = {"outcome": "y", "treatment": "t", "covariates": COVARIATES}
    ooc_params = dict(params)
    ooc = estimate_parquet(folder, estimator, estimand=estimand, seed=7, **roles, **ooc_params)
    extra = {"estimand": estimand} if estimator == "dml_irm" else {}
    mem = cqox.estimate(
        estimator, df, learner="linear", n_rep=1, seed=7, **roles, **extra, **params
    )
    assert abs(ooc.estimate - mem.estimate) < AGREEMENT
    assert abs(ooc.se - mem.se) < AGREEMENT
    if "clip" in params:
        assert ooc.counts["n_propensity_trimmed"] == mem.counts["n_propensity_trimmed"] > 0
    # another seed draws other folds: the estimate moves (the folds are really used)
    other = estimate_parquet(folder, estimator, estimand=estimand, seed=8, **roles, **ooc_params)
    assert other.estimate != ooc.estimate


def test_bad_input_is_refused_by_name(table: tuple[pd.DataFrame, Path], tmp_path: Path) -> None:
    df, folder = table
    roles = {"outcome": "y", "treatment": "t", "covariates": COVARIATES}
    with pytest.raises(ParameterError, match="'psm' does not run out of core"):
        estimate_parquet(folder, "psm", **roles)
    with pytest.raises(ParameterError, match="weighting"):
        estimate_parquet(folder, "aipw", weighting="hajek", **roles)
    with pytest.raises(ParameterError, match="ATE only"):
        estimate_parquet(folder, "dml_plr", estimand="ATT", **roles)
    with pytest.raises(ParameterError, match="propensity_calibration"):
        estimate_parquet(folder, "dml_irm", propensity_calibration="isotonic", **roles)
    with pytest.raises(ParameterError, match="'nope'"):
        estimate_parquet(folder, "ipw", outcome="y", treatment="t", covariates=["x1", "nope"])
    with pytest.raises(ParameterError, match="trim"):
        estimate_parquet(folder, "ipw", trim=0.1, **roles)
    broken = df.copy()
    broken.loc[5, "x2"] = np.nan
    bad = _write_parts(broken, tmp_path / "missing", 4_000)
    with pytest.raises(EstimationError, match="complete rows"):
        estimate_parquet(bad, "regression_adjustment", **roles)


def _slow_pass(y: np.ndarray, t: np.ndarray, X: np.ndarray) -> dict[str, Any]:
    time.sleep(2)
    return {"n": len(y)}


@pytest.mark.timeout(60)
def test_a_pass_that_outlives_its_timeout_fails_instead_of_waiting(
    table: tuple[pd.DataFrame, Path],
) -> None:
    distributed = pytest.importorskip("distributed")
    _, folder = table
    roles = {"outcome": "y", "treatment": "t", "covariates": COVARIATES}
    with pytest.raises(ParameterError, match="'timeout'"):
        estimate_parquet(folder, "ipw", timeout=0, **roles)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False, timeout=30) as client,
    ):
        slow = ParquetTable(folder, "y", "t", tuple(COVARIATES), client, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(EstimationError, match=r"timeout=0\.3"):
            slow.run(_slow_pass)
        assert time.monotonic() - started < 1.5
