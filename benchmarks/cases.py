"""The benchmark cases: CQOx and its peers on the same design, same learners, same settings.

A CQOx estimator that is not registered yet is skipped (and listed as such); a peer
that is not installed is skipped likewise.  Nuisance learners are shared: the same
LightGBM settings (``LGBM``) for every library's DML/DR runs, one thread each, and the
same number of folds (``FOLDS``).

Settings chosen so that every library computes the same thing:

* backdoor (logit propensity, linear outcome models): CQOx's defaults vs statsmodels'
  ``TreatmentEffect`` (ipw/ra/aipw), DoWhy (weighting, matching, stratification) and
  CausalML (1:1 nearest-neighbour matching with replacement on a logistic propensity);
  CQOx's matching computes Abadie–Imbens standard errors, the peers none.
* DML: the LightGBM settings ``LGBM`` for every nuisance of every library, ``FOLDS``
  folds — the same folds, CQOx's for ``seed=0`` (:func:`cqox_splits`, handed to DoubleML
  and EconML), so every library fits the same LightGBM models on the same rows; a
  regressor for outcomes, a classifier for the binary treatment.  Rows labelled
  ``raw nuisance fits`` time the same LightGBM models fitted and predicted by hand on
  the same folds — the floor that a DML implementation's overhead is
  measured against.  EconML's DRLearner (one outcome model on (X, T)) is compared with
  ``dml_irm``'s ``outcome_structure="pooled"`` row, its nuisance structure; DoubleML's
  IRM (one outcome model per arm) with ``dml_irm``'s default.
* IV: heteroskedasticity-robust (HC0) covariance in both libraries.
* RD: local linear, triangular kernel, MSE-optimal common bandwidth, NN variance with
  3 neighbours, robust bias-corrected interval (rdrobust's defaults); CQOx's
  manipulation/placebo/donut gates are switched off in the like-for-like row and on
  in a second row.
* DiD: never-treated comparisons, doubly robust group-time ATTs, group aggregation
  (csdid's defaults, including its multiplier bootstrap); TWFE with unit-clustered
  CR1 errors; 2x2 by the pooled interaction regression with unit clusters.
* Synthetic control: four special predictors (the outcome averaged over the pre-period
  blocks 1–5, 6–10, 11–15, 16–20), V chosen by nested minimisation of the pre-period
  outcome MSPE in both libraries, no placebo refits (pysyncon's ``Synth.fit`` has none).
  One predictor per pre-period (20 predictors) made pysyncon's Nelder–Mead search
  over V take ~40 s; four block means keep it a fair, runnable comparison.
* ITS: segmented regression, Newey–West HAC with the same lag, vs statsmodels OLS.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
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
#: Cross-fitting folds of every DML/DR run.
FOLDS = 5
#: Learner parameters of the comprehensive analysis' DML estimators in the speed goal
#: of the backdoor issue ("logistic/linear nuisances").
LINEAR_DML = {"dml_plr": {"learner": "linear"}, "dml_irm": {"learner": "linear"}}
#: The CQOx row of dml_irm with DRLearner's nuisance structure (one pooled outcome model).
POOLED_IRM = "cqox (outcome_structure='pooled')"
#: Peers whose method is a CQOx variant rather than its default: (method, peer library) →
#: the CQOx row it is compared with.  EconML's DRLearner fits one outcome model on (X, T),
#: which is dml_irm's ``outcome_structure='pooled'``, not its per-arm default.
SAME_METHOD_VARIANTS: dict[tuple[str, str], str] = {
    ("dml_irm", "econml DRLearner"): POOLED_IRM,
}
#: Treatment-history length of panel matching: cohort 4 has three earlier periods.
PANEL_MATCH_LAGS = 3
#: Synthetic-control predictor blocks (pre-period outcome means), shared by both libraries.
SYNTH_BLOCKS = ((1, 5), (6, 10), (11, 15), (16, 20))

#: Every CQOx method the issues ask the suite to cover; unregistered ones are listed.
EXPECTED = (
    "ipw",
    "regression_adjustment",
    "aipw",
    "psm",
    "stratification",
    "g_computation",
    "dml_plr",
    "dml_irm",
    "bootstrap",
    "did_2x2",
    "did_twfe",
    "did_cs",
    "iv_2sls",
    "iv_liml",
    "rd",
    "synth",
    "its",
    "panel_match",
    "mediation",
    "mediation_dml",
)


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


def _lgbm() -> tuple[Any, Any]:
    from lightgbm import LGBMClassifier, LGBMRegressor

    return LGBMRegressor(**LGBM), LGBMClassifier(**LGBM)


def cqox_splits(
    t: np.ndarray, n_folds: int = FOLDS, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train, test)`` row indices of CQOx's DML cross-fitting with ``seed``, one split.

    As ``dml_plr``/``dml_irm`` draw them (``cqox.estimators.backdoor.dml._folds`` with
    ``n_rep=1``): :func:`cqox.nuisance.crossfit.fold_ids` on the generator of the
    context's DML split stream, ``default_rng([seed, DML_SPLIT_STREAM])``, stratified by
    the binary treatment ``t``.  Handed to DoubleML (``set_sample_splitting``) and
    EconML (``cv=``), every library fits the same LightGBM models on the same rows, so
    that a timing compares the libraries' own work around identical learner fits
    (tests/reference/test_peer_same_folds.py checks that the estimates then agree to
    the last bits).
    """
    from cqox.nuisance.crossfit import DML_SPLIT_STREAM, fold_ids, folds_to_splits

    rng = np.random.default_rng([seed, DML_SPLIT_STREAM])
    return folds_to_splits(fold_ids(len(t), n_folds, rng, t))


