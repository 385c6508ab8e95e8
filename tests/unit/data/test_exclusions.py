"""Covariate inference refuses what it should not adjust for (issue #11, part 1).

Each test is built from the failure it describes: simulated tables that reproduce the
change-score leakage, post-treatment columns, instrument codings among the controls,
missing values and an estimand-changing weight column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.data.exclusions import (
    SCREEN_ROWS,
    leakage_columns,
    missing_value_columns,
    name_years,
    post_treatment_columns,
    time_varying_columns,
    treatment_function_columns,
)
from cqox.data.infer import infer_roles
from cqox.errors import EstimationError, RoleError

#: |estimate − truth| ≤ 4·SE: a false alarm below 1e-4 while a leak (estimate 0) or a
#: bad control still fails.
SE_MULTIPLE = 4.0


def _reason(r: Roles, role: str) -> str:
    return next(g.reason for g in r.guesses if g.role == role)


def _change_score(n: int = 1500, seed: int = 0, names: tuple[str, str] = ("wt71", "wt82")):
    """NHEFS-like: the outcome is follow-up minus baseline, both levels are columns,
    death and its year are recorded after the treatment; the effect is 3."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(25, 74, n)
    school = rng.integers(0, 18, n)
    base = 70 + 0.1 * age + rng.normal(0, 12, n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.5 + 0.02 * (age - 45))))).astype(int)
    follow = base + 3.0 * t + 0.05 * age + rng.normal(0, 7, n)
    death = (rng.uniform(size=n) < 0.2).astype(int)
    yrdth = np.where(death == 1, rng.integers(83, 93, n), np.nan)
    return pd.DataFrame(
        {
            "qsmk": t,
            "age": age,
            "school": school,
            names[0]: base,
            names[1]: follow,
            "delta": follow - base,
            "death": death,
            "yrdth": yrdth,
        }
    )


def test_change_score_levels_are_leakage_and_are_named() -> None:
    # neutral names: only the data can tell that the two levels determine the outcome
    df = _change_score(names=("level_a", "level_b"))
    r = infer_roles(df, Roles(outcome="delta", treatment="qsmk"))
    assert isinstance(r.covariates, tuple)
    assert "level_a" not in r.covariates and "level_b" not in r.covariates
    reason = _reason(r, "covariates")
    assert "level_b, level_a (leakage: level_b, level_a determine the outcome 'delta' " in reason
    assert "(cross-fitted R² 1.000 ≥ 0.99 within arms)" in reason


def test_change_score_analysis_is_not_degenerate_and_finds_the_effect() -> None:
    df = _change_score(names=("level_a", "level_b"))
    an = cqox.analyze(df, outcome="delta", treatment="qsmk", estimators=["regression_adjustment"])
    est = an.estimate_for("regression_adjustment", "ATE")
    assert est.se > 0.1 and abs(est.estimate - 3.0) <= SE_MULTIPLE * est.se
    assert any("leakage" in w for w in an.warnings)


def test_years_in_names_and_death_are_post_treatment() -> None:
    df = _change_score()
    r = infer_roles(
        df.rename(columns={"delta": "wt82_71"}), Roles(outcome="wt82_71", treatment="qsmk")
    )
    assert isinstance(r.covariates, tuple)
    reason = _reason(r, "covariates")
    assert "wt82" not in r.covariates and "death" not in r.covariates
    assert "wt71" in r.covariates  # the baseline level is a confounder and stays
    assert "wt82 (post-treatment: its name holds year 1982, not earlier than the outcome" in reason
    assert "death, yrdth (post-treatment: its name is that of a later event" in reason
    assert r.cluster is None and "school" in r.covariates  # years of schooling


def test_name_years_read_two_and_four_digit_suffixes_only_after_a_word() -> None:
    assert name_years("wt82_71") == (1982, 1971)
    assert name_years("hiv2004") == (2004,)
    assert name_years("re78") == (1978,)
    assert name_years("x25") == () and name_years("x_1") == ()


