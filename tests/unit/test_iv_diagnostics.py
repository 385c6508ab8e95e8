"""Unit checks of the IV diagnostics' algebra."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.estimators.iv.diagnostics import _solve_quadratic

INF = float("inf")


@pytest.mark.parametrize(
    ("coefs", "expected"),
    [
        ((1.0, 0.0, -4.0), [(-2.0, 2.0)]),  # bounded interval
        ((-1.0, 0.0, 4.0), [(-INF, -2.0), (2.0, INF)]),  # two rays
        ((1.0, 0.0, 4.0), []),  # empty
        ((-1.0, 0.0, -4.0), [(-INF, INF)]),  # whole line
        ((0.0, 2.0, -4.0), [(-INF, 2.0)]),  # one ray
    ],
)
def test_quadratic_inequality_sets(coefs: tuple, expected: list) -> None:
    got = _solve_quadratic(*coefs)
    assert len(got) == len(expected)
    for (lo, hi), (elo, ehi) in zip(got, expected, strict=True):
        assert lo == pytest.approx(elo) and hi == pytest.approx(ehi)


def _fit(df, **params):  # type: ignore[no-untyped-def]
    return cqox.estimate(
        "iv_2sls",
        df,
        outcome="y",
        treatment="d",
        covariates=["x1"],
        roles={"instrument": [c for c in df.columns if c.startswith("z")]},
        **params,
    )


def test_effective_f_equals_f_when_homoskedastic_and_robust_f_with_one_instrument() -> None:
    df, _ = cqox.simulate.iv_linear(n=800, n_instruments=3, seed=4)
    fs = _fit(df, se_method="unadjusted").diagnostics["first_stage"]["d"]
    np.testing.assert_allclose(fs["effective_f"], fs["f"]["statistic"], rtol=1e-10)
    df1, _ = cqox.simulate.iv_linear(n=800, n_instruments=1, heteroskedastic=True, seed=4)
    fs1 = _fit(df1, se_method="robust").diagnostics["first_stage"]["d"]
    np.testing.assert_allclose(fs1["effective_f"], fs1["f"]["statistic"], rtol=1e-10)


def test_irrelevant_instrument_gives_unbounded_ar_set_and_weak_gate() -> None:
    df, _ = cqox.simulate.iv_linear(n=500, n_instruments=1, strength=0.0, seed=8)
    est = _fit(df)
    gates = {g.name: g for g in est.gates}
    assert gates["weak_instrument"].status == "warn"
    assert gates["anderson_rubin"].status == "warn"
    assert est.diagnostics["anderson_rubin"]["kind"] in ("unbounded", "whole_line")


def test_ar_set_with_several_instruments_contains_the_estimate() -> None:
    df, _ = cqox.simulate.iv_linear(n=800, n_instruments=3, heteroskedastic=True, seed=9)
    est = _fit(df)
    ((lo, hi),) = est.diagnostics["anderson_rubin"]["intervals"]
    assert lo < est.estimate < hi
    assert est.diagnostics["anderson_rubin"]["method"] == "grid"


def test_just_identified_overid_gate_says_why_and_several_endogenous_skip_ar() -> None:
    df, _ = cqox.simulate.iv_linear(n=600, n_instruments=2, seed=1)
    df["d2"] = df["z2"] + df["d"] + np.random.default_rng(0).standard_normal(len(df))
    est = _fit(df, endogenous=["d2"])
    gates = {g.name: g for g in est.gates}
    assert gates["overidentification"].status == "not_applicable"
    assert "just identified" in gates["overidentification"].message
    assert gates["anderson_rubin"].status == "not_applicable"


def test_instrument_that_is_also_a_covariate_is_named() -> None:
    df, _ = cqox.simulate.iv_linear(n=300, seed=1)
    with pytest.raises(cqox.RoleError, match="'z1'"):
        cqox.estimate(
            "iv_2sls",
            df,
            outcome="y",
            treatment="d",
            covariates=["x1", "z1"],
            roles={"instrument": ["z1"]},
        )


def test_under_identified_model_is_an_estimation_error() -> None:
    df, _ = cqox.simulate.iv_linear(n=300, n_instruments=1, seed=1)
    with pytest.raises(cqox.errors.EstimationError, match="under-identified"):
        cqox.estimate(
            "iv_2sls",
            df,
            outcome="y",
            treatment="d",
            roles={"instrument": ["z1"]},
            endogenous=["x2"],
        )


def test_instrument_columns_of_any_numeric_dtype_give_the_same_fit() -> None:
    """Integer, boolean and nullable instruments are read as their float values."""
    df, _ = cqox.simulate.iv_linear(n=400, n_instruments=1, seed=3)
    df["zb"] = df["z1"] > df["z1"].median()
    base = cqox.estimate(
        "iv_2sls", df, outcome="y", treatment="d", covariates=["x1"], roles={"instrument": ["zb"]}
    )
    for coded in (df["zb"].astype(np.int64), df["zb"].astype("Int64"), df["zb"].astype(float)):
        est = cqox.estimate(
            "iv_2sls",
            df.assign(zb=coded),
            outcome="y",
            treatment="d",
            covariates=["x1"],
            roles={"instrument": ["zb"]},
        )
        assert est.estimate == pytest.approx(base.estimate, rel=1e-12)
        assert est.se == pytest.approx(base.se, rel=1e-12)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (lambda df: df["z1"].map(lambda v: f"{v:.3f}"), "must be numeric"),
        (lambda df: df["z1"] * 0 + 2.0, "is constant"),
    ],
)
def test_text_or_constant_instrument_is_a_role_error_naming_it(column, message) -> None:  # type: ignore[no-untyped-def]
    df, _ = cqox.simulate.iv_linear(n=300, n_instruments=2, seed=1)
    with pytest.raises(cqox.RoleError, match=f"role 'instrument': column 'z2' {message}"):
        cqox.estimate(
            "iv_2sls",
            df.assign(z2=column(df)),
            outcome="y",
            treatment="d",
            covariates=["x1"],
            roles={"instrument": ["z1", "z2"]},
        )
