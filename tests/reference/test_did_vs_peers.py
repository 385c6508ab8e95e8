"""DiD estimators against their reference implementations on identical data.

- ``did_cs`` vs ``csdid`` 0.4.x (the Python port of R ``did``) on mpdta: every
  ATT(g,t), every aggregation (overall and per component), analytic SEs and the
  pre-trend Wald statistic, over estimation methods, covariates, comparison groups,
  base periods and anticipation; bootstrap SEs within Monte-Carlo noise.
- ``did_twfe`` vs ``pyfixest`` ``feols("y ~ d | unit + year", vcov={"CRV1": ...})``
  on the castle-doctrine data and simulated panels (weights, covariates, clusters).
- ``did_2x2`` vs a statsmodels OLS/WLS interaction regression with cluster SEs.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.panel import staggered_panel, two_period_panel
from tests.conftest import dataset_path

pytestmark = pytest.mark.reference

#: Deterministic estimators computed with the same formulas: only floating-point
#: rounding separates us (observed differences are ~1e-14).
RTOL = 1e-6
ATOL = 1e-9
#: Bootstrap SEs (IQR / 1.349 of 2,000 Rademacher draws) have a Monte-Carlo relative
#: SD of about 3.5 %; 15 % is four such SDs, for either implementation vs the
#: deterministic analytic SE.
BOOT_RTOL = 0.15

CS_ROLES = {"unit": "countyreal", "time": "year", "cohort": "first.treat"}
COMPONENT_TABLE = {"group": "group", "dynamic": "event_study", "calendar": "calendar"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(dataset_path("mpdta.csv"))


def run_csdid(
    df: pd.DataFrame,
    *,
    xformla: str | None,
    method: str,
    control: str,
    base: str,
    anticipation: int,
    bstrap: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Fit csdid quietly (it prints summaries) and return the fit and aggregations."""
    from csdid.att_gt import ATTgt

    out: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ATTgt(
            yname="lemp",
            gname="first.treat",
            idname="countyreal",
            tname="year",
            data=df,
            xformla=xformla,
            control_group=control,
            anticipation=anticipation,
        ).fit(est_method=method, base_period=base, bstrap=bstrap)
        for kind in ("simple", "group", "dynamic", "calendar"):
            fit.aggte(typec=kind, bstrap=bstrap)
            out[kind] = dict(fit.atte)
    return fit, out


CS_CASES = [
    # method, covariates, control group, base period, anticipation
    ("dr", None, "nevertreated", "varying", 0),
    ("ipw", None, "nevertreated", "varying", 0),
    ("reg", None, "nevertreated", "varying", 0),
    ("dr", "lpop", "nevertreated", "varying", 0),
    ("ipw", "lpop", "nevertreated", "varying", 0),
    ("reg", "lpop", "nevertreated", "varying", 0),
    ("dr", None, "notyettreated", "varying", 0),
    ("dr", "lpop", "notyettreated", "universal", 0),
    ("dr", None, "nevertreated", "universal", 0),
    ("reg", None, "notyettreated", "varying", 1),
]


