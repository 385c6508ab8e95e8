"""Matching, stratification and g-computation against a known truth.

DGP: :func:`cqox.simulate.confounded_binary` (confounded treatment, effect
heterogeneous in ``x1``; population ATE = 2, ATT by numerical integration, and
ATC = 2·ATE − ATT since P(T=1) = 1/2 by symmetry).
"""

from __future__ import annotations

import numpy as np
import pytest

import cqox

COVARIATES = ["x1", "x2", "x3"]
#: |estimate − truth| ≤ 3·SE fails by chance with probability 0.27% per check.
Z_QUICK = 3.0
Z95 = 1.959964


def _truth(n: int, seed: int) -> tuple:
    df, truth = cqox.simulate.confounded_binary(n=n, seed=seed)
    truth["ATC"] = 2 * truth["ATE"] - truth["ATT"]
    return df, truth


@pytest.mark.parametrize("estimand", ["ATT", "ATE", "ATC"])
@pytest.mark.parametrize(
    "params",
    [{}, {"n_neighbors": 3}, {"bias_correction": True}, {"distance": "mahalanobis"}],
    ids=["default", "m3", "biascorr", "mahalanobis"],
)
def test_psm_within_three_se(estimand: str, params: dict) -> None:
    df, truth = _truth(3000, 11)
    est = cqox.estimate(
        "psm", df, outcome="y", treatment="t", covariates=COVARIATES, estimand=estimand, **params
    )
    assert abs(est.estimate - truth[estimand]) <= Z_QUICK * est.se


def _psm_coverage(reps: int, n: int, estimand: str, seed0: int) -> tuple[float, float, float]:
    hits, errors = 0, []
    for r in range(reps):
        df, truth = _truth(n, seed0 + r)
        est = cqox.estimate(
            "psm", df, outcome="y", treatment="t", covariates=COVARIATES, estimand=estimand
        )
        hits += est.ci[0] <= truth[estimand] <= est.ci[1]
        errors.append(est.estimate - truth[estimand])
    return hits / reps, float(np.mean(errors)), float(np.std(errors))


@pytest.mark.slow
@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_psm_abadie_imbens_coverage(estimand: str) -> None:
    # 1000 replications: Monte-Carlo SE of the coverage ≈ 0.7 points.
    cover, bias, sd = _psm_coverage(1000, 3000, estimand, 20_000)
    assert 0.93 <= cover <= 0.97
    assert abs(bias) < 0.15 * sd  # matching bias is small next to its noise


@pytest.mark.ci_bounded
def test_psm_att_coverage_bounded() -> None:
    # 200 replications: Monte-Carlo SE ≈ 1.5 points, so the band is 95% ± 3 MC SE.
    cover, bias, sd = _psm_coverage(200, 2000, "ATT", 30_000)
    assert 0.905 <= cover <= 0.995
    assert abs(bias) < 0.25 * sd
