"""``synth`` on the ADH factor model: bias, size of the placebo test, interval coverage.

Coverage is that of the default interval, the conformal set of Chernozhukov, Wüthrich &
Zhu (2021) for a constant effect, in two designs: the treated unit inside the donors'
convex hull (a synthetic control exists) and the treated unit drawn like the donors
(exchangeable units).  The placebo-quantile interval (``se_method="placebo"``) is not
claimed to cover: it over-covers in the first design and under-covers in the second
(docs/validation_synth_its_pm.md, "Interval coverage").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.synth import synth_exchangeable_factor_model, synth_factor_model

ROLES = {"unit": "unit", "time": "time", "treatment": "treated"}
SPEC = {
    "predictors": ["x1", "x2"],
    "special_predictors": [("y", "1:7"), ("y", "8:14"), ("y", "15:20")],
}
#: Placebo test at this level: with 19 donors, p ≤ 0.1 means the treated unit's RMSPE
#: ratio ranks in the top 2 of 20, exactly 10% under exchangeability.
ALPHA = 0.10


def _fit(
    seed: int,
    effect: float,
    in_hull: bool,
    v_method: str,
    placebo: bool,
    inference: str = "conformal",
) -> cqox.Estimate:
    df, _ = synth_factor_model(
        n_donors=19, n_pre=20, n_post=8, effect=effect, treated_in_hull=in_hull, seed=seed
    )
    return cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles=ROLES,
        v_method=v_method,
        placebo=placebo,
        leave_one_out=False,
        se_method=inference,
        **SPEC,
    )


def test_att_within_three_placebo_sds_of_truth() -> None:
    est = _fit(seed=3, effect=2.0, in_hull=True, v_method="equal", placebo=True)
    assert abs(est.estimate - 2.0) <= 3 * est.se
    assert est.tables["placebos"].shape[0] == 19


def _bias(reps: int) -> tuple[float, float]:
    err = np.array([_fit(s, 2.0, True, "nested", False).estimate - 2.0 for s in range(reps)])
    return float(err.mean()), float(err.std(ddof=1) / np.sqrt(reps))


def _size(reps: int) -> float:
    p = np.array(
        [_fit(1000 + s, 0.0, False, "equal", True, "placebo").p_value for s in range(reps)]
    )
    return float(np.mean(p <= ALPHA + 1e-12))


@pytest.mark.slow
def test_bias_small_and_placebo_size_exact_full() -> None:
    mean_err, mc_se = _bias(200)
    # bias: within 3 Monte-Carlo SEs of zero, and under 5% of the effect
    assert abs(mean_err) <= max(3 * mc_se, 0.1)
    rate = _size(400)
    # 400 reps: MC SE of a 10% rate is 0.015; band = ±3 MC SE
    assert 0.055 <= rate <= 0.145


@pytest.mark.ci_bounded
def test_bias_small_and_placebo_size_exact_bounded() -> None:
    mean_err, mc_se = _bias(25)
    assert abs(mean_err) <= max(3 * mc_se, 0.1)
    rate = _size(60)
    # 60 reps: MC SE of a 10% rate is 0.039; band = 0.10 ± 3 MC SE, floored at 0
    assert rate <= 0.22


#: Coverage band of issue #4 for 95% intervals.
COVER_LO, COVER_HI = 0.93, 0.97


def _panel(design: str, n_pre: int, n_post: int, seed: int) -> tuple[pd.DataFrame, float]:
    """One coverage design: ``hull`` (treated unit a convex combination of three donors,
    drifting covariate effects), ``exchangeable`` (stationary factor model, i.i.d. units,
    treated unit drawn at random) or ``exchangeable_drift`` (``synth_factor_model`` with
    the treated unit drawn like the donors: exchangeable units, non-stationary errors)."""
    if design == "exchangeable":
        df, truth = synth_exchangeable_factor_model(
            n_units=20, n_pre=n_pre, n_post=n_post, seed=seed
        )
    else:
        df, truth = synth_factor_model(
            n_donors=19, n_pre=n_pre, n_post=n_post, treated_in_hull=design == "hull", seed=seed
        )
    return df, truth["ATT"]


def _coverage(reps: int, design: str, n_pre: int, n_post: int) -> float:
    hits = 0
    for s in range(reps):
        df, att = _panel(design, n_pre, n_post, 20_000 + s)
        est = cqox.estimate(
            "synth",
            df,
            outcome="y",
            roles=ROLES,
            v_method="equal",  # the conformal set does not use V
            placebo=False,
            leave_one_out=False,
        )
        hits += bool(est.ci[0] <= att <= est.ci[1])
    return hits / reps


#: With T = 40 periods the 40 moving-block permutations give an exact 5% test
#: (⌊0.05·40⌋/40); with T = 28 the test is exact at 1/28, nominal coverage 96.4%.
#: ``exchangeable_drift`` is left out: its errors are not stationary (random-walk
#: covariate effects with the treated unit outside the hull), outside the conditions
#: of the conformal test; its coverage (92.8%) is documented, not asserted.
FULL_DESIGNS = [
    ("hull", 30, 10),
    ("exchangeable", 30, 10),
    ("hull", 20, 8),
    ("exchangeable", 20, 8),
]


def _nominal(periods: int, level: float = 0.95) -> float:
    """Exact level of the moving-block test with ``periods`` permutations:
    ``1 − ⌊αT⌋/T`` (95% at T = 40, 96.4% at T = 28)."""
    return 1 - math.floor((1 - level) * periods + 1e-9) / periods


@pytest.mark.slow
@pytest.mark.parametrize(("design", "n_pre", "n_post"), FULL_DESIGNS)
def test_conformal_interval_covers_full(design: str, n_pre: int, n_post: int) -> None:
    # 2,000 reps: MC SE of a 95% rate is 0.0049; the band is the project's ±2 points
    # around the test's exact level (93–97% at T = 40; 94.4–98.4% at T = 28, where the
    # 28 moving blocks make the test exact at 1/28)
    nominal = _nominal(n_pre + n_post)
    assert nominal - 0.02 <= _coverage(2000, design, n_pre, n_post) <= nominal + 0.02


@pytest.mark.ci_bounded
@pytest.mark.parametrize("design", ["hull", "exchangeable"])
def test_conformal_interval_covers_bounded(design: str) -> None:
    # 1,000 reps per design (15–30 s each): MC SE of a 95% rate is 0.0069, so the
    # 93–97% band is ±2.9 MC SE around the exact 95% of the T = 40 design
    assert COVER_LO <= _coverage(1000, design, 30, 10) <= COVER_HI