def test_lalonde_earlier_earnings_are_kept() -> None:
    cols = ["re74", "re75", "age", "educ"]
    df = pd.DataFrame({c: [1.0, 2.0] for c in cols})
    assert post_treatment_columns(df, cols, outcome="re78", treatment="treat") == {}


def test_panel_column_constant_before_and_varying_after_treatment() -> None:
    rng = np.random.default_rng(1)
    units, years = 20, 8
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2000, 2000 + years), units)
    first = np.where(np.arange(units) < 10, 2004, 9999)[unit]
    d = (year >= first).astype(int)
    df = pd.DataFrame(
        {
            "id": unit,
            "year": year,
            "d": d,
            "after_effect": np.where(d == 1, rng.normal(size=units * years), 0.0),
            "year_2006": (year == 2006).astype(int),  # a calendar dummy is not post-treatment
            "x": rng.normal(size=units * years),
        }
    )
    out = post_treatment_columns(
        df, ["after_effect", "year_2006", "x"], outcome="y", treatment="d", unit="id", time="year"
    )
    assert out["after_effect"].startswith("post-treatment: constant within treated units")
    # a calendar dummy and a time-varying column are not flagged as consequences of the
    # treatment; they vary within units, so they are not inferred either (next test)
    assert "post-treatment" not in out["year_2006"] and "post-treatment" not in out["x"]
    assert all("time-varying" in out[c] for c in ("year_2006", "x"))


def _staggered_panel(seed: int = 4) -> pd.DataFrame:
    """Castle-doctrine-like: 40 states × 11 years, staggered adoption, effect 0.10 on the
    outcome, a time-varying control that responds to the law (0.5 per year treated) and
    enters the outcome, and a state constant."""
    rng = np.random.default_rng(seed)
    units, years = 40, 11
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2000, 2000 + years), units)
    adopt = rng.choice([2005, 2006, 2007, 9999], units, p=[0.2, 0.2, 0.2, 0.4])[unit]
    d = (year >= adopt).astype(float)
    police = 0.5 * d + 0.02 * (year - 2000) + rng.normal(0, 0.1, len(unit))
    region = (np.arange(units) % 4)[unit]
    alpha, gamma = rng.normal(0, 1, units)[unit], 0.03 * (year - 2000)
    y = alpha + gamma + 0.10 * d + 0.4 * police + rng.normal(0, 0.05, len(unit))
    return pd.DataFrame(
        {"sid": unit, "year": year, "post": d, "police": police, "region": region, "y": y}
    )


def test_time_varying_control_is_not_inferred_in_a_panel() -> None:
    df = _staggered_panel()
    out = time_varying_columns(df, ["police", "region"], "sid", "year", "post")
    assert set(out) == {"police"} and "time-varying" in out["police"]
    r = infer_roles(df, Roles(outcome="y", treatment="post"))
    assert r.unit == "sid" and r.time == "year"
    assert "police" not in (r.covariates or ())
    assert "police" in _reason(r, "covariates")
    # the total effect of the law is 0.10 + 0.4 · 0.5 = 0.30; adjusting for the
    # mediator 'police' would give the direct effect 0.10 instead
    auto = cqox.estimate("did_twfe", df, outcome="y", treatment="post", unit="sid", time="year")
    assert abs(auto.estimate - 0.30) <= SE_MULTIPLE * auto.se
    named = cqox.estimate(
        "did_twfe",
        df,
        outcome="y",
        treatment="post",
        unit="sid",
        time="year",
        covariates=["police"],
    )
    assert abs(named.estimate - 0.30) > SE_MULTIPLE * named.se


def test_time_varying_rule_needs_a_treatment_that_changes_within_units() -> None:
    df = _staggered_panel()
    df["post"] = (df["sid"] < 20).astype(float)  # a cross-section repeated over years
    assert time_varying_columns(df, ["police", "region"], "sid", "year", "post") == {}


