"""``dose_kernel_dr`` and ``dose_dml``: bandwidths, refusals, block invariance, learners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.dose.kernel_dr import N_BANDWIDTHS
from cqox.simulate.dose import dose_polynomial

COVARIATES = ["x1", "x2"]


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return dose_polynomial(n=800, seed=4)[0]


def test_kernel_dr_bandwidth_is_the_loo_minimiser_shrunk_by_undersmoothing(
    sim: pd.DataFrame,
) -> None:
    est = cqox.estimate("dose_kernel_dr", sim, outcome="y", dose="a", covariates=COVARIATES,
                        n_sim=200)  # fmt: skip
    risk = est.tables["bandwidth_risk"]
    assert len(risk) == N_BANDWIDTHS
    h_cv = float(risk["bandwidth"][risk["loo_risk"].idxmin()])
    assert est.diagnostics["bandwidth_loo"] == pytest.approx(h_cv)
    assert est.diagnostics["bandwidth"] == pytest.approx(h_cv * len(sim) ** -0.1)
    plain = cqox.estimate("dose_kernel_dr", sim, outcome="y", dose="a", covariates=COVARIATES,
                          undersmooth=0.0, n_sim=200)  # fmt: skip
    assert plain.diagnostics["bandwidth"] == pytest.approx(h_cv)


def test_kernel_dr_given_bandwidth_skips_the_search(sim: pd.DataFrame) -> None:
    est = cqox.estimate("dose_kernel_dr", sim, outcome="y", dose="a", covariates=COVARIATES,
                        bandwidth=0.3, n_sim=200)  # fmt: skip
    assert est.diagnostics["bandwidth"] == 0.3 and "bandwidth_risk" not in est.tables
    assert np.isnan(est.diagnostics["bandwidth_loo"])


@pytest.mark.parametrize("name", ["dose_kernel_dr", "dose_dml"])
@pytest.mark.parametrize("bad", [0.0, -1.0, "wide"])
def test_bad_bandwidth_is_refused_naming_it(sim: pd.DataFrame, name: str, bad: object) -> None:
    with pytest.raises(cqox.ParameterError, match=f"'bandwidth' parameter of {name}"):
        cqox.estimate(name, sim, outcome="y", dose="a", covariates=COVARIATES, bandwidth=bad)


def test_undersmooth_above_one_half_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.ParameterError, match="'undersmooth' parameter of dose_kernel_dr"):
        cqox.estimate("dose_kernel_dr", sim, outcome="y", dose="a", undersmooth=0.9)


def test_dml_too_many_folds_for_the_rows_is_refused_naming_n_folds(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.EstimationError, match="cross-fitting folds") as info:
        cqox.estimate("dose_dml", sim.head(30), outcome="y", dose="a", covariates=COVARIATES,
                      n_folds=20, outcome_learner="linear")  # fmt: skip
    assert info.value.details["parameter"] == "n_folds"


def test_dml_dose_predicted_exactly_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.EstimationError, match="predict the dose exactly"):
        cqox.estimate("dose_dml", sim.assign(x1=sim["a"]), outcome="y", dose="a",
                      covariates=["x1"], outcome_learner="linear")  # fmt: skip


@pytest.mark.parametrize("name", ["dose_kernel_dr", "dose_dml"])
def test_curve_does_not_depend_on_the_row_blocks(
    sim: pd.DataFrame, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cqox.estimators.dose.dml as dml
    import cqox.estimators.dose.kernel_dr as kdr

    kw = {"outcome_learner": "linear"} if name == "dose_dml" else {}
    doses = [0.0, 1.0, 2.0]
    whole = cqox.estimate(name, sim, outcome="y", dose="a", covariates=COVARIATES, n_sim=200,
                          seed=3, **kw).curve(doses)  # fmt: skip
    monkeypatch.setattr(kdr, "BLOCK_CELLS", 700)
    monkeypatch.setattr(dml, "BLOCK_CELLS", 700)
    blocked = cqox.estimate(name, sim, outcome="y", dose="a", covariates=COVARIATES, n_sim=200,
                            seed=3, **kw).curve(doses)  # fmt: skip
    pd.testing.assert_frame_equal(whole, blocked, rtol=1e-10)


def test_dml_linear_outcome_with_no_covariates_runs(sim: pd.DataFrame) -> None:
    est = cqox.estimate("dose_dml", sim, outcome="y", dose="a", outcome_learner="linear",
                        n_sim=200)  # fmt: skip
    assert np.all(np.isfinite(est.curve([0.5, 1.5])["se"]))


def test_both_are_doubly_robust_to_a_wrong_outcome_model() -> None:
    # the outcome has x1² − 1, which the linear outcome model misses; the dose model is
    # right, so the DR curve is still centred on the truth (tests/truth shows the
    # unadjusted curve is not)
    df, truth = dose_polynomial(n=4000, seed=8, nonlinear_outcome=True)
    for name, kw in (("dose_kernel_dr", {}), ("dose_dml", {"outcome_learner": "linear"})):
        c = cqox.estimate(name, df, outcome="y", dose="a", covariates=COVARIATES, n_sim=200,
                          **kw).curve([0.0, 1.0, 2.0])  # fmt: skip
        assert np.all(np.abs(c["estimate"] - truth["curve"](c["dose"].to_numpy())) < 3 * c["se"])
