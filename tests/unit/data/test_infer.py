"""Role inference on the real data sets and on synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cqox.core.design import Design, designs_for
from cqox.core.roles import Roles
from cqox.data.infer import candidate_roles, infer_roles, is_oracle, name_score
from cqox.data.io import read_table
from tests.conftest import dataset_path

#: Confidence at or above which a name-matched guess counts as confident.
CONFIDENT = 0.9


def read(name: str) -> pd.DataFrame:
    return read_table(dataset_path(name)).frame


def guess(roles: Roles, role: str) -> tuple[str, float, str]:
    g = next(g for g in roles.guesses if g.role == role)
    return g.column, g.confidence, g.reason


def test_lalonde_treat_and_re78() -> None:
    r = infer_roles(read("lalonde_nsw_dw.csv"))
    assert (r.treatment, r.outcome) == ("treat", "re78")
    assert r.covariates == ("age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75")
    _, conf, reason = guess(r, "treatment")
    assert conf >= CONFIDENT and "binary" in reason
    assert designs_for(r) == [Design.BACKDOOR]


def test_mpdta_is_a_staggered_panel() -> None:
    r = infer_roles(read("mpdta.csv"))
    assert (r.unit, r.time, r.cohort, r.outcome) == ("countyreal", "year", "first.treat", "lemp")
    # 'treat' is an ever-treated dummy, not the period treatment
    assert r.treatment is None
    _, _, reason = guess(r, "cohort")
    assert "ever treated" in reason
    _, _, unit_reason = guess(r, "unit")
    assert "panel" in unit_reason
    assert Design.STAGGERED_DID in designs_for(r)


def test_cattaneo_excludes_recodings_of_treatment_and_outcome() -> None:
    r = infer_roles(read("cattaneo2.csv"))
    assert (r.treatment, r.outcome) == ("mbsmoke_", "bweight")
    assert isinstance(r.covariates, tuple)
    for leak in ("mbsmoke", "msmoke", "lbweight"):
        assert leak not in r.covariates
    _, _, reason = guess(r, "covariates")
    assert "recoding of the treatment" in reason and "threshold of the outcome" in reason


def test_card_instrument_and_weight_are_suggested_not_applied() -> None:
    r = infer_roles(read("card1995.csv"))
    # an instrument changes the design and a weight the estimand: named, never applied
    assert r.instrument is None and r.weight is None
    suggested = {g.role: g for g in r.guesses if g.source == "suggested"}
    assert suggested["instrument"].column == "nearc4"
    assert "--instrument nearc4" in suggested["instrument"].reason
    assert "--weight weight" in suggested["weight"].reason
    assert r.outcome == "lwage"
    assert r.unit == "id"


def test_senate_margin_is_running_with_cutoff_zero() -> None:
    r = infer_roles(read("rdrobust_senate.csv"))
    assert (r.running, r.cutoff, r.outcome) == ("margin", 0.0, "vote")
    assert Design.RD in designs_for(r)


def test_running_variable_not_centred_gets_no_cutoff() -> None:
    r = infer_roles(read("mlda_drinking.csv"))
    assert r.running == "agecell"
    assert r.cutoff is None  # age 21 is not guessed: cutoffs are the user's say


def test_explicit_cutoff_wins_over_the_margin_rule() -> None:
    df = read("rdrobust_senate.csv")
    r = infer_roles(df, Roles(running="margin", cutoff=5.0))
    assert r.cutoff == 5.0
    assert guess(r, "cutoff")[1] == 1.0


@pytest.mark.parametrize("replication", [1, 2, 6])
def test_ihdp_never_uses_counterfactual_columns(replication: int) -> None:
    r = infer_roles(read(f"ihdp_npci_{replication}.csv"))
    assert (r.treatment, r.outcome) == ("treatment", "y_factual")
    assert isinstance(r.covariates, tuple)
    assert r.covariates == tuple(f"x{i}" for i in range(1, 26))
    assert "counterfactual" in guess(r, "covariates")[2]


def test_acic_potential_outcomes_are_never_the_outcome() -> None:
    r = infer_roles(read("acic2016_zymu_1.csv"))
    assert r.outcome is None


def test_explicit_roles_always_win() -> None:
    df = read("lalonde_nsw_dw.csv")
    r = infer_roles(df, Roles(outcome="re75", treatment="black", covariates=("age",)))
    assert (r.outcome, r.treatment, r.covariates) == ("re75", "black", ("age",))
    sources = {g.role: g.source for g in r.guesses}
    assert sources == {"outcome": "explicit", "treatment": "explicit", "covariates": "explicit"}


def test_inferred_columns_are_never_reused() -> None:
    df = read("lalonde_nsw_dw.csv")
    r = infer_roles(df, Roles(outcome="treat"))
    assert r.treatment != "treat"
    assert "treat" not in (r.covariates or ())


def synthetic_panel(units: int = 30, periods: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units) + 100, periods)
    period = np.tile(np.arange(2001, 2001 + periods), units)
    adopt = rng.choice([0, 2003, 2005], size=units)[unit - 100]
    d = ((adopt > 0) & (period >= adopt)).astype(int)
    y = rng.normal(size=len(unit)) + d
    return pd.DataFrame(
        {"firm": unit, "yr": period, "d": d, "sales": y, "size": rng.normal(size=units)[unit - 100]}
    )


def test_synthetic_panel_with_period_treatment() -> None:
    r = infer_roles(synthetic_panel())
    assert (r.unit, r.time, r.treatment, r.outcome) == ("firm", "yr", "d", "sales")
    assert Design.DID in designs_for(r)


def test_panel_unit_found_from_data_when_named_like_an_id() -> None:
    df = synthetic_panel().rename(columns={"firm": "store_code", "yr": "period"})
    r = infer_roles(df)
    assert (r.unit, r.time) == ("store_code", "period")


def test_cross_section_has_no_unit_and_time() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "treated": rng.integers(0, 2, 200),
            "outcome": rng.normal(size=200),
            "age": rng.integers(20, 60, 200),
            "city": rng.choice(["a", "b", "c"], 200),
        }
    )
    r = infer_roles(df)
    assert (r.treatment, r.outcome, r.unit, r.time) == ("treated", "outcome", None, None)
    assert r.covariates == ("age", "city")


def test_outcome_fallback_is_low_confidence() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"treated": rng.integers(0, 2, 100), "earn": rng.normal(size=100)})
    r = infer_roles(df)
    col, conf, reason = guess(r, "outcome")
    assert col == "earn" and conf == 0.5 and "low confidence" in reason


def test_text_treatment_labels_are_binary() -> None:
    df = pd.DataFrame({"group": ["treated", "control"] * 10, "y": np.arange(20.0)})
    r = infer_roles(df.rename(columns={"group": "treatment"}))
    assert r.treatment == "treatment"


@pytest.mark.parametrize(
    ("name", "role", "score"),
    [
        ("treat", "treatment", 1.0),
        ("Treatment", "treatment", 1.0),
        ("first.treat", "cohort", 1.0),
        ("job_training", "treatment", 0.6),
        ("unit_id", "unit", 1.0),
        ("school.med", "mediator", 0.0),
        ("age", "outcome", 0.0),
    ],
)
def test_name_scores(name: str, role: str, score: float) -> None:
    assert name_score(name, role) == score


@pytest.mark.parametrize(
    ("name", "oracle"),
    [
        ("y_cfactual", True),
        ("mu0", True),
        ("mu1", True),
        ("y1", True),
        ("allfitted", True),
        ("y_factual", False),
        ("y", False),
        ("mu", False),
    ],
)
def test_oracle_names(name: str, oracle: bool) -> None:
    assert is_oracle(name) is oracle


def test_candidate_roles_lists_alternatives() -> None:
    cands = candidate_roles(read("card1995.csv"))
    assert cands["instrument"][0]["column"] == "nearc4"
    assert {c["column"] for c in cands["outcome"]} >= {"lwage"}
    assert all(0 < c["confidence"] < 1 for cs in cands.values() for c in cs)


def test_card_covariates_skip_dependent_missing_and_outcome_derived_columns() -> None:
    r = infer_roles(read("card1995.csv"), Roles(treatment="educ"))
    assert isinstance(r.covariates, tuple)
    cov = set(r.covariates)
    assert {"exper", "expersq", "wage", "IQ", "fatheduc", "reg669"}.isdisjoint(cov)
    assert {"age", "black", "reg661"} <= cov
    reason = guess(r, "covariates")[2]
    # expersq = (age − educ − 6)²: computed from the treatment, not a covariate
    assert "expersq (computed from the treatment 'educ'" in reason
    assert "exper (linearly dependent" in reason or "exper" in reason.split("linearly")[0]
    assert "IQ (missing in 32% of the rows (more than 5% would be dropped)" in reason


def test_squared_terms_are_kept() -> None:
    r = infer_roles(read("cattaneo2.csv"))
    assert isinstance(r.covariates, tuple)
    assert "mage2" in r.covariates


def test_off_policy_and_transport_roles_from_names() -> None:
    rng = np.random.default_rng(4)
    n = 200
    df = pd.DataFrame(
        {
            "action": rng.choice(["a", "b", "c"], n),
            "reward": rng.normal(size=n),
            "pscore": rng.uniform(0.1, 0.9, n),
            "context": rng.normal(size=n),
        }
    )
    r = infer_roles(df)
    assert (r.action, r.reward, r.logging_propensity) == ("action", "reward", "pscore")
    assert Design.OFF_POLICY in designs_for(r)
    trial = pd.DataFrame(
        {
            "treated": rng.integers(0, 2, n),
            "y": rng.normal(size=n),
            "in_trial": rng.integers(0, 2, n),
        }
    )
    sample = infer_roles(trial)
    assert sample.sample is None
    assert any(g.role == "sample" and g.column == "in_trial" for g in sample.guesses)


def test_a_propensity_outside_zero_one_is_not_a_logging_propensity() -> None:
    df = pd.DataFrame(
        {"action": [0, 1, 2, 1], "reward": [1.0, 0.0, 2.0, 1.0], "pscore": [2, 3, 4, 5]}
    )
    assert infer_roles(df).logging_propensity is None


def test_iso_date_text_is_time() -> None:
    df = synthetic_panel()
    df["when"] = pd.to_datetime(df["yr"].astype(str) + "-06-30").dt.strftime("%Y-%m-%d")
    df = df.drop(columns="yr")
    r = infer_roles(df)
    assert (r.time, r.unit) == ("when", "firm")
    assert "years/dates" in guess(r, "time")[2]


def test_a_year_covariate_in_a_cross_section_is_not_time() -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "treated": rng.integers(0, 2, 300),
            "outcome": rng.normal(size=300),
            "birth_year": rng.integers(1940, 2000, 300),
        }
    )
    r = infer_roles(df)
    assert r.time is None
    assert r.covariates == ("birth_year",)


def test_ambiguous_outcome_is_not_guessed() -> None:
    # Thornton: 'any' is the treatment; the outcome 'got' has no usual outcome name and
    # three measurements remain, so guessing would analyse a covariate
    r = infer_roles(read("thornton_hiv.csv"))
    assert (r.treatment, r.cluster, r.outcome) == ("any", None, None)
    assert "--cluster villnum" in guess(r, "cluster")[2]  # suggested, not applied


def _with_m(effect_on_m: float, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 800
    t = rng.integers(0, 2, n)
    m = effect_on_m * t + rng.normal(size=n)
    return pd.DataFrame({"y": m + t + rng.normal(size=n), "t": t, "m": m, "x": rng.normal(size=n)})


def test_a_one_letter_m_the_treatment_does_not_move_stays_a_covariate() -> None:
    # a column named 'm' was taken as the mediator with confidence 0.99 on its name alone
    r = infer_roles(_with_m(0.0), Roles(outcome="y", treatment="t"))
    assert r.mediator is None
    assert "m" in (r.covariates or ())
    assert Design.MEDIATION not in designs_for(r)


def test_a_one_letter_m_the_treatment_moves_is_a_mediator_with_modest_confidence() -> None:
    r = infer_roles(_with_m(1.0), Roles(outcome="y", treatment="t"))
    column, confidence, reason = guess(r, "mediator")
    assert column == "m" and confidence == pytest.approx(0.6)
    assert confidence < CONFIDENT and "predicts it" in reason


def test_a_usual_mediator_name_needs_no_such_evidence() -> None:
    df = _with_m(0.0).rename(columns={"m": "mediator"})
    r = infer_roles(df, Roles(outcome="y", treatment="t"))
    assert guess(r, "mediator")[:2] == ("mediator", 0.99)
