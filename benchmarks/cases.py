"""The benchmark cases: CQOx and its peers on the same design, same learners, same settings.

A CQOx estimator that is not registered yet is skipped (and listed as such); a peer
that is not installed is skipped likewise.  Nuisance learners are shared: the same
LightGBM settings (``LGBM``) for every library's DML/DR runs, one thread each.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import cqox
from benchmarks.datagen import Design
from benchmarks.harness import Case, Result
from cqox.estimators import registry

#: LightGBM settings used by every library in the DML rows (one thread: the machine has
#: two cores and an oversubscribed OpenMP pool slows LightGBM by orders of magnitude).
LGBM: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 20,
    "n_jobs": 1,
    "verbose": -1,
    "random_state": 0,
}


def has(module: str) -> bool:
    """Whether a peer library is installed."""
    return importlib.util.find_spec(module) is not None


def cqox_available(name: str) -> bool:
    """Whether a CQOx estimator is registered."""
    return name in registry.all_estimators()


def _est(e: cqox.Estimate) -> Result:
    return {"estimate": e.estimate, "se": e.se, "ci": list(e.ci)}


def _cqox(name: str, d: Design, estimand: str | None = None, **params: Any) -> Callable[[], Result]:
    roles = dict(d.roles)
    outcome, treatment = roles.pop("outcome", None), roles.pop("treatment", None)
    covariates = roles.pop("covariates", None)
    if estimand is not None:
        params["estimand"] = estimand

    def run() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _est(
                cqox.estimate(
                    name,
                    d.frame,
                    outcome=outcome,
                    treatment=treatment,
                    covariates=covariates,
                    roles=roles,
                    seed=0,
                    **params,
                )
            )

    return run


def backdoor_cases(d: Design, quick: bool) -> list[Case]:
    """IPW, RA, AIPW, matching, DML: CQOx, statsmodels, DoWhy, DoubleML, EconML, CausalML."""
    df = d.frame
    cols = d.roles["covariates"]
    X = df[cols].to_numpy()
    y = df["y"].to_numpy()
    t = df["t"].to_numpy()
    cases: list[Case] = []
    add = cases.append

    for name, est in (
        ("ipw", "ATE"),
        ("regression_adjustment", "ATE"),
        ("aipw", "ATE"),
        ("psm", "ATT"),
        ("stratification", "ATE"),
        ("g_computation", "ATE"),
    ):
        if cqox_available(name):
            add(Case(name, "cqox", d.name, est, _cqox(name, d, est)))

    if has("statsmodels"):
        import statsmodels.api as sm_api
        from statsmodels.discrete.discrete_model import Logit
        from statsmodels.treatment.treatment_effects import TreatmentEffect

        exog = np.column_stack([np.ones(len(y)), X])

        def sm_model(method: str) -> Callable[[], Result]:
            def run() -> Result:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res_ps = Logit(t, exog).fit(disp=0)
                    te = TreatmentEffect(sm_api.OLS(y, exog), t, results_select=res_ps)
                    r = getattr(te, method)()
                return {"estimate": float(r.effect[0]), "se": float(r.sd[0])}

            return run

        for name, method in (("ipw", "ipw"), ("regression_adjustment", "ra"), ("aipw", "aipw")):
            add(Case(name, "statsmodels", d.name, "ATE", sm_model(method)))

    if has("dowhy"):
        add(
            Case(
                "ipw",
                "dowhy",
                d.name,
                "ATE",
                _dowhy(df, cols, "backdoor.propensity_score_weighting", "ate"),
            )
        )
        add(
            Case(
                "psm",
                "dowhy",
                d.name,
                "ATT",
                _dowhy(df, cols, "backdoor.propensity_score_matching", "att"),
                note="no standard error",
            )
        )
        add(
            Case(
                "stratification",
                "dowhy",
                d.name,
                "ATE",
                _dowhy(df, cols, "backdoor.propensity_score_stratification", "ate"),
            )
        )

    if has("causalml"):
        from causalml.match import NearestNeighborMatch

        def cml_match() -> Result:
            from sklearn.linear_model import LogisticRegression

            ps = LogisticRegression(max_iter=1000).fit(X, t).predict_proba(X)[:, 1]
            frame = df.assign(ps=ps)
            m = NearestNeighborMatch(replace=True, ratio=1, random_state=0)
            matched = m.match(data=frame, treatment_col="t", score_cols=["ps"])
            tr = matched[matched.t == 1].y.mean()
            co = matched[matched.t == 0].y.mean()
            return {"estimate": float(tr - co)}

        add(Case("psm", "causalml", d.name, "ATT", cml_match, note="no standard error"))

    # DML with LightGBM nuisances (same learners for every library)
    from lightgbm import LGBMClassifier, LGBMRegressor

    folds = 5
    for name in ("dml_plr", "dml_irm"):
        if cqox_available(name):
            add(
                Case(
                    name,
                    "cqox",
                    d.name,
                    "ATE",
                    _cqox(name, d, None, learner="lightgbm", n_folds=folds),
                    repeats=1 if quick else 3,
                    note="learner=lightgbm",
                )
            )
            add(
                Case(
                    name,
                    "cqox (default learners)",
                    d.name,
                    "ATE",
                    _cqox(name, d, None),
                    repeats=1 if quick else 3,
                )
            )
    if has("doubleml"):
        import doubleml as dml

        data = dml.DoubleMLData(df[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols)

        def dml_plr() -> Result:
            m = dml.DoubleMLPLR(data, LGBMRegressor(**LGBM), LGBMRegressor(**LGBM), n_folds=folds)
            m.fit()
            return {"estimate": float(m.coef[0]), "se": float(m.se[0])}

        def dml_irm() -> Result:
            m = dml.DoubleMLIRM(data, LGBMRegressor(**LGBM), LGBMClassifier(**LGBM), n_folds=folds)
            m.fit()
            return {"estimate": float(m.coef[0]), "se": float(m.se[0])}

        add(Case("dml_plr", "doubleml", d.name, "ATE", dml_plr, repeats=1 if quick else 3))
        add(Case("dml_irm", "doubleml", d.name, "ATE", dml_irm, repeats=1 if quick else 3))
    if has("econml"):
        from econml.dml import LinearDML
        from econml.dr import DRLearner

        def econ_dml() -> Result:
            m = LinearDML(
                model_y=LGBMRegressor(**LGBM),
                model_t=LGBMClassifier(**LGBM),
                discrete_treatment=True,
                cv=folds,
                random_state=0,
            )
            m.fit(y, t, X=None, W=X)
            lo, hi = m.ate_interval()
            return {"estimate": float(m.ate()), "ci": [float(lo), float(hi)]}

        def econ_dr() -> Result:
            m = DRLearner(
                model_propensity=LGBMClassifier(**LGBM),
                model_regression=LGBMRegressor(**LGBM),
                cv=folds,
                random_state=0,
            )
            m.fit(y, t, X=X[:, :5], W=X[:, 5:])
            res = m.ate_inference(X=X[:, :5])
            lo, hi = res.conf_int_mean()
            return {
                "estimate": float(res.mean_point),
                "ci": [float(lo), float(hi)],
                "tau_hat": m.effect(X[:, :5]),
            }

        add(Case("dml_plr", "econml LinearDML", d.name, "ATE", econ_dml, repeats=1 if quick else 3))
        add(Case("dml_irm", "econml DRLearner", d.name, "ATE", econ_dr, repeats=1 if quick else 3))
    return cases


def _dowhy(df: Any, cols: list[str], method: str, target: str) -> Callable[[], Result]:
    from dowhy import CausalModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=df, treatment="t", outcome="y", common_causes=cols)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)

    def run() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = model.estimate_effect(estimand, method_name=method, target_units=target)
        return {"estimate": float(est.value)}

    return run


def iv_cases(d: Design, quick: bool) -> list[Case]:
    """2SLS and LIML: CQOx vs linearmodels."""
    cases: list[Case] = []
    for name in ("iv_2sls", "iv_liml"):
        if cqox_available(name):
            cases.append(Case(name, "cqox", d.name, "LATE", _cqox(name, d)))
    if has("linearmodels"):
        from linearmodels.iv import IV2SLS, IVLIML

        df = d.frame
        exog = df[d.roles["covariates"]].assign(const=1.0)

        def lm(cls: Any) -> Callable[[], Result]:
            def run() -> Result:
                r = cls(df["y"], exog, df[["d"]], df[["z"]]).fit(cov_type="robust")
                return {"estimate": float(r.params["d"]), "se": float(r.std_errors["d"])}

            return run

        cases.append(Case("iv_2sls", "linearmodels", d.name, "LATE", lm(IV2SLS)))
        cases.append(Case("iv_liml", "linearmodels", d.name, "LATE", lm(IVLIML)))
    return cases


def rd_cases(d: Design, quick: bool) -> list[Case]:
    """Local-linear RD with robust bias-corrected inference: CQOx vs rdrobust."""
    cases: list[Case] = []
    if cqox_available("rd"):
        cases.append(Case("rd", "cqox", d.name, "LATE", _cqox("rd", d)))
    if has("rdrobust"):
        from rdrobust import rdrobust

        df = d.frame

        def run() -> Result:
            r = rdrobust(y=df["y"].to_numpy(), x=df["x"].to_numpy(), c=0.0)
            return {
                "estimate": float(r.coef.iloc[0, 0]),
                "ci": [float(r.ci.iloc[2, 0]), float(r.ci.iloc[2, 1])],
            }

        cases.append(Case("rd", "rdrobust", d.name, "LATE", run))
    return cases


def did_cases(d: Design, quick: bool) -> list[Case]:
    """Staggered DiD: CQOx did_cs / did_twfe vs csdid, pyfixest, linearmodels."""
    cases: list[Case] = []
    df = d.frame
    if cqox_available("did_cs"):
        cases.append(Case("did_cs", "cqox", d.name, "ATT", _cqox("did_cs", d)))
    if cqox_available("did_twfe"):
        cases.append(
            Case(
                "did_twfe",
                "cqox",
                d.name,
                "ATT",
                _cqox("did_twfe", d),
                note="TWFE is biased under dynamic effects: error is expected",
            )
        )
    if has("csdid"):
        from csdid.att_gt import ATTgt

        def cs() -> Result:
            # csdid prints a summary on aggregation: keep the runner's output readable
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                m = ATTgt(
                    yname="y",
                    gname="cohort",
                    idname="unit",
                    tname="time",
                    data=df,
                    control_group="nevertreated",
                ).fit(est_method="dr")
                agg = m.aggte(typec="group")
            res = agg.atte
            return {
                "estimate": float(np.ravel(res["overall_att"])[0]),
                "se": float(np.ravel(res["overall_se"])[0]),
            }

        cases.append(Case("did_cs", "csdid", d.name, "ATT", cs, repeats=1 if quick else 3))
    if has("pyfixest"):
        import pyfixest as pf

        def fe() -> Result:
            r = pf.feols("y ~ d | unit + time", data=df, vcov={"CRV1": "unit"})
            return {"estimate": float(r.coef()["d"]), "se": float(r.se()["d"])}

        cases.append(Case("did_twfe", "pyfixest", d.name, "ATT", fe))
    if has("linearmodels"):
        from linearmodels.panel import PanelOLS

        panel = df.set_index(["unit", "time"])

        def plm() -> Result:
            r = PanelOLS(panel["y"], panel[["d"]], entity_effects=True, time_effects=True).fit(
                cov_type="clustered", cluster_entity=True
            )
            return {"estimate": float(r.params["d"]), "se": float(r.std_errors["d"])}

        cases.append(Case("did_twfe", "linearmodels", d.name, "ATT", plm))
    return cases


def synth_cases(d: Design, quick: bool) -> list[Case]:
    """Synthetic control: CQOx synth vs pysyncon (outcome-only predictors)."""
    cases: list[Case] = []
    t0 = d.extra["treatment_time"]
    if cqox_available("synth"):
        cases.append(
            Case(
                "synth",
                "cqox",
                d.name,
                "ATT",
                _cqox("synth", d, None, placebo=False),
                note="no placebo refits",
            )
        )
    if has("pysyncon"):
        from pysyncon import Dataprep, Synth

        df = d.frame
        pre = list(range(1, t0))
        post = list(range(t0, int(df["time"].max()) + 1))
        donors = sorted(set(df["unit"]) - {d.extra["treated_unit"]})

        def run() -> Result:
            prep = Dataprep(
                foo=df,
                predictors=[],
                predictors_op="mean",
                dependent="y",
                unit_variable="unit",
                time_variable="time",
                treatment_identifier=d.extra["treated_unit"],
                controls_identifier=donors,
                time_predictors_prior=pre,
                special_predictors=[("y", [p], "mean") for p in pre],
                time_optimize_ssr=pre,
            )
            s = Synth()
            s.fit(dataprep=prep)
            return {"estimate": float(s.att(time_period=post)["att"])}

        cases.append(Case("synth", "pysyncon", d.name, "ATT", run, repeats=1))
    return cases
