"""DiD estimators against their reference implementations on identical data.

- ``did_cs`` vs ``csdid`` 0.4.x (the Python port of R ``did``) on mpdta: every
  ATT(g,t), every aggregation (overall and per component), analytic SEs and the
  pre-trend Wald statistic, over estimation methods, covariates, comparison groups,
  base periods and anticipation; bootstrap SEs within Monte-Carlo noise.
- ``did_twfe`` vs ``pyfixest`` ``feols("y ~ d | unit + year", vcov={"CRV1": ...})``
  on the castle-doctrine data and simulated panels (weights, covariates, clusters).
- ``did_2x2`` vs a statsmodels OLS/WLS interaction regression with cluster SEs.

The peers' outputs are stored in golden/{csdid,pyfixest,linearmodels,statsmodels}.json
for machines without them.
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
from tests.reference.golden import CSDID, LINEARMODELS, PYFIXEST, STATSMODELS

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
    case: str,
    df: pd.DataFrame,
    *,
    xformla: str | None = None,
    method: str = "dr",
    control: str = "nevertreated",
    base: str = "varying",
    anticipation: int = 0,
    bstrap: bool = False,
    clustervar: str | None = None,
    kinds: tuple[str, ...] = ("simple", "group", "dynamic", "calendar"),
) -> dict[str, Any]:
    """csdid's ATT(g,t) cells, aggregations and pre-test (live, quietly: it prints
    summaries; or stored)."""

    def fit_csdid() -> dict[str, Any]:
        from csdid.att_gt import ATTgt

        agg: dict[str, Any] = {}
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
                clustervar=clustervar,
            ).fit(est_method=method, base_period=base, bstrap=bstrap)
            for kind in kinds:
                fit.aggte(typec=kind, bstrap=bstrap)
                atte = fit.atte
                agg[kind] = {
                    "overall_att": float(np.ravel(atte["overall_att"])[0]),
                    "overall_se": float(np.ravel(atte["overall_se"])[0]),
                    "att_egt": np.ravel(np.asarray(atte["att_egt"], float)),
                    "se_egt": np.ravel(np.asarray(atte["se_egt"], float)),
                }
        ref = fit.results
        return {
            "group": np.asarray(ref["group"], float),
            "year": np.asarray(ref["year"], float),
            "att": np.asarray(ref["att"], float),
            "se": np.asarray(ref["se"], float),
            "agg": agg,
            "W": None if fit.MP["W"] is None else float(fit.MP["W"]),
            "Wpval": None if fit.MP["W"] is None else float(fit.MP["Wpval"]),
        }

    return CSDID.outputs(f"did_cs/{case}", fit_csdid)  # type: ignore[no-any-return]


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
    ref = run_csdid(
        f"mpdta-{method}-cov={cov}-{control}-{base}-anticipation={anticipation}",
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
    np.testing.assert_array_equal(gt["group"], ref["group"])
    np.testing.assert_array_equal(gt["time"], ref["year"])
    np.testing.assert_allclose(gt["att"], ref["att"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gt["se"], ref["se"], rtol=RTOL, atol=ATOL)
    for kind, theirs in ref["agg"].items():
        ours = est.diagnostics["overall"][kind]
        assert ours["att"] == pytest.approx(theirs["overall_att"], rel=RTOL, abs=ATOL), kind
        assert ours["se"] == pytest.approx(theirs["overall_se"], rel=RTOL, abs=ATOL), kind
        if kind in COMPONENT_TABLE:
            tab = est.tables[COMPONENT_TABLE[kind]]
            np.testing.assert_allclose(tab["att"], theirs["att_egt"], rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(tab["se"], theirs["se_egt"], rtol=RTOL, atol=ATOL)
    if ref["W"] is None:
        assert est.diagnostics["pretrend_statistic"] is None
    else:
        assert est.diagnostics["pretrend_statistic"] == pytest.approx(ref["W"], rel=RTOL)
        assert est.diagnostics["pretrend_p_value"] == pytest.approx(ref["Wpval"], abs=1e-5)


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
        agg = run_csdid("mpdta-dr-multiplier-bootstrap-seed12345", mpdta, bstrap=True)["agg"]
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
        theirs = agg[kind]["overall_se"]
        assert ours == pytest.approx(a, rel=BOOT_RTOL), kind
        assert theirs == pytest.approx(a, rel=BOOT_RTOL), kind
    # the event-study band is wider than the pointwise interval, as a uniform band must be
    es = boot.tables["event_study"]
    assert (es["band_high"] - es["band_low"] > es["ci_high"] - es["ci_low"]).all()


def test_did_cs_cluster_se_matches_csdid(mpdta: pd.DataFrame) -> None:
    """Clustering above the unit (states from county-id prefixes) as in csdid."""
    df = mpdta.assign(state=mpdta["countyreal"] // 1000)
    ref = run_csdid("mpdta-dr-cluster-state", df, clustervar="state", kinds=("group",))
    est = cqox.estimate(
        "did_cs", df, outcome="lemp", roles={**CS_ROLES, "cluster": "state"}, n_boot=0
    )
    np.testing.assert_allclose(est.tables["att_gt"]["se"], ref["se"], rtol=RTOL)
    assert est.se == pytest.approx(ref["agg"]["group"]["overall_se"], rel=RTOL)


# ----------------------------------------------------------------------------- TWFE


def pyfixest_feols(
    case: str, df: pd.DataFrame, formula: str, d: str, *, cluster: str, weights: str | None
) -> tuple[float, float]:
    """pyfixest's coefficient and CRV1 SE of ``d`` (live or stored)."""

    def fit() -> list[float]:
        import pyfixest as pf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = pf.feols(formula, data=df, vcov={"CRV1": cluster}, weights=weights)
        return [float(m.coef()[d]), float(m.se()[d])]

    coef, se = PYFIXEST.outputs(f"twfe/{case}", fit)
    return coef, se


