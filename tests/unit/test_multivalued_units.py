"""``multivalued``: input handling, refusals and the binary estimators' pointer to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import EstimationError, RoleError, SeparationError
from cqox.nuisance.multinomial import fit_multinomial_logit


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    df, _ = cqox.simulate.multivalued(n=900, seed=5)
    return df


@pytest.mark.parametrize("name", ["ipw", "aipw", "regression_adjustment", "psm"])
def test_binary_estimators_point_to_multivalued(sim: pd.DataFrame, name: str) -> None:
    with pytest.raises(RoleError, match=r"must be binary.*use the 'multivalued' estimator"):
        cqox.estimate(name, sim, outcome="y", treatment="t", covariates=["x1", "x2"])


def test_unknown_reference_level_is_named(sim: pd.DataFrame) -> None:
    with pytest.raises(RoleError, match=r"'reference': 7 is not a level of treatment column 't'"):
        cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1"],
                      reference=7)  # fmt: skip


def test_constant_treatment_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(RoleError, match="constant"):
        cqox.estimate("multivalued", sim.assign(t=1), outcome="y", treatment="t",
                      covariates=["x1"])  # fmt: skip


def test_level_with_too_few_rows_for_the_outcome_model_is_refused(sim: pd.DataFrame) -> None:
    df = sim.copy()
    df.loc[:1, "t"] = 3  # two rows at a new level, three outcome coefficients
    with pytest.raises(EstimationError, match="level 3 has 2 rows for 3 outcome-model"):
        cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=["x1", "x2"],
                      method="ra")  # fmt: skip


def test_separated_level_raises_separation_error() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300)
    t = np.where(x > 1.0, 2, rng.integers(0, 2, 300))  # level 2 exactly when x > 1
    with pytest.raises(SeparationError, match="separates the treatment levels"):
        fit_multinomial_logit(x[:, None], t, 3)


def test_missing_rows_are_dropped_and_counted(sim: pd.DataFrame) -> None:
    df = sim.copy()
    df.loc[:9, "t"] = np.nan
    est = cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=["x1", "x2"])
    assert est.n == len(df) - 10
    assert est.counts["n_dropped_missing"] == 10
    assert sum(v for k, v in est.counts.items() if k.startswith("n_level_")) == est.n
    assert list(est.tables["pomeans"]["level"]) == [0.0, 1.0, 2.0]


def test_estimate_serialises_with_tables(sim: pd.DataFrame) -> None:
    est = cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1", "x2"])
    out = est.to_dict()
    assert out["estimand"] == "ATE" and len(out["tables"]["effects"]) == 2
    assert out["diagnostics"]["reference"] == "0"


def test_att_with_aipw_is_refused_naming_the_method(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.ParameterError, match=r"'method'.*'ipw' or 'ra' for the ATT"):
        cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1"],
                      estimand="ATT", method="aipw")  # fmt: skip


def test_unknown_treated_level_is_named(sim: pd.DataFrame) -> None:
    with pytest.raises(RoleError, match=r"'treated_level': 9 is not a level"):
        cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1"],
                      estimand="ATT", method="ra", treated_level=9)  # fmt: skip


def test_treated_level_equal_to_the_reference_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.ParameterError, match=r"'treated_level'.*differ from the reference"):
        cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1"],
                      estimand="ATT", method="ra", treated_level=0)  # fmt: skip


def test_trim_that_empties_a_level_is_refused(sim: pd.DataFrame) -> None:
    with pytest.raises(cqox.NoDataError, match=r"trim=0\.45 leaves"):
        cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=["x1", "x2"],
                      trim=0.45)  # fmt: skip


def test_weak_overlap_fails_the_level_gates() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.standard_normal(n)
    eta = np.column_stack([np.zeros(n), 3.0 * x, -3.0 * x])
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    t = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    df = pd.DataFrame({"y": x + t + rng.standard_normal(n), "t": t, "x": x})
    est = cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=["x"],
                        method="ipw")  # fmt: skip
    gates = {g.name: g for g in est.gates}
    assert set(gates) == {"common_support", "effective_sample_size", "max_weight_ratio"}
    assert gates["effective_sample_size"].status in ("warn", "fail")
    assert gates["max_weight_ratio"].status == "warn"
    good = cqox.estimate("multivalued", cqox.simulate.multivalued(n=2000, seed=1)[0],
                         outcome="y", treatment="t", covariates=["x1", "x2"])  # fmt: skip
    assert {g.status for g in good.gates} == {"pass"}
