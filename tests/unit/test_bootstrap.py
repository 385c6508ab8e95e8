"""The generic bootstrap: known SEs, scipy's BCa, seeding, clusters, workers, the estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox
from cqox.estimators.backdoor.bootstrap import bootstrap_estimate
from cqox.inference import bootstrap as bs
from cqox.inference.bootstrap import (
    bca_interval,
    bootstrap,
    percentile_interval,
)

#: Same bootstrap distribution and jackknife in both: only rounding differs.
EXACT_RTOL = 1e-12
#: With B = 4000 the bootstrap SE has a Monte-Carlo relative error of ~1/sqrt(2B) =
#: 1.1%; the ideal bootstrap SE of a mean is sd·sqrt((n−1)/n)/sqrt(n).  4 MC SEs.
SE_RTOL = 0.045


def _mean_stat(x: np.ndarray):
    def stat(idx: np.ndarray, seed: int) -> float:
        return float(x[idx].mean())

    return stat


def test_se_of_a_mean_is_sd_over_sqrt_n() -> None:
    x = np.random.default_rng(0).exponential(size=400)
    res = bootstrap(_mean_stat(x), len(x), n_boot=4000, seed=1)
    ideal = x.std(ddof=0) / np.sqrt(len(x))
    assert res.se == pytest.approx(ideal, rel=SE_RTOL)
    assert res.theta_hat == pytest.approx(x.mean())
    assert res.n_failed == 0


def test_bca_matches_scipy_on_the_same_bootstrap_distribution() -> None:
    x = np.random.default_rng(1).lognormal(size=60)
    sp = stats.bootstrap(
        (x,), np.mean, method="BCa", n_resamples=2000, random_state=np.random.default_rng(2)
    )
    jack = np.array([np.delete(x, i).mean() for i in range(len(x))])
    (lo, hi), _z0, a = bca_interval(x.mean(), sp.bootstrap_distribution, jack, 0.95)
    assert lo == pytest.approx(sp.confidence_interval.low, rel=EXACT_RTOL)
    assert hi == pytest.approx(sp.confidence_interval.high, rel=EXACT_RTOL)
    assert a > 0  # right-skewed data: positive acceleration


def test_percentile_matches_scipy_on_the_same_bootstrap_distribution() -> None:
    x = np.random.default_rng(3).standard_normal(50)
    sp = stats.bootstrap(
        (x,), np.median, method="percentile", n_resamples=999, random_state=np.random.default_rng(4)
    )
    lo, hi = percentile_interval(sp.bootstrap_distribution, 0.95)
    assert lo == pytest.approx(sp.confidence_interval.low, rel=EXACT_RTOL)
    assert hi == pytest.approx(sp.confidence_interval.high, rel=EXACT_RTOL)


def test_end_to_end_bca_agrees_with_scipy_up_to_monte_carlo_noise() -> None:
    x = np.random.default_rng(5).lognormal(size=80)
    ours = bootstrap(_mean_stat(x), len(x), n_boot=4000, ci_method="bca", seed=6)
    sp = stats.bootstrap(
        (x,), np.mean, method="BCa", n_resamples=4000, random_state=np.random.default_rng(7)
    )
    width = sp.confidence_interval.high - sp.confidence_interval.low
    # endpoints of two independent B = 4000 runs differ by a few % of the width
    assert abs(ours.ci[0] - sp.confidence_interval.low) < 0.06 * width
    assert abs(ours.ci[1] - sp.confidence_interval.high) < 0.06 * width
    assert ours.acceleration == pytest.approx(
        bs.jackknife_acceleration(np.array([np.delete(x, i).mean() for i in range(len(x))]))
    )


def test_same_seed_same_replicates_and_different_seed_different() -> None:
    x = np.random.default_rng(8).standard_normal(100)
    a = bootstrap(_mean_stat(x), 100, n_boot=200, seed=9)
    b = bootstrap(_mean_stat(x), 100, n_boot=200, seed=9)
    c = bootstrap(_mean_stat(x), 100, n_boot=200, seed=10)
    assert np.array_equal(a.replicates, b.replicates)
    assert not np.array_equal(a.replicates, c.replicates)


def test_cluster_bootstrap_se_reflects_within_cluster_correlation() -> None:
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(60), 10)
    x = rng.standard_normal(60)[g] + 0.3 * rng.standard_normal(600)
    naive = bootstrap(_mean_stat(x), 600, n_boot=1500, seed=12)
    clustered = bootstrap(_mean_stat(x), 600, n_boot=1500, seed=12, clusters=g)
    cluster_means = pd.Series(x).groupby(g).mean().to_numpy()
    ideal = cluster_means.std(ddof=0) / np.sqrt(60)
    assert clustered.se == pytest.approx(ideal, rel=0.08)  # B = 1500: MC rel. SE 1.8%
    assert clustered.se > 2 * naive.se


def test_failed_replicates_are_counted_not_fatal() -> None:
    x = np.arange(50.0)

    def stat(idx: np.ndarray, seed: int) -> float:
        if idx[0] % 7 == 0:
            raise cqox.EstimationError("boom")
        return float(x[idx].mean())

    res = bootstrap(stat, 50, n_boot=300, seed=1, theta_hat=float(x.mean()))
    assert 0 < res.n_failed < 100
    assert np.isnan(res.replicates).sum() == res.n_failed


def test_results_do_not_depend_on_the_number_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bs, "PARALLEL_MIN_SECONDS", 0.0)
    monkeypatch.setattr(bs, "PILOT_SECONDS", 0.0)
    df, _ = cqox.simulate.confounded_binary(n=300, seed=2)
    kw = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"], "n_boot": 40, "seed": 5}
    serial = bootstrap_estimate("ipw", df, n_jobs=1, **kw)
    parallel = bootstrap_estimate("ipw", df, n_jobs=2, **kw)
    assert parallel.diagnostics["n_workers"] == 2
    assert np.array_equal(
        serial.tables["replicates"]["estimate"], parallel.tables["replicates"]["estimate"]
    )
    assert serial.ci == parallel.ci


def test_bootstrap_estimator_reports_inner_estimate_with_bootstrap_inference() -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, seed=3)
    seen: list[float] = []
    est = bootstrap_estimate(
        "aipw",
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        base_params={"estimand": "ATT"},
        n_boot=300,
        ci_method="bca",
        seed=4,
        n_jobs=1,
        progress=lambda step, f: seen.append(f),
    )
    inner = cqox.estimate(
        "aipw", df, outcome="y", treatment="t", covariates=["x1", "x2", "x3"], estimand="ATT"
    )
    assert est.estimator == "bootstrap" and est.estimand == "ATT"
    assert est.estimate == inner.estimate
    # bootstrap SE of a smooth estimator ≈ its influence-function SE (B = 300: ±~12%)
    assert est.se == pytest.approx(inner.se, rel=0.2)
    assert est.ci[0] < est.estimate < est.ci[1]
    assert est.diagnostics["acceleration"] is not None
    assert seen and seen[-1] == pytest.approx(1.0)


def test_cluster_role_gives_a_cluster_bootstrap() -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, seed=6)
    df = df.assign(g=np.arange(400) // 8)
    est = cqox.estimate(
        "bootstrap",
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2"],
        roles={"cluster": "g"},
        n_boot=50,
        seed=1,
        n_jobs=1,
    )
    assert est.diagnostics["n_clusters"] == 50
    assert "cluster bootstrap" in est.method


def test_bootstrap_of_bootstrap_is_refused() -> None:
    df, _ = cqox.simulate.confounded_binary(n=200, seed=6)
    with pytest.raises(cqox.ParameterError, match="another estimator"):
        cqox.estimate("bootstrap", df, outcome="y", treatment="t", base_estimator="bootstrap")


def test_bootstrap_is_not_run_by_default_in_analyze() -> None:
    from cqox.estimators import registry

    assert registry.get("bootstrap").run_by_default is False
    assert registry.get("aipw").run_by_default is True


def test_a_closure_statistic_runs_in_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bs, "PARALLEL_MIN_SECONDS", 0.0)
    monkeypatch.setattr(bs, "PILOT_SECONDS", 0.0)
    x = np.random.default_rng(13).standard_normal(200)
    serial = bootstrap(_mean_stat(x), 200, n_boot=100, seed=3, n_jobs=1)
    parallel = bootstrap(_mean_stat(x), 200, n_boot=100, seed=3, n_jobs=2)
    assert parallel.n_workers == 2
    assert np.array_equal(serial.replicates, parallel.replicates)


def test_base_params_may_be_a_json_string_from_the_command_line() -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=7)
    kw = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"], "n_boot": 30, "seed": 1}
    est = cqox.estimate("bootstrap", df, base_params='{"estimand": "ATT"}', n_jobs=1, **kw)
    assert est.estimand == "ATT"
    with pytest.raises(cqox.ParameterError, match="base_params"):
        cqox.estimate("bootstrap", df, base_params="estimand=ATT", n_jobs=1, **kw)