def _analyze(d: Design, params: dict[str, Any] | None) -> Callable[[], Result]:
    cols = d.roles["covariates"]

    def run() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            an = cqox.analyze(
                d.frame, outcome="y", treatment="t", covariates=cols, seed=0, params=params
            )
        ate = an.consensus.get("ATE", {})
        return {
            "estimate": ate.get("estimate"),
            "extra": {
                "estimates": len(an.estimates),
                "estimators": sorted({e.estimator for e in an.estimates}),
                "failures": [f["estimator"] for f in an.failures],
            },
        }

    return run


def raw_nuisance_fits(
    X: np.ndarray, y: np.ndarray, t: np.ndarray, structure: str
) -> Callable[[], Result]:
    """Fit and predict the DML nuisances by hand with ``LGBM`` on ``FOLDS`` folds.

    ``structure``: ``"plr"`` — E[Y|X] (regressor) and P(T=1|X) (classifier) per fold;
    ``"irm"`` — E[Y|T=0,X] and E[Y|T=1,X] on each arm's training rows plus P(T=1|X);
    ``"drlearner"`` — EconML's DRLearner nuisances: one regressor on (X, T) predicted
    at T=0 and T=1, plus P(T=1|X).
    """
    from sklearn.base import clone

    reg, clf = _lgbm()
    # CQOx's own folds (as every library's DML row fits them)
    splits = cqox_splits(t)
    XT = np.column_stack([X, t])

    def run() -> Result:
        for _, test_idx in splits:
            test = np.zeros(len(y), dtype=bool)
            test[test_idx] = True
            train = ~test
            m = clone(clf).fit(X[train], t[train])
            m.predict_proba(X[test])
            if structure == "plr":
                clone(reg).fit(X[train], y[train]).predict(X[test])
            elif structure == "irm":
                for a in (0, 1):
                    rows = train & (t == a)
                    clone(reg).fit(X[rows], y[rows]).predict(X[test])
            else:
                g = clone(reg).fit(XT[train], y[train])
                for a in (0, 1):
                    g.predict(np.column_stack([X[test], np.full(test.sum(), a)]))
        return {"estimate": None}

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

    if all(cqox_available(n) for n in ("ipw", "aipw")):
        add(
            Case(
                "comprehensive analysis",
                "cqox",
                d.name,
                "ATE",
                _analyze(d, LINEAR_DML),
                note="cqox.analyze: every backdoor estimator (ATE and ATT), gates and "
                "sensitivity; DML with linear/logit nuisances; estimate = consensus ATE",
            )
        )
        if not quick:
            add(
                Case(
                    "comprehensive analysis (default learners)",
                    "cqox",
                    d.name,
                    "ATE",
                    _analyze(d, None),
                    note="as above with the default (LightGBM) DML learners",
                )
            )
    for name, est in (
        ("ipw", "ATE"),
        ("regression_adjustment", "ATE"),
        ("aipw", "ATE"),
        ("psm", "ATT"),
        ("stratification", "ATE"),
        ("g_computation", "ATE"),
    ):
        if cqox_available(name):
            note = {
                "psm": "1:1 with replacement, logit-propensity distance, Abadie–Imbens SE",
                "g_computation": "linear g-formula per arm, 200 bootstrap replicates for the SE",
            }.get(name, "")
            add(Case(name, "cqox", d.name, est, _cqox(name, d, est), note=note))

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
        for name, method, target in (
            ("ipw", "backdoor.propensity_score_weighting", "ate"),
            ("psm", "backdoor.propensity_score_matching", "att"),
            ("stratification", "backdoor.propensity_score_stratification", "ate"),
        ):
            run, reset = _dowhy(df, cols, method, target)
            note = "no standard error"
            add(Case(name, "dowhy", d.name, target.upper(), run, note=note, reset=reset))

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

    cases += dml_cases(d, quick)
    return cases


