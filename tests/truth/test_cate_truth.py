"""CATE estimators against a known truth: averages, unit effects and the tests' size.

Quick checks (default run): every CATE estimator's average within 4·SE of the truth
and unit effects closer to τ(x) than a constant.  Simulation studies (``slow``; a
bounded ``ci_bounded`` form): causal-forest pointwise coverage on Wager & Athey
(2018) §5, BLP/GATES interval coverage, and the size (and power) of the split-sample
RATE test.
"""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.simulate.cate import wager_athey_2018
from cqox.simulate.dml import make_irm_heterogeneous

CATE = ["s_learner", "t_learner", "x_learner", "r_learner", "dr_learner", "causal_forest"]
COVS10 = [f"x{j}" for j in range(1, 11)]
COVS4 = ["x1", "x2", "x3", "x4"]


def test_every_cate_estimator_recovers_ate_and_beats_a_constant() -> None:
    df, truth = make_irm_heterogeneous(n=2000, seed=21)
    X = df[COVS10].to_numpy()
    tau = 1 + 0.5 * X[:, 0] + 0.5 * (X[:, 3] ** 2 - 1)
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=COVS10,
        estimators=CATE,
        params={"causal_forest": {"n_trees": 500}},
        seed=2,
    )
    assert {e.estimator for e in an.estimates} == set(CATE)
    for est in an.estimates:
        assert abs(est.estimate - truth["ATE"]) < 4 * est.se, est.estimator
        pehe = float(np.sqrt(np.mean((est.effects()["cate"].to_numpy() - tau) ** 2)))
        assert pehe < float(np.std(tau)), (est.estimator, pehe)


def _forest_coverage(reps: int, n_trees: int) -> float:
    cover = []
    for r in range(reps):
        df, truth = wager_athey_2018("heterogeneous", n=1000, p=4, seed=100 + r)
        est = cqox.estimate(
            "causal_forest",
            df,
            outcome="y",
            treatment="t",
            covariates=COVS4,
            learner="linear",
            n_trees=n_trees,
            seed=r,
            n_boot=20,
        )
        eff = est.effects()
        cover.append(np.mean((eff.ci_lower <= truth["tau"]) & (truth["tau"] <= eff.ci_upper)))
    return float(np.mean(cover))


@pytest.mark.ci_bounded
def test_forest_pointwise_coverage_bounded() -> None:
    # 6 replications of n = 1000: coverage of τ(x_i) averaged over rows; the
    # honest forest's intervals are known to under-cover where τ bends sharply
    # (Wager & Athey 2018, Table 2), hence the loose bound here.
    assert _forest_coverage(6, 500) >= 0.75


@pytest.mark.slow
def test_forest_pointwise_coverage_full() -> None:
    assert _forest_coverage(50, 2000) >= 0.85


def _blp_gates_coverage(reps: int) -> tuple[float, float]:
    hit_blp, hit_gates = [], []
    for r in range(reps):
        df, truth = wager_athey_2018("heterogeneous", n=1000, p=4, seed=300 + r)
        est = cqox.estimate(
            "dr_learner",
            df,
            outcome="y",
            treatment="t",
            covariates=COVS4,
            learner="linear",
            final_learner="linear",
            seed=r,
            n_boot=20,
        )
        blp = est.tables["blp"].set_index("term")
        lo, hi = blp.loc["beta1_ate", ["ci_lower", "ci_upper"]]
        hit_blp.append(lo <= truth["SATE"] <= hi)
        cate = est.effects()["cate"].to_numpy()
        from cqox.estimators.cate.heterogeneity import quantile_groups

        groups = quantile_groups(cate, 5)
        g = est.tables["gates"]
        for k in range(5):
            true_k = float(truth["tau"][groups == k].mean())
            hit_gates.append(g.ci_lower[k] <= true_k <= g.ci_upper[k])
    return float(np.mean(hit_blp)), float(np.mean(hit_gates))


@pytest.mark.ci_bounded
def test_blp_and_gates_coverage_bounded() -> None:
    blp, gates = _blp_gates_coverage(15)
    assert blp >= 0.8 and gates >= 0.8, (blp, gates)


@pytest.mark.slow
def test_blp_and_gates_coverage_full() -> None:
    blp, gates = _blp_gates_coverage(200)
    assert 0.93 <= blp <= 0.97 and 0.93 <= gates <= 0.97, (blp, gates)


def _rate_rejections(reps: int, design: str = "confounded_null") -> float:
    rejected = []
    for r in range(reps):
        df, _ = wager_athey_2018(design, n=1000, p=4, seed=500 + r)
        est = cqox.estimate(
            "dr_learner",
            df,
            outcome="y",
            treatment="t",
            covariates=COVS4,
            learner="linear",
            final_learner="linear",
            seed=r,
            n_boot=100,
        )
        rejected.append(est.diagnostics["heterogeneity"]["rate"]["autoc_p_value"] < 0.05)
    return float(np.mean(rejected))


@pytest.mark.ci_bounded
def test_rate_size_without_heterogeneity_bounded() -> None:
    # 20 replications: at a 5% size, 3 or more rejections have probability 0.075; the
    # in-sample ranking this replaced rejected 13-15.5% (3+ of 20: probability 0.5)
    assert _rate_rejections(20) <= 0.1


@pytest.mark.slow
def test_rate_size_without_heterogeneity_full() -> None:
    # split-sample RATE: measured 0.050 over 400 replications (AUTOC; Qini 0.050)
    assert _rate_rejections(400) <= 0.07


@pytest.mark.ci_bounded
def test_rate_detects_heterogeneity() -> None:
    # the power side of the split: on Wager & Athey's heterogeneous design (τ from
    # 1 to 4) the half-sample test still rejects in every one of 5 replications
    assert _rate_rejections(5, "heterogeneous") == 1.0