def pyfixest_twfe(
    case: str,
    df: pd.DataFrame,
    y: str,
    d: str,
    unit: str,
    time: str,
    *,
    cluster: str,
    weights: str | None,
) -> tuple[float, float]:
    formula = f"{y} ~ {d} | {unit} + {time}"
    return pyfixest_feols(case, df, formula, d, cluster=cluster, weights=weights)


@pytest.mark.parametrize("weights", [None, "popwt"])
def test_did_twfe_matches_pyfixest_on_castle_doctrine(weights: str | None) -> None:
    df = pd.read_csv(dataset_path("castle_doctrine.csv"))
    roles = {"unit": "sid", "time": "year"} | ({"weight": weights} if weights else {})
    est = cqox.estimate("did_twfe", df, outcome="l_homicide", treatment="post", roles=roles)
    coef, se = pyfixest_twfe(
        f"castle-weights={weights}",
        df,
        "l_homicide",
        "post",
        "sid",
        "year",
        cluster="sid",
        weights=weights,
    )
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


def test_did_twfe_with_collinear_covariates_matches_pyfixest() -> None:
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
    coef, se = pyfixest_feols(
        "castle-region-by-year-weighted",
        df,
        f"l_homicide ~ post + {' + '.join(region_year)} | sid + year",
        "post",
        cluster="sid",
        weights="popwt",
    )
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


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
        f"simulated-weighted={weighted}-cluster={cluster}-unbalanced={unbalanced}",
        df,
        "y",
        "d",
        "unit",
        "time",
        cluster=cluster or "unit",
        weights="w" if weighted else None,
    )
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


def test_did_twfe_matches_linearmodels_panelols_point_estimate() -> None:
    df, _ = staggered_panel(n_units=300, n_periods=6, dynamic=0.2, seed=8)
    est = cqox.estimate(
        "did_twfe", df, outcome="y", treatment="d", roles={"unit": "unit", "time": "time"}
    )

    def fit() -> float:
        from linearmodels.panel import PanelOLS

        p = df.set_index(["unit", "time"])
        res = PanelOLS(p["y"], p[["d"]], entity_effects=True, time_effects=True).fit(
            cov_type="clustered", cluster_entity=True
        )
        return float(res.params["d"])

    coef = LINEARMODELS.outputs("did/panelols-twfe-staggered-seed8", fit)
    assert est.estimate == pytest.approx(coef, rel=RTOL)


# ------------------------------------------------------------------------------ 2x2


def _statsmodels_interaction(
    case: str, df: pd.DataFrame, formula: str, term: str, weights: str | None = None
) -> tuple[float, float]:
    """statsmodels OLS/WLS with unit-clustered SEs: ``term``'s coefficient and SE."""

    def fit() -> list[float]:
        import statsmodels.formula.api as smf

        model = smf.wls(formula, df, weights=df[weights]) if weights else smf.ols(formula, df)
        res = model.fit(cov_type="cluster", cov_kwds={"groups": df["unit"]})
        return [float(res.params[term]), float(res.bse[term])]

    coef, se = STATSMODELS.outputs(f"did_2x2/{case}", fit)
    return coef, se


@pytest.mark.parametrize(("covariate", "weighted"), [(False, False), (True, False), (True, True)])
def test_did_2x2_matches_statsmodels_interaction_regression(
    covariate: bool, weighted: bool
) -> None:
    df, _ = two_period_panel(n_units=700, effect=0.7, seed=9)
    rng = np.random.default_rng(1)
    df["x"] = rng.standard_normal(len(df))
    df["w"] = np.repeat(rng.uniform(0.5, 2.0, 700), 2)
    formula = "y ~ group * time" + (" + x" if covariate else "")
    coef, se = _statsmodels_interaction(
        f"2x2-covariate={covariate}-weighted={weighted}",
        df,
        formula,
        "group:time",
        weights="w" if weighted else None,
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
    assert est.estimate == pytest.approx(coef, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)


def test_did_2x2_collapses_many_periods_like_a_pre_post_regression() -> None:
    df, _ = staggered_panel(n_units=400, n_periods=6, cohorts=(4,), seed=3)
    df["group"] = (df["cohort"] > 0).astype(int)
    df["post"] = (df["time"] >= 4).astype(int)
    coef, se = _statsmodels_interaction("pre-post-6-periods", df, "y ~ group * post", "group:post")
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
        assert est.estimate == pytest.approx(coef, rel=RTOL)
        assert est.se == pytest.approx(se, rel=RTOL)
