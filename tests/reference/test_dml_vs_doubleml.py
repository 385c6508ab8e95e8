"""DML PLR/IRM against DoubleML (and EconML's LinearDML) with identical folds and learners.

The peers' outputs are stored in golden/{doubleml,econml}.json for machines without them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import cqox
from cqox.estimators.backdoor.dml import dml_irm, dml_plr
from cqox.nuisance.crossfit import fold_ids, folds_to_splits
from cqox.simulate.dml import make_irm_heterogeneous, make_plr_CCDDHNR2018
from tests.reference.golden import DOUBLEML, ECONML

pytestmark = pytest.mark.reference

#: Same folds, same deterministic (cloned) learners, same score: the numbers differ
#: only by floating-point summation order.
RTOL = 1e-9
#: EconML's LinearDML reports an HC1-style covariance of the final OLS (factor
#: n/(n−1) on the variance); with n = 800 the SEs differ by ~0.06%.
ECONML_SE_RTOL = 2e-3


def _folds(n: int, k: int, reps: int, strata: np.ndarray | None, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [fold_ids(n, k, rng, strata) for _ in range(reps)]


def _doubleml(
    case: str, build: Callable[[Any], Any], folds_list: list[np.ndarray]
) -> tuple[float, float]:
    """DoubleML's θ and SE on our folds (``build(doubleml)`` makes the model), or stored."""

    def fit() -> list[float]:
        import doubleml

        splits = [folds_to_splits(f) for f in folds_list]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build(doubleml)
            model.set_sample_splitting(splits if len(splits) > 1 else splits[0])
            model.fit()
        return [float(model.coef[0]), float(model.se[0])]

    theta, se = DOUBLEML.outputs(f"dml/{case}", fit)
    return theta, se


@pytest.mark.parametrize(
    ("learner", "reps"),
    [("linear", 1), ("linear", 3), ("forest", 1)],
)
def test_plr_matches_doubleml_on_same_folds(learner: str, reps: int) -> None:
    df, _ = make_plr_CCDDHNR2018(n=400, p=10, seed=3)
    cov = [f"x{j}" for j in range(1, 11)]
    X, y, d = df[cov].to_numpy(), df["y"].to_numpy(), df["d"].to_numpy()
    ml: Any = (
        LinearRegression()
        if learner == "linear"
        else RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0, n_jobs=1)
    )
    folds_list = _folds(len(y), 5, reps, None, seed=7)
    ours = dml_plr(y, d, X, folds_list, ml, ml)
    theta, se = _doubleml(
        f"plr-{learner}-reps{reps}",
        lambda dml: dml.DoubleMLPLR(
            dml.DoubleMLData(df, "y", "d", cov),
            ml,
            ml,
            n_folds=5,
            n_rep=reps,
            draw_sample_splitting=False,
        ),
        folds_list,
    )
    assert ours.theta == pytest.approx(theta, rel=RTOL)
    assert ours.se == pytest.approx(se, rel=RTOL)


def test_plr_binary_treatment_uses_a_classifier_like_doubleml() -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, seed=4)
    cov = ["x1", "x2", "x3", "x4"]
    X, y, d = df[cov].to_numpy(), df["y"].to_numpy(), df["t"].to_numpy(dtype=float)
    ml_m = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    folds_list = _folds(len(y), 5, 1, d, seed=8)
    ours = dml_plr(y, d, X, folds_list, LinearRegression(), ml_m)
    theta, se = _doubleml(
        "plr-binary-treatment-classifier",
        lambda dml: dml.DoubleMLPLR(
            dml.DoubleMLData(df, "y", "t", cov),
            LinearRegression(),
            ml_m,
            n_folds=5,
            draw_sample_splitting=False,
        ),
        folds_list,
    )
    assert ours.theta == pytest.approx(theta, rel=RTOL)
    assert ours.se == pytest.approx(se, rel=RTOL)