def dml_cases(d: Design, quick: bool) -> list[Case]:
    """DML (PLR, IRM) with the shared LightGBM learners, raw fit floors, default learners."""
    df = d.frame
    cols = d.roles["covariates"]
    X = df[cols].to_numpy()
    y = df["y"].to_numpy()
    t = df["t"].to_numpy()
    cases: list[Case] = []
    add = cases.append
    reg, clf = _lgbm()
    lgbm_note = f"LGBM settings, {FOLDS} folds"

    for name, structure in (("dml_plr", "plr"), ("dml_irm", "irm")):
        add(
            Case(
                name,
                "raw nuisance fits",
                d.name,
                "ATE",
                raw_nuisance_fits(X, y, t, structure),
                note=f"{structure.upper()} nuisances fitted by hand: {lgbm_note}",
            )
        )
    add(
        Case(
            "dml_irm",
            "raw nuisance fits (DRLearner)",
            d.name,
            "ATE",
            raw_nuisance_fits(X, y, t, "drlearner"),
            note=f"DRLearner's nuisances fitted by hand: {lgbm_note}",
        )
    )
    if cqox_available("dml_plr"):
        add(
            Case(
                "dml_plr",
                "cqox",
                d.name,
                "ATE",
                _cqox(
                    "dml_plr", d, None, outcome_learner=reg, treatment_learner=clf, n_folds=FOLDS
                ),
                note=lgbm_note,
            )
        )
        add(
            Case(
                "dml_plr",
                "cqox (default learners)",
                d.name,
                "ATE",
                _cqox("dml_plr", d, None),
                note="early-stopped LightGBM (LIGHTGBM_DEFAULTS), 5 folds",
            )
        )
    if cqox_available("dml_irm"):
        add(
            Case(
                "dml_irm",
                "cqox",
                d.name,
                "ATE",
                _cqox(
                    "dml_irm", d, "ATE", outcome_learner=reg, propensity_learner=clf, n_folds=FOLDS
                ),
                note=lgbm_note,
            )
        )
        # the same nuisance structure as EconML's DRLearner (one outcome model on
        # (X, T)): run.SAME_METHOD_VARIANTS compares DRLearner with this row
        add(
            Case(
                "dml_irm",
                POOLED_IRM,
                d.name,
                "ATE",
                _cqox(
                    "dml_irm",
                    d,
                    "ATE",
                    outcome_learner=reg,
                    propensity_learner=clf,
                    n_folds=FOLDS,
                    outcome_structure="pooled",
                ),
                note=lgbm_note + "; one outcome model on (X, T), as DRLearner",
            )
        )
        add(
            Case(
                "dml_irm",
                "cqox (default learners)",
                d.name,
                "ATE",
                _cqox("dml_irm", d, "ATE"),
                note="early-stopped LightGBM (LIGHTGBM_DEFAULTS), 5 folds",
            )
        )
    # every library fits the same folds, CQOx's for seed=0 (same LightGBM work: the
    # timings compare the libraries' own work; tests/reference/test_peer_same_folds.py)
    splits = cqox_splits(t)
    if has("doubleml"):
        import doubleml as dml

        data = dml.DoubleMLData(df[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols)

        def dml_plr() -> Result:
            m = dml.DoubleMLPLR(data, reg, clf, n_folds=FOLDS, draw_sample_splitting=False)
            m.set_sample_splitting(splits)
            m.fit()
            return {"estimate": float(m.coef[0]), "se": float(m.se[0])}

        def dml_irm() -> Result:
            m = dml.DoubleMLIRM(data, reg, clf, n_folds=FOLDS, draw_sample_splitting=False)
            m.set_sample_splitting(splits)
            m.fit()
            return {"estimate": float(m.coef[0]), "se": float(m.se[0])}

        add(Case("dml_plr", "doubleml", d.name, "ATE", dml_plr, note=lgbm_note))
        add(Case("dml_irm", "doubleml", d.name, "ATE", dml_irm, note=lgbm_note))
    if has("econml"):
        from econml.dml import LinearDML
        from econml.dr import DRLearner

        def econ_dml() -> Result:
            m = LinearDML(
                model_y=reg, model_t=clf, discrete_treatment=True, cv=splits, random_state=0
            )
            m.fit(y, t, X=None, W=X)
            lo, hi = m.ate_interval()
            return {"estimate": float(m.ate()), "ci": [float(lo), float(hi)]}

        def econ_dr() -> Result:
            m = DRLearner(model_propensity=clf, model_regression=reg, cv=splits, random_state=0)
            m.fit(y, t, X=X[:, :5], W=X[:, 5:])
            res = m.ate_inference(X=X[:, :5])
            lo, hi = res.conf_int_mean()
            return {
                "estimate": float(res.mean_point),
                "ci": [float(lo), float(hi)],
                "tau_hat": m.effect(X[:, :5]),
            }

        add(Case("dml_plr", "econml LinearDML", d.name, "ATE", econ_dml, note=lgbm_note))
        add(
            Case(
                "dml_irm",
                "econml DRLearner",
                d.name,
                "ATE",
                econ_dr,
                note=lgbm_note + "; linear final stage in x1…x5 gives τ(x) (PEHE)",
            )
        )
    for c in cases:  # timed interleaved, so that load changes hit every library alike
        c.group = "dml"
    return cases


def _dowhy(
    df: Any, cols: list[str], method: str, target: str
) -> tuple[Callable[[], Result], Callable[[], None]]:
    """DoWhy's ``estimate_effect`` (timed) and the reset to run before each timed run.

    DoWhy's propensity estimators write their score (and weights) into the model's
    table, which is the caller's frame, and skip the propensity fit whenever a
    ``propensity_score`` column is already there: every later run (and every later
    propensity method, and every other library given this frame) would use the first
    run's score.  The reset, outside the clock, removes the added columns, so that each
    timed run fits its own propensity model as every other library does.
    """
    import logging

    from dowhy import CausalModel

    # DoWhy logs every estimation at INFO once another library configures logging
    logging.getLogger("dowhy").setLevel(logging.WARNING)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(data=df, treatment="t", outcome="y", common_causes=cols)
        # the maximal adjustment set is the 50 covariates, as the default search finds,
        # without DoWhy's enumeration of candidate sets (35 s with 50 covariates)
        estimand = model.identify_effect(
            proceed_when_unidentifiable=True, method_name="maximal-adjustment"
        )

    columns = set(df.columns)

    def run() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = model.estimate_effect(estimand, method_name=method, target_units=target)
        return {"estimate": float(est.value)}

    def reset() -> None:
        for c in [c for c in df.columns if c not in columns]:
            del df[c]  # in place: the model holds this very frame

    reset()
    return run, reset


def iv_cases(d: Design, quick: bool) -> list[Case]:
    """2SLS and LIML: CQOx vs linearmodels (robust HC0 covariance in both)."""
    cases: list[Case] = []
    for name in ("iv_2sls", "iv_liml"):
        if cqox_available(name):
            cases.append(
                Case(
                    name,
                    "cqox",
                    d.name,
                    "LATE",
                    _cqox(name, d, se_method="robust"),
                    note="with first-stage F, effective F, AR set, Wu–Hausman",
                    reset=iv_cold,
                )
            )
    if has("linearmodels"):
        from linearmodels.iv import IV2SLS, IVLIML

        df = d.frame
        exog = df[d.roles["covariates"]].assign(const=1.0)

        def lm(cls: Any) -> Callable[[], Result]:
            def run() -> Result:
                r = cls(df["y"], exog, df[["d"]], df[["z"]]).fit(cov_type="robust", debiased=False)
                return {"estimate": float(r.params["d"]), "se": float(r.std_errors["d"])}

            return run

        cases.append(Case("iv_2sls", "linearmodels", d.name, "LATE", lm(IV2SLS)))
        cases.append(Case("iv_liml", "linearmodels", d.name, "LATE", lm(IVLIML)))
    return cases


def rd_cases(d: Design, quick: bool) -> list[Case]:
    """Local-linear RD with robust bias-corrected inference: CQOx vs rdrobust."""
    cases: list[Case] = []
    if cqox_available("rd"):
        cases.append(
            Case("rd", "cqox", d.name, "LATE", _cqox("rd", d, gates=False), note="gates off")
        )
        cases.append(
            Case(
                "rd",
                "cqox (with gates)",
                d.name,
                "LATE",
                _cqox("rd", d),
                note="plus density, placebo-cutoff and donut gates",
            )
        )
    if has("rdrobust"):
        from rdrobust import rdrobust

        df = d.frame

        def run() -> Result:
            r = rdrobust(y=df["y"].to_numpy(), x=df["x"].to_numpy(), c=0.0)
            return {
                "estimate": float(r.coef.iloc[0, 0]),
                "ci": [float(r.ci.iloc[2, 0]), float(r.ci.iloc[2, 1])],
            }

        cases.append(Case("rd", "rdrobust", d.name, "LATE", run, note="robust CI"))
    return cases


def did_cases(d: Design, quick: bool) -> list[Case]:
    """Staggered DiD: CQOx did_cs / did_twfe vs csdid, pyfixest, linearmodels."""
    cases: list[Case] = []
    df = d.frame
    if cqox_available("did_cs"):
        cases.append(
            Case(
                "did_cs",
                "cqox",
                d.name,
                "ATT",
                _cqox("did_cs", d),
                note="DR, never treated, group aggregation, analytic SE + 999-draw uniform band",
            )
        )
    if cqox_available("did_twfe"):
        cases.append(
            Case(
                "did_twfe",
                "cqox",
                d.name,
                "ATT",
                _cqox("did_twfe", d),
                note="plus Bacon decomposition; TWFE is biased under dynamic effects",
            )
        )
    if cqox_available("panel_match"):
        cases.append(
            Case(
                "panel_match",
                "cqox",
                d.name,
                "ATT_lead0",
                _cqox("panel_match", d, None, lags=PANEL_MATCH_LAGS),
                note=f"L = {PANEL_MATCH_LAGS} lags, lead 0, Mahalanobis refinement, 1,000 "
                "bootstrap draws; no Python peer (PanelMatch is an R package)",
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

        cases.append(Case("did_cs", "csdid", d.name, "ATT", cs, note="DR, never treated"))
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


def did_2x2_cases(d: Design, quick: bool) -> list[Case]:
    """2x2 DiD (one cohort vs never treated, pre/post): CQOx vs statsmodels OLS, CR1."""
    cases: list[Case] = []
    df = d.frame
    post = d.extra["post_period"]
    if cqox_available("did_2x2"):
        cases.append(Case("did_2x2", "cqox", d.name, "ATT", _cqox("did_2x2", d)))
    if has("statsmodels"):
        import statsmodels.api as sm_api

        def sm() -> Result:
            g = (df.groupby("unit")["d"].transform("max") > 0).to_numpy(float)
            p = (df["time"].to_numpy() >= post).astype(float)
            Z = np.column_stack([np.ones(len(g)), g, p, g * p])
            r = sm_api.OLS(df["y"].to_numpy(), Z).fit(
                cov_type="cluster", cov_kwds={"groups": df["unit"].to_numpy()}
            )
            return {"estimate": float(r.params[3]), "se": float(r.bse[3])}

        cases.append(
            Case("did_2x2", "statsmodels", d.name, "ATT", sm, note="OLS G×Post, cluster=unit")
        )
    return cases


def iv_cold() -> None:
    """Forget the critical values ``iv`` keeps per level, so each timed run pays them."""
    from cqox.estimators.iv.diagnostics import clear_caches

    clear_caches()


def its_cold() -> None:
    """Forget what ``its`` keeps per design, so each timed run costs a first call."""
    from cqox.estimators.its.two_segments import clear_caches

    clear_caches()


def its_cases(d: Design, quick: bool) -> list[Case]:
    """Segmented regression with Newey–West SEs: CQOx its vs statsmodels OLS HAC."""
    cases: list[Case] = []
    df = d.frame
    t0 = d.extra["interruption"]
    n = len(df)
    lag = math.floor(4 * (n / 100) ** (2 / 9))
    if cqox_available("its"):
        cases.append(
            Case(
                "its",
                "cqox",
                d.name,
                "level_change",
                _cqox("its", d, "level_change", interruption=t0, hac_lag=lag, se_method="normal"),
                note=f"HAC lag {lag}, normal critical values as statsmodels (the default "
                "EWC interval is in docs/accuracy.md)",
                reset=its_cold,
            )
        )
    if has("statsmodels"):
        import statsmodels.api as sm_api

        def sm() -> Result:
            s = np.arange(n, dtype=float)
            D = (s >= t0).astype(float)
            Z = np.column_stack([np.ones(n), s - t0, D, (s - t0) * D])
            r = sm_api.OLS(df["y"].to_numpy(), Z).fit(cov_type="HAC", cov_kwds={"maxlags": lag})
            return {"estimate": float(r.params[2]), "se": float(r.bse[2])}

        cases.append(
            Case("its", "statsmodels", d.name, "level_change", sm, note=f"OLS HAC lag {lag}")
        )
    return cases


def synth_cases(d: Design, quick: bool) -> list[Case]:
    """Synthetic control: CQOx synth vs pysyncon on the same predictors and nested V."""
    cases: list[Case] = []
    t0 = d.extra["treatment_time"]
    treated = d.extra["treated_unit"]
    df = d.frame
    pre = list(range(1, t0))
    post = list(range(t0, int(df["time"].max()) + 1))
    note = "4 block-mean outcome predictors, nested V, no placebos"
    if cqox_available("synth"):
        cases.append(
            Case(
                "synth",
                "cqox",
                d.name,
                "ATT",
                _cqox(
                    "synth",
                    d,
                    None,
                    treated_unit=treated,
                    treatment_time=t0,
                    special_predictors=[("y", f"{a}:{b}") for a, b in SYNTH_BLOCKS],
                    optimization_window=f"{pre[0]}:{pre[-1]}",
                    placebo=False,
                    leave_one_out=False,
                ),
                note=note,
            )
        )
    if has("pysyncon"):
        from pysyncon import Dataprep, Synth

        donors = sorted(set(df["unit"]) - {treated})

        def run() -> Result:
            prep = Dataprep(
                foo=df,
                predictors=[],
                predictors_op="mean",
                dependent="y",
                unit_variable="unit",
                time_variable="time",
                treatment_identifier=treated,
                controls_identifier=donors,
                time_predictors_prior=pre,
                special_predictors=[("y", list(range(a, b + 1)), "mean") for a, b in SYNTH_BLOCKS],
                time_optimize_ssr=pre,
            )
            s = Synth()
            s.fit(dataprep=prep)
            return {"estimate": float(s.att(time_period=post)["att"])}

        cases.append(Case("synth", "pysyncon", d.name, "ATT", run, note=note))
    return cases
