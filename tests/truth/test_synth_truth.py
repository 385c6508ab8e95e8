"""``synth`` on the ADH factor model: bias, and the size of the placebo test."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.simulate.synth import synth_factor_model

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
        inference=inference,
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
