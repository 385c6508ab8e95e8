"""dml_irm with one pooled outcome model against EconML's DRLearner on the same folds.

``outcome_structure="pooled"`` fits one outcome model on ``(X, T)`` (the treatment as
the last feature) and predicts it at ``T = 0`` and ``1`` — the nuisance structure of
EconML's ``DRLearner`` (``model_regression``).  With identical splits and
deterministic learners the doubly robust ATE is the same number.  EconML's outputs are
stored in golden/econml.json for machines without it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import cqox
from cqox.estimators.backdoor.dml import dml_irm
from cqox.nuisance.crossfit import fold_ids, folds_to_splits
from cqox.simulate.dml import make_irm_heterogeneous
from tests.reference.golden import ECONML

pytestmark = pytest.mark.reference

#: Same folds, same deterministic (cloned) learners, same pseudo-outcomes: the numbers
#: differ only by floating-point summation order.
RTOL = 1e-9
#: LinearDRLearner's interval is that of an OLS intercept (variance factor n/(n−1)
#: against the score's 1/n): with n = 800 the SEs differ by ~0.06%.
ECONML_SE_RTOL = 2e-3
#: Propensities bounded into [CLIP, 1 − CLIP] by both (EconML's ``min_propensity``).
CLIP = 0.01
COVARIATES = [f"x{j}" for j in range(1, 7)]


def test_pooled_outcome_model_matches_econml_drlearner_on_same_folds() -> None:
    df, _ = make_irm_heterogeneous(n=800, p=6, seed=5)
    X, y = df[COVARIATES].to_numpy(), df["y"].to_numpy()
    t = df["t"].to_numpy(dtype=float)
    ml_g = LinearRegression()
    ml_m = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    folds = fold_ids(len(y), 5, np.random.default_rng(9), t)
    ours = dml_irm(y, t, X, [folds], "ATE", ml_g, ml_m, clip=CLIP, outcome_structure="pooled")

    def fit() -> list[float]:
        from econml.dr import LinearDRLearner

        peer = LinearDRLearner(
            model_propensity=ml_m,
            model_regression=ml_g,
            cv=folds_to_splits(folds),
            min_propensity=CLIP,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer.fit(y, t, X=None, W=X)
        low, high = peer.intercept__interval(T=1, alpha=0.05)
        return [float(peer.intercept_(T=1)), float(low), float(high)]

    intercept, low, high = ECONML.outputs("dml/linear-drlearner-irm-pooled-seed5", fit)
    assert ours.theta == pytest.approx(intercept, rel=RTOL)
    peer_se = (high - low) / (2 * 1.959963984540054)
    assert ours.se == pytest.approx(peer_se, rel=ECONML_SE_RTOL)


def test_pooled_structure_halves_the_outcome_fits_and_keeps_the_arms_apart() -> None:
    """One outcome fit per fold (not two), and a separate cache slot from the per-arm fits."""
    df, _ = make_irm_heterogeneous(n=400, p=6, seed=2)
    fits: list[int] = []

    class CountingRegression(LinearRegression):
        def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: object = None) -> object:
            fits.append(X.shape[1])
            return super().fit(X, y, sample_weight=sample_weight)

    common = {
        "outcome": "y",
        "treatment": "t",
        "covariates": COVARIATES,
        "outcome_learner": CountingRegression(),
        "propensity_learner": "linear",
        "n_folds": 5,
        "n_rep": 1,
        "seed": 0,
    }
    pooled = cqox.estimate("dml_irm", df, outcome_structure="pooled", **common)
    assert fits == [len(COVARIATES) + 1] * 5  # the treatment is a feature
    fits.clear()
    per_arm = cqox.estimate("dml_irm", df, **common)
    assert fits == [len(COVARIATES)] * 10
    assert "pooled over arms" in pooled.method
    assert pooled.estimate != per_arm.estimate
    assert abs(pooled.estimate - per_arm.estimate) < 2 * per_arm.se