def _iv_table(n: int = 64, seed: int = 3) -> pd.DataFrame:
    """An IV table with alternative codings of the instrument and a covariate with missing
    values, as in the issue (64 rows, 13 of them missing in one covariate)."""
    rng = np.random.default_rng(seed)
    dist = rng.uniform(0, 20, n)
    z = (dist < 8).astype(int)
    u = rng.normal(size=n)
    x1 = rng.normal(size=n)
    d = 0.5 + 1.0 * z + 0.5 * u + 0.3 * x1 + rng.normal(0, 0.5, n)
    y = 1.0 + 2.0 * d + 0.5 * x1 + u + rng.normal(0, 0.5, n)
    spotty = rng.normal(size=n)
    spotty[:13] = np.nan
    return pd.DataFrame(
        {"y": y, "d": d, "z": z, "z_far": 1 - z, "z_dist": dist, "x1": x1, "spotty": spotty}
    )


def test_instrument_codings_are_never_controls_and_missing_columns_are_not_inferred() -> None:
    df = _iv_table()
    r = infer_roles(df, Roles(outcome="y", treatment="d", instrument=("z",)))
    assert r.covariates == ("x1",)
    reason = _reason(r, "covariates")
    assert "z_far (a coding of the instrument 'z' (correlation -1.00))" in reason
    assert "z_dist (a coding of the instrument 'z' (correlation -0.86))" in reason
    assert "spotty (missing in 20% of the rows" in reason
    # the IV estimators do not run on inferred controls: the refusal names the role
    with pytest.raises(RoleError, match="iv_2sls needs the role 'covariates' named") as info:
        cqox.analyze(
            df, outcome="y", treatment="d", roles={"instrument": ["z"]}, estimators=["iv_2sls"]
        )
    assert info.value.details["inferred"] == ["x1"]
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="d",
        covariates=info.value.details["inferred"],
        roles={"instrument": ["z"]},
        estimators=["iv_2sls"],
    )
    est = an.estimate_for("iv_2sls")
    assert est.n == 64  # no row dropped for an inferred covariate
    assert abs(est.estimate - 2.0) <= SE_MULTIPLE * est.se


def test_rank_failure_names_the_instrument_and_the_columns() -> None:
    df = _iv_table()
    with pytest.raises(EstimationError) as info:
        cqox.estimate(
            "iv_2sls",
            df,
            outcome="y",
            treatment="d",
            covariates=["x1", "z_far"],
            roles={"instrument": ["z"]},
        )
    assert "instrument 'z' is a linear combination of 'z_far'" in str(info.value)
    assert info.value.details["columns"] == ["z_far"]


def test_missing_values_union_is_bounded() -> None:
    n = 200
    a = np.arange(n, dtype=float)
    b = a.copy()
    c = a.copy()
    b[:6] = np.nan  # 3% each, 6% together
    c[-6:] = np.nan
    df = pd.DataFrame({"a": a, "b": b, "c": c})
    out = missing_value_columns(df, ["a", "b", "c"])
    assert list(out) == ["c"] and "6% of the rows" in out["c"]


def test_weight_is_suggested_with_the_command_never_applied() -> None:
    rng = np.random.default_rng(5)
    n = 800
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    weight = np.exp(rng.normal(size=n))
    # the effect differs with the weight: a weighted estimand is another number
    y = x + t * (1.0 + 1.0 * (weight > 1)) + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "t": t, "x": x, "weight": weight})
    r = infer_roles(df, Roles(outcome="y", treatment="t"))
    assert r.weight is None and r.covariates == ("x",)
    g = next(g for g in r.guesses if g.role == "weight")
    assert g.source == "suggested" and "--weight weight" in g.reason
    an = cqox.analyze(df, outcome="y", treatment="t", estimators=["regression_adjustment"])
    named = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=["x"],
        estimators=["regression_adjustment"],
        infer=False,
    )
    assert an.estimate_for("regression_adjustment", "ATE").estimate == pytest.approx(
        named.estimate_for("regression_adjustment", "ATE").estimate, rel=1e-12
    )
    assert any("--weight weight" in w for w in an.warnings)


def test_no_leakage_without_a_determining_set() -> None:
    df, _ = cqox.simulate.confounded_binary(n=2000, seed=1)
    cols = [c for c in df.columns if c.startswith("x")]
    leak, r2 = leakage_columns(df, "y", "t", cols)
    assert leak == [] and r2 < 0.99


