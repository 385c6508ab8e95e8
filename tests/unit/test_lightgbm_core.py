"""LightGBM estimators fitted through the core API give the wrapper's predictions bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from sklearn.base import clone  # noqa: E402

from cqox.nuisance.crossfit import crossfit_predict, fold_ids  # noqa: E402
from cqox.nuisance.lightgbm_core import CoreLightGBM, core_learner  # noqa: E402

SETTINGS = {"n_estimators": 30, "num_leaves": 7, "learning_rate": 0.1, "n_jobs": 1, "verbose": -1}


def _data(n: int = 400, p: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, p))
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(np.int64)
    y = X[:, 1] + 0.5 * t + rng.normal(size=n)
    return X, y, t


def test_regressor_predictions_equal_the_wrapper_bit_for_bit() -> None:
    X, y, _ = _data()
    spec = lgb.LGBMRegressor(**SETTINGS, random_state=4, colsample_bytree=0.7)
    model = core_learner(clone(spec), "regression")
    assert isinstance(model, CoreLightGBM)
    fast = model.fit(X[:300], y[:300]).predict(X[300:])
    slow = clone(spec).fit(X[:300], y[:300]).predict(X[300:])
    assert model.booster_ is not None
    np.testing.assert_array_equal(fast, slow)


def test_classifier_probabilities_equal_the_wrapper_bit_for_bit() -> None:
    X, _, t = _data()
    spec = lgb.LGBMClassifier(**SETTINGS, random_state=1, subsample=0.8, subsample_freq=1)
    model = core_learner(clone(spec), "classification")
    assert isinstance(model, CoreLightGBM)
    fast = model.fit(X[:300], t[:300]).predict_proba(X[300:])
    slow = clone(spec).fit(X[:300], t[:300]).predict_proba(X[300:])
    assert model.booster_ is not None
    np.testing.assert_array_equal(fast, slow)


def test_crossfit_with_a_lightgbm_object_matches_fold_by_fold_wrapper_fits() -> None:
    X, y, t = _data()
    spec = lgb.LGBMRegressor(**SETTINGS, random_state=0)
    folds = fold_ids(len(y), 5, np.random.default_rng(0), t)
    got = crossfit_predict(spec, X, y, folds, "regression", seed=0, train_mask=t == 1)
    want = np.empty(len(y))
    for k in range(5):
        train = (folds != k) & (t == 1)
        want[folds == k] = clone(spec).fit(X[train], y[train]).predict(X[folds == k])
    np.testing.assert_array_equal(got.pred, want)
    assert not spec.__sklearn_is_fitted__()  # the caller's object is never fitted


def test_other_cases_keep_the_wrapper() -> None:
    X, _, t = _data()
    weighted = lgb.LGBMClassifier(**SETTINGS, class_weight="balanced")
    assert not isinstance(core_learner(clone(weighted), "classification"), CoreLightGBM)
    # a classifier asked for a regression keeps the wrapper (its predict gives labels)
    clf = lgb.LGBMClassifier(**SETTINGS)
    assert not isinstance(core_learner(clone(clf), "regression"), CoreLightGBM)
    # labels other than 0/1 are fitted by the wrapper itself, with its label encoding
    model = core_learner(clone(clf), "classification")
    got = model.fit(X, t + 1).predict_proba(X)
    assert model.booster_ is None
    np.testing.assert_array_equal(got, clone(clf).fit(X, t + 1).predict_proba(X))


def test_mediation_dml_with_lightgbm_objects_equals_the_wrapper_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cqox
    from cqox.estimators.mediation import crossfit as mediation_crossfit
    from cqox.simulate.mediation import mediation_linear

    df, _ = mediation_linear(n=300, seed=2)
    roles = {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": ["x1", "x2"]}
    params = {
        "outcome_learner": lgb.LGBMRegressor(**SETTINGS),
        "propensity_learner": lgb.LGBMClassifier(**SETTINGS),
        "seed": 3,
    }
    used: list[bool] = []

    def spy(model: object, task: str) -> object:
        wrapped = core_learner(model, task)
        used.append(isinstance(wrapped, CoreLightGBM))
        return wrapped

    monkeypatch.setattr(mediation_crossfit, "core_learner", spy)
    fast = cqox.estimate("mediation_dml", df, **roles, **params)
    assert used and all(used)  # every nuisance went through the core API
    # the same analysis with every nuisance fitted by the scikit-learn wrapper
    monkeypatch.setattr(mediation_crossfit, "core_learner", lambda model, task: model)
    slow = cqox.estimate("mediation_dml", df, **roles, **params)
    assert fast.estimate == slow.estimate and fast.se == slow.se
    assert fast.ci == slow.ci


@pytest.mark.parametrize("name", ["lightgbm", "lightgbm_linear"])
@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("n", [150, 600])
def test_early_stopped_learners_equal_the_wrapper_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, name: str, task: str, n: int
) -> None:
    from cqox.nuisance import learners

    X, y, t = _data(n=n + 200)
    target = t if task == "classification" else y
    fast = learners.make_learner(name, task, 7).fit(X[:n], target[:n])
    assert isinstance(fast.model_, CoreLightGBM) and fast.model_.booster_ is not None
    if n >= learners.LIGHTGBM_MIN_ROWS_FOR_EARLY_STOPPING:  # stopped before the last round
        assert 0 < fast.model_.booster_.best_iteration < fast.model_.model.n_estimators
    # the same learner fitted through the scikit-learn wrapper (early stopping included)
    monkeypatch.setattr(learners, "core_learner", lambda model, task: model)
    slow = learners.make_learner(name, task, 7).fit(X[:n], target[:n])
    assert not isinstance(slow.model_, CoreLightGBM)
    got, want = (learners.predict_fitted(m, X[n:], task) for m in (fast, slow))
    np.testing.assert_array_equal(got, want)
    # a fitted learner survives pickling (process pools, stored CATE models)
    again = pickle.loads(pickle.dumps(fast))
    np.testing.assert_array_equal(learners.predict_fitted(again, X[n:], task), want)


@pytest.mark.parametrize("name", ["s_learner", "t_learner", "x_learner"])
def test_cate_meta_learners_with_lightgbm_objects_equal_the_wrapper_path(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    import cqox
    from cqox.estimators.cate import learners as cate_learners
    from cqox.simulate.dml import make_irm_heterogeneous

    df, _ = make_irm_heterogeneous(n=300, p=5, seed=3)
    new, _ = make_irm_heterogeneous(n=50, p=5, seed=4)
    params = {
        "outcome_learner": lgb.LGBMRegressor(**SETTINGS),
        "propensity_learner": lgb.LGBMClassifier(**SETTINGS),
        "learner": "linear",
    }

    def run() -> tuple[object, np.ndarray]:
        est = cqox.estimate(
            name, df, outcome="y", treatment="t", covariates=["x1", "x2", "x3"], seed=1, **params
        )
        return est.estimate, est.effects(new)["cate"].to_numpy()

    fast = run()
    monkeypatch.setattr(cate_learners, "core_learner", lambda model, task: model)
    slow = run()
    assert fast[0] == slow[0]
    np.testing.assert_array_equal(fast[1], slow[1])
