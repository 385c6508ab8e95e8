"""The estimator contract, checked over the whole registry on each estimator's example.

Every registered estimator declares an :class:`~cqox.estimators.base.Example` (a seeded
simulator and roles).  On it, every estimator must: fit and return a complete estimate;
write JSON that reads back identically; leave the caller's table untouched; give the
same numbers twice under one seed; give the same numbers when refitted; refuse bad
input with a CqoxError; refuse every bad parameter value with a message naming the
parameter; name each gate as its threshold override key; and accept any scikit-learn
estimator in each learner parameter.  A family is checked the day it registers.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.core.thresholds import DEFAULT_THRESHOLDS
from cqox.estimators import registry
from cqox.estimators.base import Estimator, Example

ESTIMATORS = sorted(registry.all_estimators())
SEED = 5


def _cls(name: str) -> type[Estimator]:
    return registry.get(name)


def _example(name: str) -> Example:
    ex = _cls(name).example
    assert ex is not None, f"{name} declares no example (class attribute 'example')"
    return ex


@cache
def _table(name: str) -> pd.DataFrame:
    return _example(name).data()


def _roles(name: str) -> Roles:
    return Roles.from_mapping(dict(_example(name).roles))


def _fit(name: str, seed: int | None = SEED, **params: Any) -> Estimate:
    ex = _example(name)
    est = _cls(name)(**{**ex.fit_params(), **params})
    return est.fit(_table(name).copy(), _roles(name), Context(seed=seed))


@cache
def _fitted(name: str) -> Estimate:
    return _fit(name)


def _comparable(est: Estimate) -> str:
    d = est.to_dict()
    d.pop("elapsed_s", None)
    return json.dumps(d, sort_keys=True, default=str)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_declares_a_working_example(name: str) -> None:
    ex = _example(name)
    df = _table(name)
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    for role in _cls(name).requires:
        assert getattr(_roles(name), role) is not None, f"example of {name} lacks role {role}"
    assert set(ex.params) | set(ex.side_tables) <= {p.name for p in _cls(name).parameters}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fit_returns_a_complete_estimate(name: str) -> None:
    est = _fitted(name)
    cls = _cls(name)
    assert est.estimator == name and est.estimand in cls.estimands
    assert math.isfinite(est.estimate)
    assert est.se is None or math.isnan(est.se) or est.se > 0
    lo, hi = est.ci
    assert not (math.isfinite(lo) and math.isfinite(hi)) or lo <= hi
    assert est.p_value is None or math.isnan(est.p_value) or 0 <= est.p_value <= 1
    assert set(est.params) == {p.name for p in cls.parameters}, "params as used, all of them"
    assert est.n is not None and est.n > 0
    assert name in est.summary()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_json_round_trip_is_exact(name: str) -> None:
    d = _fitted(name).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert {"estimator", "estimand", "estimate", "se", "ci", "p_value", "gates", "params"} <= set(d)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_the_input_table_is_not_mutated(name: str) -> None:
    ex = _example(name)
    df = _table(name).copy()
    before = df.copy(deep=True)
    _cls(name)(**ex.fit_params()).fit(df, _roles(name), Context(seed=SEED))
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_same_seed_gives_the_same_result(name: str) -> None:
    assert _comparable(_fit(name)) == _comparable(_fitted(name))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_refit_of_one_estimator_object_is_idempotent(name: str) -> None:
    ex = _example(name)
    est = _cls(name)(**ex.fit_params())
    given = est.get_params()
    a = est.fit(_table(name).copy(), _roles(name), Context(seed=SEED))
    b = est.fit(_table(name).copy(), _roles(name), Context(seed=SEED))
    assert _comparable(a) == _comparable(b)
    assert est.get_params() == given, "fit must not change the stored parameters"


def _bad_tables(name: str) -> dict[str, tuple[pd.DataFrame, Roles]]:
    df, roles = _table(name), _roles(name)
    outcome = str(roles.outcome)
    text_outcome = df.copy()
    text_outcome[outcome] = "n/a"
    missing = roles.with_roles(outcome="no_such_column")
    return {
        "a role names a missing column": (df, missing),
        "the table has no rows": (df.iloc[:0], roles),
        "the outcome is text": (text_outcome, roles),
    }


@pytest.mark.parametrize(
    "case", ["a role names a missing column", "the table has no rows", "the outcome is text"]
)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_input_is_refused_with_a_cqox_error(name: str, case: str) -> None:
    df, roles = _bad_tables(name)[case]
    with pytest.raises(cqox.CqoxError):
        _cls(name)(**_example(name).fit_params()).fit(df, roles, Context(seed=SEED))


def _bad_values(p: Param) -> list[Any]:
    bad: list[Any] = []
    if p.kind == "float":
        bad.append("not a number")
    elif p.kind == "int":
        bad.append(2.5)
    elif p.kind == "bool":
        bad.append("maybe")
    elif p.kind == "choice":
        bad.append("no_such_choice")
    elif p.kind == "str":
        bad.append(12345)
    elif p.kind == "any" and p.check is not None:
        bad.append(object())
    if p.kind in ("float", "int") and p.low is not None:
        bad.append(p.low - 1)
    if p.kind in ("float", "int") and p.high is not None:
        bad.append(p.high + 1)
    return bad


PARAM_CASES = [
    (name, p.name, value)
    for name in ESTIMATORS
    for p in _cls(name).parameters
    for value in _bad_values(p)
]


def _case_id(value: Any) -> str:
    """``repr`` of a value, but a bare ``object()`` without its address: the ids must be
    the same in every pytest-xdist worker (each collects the tests itself)."""
    return "object()" if type(value) is object else repr(value)


@pytest.mark.parametrize(("name", "param", "value"), PARAM_CASES, ids=_case_id)
def test_a_bad_parameter_value_is_refused_naming_the_parameter(
    name: str, param: str, value: Any
) -> None:
    est = _cls(name)(**{**_example(name).fit_params(), param: value})
    with pytest.raises(cqox.ParameterError, match=f"'{param}'"):
        est.fit(_table(name), _roles(name), Context(seed=SEED))


class _RecordingContext(Context):
    """A context that records which threshold keys the estimator looked up."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.looked_up: set[str] = set()

    def threshold(self, name: str) -> float:
        self.looked_up.add(name)
        return super().threshold(name)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_gate_is_overridden_by_its_own_name(name: str) -> None:
    ctx = _RecordingContext(seed=SEED)
    est = _cls(name)(**_example(name).fit_params()).fit(_table(name), _roles(name), ctx)
    gate_names = {g.name for g in est.gates}
    for key in ctx.looked_up:
        gate = DEFAULT_THRESHOLDS[key].gate
        family = any(g.startswith(gate + "_") for g in gate_names)
        assert gate in gate_names or family, (
            f"{name} read threshold '{key}' but produced no gate named "
            f"'{DEFAULT_THRESHOLDS[key].gate}' (gates: {sorted(gate_names)})"
        )


