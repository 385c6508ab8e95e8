"""Every registered estimator honours the estimator contract."""

from __future__ import annotations

import json

import pytest

import cqox
from cqox.core.params import resolve_params
from cqox.estimators import registry

ESTIMATORS = sorted(registry.all_estimators())
BACKDOOR = [n for n in ESTIMATORS if "backdoor" in registry.get(n).describe()["designs"]]


def test_registry_is_not_empty() -> None:
    assert {"ipw", "regression_adjustment"} <= set(ESTIMATORS)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_declaration_is_complete(name: str) -> None:
    cls = registry.get(name)
    d = cls.describe()
    assert d["name"] == name and name == name.lower() and " " not in name
    assert d["family"] and d["designs"] and d["estimands"] and d["summary"]
    assert set(cls.default_estimands) <= set(cls.estimands)
    resolve_params(cls.parameters, {}, name)  # defaults satisfy their own rules


@pytest.mark.parametrize("name", ESTIMATORS)
def test_constructor_stores_params_verbatim(name: str) -> None:
    cls = registry.get(name)
    est = cls(anything="kept", ci_level=0.9)
    assert est.get_params() == {"anything": "kept", "ci_level": 0.9}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_unknown_parameter_is_named(name: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=300, seed=0)
    with pytest.raises(cqox.ParameterError, match="'bogus'"):
        cqox.estimate(name, df, outcome="y", treatment="t", bogus=1)


@pytest.mark.parametrize("name", BACKDOOR)
def test_backdoor_estimate_is_complete_and_serialisable(name: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=800, seed=1)
    df_before = df.copy()
    est = cqox.estimate(name, df, outcome="y", treatment="t", covariates=["x1", "x2", "x3"])
    assert df.equals(df_before), "user data must not be mutated"
    assert est.estimator == name
    assert est.se > 0 and est.ci[0] < est.estimate < est.ci[1]
    assert 0 <= est.p_value <= 1
    assert est.n == 800 and est.n_treated + est.n_control == 800
    assert est.params["ci_level"] == 0.95
    d = json.loads(json.dumps(est.to_dict(), allow_nan=False))
    assert {"estimator", "estimand", "estimate", "se", "ci", "p_value", "gates"} <= set(d)
    assert name in est.summary()


@pytest.mark.parametrize("name", BACKDOOR)
def test_same_seed_same_result(name: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=500, seed=2)
    a = cqox.estimate(name, df, outcome="y", treatment="t", covariates=["x1", "x2"], seed=5)
    b = cqox.estimate(name, df, outcome="y", treatment="t", covariates=["x1", "x2"], seed=5)
    assert a.estimate == b.estimate and a.se == b.se
