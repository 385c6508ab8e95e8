"""The studentized (percentile-t) bootstrap of the transport estimators.

The interval is ``[ψ̂ − q*_{1−α/2} se, ψ̂ − q*_{α/2} se]`` from the resamples' own
sandwich SEs; the reported SE stays the sandwich; resampling is stratified by sample;
the result is reproducible from the seed and too many failed resamples are an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from benchmarks import transport_bootstrap as tb

import cqox
from cqox.simulate.transport import nested_trial

KW = {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]}


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return nested_trial(n=800, kappa=0.5, seed=5)[0]


def test_the_percentile_t_interval_and_p_value_from_given_replicates() -> None:
    t_star = np.linspace(-3.0, 1.0, 401)  # a left-skewed t*: the interval reaches up
    reps = tb.StudentizedReplicates(2.0 + 0.5 * t_star, np.full(401, 0.5), 0)
    lo, hi = reps.interval(2.0, 0.4, 0.95)
    q = np.quantile(t_star, [0.025, 0.975])
    assert (lo, hi) == pytest.approx((2.0 - q[1] * 0.4, 2.0 - q[0] * 0.4))
    assert hi - 2.0 > 2.0 - lo  # skewed, unlike the Wald interval
    # t = 2.0/0.4 = 5 lies beyond every t*: the p-value is 0
    assert reps.p_value(2.0, 0.4) == 0.0
    near = tb.StudentizedReplicates(0.2 + 0.5 * t_star, np.full(401, 0.5), 0)
    assert near.p_value(0.2, 0.4) == pytest.approx(2 * np.mean(t_star >= 0.5))


def test_resamples_keep_the_trial_and_target_sizes(
    df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []

    def spy(X: np.ndarray, s: np.ndarray, t: np.ndarray, y: np.ndarray, method: str) -> dict:
        seen.append((int(s.sum()), int(len(s) - s.sum())))
        return {k: (0.0, 1.0) for k in tb.TARGETS}

    s = df["s"].to_numpy(float)
    X = df[KW["covariates"]].to_numpy(float)
    monkeypatch.setattr(tb, "contrast", spy)
    tb.studentized_bootstrap(X, s, df["t"].to_numpy(), df["y"].to_numpy(), "iosw", 5,
                             np.random.default_rng(0))  # fmt: skip
    assert seen == [(int(s.sum()), int(len(s) - s.sum()))] * 5


def test_too_many_failed_resamples_is_an_error(
    df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = iter(range(10**6))

    def flaky(*args: object) -> dict:
        if next(calls) % 10 == 0:  # 10 % of the resamples fail
            raise cqox.EstimationError("separated")
        return {k: (0.0, 1.0) for k in tb.TARGETS}

    monkeypatch.setattr(tb, "contrast", flaky)
    s = df["s"].to_numpy(float)
    X = df[KW["covariates"]].to_numpy(float)
    with pytest.raises(cqox.EstimationError, match="failed on 10 of 100 bootstrap resamples"):
        tb.studentized_bootstrap(X, s, df["t"].to_numpy(), df["y"].to_numpy(), "iosw", 100,
                                 np.random.default_rng(0))  # fmt: skip