@pytest.mark.parametrize(("estimand", "reps"), [("ATE", 1), ("ATT", 1), ("ATE", 3)])
def test_irm_matches_doubleml_on_same_folds(estimand: str, reps: int) -> None:
    df, _ = make_irm_heterogeneous(n=800, p=6, seed=5)
    cov = [f"x{j}" for j in range(1, 7)]
    X, y, t = df[cov].to_numpy(), df["y"].to_numpy(), df["t"].to_numpy(dtype=float)
    ml_g = LinearRegression()
    ml_m = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    folds_list = _folds(len(y), 5, reps, t, seed=9)
    ours = dml_irm(y, t, X, folds_list, estimand, ml_g, ml_m, trimming_threshold=0.01)
    theta, se = _doubleml(
        f"irm-{estimand}-reps{reps}",
        lambda dml: dml.DoubleMLIRM(
            dml.DoubleMLData(df, "y", "t", cov),
            ml_g,
            ml_m,
            n_folds=5,
            n_rep=reps,
            score="ATTE" if estimand == "ATT" else "ATE",
            draw_sample_splitting=False,
            trimming_threshold=0.01,
        ),
        folds_list,
    )
    assert ours.theta == pytest.approx(theta, rel=RTOL)
    assert ours.se == pytest.approx(se, rel=RTOL)


def test_plr_point_estimate_matches_econml_linear_dml() -> None:
    df, _ = make_plr_CCDDHNR2018(n=800, p=10, seed=6)
    cov = [f"x{j}" for j in range(1, 11)]
    X, y, d = df[cov].to_numpy(), df["y"].to_numpy(), df["d"].to_numpy()
    folds_list = _folds(len(y), 5, 1, None, seed=10)
    ours = dml_plr(y, d, X, folds_list, LinearRegression(), LinearRegression())

    def fit() -> list[float]:
        from econml.dml import LinearDML

        peer = LinearDML(
            model_y=LinearRegression(),
            model_t=LinearRegression(),
            cv=folds_to_splits(folds_list[0]),
            fit_cate_intercept=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer.fit(y, d, X=None, W=X)
        low, high = peer.intercept__interval(alpha=0.05)
        return [float(peer.intercept_), float(low), float(high)]

    intercept, low, high = ECONML.outputs("dml/linear-dml-plr-seed6", fit)
    assert ours.theta == pytest.approx(intercept, rel=RTOL)
    peer_se = (high - low) / (2 * 1.959963984540054)
    assert ours.se == pytest.approx(peer_se, rel=ECONML_SE_RTOL)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_irm_isotonic_calibration_matches_doubleml_ps_processor(estimand: str) -> None:
    df, _ = make_irm_heterogeneous(n=800, p=6, seed=6)
    cov = [f"x{j}" for j in range(1, 7)]
    X, y, t = df[cov].to_numpy(), df["y"].to_numpy(), df["t"].to_numpy(dtype=float)
    ml_g = LinearRegression()
    ml_m = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    folds_list = _folds(len(y), 5, 1, t, seed=10)
    ours = dml_irm(
        y, t, X, folds_list, estimand, ml_g, ml_m, 0.01, propensity_calibration="isotonic"
    )

    def build(dml: Any) -> Any:
        from doubleml.utils import PSProcessorConfig

        return dml.DoubleMLIRM(
            dml.DoubleMLData(df, "y", "t", cov),
            ml_g,
            ml_m,
            n_folds=5,
            score="ATTE" if estimand == "ATT" else "ATE",
            draw_sample_splitting=False,
            ps_processor_config=PSProcessorConfig(
                clipping_threshold=0.01, calibration_method="isotonic"
            ),
        )

    theta, se = _doubleml(f"irm-{estimand}-isotonic", build, folds_list)
    assert ours.theta == pytest.approx(theta, rel=RTOL)
    assert ours.se == pytest.approx(se, rel=RTOL)
