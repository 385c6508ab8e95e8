"""Refutation gates against DoWhy's refuters on the same data (within Monte-Carlo error).

Same data, same estimator (DoWhy's ``backdoor.linear_regression``: OLS of the outcome on
the treatment and the common causes), same definitions and number of simulations; the
random draws differ (DoWhy uses a ``RandomState``, CQOx a seeded ``Generator``), so the
mean refuted effects are compared within ``MC_MULTIPLE`` Monte-Carlo standard errors.
The dummy outcome is compared on the outcome scaled to SD 1 (DoWhy's default noise is
N(0, 1), CQOx's N(0, sd(y))); the simulated unobserved common cause over seeded
repetitions of DoWhy's direct simulation.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import cqox
from cqox.analysis import refute

dowhy = pytest.importorskip("dowhy")

#: |mean_cqox − mean_dowhy| ≤ 4 · sqrt(sd²/n + sd²/n): a false alarm below 1e-4.
MC_MULTIPLE = 4.0
N_SIMS = 100
#: The original estimates are the same OLS coefficient (statsmodels vs lstsq).
ESTIMATE_RTOL = 1e-8


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    from dowhy import CausalModel

    df, _ = cqox.simulate.confounded_binary(n=800, seed=11)
    df = df.assign(t=df["t"].astype(bool))
    covs = [c for c in df.columns if c.startswith("x")]
    logging.getLogger("dowhy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=df, treatment="t", outcome="y", common_causes=covs)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(estimand, method_name="backdoor.linear_regression")
    y = df["y"].to_numpy(float)
    t = df["t"].to_numpy(float)
    X = df[covs].to_numpy(float)
    return model, estimand, est, y, t, X


def _dowhy(fitted, method: str, **kw):  # type: ignore[no-untyped-def]
    model, estimand, est, *_ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.refute_estimate(
            estimand, est, method_name=method, num_simulations=N_SIMS, random_seed=0, **kw
        )


def test_the_refuted_estimator_is_dowhys_linear_regression(fitted) -> None:  # type: ignore[no-untyped-def]
    _, _, est, y, t, X = fitted
    assert refute.ols_effect(y, t, X) == pytest.approx(est.value, rel=ESTIMATE_RTOL)


@pytest.mark.parametrize(
    ("method", "ours", "kw"),
    [
        ("placebo_treatment_refuter", refute.refute_placebo, {"placebo_type": "permute"}),
        ("random_common_cause", refute.refute_random_common_cause, {}),
        ("data_subset_refuter", refute.refute_data_subset, {"subset_fraction": 0.8}),
    ],
)
def test_refuted_effects_agree_with_dowhy(fitted, method, ours, kw) -> None:  # type: ignore[no-untyped-def]
    *_, y, t, X = fitted
    r = ours(y, t, X, np.random.default_rng(0), N_SIMS)
    theirs = _dowhy(fitted, method, **kw)
    sd = float(np.std(r.sims))
    mcse = np.sqrt(2 * sd**2 / N_SIMS)
    assert abs(r.new_effect - theirs.new_effect) <= MC_MULTIPLE * mcse + 1e-12
    # the same test decides: DoWhy's p-value uses the same rule (bootstrap at 100 sims)
    assert (r.p_value >= 0.05) == (theirs.refutation_result["p_value"] >= 0.05)


def test_significance_is_dowhys_rule() -> None:
    from dowhy.causal_refuter import test_significance

    class _Est:
        def __init__(self, value: float) -> None:
            self.value = value

    rng = np.random.default_rng(1)
    for n in (20, 150):
        sims = rng.normal(0.3, 1.0, n)
        for v in (0.0, 1.5, 3.0):
            theirs = test_significance(_Est(v), list(sims))["p_value"]
            assert refute.significance(v, sims) == pytest.approx(theirs, rel=1e-12)


def test_dummy_outcome_agrees_with_dowhy(fitted) -> None:  # type: ignore[no-untyped-def]
    """DoWhy's default dummy outcome is N(0, 1) noise; ours is N(0, sd(y)): on y/sd(y)."""
    *_, y, t, X = fitted
    r = refute.refute_dummy_outcome(y / np.std(y), t, X, np.random.default_rng(0), N_SIMS)
    (theirs,) = _dowhy(fitted, "dummy_outcome_refuter")
    sd = float(np.std(r.sims))
    assert abs(r.new_effect - theirs.new_effect) <= MC_MULTIPLE * np.sqrt(2 * sd**2 / N_SIMS)
    assert (r.p_value >= 0.05) == (theirs.refutation_result["p_value"] >= 0.05)


def test_unobserved_common_cause_is_dowhys_direct_simulation() -> None:
    """Same definition (binary flip of the treatment, linear on the outcome): the mean
    re-estimate over seeded draws agrees within Monte-Carlo error."""
    from dowhy import CausalModel

    df, _ = cqox.simulate.confounded_binary(n=800, seed=12)
    df = df.assign(t=df["t"].astype(int))  # DoWhy flips with 1 − t (not for bools)
    covs = [c for c in df.columns if c.startswith("x")]
    y, t, X = (df["y"].to_numpy(float), df["t"].to_numpy(float), df[covs].to_numpy(float))
    kappa_t, kappa_y, reps = 0.2, 2.0, 40
    logging.getLogger("dowhy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=df, treatment="t", outcome="y", common_causes=covs)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(estimand, method_name="backdoor.linear_regression")
        theirs = []
        for k in range(reps):
            np.random.seed(k)  # noqa: NPY002 - DoWhy draws from NumPy's global state
            theirs.append(
                model.refute_estimate(
                    estimand,
                    est,
                    method_name="add_unobserved_common_cause",
                    confounders_effect_on_treatment="binary_flip",
                    confounders_effect_on_outcome="linear",
                    effect_strength_on_treatment=kappa_t,
                    effect_strength_on_outcome=kappa_y,
                    simulation_method="direct-simulation",
                ).new_effect
            )
    ours = [
        refute.refute_unobserved_confounder(
            y, t, X, np.random.default_rng(k), kappa_t, kappa_y
        ).new_effect
        for k in range(reps)
    ]
    a, b = np.array(ours), np.array(theirs, dtype=float)
    # the confounder moves the estimate (attenuation by the flips, bias by w)
    assert abs(a.mean() - est.value) > 0.1 and abs(b.mean() - est.value) > 0.1
    mcse = np.sqrt(a.var(ddof=1) / reps + b.var(ddof=1) / reps)
    assert abs(a.mean() - b.mean()) <= MC_MULTIPLE * mcse
