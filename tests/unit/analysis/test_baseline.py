"""The unadjusted baseline (difference in means) and the randomization check.

Built from the issue's experimental rows (LaLonde NSW, Thornton): a randomized
experiment's published number is the difference in means, which every binary-treatment
analysis now reports beside (never inside) its adjusted consensus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.analysis.baseline import difference_in_means, randomization_check


def _experiment(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.3, n)
    t = rng.permutation(np.repeat([0, 1], n // 2))  # complete randomization
    y = 1000 + 800 * t + 300 * x1 + 200 * x2 + rng.normal(0, 500, n)
    return pd.DataFrame({"y": y, "t": t, "x1": x1, "x2": x2})


def test_baseline_is_the_difference_in_means_with_the_neyman_se() -> None:
    df = _experiment()
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    b = an.baseline
    assert b is not None and b["estimator"] == "difference_in_means"
    y1, y0 = df.loc[df.t == 1, "y"], df.loc[df.t == 0, "y"]
    assert b["estimate"] == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
    se = np.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    assert b["se"] == pytest.approx(se, rel=1e-12)
    assert b["n_treated"] == b["n_control"] == 1000
    # randomized: nothing predicts the treatment; the baseline is never in the consensus
    assert b["randomization_check"]["ran"] and not b["randomization_check"]["arms_differ"]
    assert "difference_in_means" not in an.consensus["ATE"]["estimators"]
    assert an.to_dict()["baseline"]["estimate"] == b["estimate"]
    assert "baseline (difference in means" in an.summary()


def test_randomization_check_rejects_a_confounded_assignment() -> None:
    df, _ = cqox.simulate.confounded_binary(n=2000, seed=2)
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    assert an.baseline is not None
    check = an.baseline["randomization_check"]
    assert check["arms_differ"] and check["p_value"] < 1e-6
    assert "not an effect estimate" in an.baseline["note"]


def test_randomization_check_is_statsmodels_hc1_wald_test() -> None:
    sm = pytest.importorskip("statsmodels.api")
    df, _ = cqox.simulate.confounded_binary(n=500, seed=5)
    X = df[[c for c in df.columns if c.startswith("x")]].to_numpy(float)
    t = df["t"].to_numpy(float)
    ours = randomization_check(t, X, [f"x{j}" for j in range(X.shape[1])])
    fit = sm.OLS(t, sm.add_constant(X)).fit(cov_type="HC1")
    R = np.eye(X.shape[1] + 1)[1:]
    theirs = fit.wald_test(R, use_f=False, scalar=True)
    assert ours["statistic"] == pytest.approx(float(theirs.statistic), rel=1e-8)
    assert ours["p_value"] == pytest.approx(float(theirs.pvalue), rel=1e-6)


def test_baseline_uses_every_row_with_outcome_and_treatment() -> None:
    df = _experiment(n=400, seed=3)
    df.loc[:9, "x1"] = np.nan  # rows the adjusted estimators drop
    b = cqox.analyze(
        df, outcome="y", treatment="t", covariates=["x1", "x2"], estimators=["ipw"]
    ).baseline
    assert b is not None and b["n"] == 400
    assert b["estimate"] == pytest.approx(
        difference_in_means(df.y.to_numpy(), df.t.to_numpy())["estimate"]
    )


def test_no_baseline_for_a_continuous_treatment() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    d = x + rng.normal(size=500)
    df = pd.DataFrame({"y": 2 * d + x + rng.normal(size=500), "d": d, "x": x})
    an = cqox.analyze(df, outcome="y", treatment="d", estimators=["dml_plr"])
    assert an.baseline is None and "baseline" not in an.to_dict()
