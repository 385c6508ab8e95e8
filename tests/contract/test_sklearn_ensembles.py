"""Scikit-learn ensembles passed as learner objects work in DML, AIPW and the meta-learners.

The contract suite passes each kind of learner to each learner parameter separately;
here one *regression* ensemble is given as ``learner`` — every nuisance of the
estimator, the propensity included — as a user would, and each estimator must give a
finite estimate and SE.  Where a classifier is needed the ensemble's classifier twin
(:func:`cqox.nuisance.learners.classifier_twin`) stands in, with the regressor's
settings.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

import cqox
from cqox.nuisance.learners import classifier_twin, make_learner
from cqox.simulate.dml import make_irm_heterogeneous

COVARIATES = [f"x{j}" for j in range(1, 6)]
#: Small ensembles on a small table: the point is that they run, not how well.
ENSEMBLES: dict[str, Any] = {
    "random_forest": RandomForestRegressor(n_estimators=10, min_samples_leaf=5, random_state=0),
    "gradient_boosting": GradientBoostingRegressor(n_estimators=10, random_state=0),
    "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=10, random_state=0),
}
#: Fewer folds and replicates where an estimator has them (speed only).
QUICK = {"n_boot": 10, "n_folds": 2}
ESTIMATORS = {
    "dml_plr": {},
    "dml_irm": {"n_rep": 1},
    "s_learner": QUICK,
    "t_learner": QUICK,
    "x_learner": QUICK,
    "dr_learner": QUICK,
    "r_learner": QUICK,
}


@pytest.fixture(scope="module")
def table() -> Any:
    df, _ = make_irm_heterogeneous(n=300, p=5, seed=1)
    return df


@pytest.mark.parametrize("kind", sorted(ENSEMBLES))
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_a_regression_ensemble_as_learner_serves_every_nuisance(
    table: Any, name: str, kind: str
) -> None:
    model = ENSEMBLES[kind]
    est = cqox.estimate(
        name,
        table,
        outcome="y",
        treatment="t",
        covariates=COVARIATES,
        seed=0,
        learner=model,
        **ESTIMATORS[name],
    )
    assert math.isfinite(est.estimate) and est.se > 0
    assert not hasattr(model, "n_features_in_"), "the caller's learner must not be fitted"


@pytest.mark.parametrize("kind", sorted(ENSEMBLES))
def test_aipw_cross_fits_with_ensemble_objects(table: Any, kind: str) -> None:
    reg = ENSEMBLES[kind]
    clf = classifier_twin(reg)
    est = cqox.estimate(
        "aipw",
        table,
        outcome="y",
        treatment="t",
        covariates=COVARIATES,
        seed=0,
        cross_fit=True,
        outcome_learner=reg,
        propensity_learner=clf,
        clip=0.01,
    )
    assert math.isfinite(est.estimate) and est.se > 0


def test_the_classifier_twin_keeps_the_settings_but_not_the_regression_loss() -> None:
    reg = GradientBoostingRegressor(
        n_estimators=7, max_depth=2, learning_rate=0.3, loss="huber", alpha=0.8, random_state=3
    )
    twin = make_learner(reg, "classification", seed=0)
    assert isinstance(twin, GradientBoostingClassifier)
    params = twin.get_params()
    assert (params["n_estimators"], params["max_depth"], params["learning_rate"]) == (7, 2, 0.3)
    assert params["random_state"] == 3
    assert params["loss"] == GradientBoostingClassifier().get_params()["loss"]
    assert isinstance(classifier_twin(RandomForestRegressor()), RandomForestClassifier)
    assert isinstance(
        classifier_twin(HistGradientBoostingRegressor(max_iter=5)), HistGradientBoostingClassifier
    )


def test_a_regressor_without_a_twin_is_still_refused_for_the_propensity() -> None:
    from sklearn.linear_model import Ridge

    class MyForest(RandomForestRegressor):
        """A subclass may change what its parameters mean: no twin is guessed."""

    for model in (Ridge(), MyForest()):
        with pytest.raises(cqox.errors.ParameterError, match="propensity needs a classifier"):
            make_learner(model, "classification", seed=0, role="propensity_learner")
