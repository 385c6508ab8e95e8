"""The front-door estimate recovers a known effect with nominal coverage (simulation).

A hidden confounder ``U`` of the treatment and the outcome, the effect carried by one
mediator: τ = α·β = 1.2 · 0.8 = 0.96.  The backdoor is closed to every observed set, so
a graph analysis estimates the effect through the mediator only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.frontdoor import front_door

TRUTH = 1.2 * 0.8
GRAPH = "U -> t; U -> y; t -> m; m -> y"


def _draw(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-1.5 * u))).astype(float)
    m = 0.5 + 1.2 * t + rng.normal(size=n)
    y = 1.0 + 0.8 * m + 2.0 * u + rng.normal(size=n)
    return pd.DataFrame({"y": y, "t": t, "m": m})


def test_graph_analysis_uses_the_front_door_and_a_naive_contrast_is_biased() -> None:
    df = _draw(4000, seed=1)
    an = cqox.analyze(df, outcome="y", treatment="t", dag=GRAPH, seed=1)
    assert [e.estimator for e in an.estimates] == ["frontdoor"]
    assert an.graph is not None and an.graph["identification"]["strategy"] == "frontdoor"
    est = an.estimates[0]
    assert abs(est.estimate - TRUTH) <= 4 * est.se
    naive = df.loc[df.t == 1, "y"].mean() - df.loc[df.t == 0, "y"].mean()
    assert abs(naive - TRUTH) > 10 * est.se  # the hidden confounder biases the contrast
    assert an.quality["verdict"] != "pass" or an.quality["n_checked"] > 0


def _coverage(reps: int) -> tuple[float, float, float]:
    """Coverage, bias and SD/mean-SE of the registered ``frontdoor`` estimator."""
    hits, errs, ses = 0, [], []
    for r in range(reps):
        df, truth = front_door(n=1000, seed=100 + r)
        assert truth["ATE"] == pytest.approx(TRUTH)
        e = cqox.estimate("frontdoor", df, outcome="y", treatment="t", mediator="m")
        hits += e.ci[0] <= TRUTH <= e.ci[1]
        errs.append(e.estimate - TRUTH)
        ses.append(e.se)
    return hits / reps, float(np.mean(errs)), float(np.std(errs) / np.mean(ses))


@pytest.mark.slow
def test_frontdoor_coverage_full() -> None:
    cov, bias, ratio = _coverage(1000)
    assert 0.93 <= cov <= 0.97 and abs(bias) < 0.01 and 0.95 < ratio < 1.1


@pytest.mark.ci_bounded
def test_frontdoor_coverage_bounded() -> None:
    cov, bias, ratio = _coverage(200)
    assert 0.89 <= cov <= 0.99 and abs(bias) < 0.03 and 0.8 < ratio < 1.2


def test_two_mediators_in_a_chain_sum_their_paths() -> None:
    """t → m1 → y, t → m2 → y and m1 → m2: τ = α₁β₁ + α₂β₂ with α₂ the total effect of t
    on m2 (−0.5 + 0.3·1.0), β from y ~ m1 + m2 + t: 1.0·0.5 + (−0.2)·1.0 = 0.3."""
    rng = np.random.default_rng(7)
    n = 20_000
    u = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-u))).astype(float)
    m1 = 1.0 * t + rng.normal(size=n)
    m2 = -0.5 * t + 0.3 * m1 + rng.normal(size=n)
    y = 0.5 * m1 + 1.0 * m2 + 1.5 * u + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "t": t, "m1": m1, "m2": m2})
    dag = "U -> t; U -> y; t -> m1; t -> m2; m1 -> m2; m1 -> y; m2 -> y"
    (est,) = cqox.analyze(df, outcome="y", treatment="t", dag=dag).estimates
    assert est.params["mediators"] == ["m1", "m2"]
    assert abs(est.estimate - 0.3) <= 4 * est.se
