"""DiD estimators against a known truth (cqox.simulate.panel).

Default run: one draw each, ``|estimate − truth| ≤ 3·SE``.  Coverage studies (bias
and 95 % CI coverage over seeded replications) are ``slow``; each has a bounded
``ci_bounded`` form that runs in well under 60 s:

- ``did_2x2`` on the canonical two-period design;
- ``did_twfe`` under staggered adoption with a homogeneous effect (where TWFE is
  unbiased);
- ``did_cs`` under staggered adoption with effects that grow with exposure, where
  TWFE is biased and Callaway–Sant'Anna is not (both are measured);
- the simultaneous (uniform) band of the ``did_cs`` event study, which must cover
  the whole path of true event-time effects (zero before adoption) in 95 % of draws.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import cqox
from cqox.simulate.panel import staggered_panel, two_period_panel

#: Full studies: 1,000 replications give a Monte-Carlo SD of 0.0069 for a 95 %
#: coverage, so the 93–97 % band is about ±2.9 SD.
R_SLOW = 1000
COVERAGE_BAND = (0.93, 0.97)
#: Bounded studies: R replications; the band is 0.95 ± 3 Monte-Carlo SDs,
#: sqrt(0.95·0.05/R), e.g. ±0.038 for R = 300.
R_BOUNDED = 300
R_BOUNDED_BAND = 200  # event-study bands need a bootstrap per draw
R_BOUNDED_CS = 250  # each draw fits did_cs and did_twfe


def bounded_band(r: int) -> tuple[float, float]:
    sd = math.sqrt(0.95 * 0.05 / r)
    return 0.95 - 3 * sd, min(1.0, 0.95 + 3 * sd)


PANEL = {"unit": "unit", "time": "time"}
STAGGERED = {"unit": "unit", "time": "time", "cohort": "cohort"}


def study(r: int, draw: Callable[[int], tuple[float, float, float]]) -> dict[str, float]:
    """Run ``draw(seed) -> (estimate, se, truth)`` r times: bias, coverage, SD, mean SE."""
    est, se, truth = np.array([draw(seed) for seed in range(r)]).T
    z = 1.959963984540054
    covered = np.abs(est - truth) <= z * se
    return {
        "bias": float(np.mean(est - truth)),
        "mc_se_bias": float(np.std(est - truth, ddof=1) / np.sqrt(r)),
        "coverage": float(covered.mean()),
        "sd": float(np.std(est, ddof=1)),
        "mean_se": float(np.mean(se)),
    }


def quiet_estimate(name: str, df: object, **kw: object) -> cqox.Estimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cqox.estimate(name, df, **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- draws


def draw_2x2(seed: int) -> tuple[float, float, float]:
    df, truth = two_period_panel(n_units=200, effect=1.0, seed=seed)
    e = quiet_estimate("did_2x2", df, outcome="y", treatment="d", roles=PANEL)
    return e.estimate, e.se, truth["ATT"]


def draw_twfe_homogeneous(seed: int) -> tuple[float, float, float]:
    df, truth = staggered_panel(n_units=200, n_periods=6, cohorts=(3, 5), seed=seed)
    e = quiet_estimate("did_twfe", df, outcome="y", treatment="d", roles=PANEL)
    return e.estimate, e.se, float(truth["ATT"])  # type: ignore[arg-type]


def heterogeneous(seed: int) -> tuple[object, dict[str, object]]:
    # 600 units: at 300 the influence-function SE (identical to csdid's) is still
    # ~6 % below the sampling SD (93 % coverage); at 600 the ratio is 0.99
    return staggered_panel(
        n_units=600, n_periods=6, cohorts=(3, 5), never_share=0.3, dynamic=0.3, seed=seed
    )


def draw_cs_heterogeneous(seed: int) -> tuple[float, float, float]:
    df, truth = heterogeneous(seed)
    e = quiet_estimate("did_cs", df, outcome="y", roles=STAGGERED, aggregation="simple", n_boot=0)
    return e.estimate, e.se, float(truth["ATT"])  # type: ignore[arg-type]


def draw_twfe_heterogeneous(seed: int) -> tuple[float, float, float]:
    df, truth = heterogeneous(seed)
    e = quiet_estimate("did_twfe", df, outcome="y", treatment="d", roles=PANEL)
    return e.estimate, e.se, float(truth["ATT"])  # type: ignore[arg-type]


def band_covers(seed: int, n_boot: int = 499) -> bool:
    df, truth = heterogeneous(seed)
    e = quiet_estimate(
        "did_cs",
        df,
        outcome="y",
        roles=STAGGERED,
        aggregation="dynamic",
        n_boot=n_boot,
        seed=seed,
    )
    es = e.tables["event_study"]
    event: dict[int, float] = truth["event"]  # type: ignore[assignment]
    true = np.array([event.get(int(k), 0.0) for k in es["event_time"]])
    return bool(np.all((es["band_low"] <= true) & (true <= es["band_high"])))


# ------------------------------------------------------------------ quick checks


def test_did_2x2_within_three_se_of_truth() -> None:
    est, se, truth = draw_2x2(101)
    assert abs(est - truth) <= 3 * se


def test_did_twfe_within_three_se_under_homogeneous_effects() -> None:
    est, se, truth = draw_twfe_homogeneous(101)
    assert abs(est - truth) <= 3 * se


@pytest.mark.parametrize("aggregation", ["simple", "group", "dynamic", "calendar"])
def test_did_cs_within_three_se_under_heterogeneous_effects(aggregation: str) -> None:
    df, truth = staggered_panel(n_units=1000, n_periods=6, cohorts=(3, 5), dynamic=0.3, seed=202)
    e = quiet_estimate(
        "did_cs", df, outcome="y", roles=STAGGERED, aggregation=aggregation, n_boot=0
    )
    gt = truth["att_gt"]
    target = {
        "simple": truth["ATT"],
        "group": truth["ATT_group"],
        # dynamic: mean over exposures e ≥ 0 of the cohort-averaged effect
        "dynamic": float(np.mean([v for k, v in truth["event"].items() if k >= 0])),  # type: ignore[attr-defined]
        # calendar: mean over periods of the cohort-averaged effect in that period
        "calendar": float(gt.groupby("time")["att"].mean().mean()),  # type: ignore[attr-defined]
    }[aggregation]
    assert abs(e.estimate - float(target)) <= 3 * e.se  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_did_cs_with_covariates_removes_covariate_specific_trends(method: str) -> None:
    """Parallel trends hold only given x: adjusting recovers the truth, ignoring x does not."""
    df, truth = staggered_panel(
        n_units=1500, n_periods=5, cohorts=(3, 4), covariate_trend=0.5, seed=303
    )
    adjusted = quiet_estimate(
        "did_cs", df, outcome="y", covariates=["x"], roles=STAGGERED, method=method, n_boot=0
    )
    assert abs(adjusted.estimate - float(truth["ATT_group"])) <= 3 * adjusted.se  # type: ignore[arg-type]
    naive = quiet_estimate("did_cs", df, outcome="y", roles=STAGGERED, n_boot=0)
    assert abs(naive.estimate - float(truth["ATT_group"])) > 3 * naive.se  # type: ignore[arg-type]


def test_did_cs_pretrend_gate_flags_violated_parallel_trends() -> None:
    df, _ = staggered_panel(n_units=1500, n_periods=6, cohorts=(4, 5), covariate_trend=0.5, seed=4)
    e = quiet_estimate("did_cs", df, outcome="y", roles=STAGGERED, n_boot=0)
    gate = next(g for g in e.gates if g.name == "pretrend_wald")
    assert gate.status == "warn"


# ------------------------------------------------------------- coverage studies


def check_coverage(res: dict[str, float], band: tuple[float, float]) -> None:
    assert abs(res["bias"]) <= 3 * res["mc_se_bias"], res
    assert band[0] <= res["coverage"] <= band[1], res


@pytest.mark.slow
def test_did_2x2_coverage() -> None:
    check_coverage(study(R_SLOW, draw_2x2), COVERAGE_BAND)


@pytest.mark.ci_bounded
def test_did_2x2_coverage_bounded() -> None:
    check_coverage(study(R_BOUNDED, draw_2x2), bounded_band(R_BOUNDED))


@pytest.mark.slow
def test_did_twfe_coverage_homogeneous() -> None:
    check_coverage(study(R_SLOW, draw_twfe_homogeneous), COVERAGE_BAND)


@pytest.mark.ci_bounded
def test_did_twfe_coverage_homogeneous_bounded() -> None:
    check_coverage(study(R_BOUNDED, draw_twfe_homogeneous), bounded_band(R_BOUNDED))


def cs_vs_twfe(r: int, band: tuple[float, float]) -> None:
    cs = study(r, draw_cs_heterogeneous)
    check_coverage(cs, band)
    twfe = study(r, draw_twfe_heterogeneous)
    # with effects that grow with exposure, TWFE is biased (forbidden comparisons)
    assert abs(twfe["bias"]) > 5 * twfe["mc_se_bias"], twfe
    assert twfe["coverage"] < band[0], twfe


@pytest.mark.slow
def test_did_cs_coverage_heterogeneous_where_twfe_is_biased() -> None:
    cs_vs_twfe(R_SLOW, COVERAGE_BAND)


@pytest.mark.ci_bounded
def test_did_cs_coverage_heterogeneous_where_twfe_is_biased_bounded() -> None:
    cs_vs_twfe(R_BOUNDED_CS, bounded_band(R_BOUNDED_CS))


@pytest.mark.slow
def test_did_cs_event_study_uniform_band_coverage() -> None:
    coverage = np.mean([band_covers(s) for s in range(R_SLOW)])
    assert COVERAGE_BAND[0] <= coverage <= COVERAGE_BAND[1]


@pytest.mark.ci_bounded
def test_did_cs_event_study_uniform_band_coverage_bounded() -> None:
    coverage = np.mean([band_covers(s) for s in range(R_BOUNDED_BAND)])
    lo, hi = bounded_band(R_BOUNDED_BAND)
    assert lo <= coverage <= hi