# --- learners: any scikit-learn estimator in any learner parameter -------------------


#: The lasso's penalties in the pipeline case (standardised covariates): a short grid
#: given explicitly (scikit-learn < 1.7 takes no grid size in ``alphas``).
LASSO_GRID = np.logspace(-3, 0, 8)


def _regressors() -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LassoCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # small learners: the test proves that any scikit-learn object is accepted (a forest, a
    # booster, a pipeline ending in a cross-validated model), not how well it fits, so the
    # forests have 10 trees and the cross-validated models short grids of penalties
    return {
        "random_forest": RandomForestRegressor(n_estimators=10, random_state=0),
        "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=20, random_state=0),
        "pipeline_lasso": make_pipeline(StandardScaler(), LassoCV(cv=3, alphas=LASSO_GRID)),
        "lightgbm": lgb.LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1),
    }


def _classifiers() -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "random_forest": RandomForestClassifier(n_estimators=10, random_state=0),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "pipeline_lasso": make_pipeline(StandardScaler(), LogisticRegressionCV(cv=3, Cs=4)),
        "lightgbm": lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1),
    }


LEARNER_KINDS = ["random_forest", "hist_gradient_boosting", "pipeline_lasso", "lightgbm"]
LEARNER_CASES = [
    (name, p.name, kind)
    for name in ESTIMATORS
    for p in _cls(name).parameters
    if p.name.endswith("learner")
    for kind in LEARNER_KINDS
]


@pytest.mark.parametrize(("name", "param", "kind"), LEARNER_CASES)
def test_a_learner_parameter_accepts_any_scikit_learn_estimator(
    name: str, param: str, kind: str
) -> None:
    cls = _cls(name)
    ex = _example(name)
    names = {p.name for p in cls.parameters}
    classify = param == "propensity_learner"
    model = (_classifiers() if classify else _regressors())[kind]
    params: dict[str, Any] = {**ex.fit_params(), **ex.learner_params, param: model}
    if param == "learner" and "propensity_learner" in names:
        # `learner` serves every nuisance; the propensity needs a classifier of the kind
        params["propensity_learner"] = _classifiers()[kind]
    est = cls(**params).fit(_table(name), _roles(name), Context(seed=SEED))
    assert math.isfinite(est.estimate) and est.se > 0
    assert not hasattr(model, "n_features_in_"), "the caller's learner must not be fitted"