def test_instrument_named_like_another_is_not_a_control() -> None:
    df = _iv_table().assign(nearc4=lambda d: d["z"], nearc2=np.arange(64) % 2)
    r = infer_roles(
        df.drop(columns=["z_far", "z_dist"]),
        Roles(outcome="y", treatment="d", instrument=("nearc4",)),
    )
    assert "nearc2 (named like the instrument 'nearc4')" in _reason(r, "covariates")


def test_two_factors_that_fix_the_treatment_together_are_not_both_adjusted_for() -> None:
    # framing: treat = tone · eth in a 2×2 experiment; either factor alone is fine
    rng = np.random.default_rng(6)
    n = 400
    tone, eth = rng.integers(0, 2, n), rng.integers(0, 2, n)
    df = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "treat": tone * eth,
            "tone": tone,
            "eth": eth,
            "age": rng.normal(40, 10, n),
        }
    )
    r = infer_roles(df, Roles(outcome="y", treatment="treat"))
    assert r.covariates == ("tone", "age")
    assert "eth (with 'tone' it determines the treatment (no overlap))" in _reason(r, "covariates")


def _card_like(n: int = 3000, seed: int = 6) -> pd.DataFrame:
    """Card-like: experience computed from age and schooling (exper = age − educ − 6)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(24, 35, n)
    near = rng.binomial(1, 0.6, n)
    ability = rng.normal(size=n)
    educ = np.clip(np.round(12 + 1.0 * near + ability + rng.normal(0, 2, n)), 6, 18)
    exper = age - educ - 6
    lwage = 5 + 0.1 * educ + 0.3 * ability + 0.01 * age + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {
            "age": age,
            "agesq": age**2,  # a square of a covariate: a real covariate, kept
            "nearc4": near,
            "educ": educ,
            "black": rng.binomial(1, 0.2, n),
            "exper": exper,
            "expersq": exper**2,
            "lwage": lwage,
        }
    )


def test_columns_computed_from_the_treatment_are_not_controls() -> None:
    df = _card_like()
    out = treatment_function_columns(df, ["age", "agesq", "black", "exper", "expersq"], "educ")
    # exper and expersq are functions of educ and age; age (first of the identity), its
    # square and an unrelated column stay
    assert set(out) == {"exper", "expersq"}
    assert "'educ'" in out["expersq"] and "'age'" in out["expersq"]
    r = infer_roles(df, Roles(outcome="lwage", treatment="educ", instrument=["nearc4"]))
    assert {"exper", "expersq"}.isdisjoint(r.covariates or ())
    assert {"age", "agesq", "black"} <= set(r.covariates or ())
    est = cqox.estimate(
        "iv_2sls",
        df,
        outcome="lwage",
        treatment="educ",
        instrument=["nearc4"],
        covariates=list(r.covariates or ()),
    )
    assert abs(est.estimate - 0.1) <= SE_MULTIPLE * est.se


def test_a_function_of_the_treatment_alone_is_flagged() -> None:
    df = _card_like()
    df["educ_sq"] = df["educ"] ** 2
    assert "educ_sq" in treatment_function_columns(df, ["age", "educ_sq"], "educ")


def test_a_function_of_the_treatment_and_a_rare_column_survives_the_screening() -> None:
    # c = educ · rare is zero on nearly every row, so the few screening rows may show it
    # constant: such a column must go on to the full regression, not be screened out
    df = _card_like()
    screened = np.random.default_rng(0).permutation(len(df))[:SCREEN_ROWS]
    rare_rows = np.setdiff1d(np.arange(len(df)), screened)[:12]  # none among the screened
    df["rare"] = 0.0
    df.loc[rare_rows, "rare"] = 1.0
    df["educ_rare"] = df["educ"] * df["rare"]
    out = treatment_function_columns(df, ["age", "rare", "educ_rare"], "educ")
    assert set(out) == {"educ_rare"}
    assert "'rare'" in out["educ_rare"]
