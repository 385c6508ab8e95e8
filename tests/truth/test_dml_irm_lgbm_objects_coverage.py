"""``dml_irm``'s 95% interval covers with a caller's boosted LightGBM objects.

A flexible classifier passed as ``propensity_learner`` (the peers' LightGBM settings:
hundreds of trees on a thousand rows) gives over-confident out-of-fold propensities:
near 0 and 1 where the true ones are not.  DoubleML, which uses them raw (truncated
at 0.01), then reports an SE about twice CQOx's on the peer-speed benchmark data.
``dml_irm`` calibrates them by isotonic regression before truncation (its default),
and these studies check that its shorter interval still covers: coverage, mean SE
against the Monte-Carlo SD, and bias.  The full study and the comparison with
DoubleML are in ``benchmarks/dml_irm_se_study.py`` and
docs/validation_backdoor_dml.md ("SE with the peers' LightGBM objects").
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from benchmarks import cases, datagen
from benchmarks.dml_irm_se_study import TRUE_ATE, make_data

import cqox

#: Half-width of the coverage band in Monte-Carlo SEs of a 95% coverage.
COVERAGE_MC_SE = 3.0
#: Half-width of the band for mean SE / SD in Monte-Carlo SEs of that ratio; the
#: ratio's relative MC SE is about 1/sqrt(2(R − 1)) (the SD's; the mean SE's is small).
RATIO_MC_SE = 4.0
#: Boosted nuisances leave a regularisation bias of smaller order than n^{-1/2}; bound
#: it relative to the SD (what coverage depends on) plus Monte-Carlo noise, as in
#: tests/truth/test_aipw_dml_truth.py.
BIAS_SD = 0.3
BIAS_MC_SE = 3.5
#: Bounded form: a smaller table and smaller forests with the same over-confidence
#: (15 leaves, no early stopping); about 0.2 s per replication on one core.
BOUNDED_N, BOUNDED_P, BOUNDED_REPS = 600, 10, 150
BOUNDED_LGBM: dict[str, Any] = {**cases.LGBM, "n_estimators": 50, "learning_rate": 0.1}
#: Full form: the study's harness design (1,000 × 50, the peers' LightGBM objects).
FULL_REPS = 200


def _learners(params: dict[str, Any]) -> dict[str, Any]:
    from lightgbm import LGBMClassifier, LGBMRegressor

    return {
        "outcome_learner": LGBMRegressor(**params),
        "propensity_learner": LGBMClassifier(**params),
    }


def coverage(
    designs: list[datagen.Design], learner_params: dict[str, Any], **params: Any
) -> dict[str, float]:
    """Bias, SD, mean SE / SD and coverage of ``dml_irm`` (ATE, 5 folds, one split).

    ``params`` overrides other ``dml_irm`` parameters (the documentation measured
    ``propensity_calibration="none"`` on the same draws with it).
    """
    est, se, covered = [], [], []
    for r, d in enumerate(designs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e = cqox.estimate(
                "dml_irm",
                d.frame,
                outcome="y",
                treatment="t",
                covariates=d.roles["covariates"],
                n_folds=5,
                n_rep=1,
                seed=r,
                **_learners(learner_params),
                **params,
            )
        est.append(e.estimate)
        se.append(e.se)
        covered.append(e.ci[0] <= TRUE_ATE <= e.ci[1])
    R = len(designs)
    sd = float(np.std(est, ddof=1))
    return {
        "R": R,
        "bias": float(np.mean(est) - TRUE_ATE),
        "mc_se_bias": sd / np.sqrt(R),
        "sd": sd,
        "se_over_sd": float(np.mean(se)) / sd,
        "coverage": float(np.mean(covered)),
    }


def check(res: dict[str, float]) -> None:
    """Coverage and SE / SD within their Monte-Carlo bands around 95% and 1; bias small."""
    R = res["R"]
    half_cov = COVERAGE_MC_SE * np.sqrt(0.95 * 0.05 / R)
    assert 0.95 - half_cov <= res["coverage"] <= min(1.0, 0.95 + half_cov), res
    half_ratio = RATIO_MC_SE / np.sqrt(2 * (R - 1))
    assert 1 - half_ratio <= res["se_over_sd"] <= 1 + half_ratio, res
    assert abs(res["bias"]) < BIAS_SD * res["sd"] + BIAS_MC_SE * res["mc_se_bias"], res


@pytest.mark.slow
def test_dml_irm_covers_with_the_peers_lightgbm_objects() -> None:
    designs = [make_data("harness", r) for r in range(FULL_REPS)]
    res = coverage(designs, cases.LGBM)
    print(res)
    check(res)


@pytest.mark.ci_bounded
def test_dml_irm_covers_with_overconfident_boosted_propensities_bounded() -> None:
    designs = [
        datagen.cross_section(n=BOUNDED_N, p=BOUNDED_P, seed=930_000 + r)
        for r in range(BOUNDED_REPS)
    ]
    res = coverage(designs, BOUNDED_LGBM)
    print(res)
    check(res)