@pytest.mark.parametrize(("method", "cov", "control", "base", "anticipation"), CS_CASES)
def test_did_cs_matches_csdid_cells_aggregations_and_pretest(
    mpdta: pd.DataFrame, method: str, cov: str | None, control: str, base: str, anticipation: int
) -> None:
    fit, agg = run_csdid(
        mpdta,
        xformla=None if cov is None else f"lemp ~ {cov}",
        method=method,
        control=control,
        base=base,
        anticipation=anticipation,
    )
    est = cqox.estimate(
        "did_cs",
        mpdta,
        outcome="lemp",
        covariates=None if cov is None else [cov],
        roles=CS_ROLES,
        method=method,
        control_group={"nevertreated": "never_treated", "notyettreated": "not_yet_treated"}[
            control
        ],
        base_period=base,
        anticipation=anticipation,
        n_boot=0,
    )
    gt = est.tables["att_gt"]
    ref = fit.results
    np.testing.assert_array_equal(gt["group"], np.asarray(ref["group"], dtype=float))
    np.testing.assert_array_equal(gt["time"], np.asarray(ref["year"], dtype=float))
    np.testing.assert_allclose(gt["att"], ref["att"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gt["se"], np.asarray(ref["se"], float), rtol=RTOL, atol=ATOL)
    for kind, theirs in agg.items():
        ours = est.diagnostics["overall"][kind]
        assert ours["att"] == pytest.approx(theirs["overall_att"], rel=RTOL, abs=ATOL), kind
        assert ours["se"] == pytest.approx(
            float(np.ravel(theirs["overall_se"])[0]), rel=RTOL, abs=ATOL
        ), kind
        if kind in COMPONENT_TABLE:
            tab = est.tables[COMPONENT_TABLE[kind]]
            np.testing.assert_allclose(tab["att"], theirs["att_egt"], rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(tab["se"], np.ravel(theirs["se_egt"]), rtol=RTOL, atol=ATOL)
    if fit.MP["W"] is None:
        assert est.diagnostics["pretrend_statistic"] is None
    else:
        assert est.diagnostics["pretrend_statistic"] == pytest.approx(fit.MP["W"], rel=RTOL)
        assert est.diagnostics["pretrend_p_value"] == pytest.approx(fit.MP["Wpval"], abs=1e-5)


def test_did_cs_estimate_is_the_chosen_aggregation(mpdta: pd.DataFrame) -> None:
    for kind in ("simple", "group", "dynamic", "calendar"):
        est = cqox.estimate(
            "did_cs", mpdta, outcome="lemp", roles=CS_ROLES, aggregation=kind, n_boot=0
        )
        assert est.estimate == est.diagnostics["overall"][kind]["att"]
        assert est.se == est.diagnostics["overall"][kind]["se"]


def test_did_cs_bootstrap_se_within_monte_carlo_noise_of_csdid(mpdta: pd.DataFrame) -> None:
    state = np.random.get_state()  # noqa: NPY002 (csdid draws from the global state)
    np.random.seed(12345)  # noqa: NPY002
    try:
        _, agg = run_csdid(
            mpdta,
            xformla=None,
            method="dr",
            control="nevertreated",
            base="varying",
            anticipation=0,
            bstrap=True,
        )
    finally:
        np.random.set_state(state)  # noqa: NPY002
    analytic = cqox.estimate("did_cs", mpdta, outcome="lemp", roles=CS_ROLES, n_boot=0)
    boot = cqox.estimate(
        "did_cs",
        mpdta,
        outcome="lemp",
        roles=CS_ROLES,
        se_method="bootstrap",
        n_boot=2000,
        seed=3,
    )
    for kind in ("simple", "group", "dynamic", "calendar"):
        a = analytic.diagnostics["overall"][kind]["se"]
        ours = boot.diagnostics["overall"][kind]["se"]
        theirs = float(np.ravel(agg[kind]["overall_se"])[0])
        assert ours == pytest.approx(a, rel=BOOT_RTOL), kind
        assert theirs == pytest.approx(a, rel=BOOT_RTOL), kind
    # the event-study band is wider than the pointwise interval, as a uniform band must be
    es = boot.tables["event_study"]
    assert (es["band_high"] - es["band_low"] > es["ci_high"] - es["ci_low"]).all()


def test_did_cs_cluster_se_matches_csdid(mpdta: pd.DataFrame) -> None:
    """Clustering above the unit (states from county-id prefixes) as in csdid."""
    from csdid.att_gt import ATTgt

    df = mpdta.assign(state=mpdta["countyreal"] // 1000)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ATTgt(
            yname="lemp",
            gname="first.treat",
            idname="countyreal",
            tname="year",
            data=df,
            clustervar="state",
        ).fit(est_method="dr", bstrap=False)
        fit.aggte(typec="group", bstrap=False)
    est = cqox.estimate(
        "did_cs", df, outcome="lemp", roles={**CS_ROLES, "cluster": "state"}, n_boot=0
    )
    np.testing.assert_allclose(
        est.tables["att_gt"]["se"], np.asarray(fit.results["se"], float), rtol=RTOL
    )
    assert est.se == pytest.approx(float(np.ravel(fit.atte["overall_se"])[0]), rel=RTOL)


# ----------------------------------------------------------------------------- TWFE


def pyfixest_twfe(
    df: pd.DataFrame, y: str, d: str, unit: str, time: str, *, cluster: str, weights: str | None
) -> tuple[float, float]:
    import pyfixest as pf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pf.feols(
            f"{y} ~ {d} | {unit} + {time}", data=df, vcov={"CRV1": cluster}, weights=weights
        )
    return float(m.coef()[d]), float(m.se()[d])


@pytest.mark.parametrize("weights", [None, "popwt"])
def test_did_twfe_matches_pyfixest_on_castle_doctrine(weights: str | None) -> None:
    df = pd.read_csv(dataset_path("castle_doctrine.csv"))
    roles = {"unit": "sid", "time": "year"} | ({"weight": weights} if weights else {})
    est = cqox.estimate("did_twfe", df, outcome="l_homicide", treatment="post", roles=roles)
    coef, se = pyfixest_twfe(
        df, "l_homicide", "post", "sid", "year", cluster="sid", weights=weights
    )
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


def test_did_twfe_with_collinear_covariates_matches_pyfixest() -> None:
    import pyfixest as pf

    df = pd.read_csv(dataset_path("castle_doctrine.csv"))
    region_year = [c for c in df.columns if c.startswith("r20")]
    est = cqox.estimate(
        "did_twfe",
        df,
        outcome="l_homicide",
        treatment="post",
        covariates=region_year,
        roles={"unit": "sid", "time": "year", "weight": "popwt"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pf.feols(
            f"l_homicide ~ post + {' + '.join(region_year)} | sid + year",
            data=df,
            vcov={"CRV1": "sid"},
            weights="popwt",
        )
    assert est.estimate == pytest.approx(float(m.coef()["post"]), rel=RTOL)
    assert est.se == pytest.approx(float(m.se()["post"]), rel=RTOL)


@pytest.mark.parametrize(
    ("weighted", "cluster", "unbalanced"),
    [(False, None, False), (True, None, False), (False, "state", False), (True, "state", True)],
)
def test_did_twfe_matches_pyfixest_on_simulated_panels(
    weighted: bool, cluster: str | None, unbalanced: bool
) -> None:
    df, _ = staggered_panel(n_units=600, n_periods=7, dynamic=0.3, seed=11)
    rng = np.random.default_rng(5)
    df["state"] = df["unit"] % 37
    df["w"] = np.repeat(rng.uniform(0.5, 3.0, 600), 7)
    if unbalanced:
        df = df.sample(frac=0.85, random_state=2).reset_index(drop=True)
    roles: dict[str, str] = {"unit": "unit", "time": "time"}
    if weighted:
        roles["weight"] = "w"
    if cluster:
        roles["cluster"] = cluster
    est = cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=roles)
    coef, se = pyfixest_twfe(
        df, "y", "d", "unit", "time", cluster=cluster or "unit", weights="w" if weighted else None
    )
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


def test_did_twfe_matches_linearmodels_panelols_point_estimate() -> None:
    from linearmodels.panel import PanelOLS

    df, _ = staggered_panel(n_units=300, n_periods=6, dynamic=0.2, seed=8)
    est = cqox.estimate(
        "did_twfe", df, outcome="y", treatment="d", roles={"unit": "unit", "time": "time"}
    )
    p = df.set_index(["unit", "time"])
    fit = PanelOLS(p["y"], p[["d"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True
    )
    assert est.estimate == pytest.approx(float(fit.params["d"]), rel=RTOL)


# ------------------------------------------------------------------------------ 2x2


@pytest.mark.parametrize(("covariate", "weighted"), [(False, False), (True, False), (True, True)])
def test_did_2x2_matches_statsmodels_interaction_regression(
    covariate: bool, weighted: bool
) -> None:
    import statsmodels.formula.api as smf

    df, _ = two_period_panel(n_units=700, effect=0.7, seed=9)
    rng = np.random.default_rng(1)
    df["x"] = rng.standard_normal(len(df))
    df["w"] = np.repeat(rng.uniform(0.5, 2.0, 700), 2)
    formula = "y ~ group * time" + (" + x" if covariate else "")
    model = (smf.wls(formula, df, weights=df["w"]) if weighted else smf.ols(formula, df)).fit(
        cov_type="cluster", cov_kwds={"groups": df["unit"]}
    )
    roles = {"unit": "unit", "time": "time"} | ({"weight": "w"} if weighted else {})
    est = cqox.estimate(
        "did_2x2",
        df,
        outcome="y",
        treatment="d",
        covariates=["x"] if covariate else None,
        roles=roles,
    )
    assert est.estimate == pytest.approx(model.params["group:time"], rel=RTOL)
    assert est.se == pytest.approx(model.bse["group:time"], rel=RTOL)


def test_did_2x2_collapses_many_periods_like_a_pre_post_regression() -> None:
    import statsmodels.formula.api as smf

    df, _ = staggered_panel(n_units=400, n_periods=6, cohorts=(4,), seed=3)
    df["group"] = (df["cohort"] > 0).astype(int)
    df["post"] = (df["time"] >= 4).astype(int)
    model = smf.ols("y ~ group * post", df).fit(cov_type="cluster", cov_kwds={"groups": df["unit"]})
    by_group = cqox.estimate(
        "did_2x2",
        df,
        outcome="y",
        treatment="group",
        roles={"unit": "unit", "time": "time"},
        post_period=4,
    )
    by_period = cqox.estimate(
        "did_2x2", df, outcome="y", treatment="d", roles={"unit": "unit", "time": "time"}
    )
    for est in (by_group, by_period):
        assert est.estimate == pytest.approx(model.params["group:post"], rel=RTOL)
        assert est.se == pytest.approx(model.bse["group:post"], rel=RTOL)
