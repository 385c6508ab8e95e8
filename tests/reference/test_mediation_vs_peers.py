"""Mediation against its peers on the same data.

- **DoWhy** ``mediation.two_stage_regression`` (0.14; ``nonparametric-nie`` and
  ``-nde`` estimands, linear first and second stages): for a linear mediator and a
  linear outcome without interaction the NIE is the product ``β2·γ`` of the
  treatment's coefficient in the mediator model and the mediator's in the outcome
  model, and the NDE the treatment's coefficient ``β3`` in the outcome model.  The
  plug-in products must agree to numerical precision; the quasi-Bayesian means (of
  independent normal draws, unbiased for ``β2·γ``) within Monte-Carlo error.
- **statsmodels** ``Mediation`` (0.15, ``method="parameter"``): the same algorithm with
  the classical covariance (our ``se_method="unadjusted"``) on the ``framing`` data
  (linear mediator, probit outcome); both are Monte-Carlo means of the same
  quantities, compared within ``MC_MULTIPLE`` Monte-Carlo standard errors (a ``slow``
  study: statsmodels needs ~0.25 s per replicate; its published 1,000-draw numbers are
  checked by ``tests/published/test_mediation_framing.py`` in the default run).
- **HC3 covariance** of the drawn coefficients against statsmodels ``OLS(cov_type="HC3")``
  and against a GLM twin built from statsmodels' IWLS leverages (R ``sandwich::vcovHC``).
- **Cross-fitted scores** against a hand-written twin (scikit-learn OLS and unpenalised
  logistic regression, the same folds and nested splits).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.data.prepare import prepare
from cqox.estimators.mediation.crossfit import mediation_scores
from cqox.estimators.mediation.models import fit_model
from cqox.nuisance.crossfit import fold_ids
from cqox.simulate.mediation import mediation_linear
from tests.conftest import dataset_path
from tests.reference.golden import DOWHY, STATSMODELS

#: Plug-in products of OLS coefficients (QR vs statsmodels' pinv): rounding only.
PLUGIN_RTOL = 1e-9
#: Monte-Carlo agreement: |a − b| ≤ 4 · MC standard error (false alarm below 1e-4).
MC_MULTIPLE = 4.0
#: Covariance matrices computed by different linear algebra: rounding only.
VCOV_RTOL = 1e-7
#: Our logistic MLE (Newton, 1e-10 step tolerance) vs scikit-learn's lbfgs (tol 1e-10):
#: predictions agree to ~1e-6, the scores' means to a few 1e-6.
TWIN_ATOL = 1e-5

COVS = ["x1", "x2", "x3"]
N_DRAWS = 4000


@pytest.fixture(scope="module")
def linear_data() -> pd.DataFrame:
    df, _ = mediation_linear(n=1500, seed=21)
    return df


def _dowhy_effects(df: pd.DataFrame) -> dict[str, float]:
    from dowhy import CausalModel
    from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator

    logging.getLogger("dowhy").setLevel(logging.ERROR)
    # every covariate causes T, M and Y, so both stages adjust for all of them (as ours)
    edges = " ".join(f"{x}->t; {x}->m; {x}->y;" for x in COVS)
    graph = "digraph{t->m; m->y; t->y; " + edges + "}"
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalModel(
            data=df.assign(t=df["t"].astype(bool)), treatment="t", outcome="y", graph=graph
        )
        for kind, key in (("nonparametric-nie", "NIE"), ("nonparametric-nde", "NDE")):
            ident = model.identify_effect(estimand_type=kind, proceed_when_unidentifiable=True)
            est = model.estimate_effect(
                ident,
                method_name="mediation.two_stage_regression",
                confidence_intervals=False,
                test_significance=False,
                method_params={
                    "first_stage_model": LinearRegressionEstimator,
                    "second_stage_model": LinearRegressionEstimator,
                },
            )
            out[key] = float(est.value)
    return out


def test_linear_plug_in_effects_equal_dowhys_two_stage_regression(
    linear_data: pd.DataFrame,
) -> None:
    theirs = DOWHY.outputs(
        "mediation/two-stage-linear-n1500-seed21", lambda: _dowhy_effects(linear_data)
    )
    est = cqox.estimate(
        "mediation",
        linear_data,
        outcome="y",
        treatment="t",
        mediator="m",
        covariates=COVS,
        n_draws=100,
        seed=1,
    )
    assert est.diagnostics["plug_in_NIE_linear"] == pytest.approx(theirs["NIE"], rel=PLUGIN_RTOL)
    assert est.diagnostics["outcome_coef_treatment"] == pytest.approx(
        theirs["NDE"], rel=PLUGIN_RTOL
    )


@pytest.mark.parametrize("estimand", ["NIE", "NDE"])
def test_quasi_bayesian_means_agree_with_dowhy_within_monte_carlo_error(
    linear_data: pd.DataFrame, estimand: str
) -> None:
    theirs = DOWHY.outputs(
        "mediation/two-stage-linear-n1500-seed21", lambda: _dowhy_effects(linear_data)
    )
    est = cqox.estimate(
        "mediation",
        linear_data,
        outcome="y",
        treatment="t",
        mediator="m",
        covariates=COVS,
        estimand=estimand,
        n_draws=N_DRAWS,
        seed=2,
    )
    mc_se = est.se / np.sqrt(N_DRAWS)
    assert abs(est.estimate - theirs[estimand]) <= MC_MULTIPLE * mc_se


def _framing() -> pd.DataFrame:
    return pd.read_csv(dataset_path("framing.csv"))


def _statsmodels_framing(n_rep: int) -> dict[str, list[float]]:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.stats.mediation import Mediation

    df = _framing()
    med = smf.ols("emo ~ treat + age + educ + gender + income", data=df)
    out = smf.glm(
        "cong_mesg ~ emo + treat + age + educ + gender + income",
        data=df,
        family=sm.families.Binomial(link=sm.families.links.Probit()),
    )
    np.random.seed(4231)  # noqa: NPY002 (statsmodels draws from NumPy's global state)
    res = Mediation(out, med, "treat", "emo").fit(method="parameter", n_rep=n_rep)
    return {
        "NIE_control": [float(res.ACME_ctrl.mean()), float(res.ACME_ctrl.std(ddof=1))],
        "NIE_treated": [float(res.ACME_tx.mean()), float(res.ACME_tx.std(ddof=1))],
        "NDE_control": [float(res.ADE_ctrl.mean()), float(res.ADE_ctrl.std(ddof=1))],
        "NDE_treated": [float(res.ADE_tx.mean()), float(res.ADE_tx.std(ddof=1))],
        "TE": [float(res.total_effect.mean()), float(res.total_effect.std(ddof=1))],
    }


#: statsmodels refits nothing but predicts through its model objects per replicate:
#: ~0.25 s each on a shared core, so the live comparison is a slow study.
SM_REPS = 1000


@pytest.fixture(scope="module")
def framing_pair() -> tuple[dict[str, list[float]], pd.DataFrame]:
    theirs = STATSMODELS.outputs(
        f"mediation/framing-parameter-nrep{SM_REPS}", lambda: _statsmodels_framing(SM_REPS)
    )
    est = cqox.estimate(
        "mediation",
        _framing(),
        outcome="cong_mesg",
        treatment="treat",
        mediator="emo",
        covariates=["age", "educ", "gender", "income"],
        outcome_model="probit",
        se_method="unadjusted",
        n_draws=N_DRAWS,
        seed=3,
    )
    return theirs, est.tables["effects"].set_index("effect")


@pytest.mark.slow
@pytest.mark.parametrize(
    "effect", ["NIE_control", "NIE_treated", "NDE_control", "NDE_treated", "TE"]
)
def test_framing_effects_agree_with_statsmodels_mediation(
    framing_pair: tuple[dict[str, list[float]], pd.DataFrame], effect: str
) -> None:
    theirs, ours = framing_pair
    mean, sd = theirs[effect]
    mc_se = np.sqrt(sd**2 / SM_REPS + ours.loc[effect, "se"] ** 2 / N_DRAWS)
    # (the spreads differ: statsmodels draws the mediator under t = 0 and t = 1 with
    # independent errors, R and CQOx with one shared error, so its per-draw effects
    # carry extra simulation noise; the means estimate the same quantity)
    assert abs(ours.loc[effect, "estimate"] - mean) <= MC_MULTIPLE * mc_se


def _framing_design() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    df = _framing()
    roles = Roles.from_mapping(
        {
            "outcome": "cong_mesg",
            "treatment": "treat",
            "covariates": ["age", "educ", "gender", "income"],
        }
    )
    d = prepare(df, roles)
    assert d.y is not None and d.t is not None
    m = df.loc[d.row_index, "emo"].to_numpy(float)
    return d.y, d.t, m, d.X


def test_linear_hc3_covariance_equals_statsmodels() -> None:
    import statsmodels.api as sm

    _, t, m, X = _framing_design()
    Z = np.column_stack([np.ones(len(t)), t, X])
    ours = fit_model(Z, m, "linear", "hc3", "mediator").vcov
    theirs = STATSMODELS.outputs(
        "mediation/framing-ols-hc3", lambda: sm.OLS(m, Z).fit(cov_type="HC3").cov_params()
    )
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=VCOV_RTOL)
    classical = fit_model(Z, m, "linear", "unadjusted", "mediator").vcov
    np.testing.assert_allclose(classical, sm.OLS(m, Z).fit().cov_params(), rtol=VCOV_RTOL)


@pytest.mark.parametrize("family", ["probit", "logistic"])
def test_glm_hc3_covariance_equals_the_sandwich_twin(family: str) -> None:
    """R ``sandwich::vcovHC(glm)``: Fisher bread, score meat with IWLS leverages, HC3."""
    import statsmodels.api as sm

    y, t, m, X = _framing_design()
    Z = np.column_stack([np.ones(len(t)), t, m, X])
    link = sm.families.links.Probit() if family == "probit" else sm.families.links.Logit()
    res = sm.GLM(y, Z, family=sm.families.Binomial(link=link)).fit(tol=1e-12)
    mu = res.fittedvalues
    dmu = 1 / link.deriv(mu)
    w = dmu**2 / (mu * (1 - mu))
    # R's hatvalues.glm: leverages of the IWLS fit (expected information, not observed)
    h = res.get_hat_matrix_diag(observed=False)
    bread = np.linalg.inv((Z * w[:, None]).T @ Z)
    score = Z * ((y - mu) * dmu / (mu * (1 - mu)) / (1 - h))[:, None]
    twin = bread @ score.T @ score @ bread
    ours = fit_model(Z, y, family, "hc3", "outcome")
    np.testing.assert_allclose(ours.coef, res.params, rtol=1e-7)
    np.testing.assert_allclose(ours.vcov, twin, rtol=1e-6)
    classical = fit_model(Z, y, family, "unadjusted", "outcome").vcov
    np.testing.assert_allclose(classical, res.cov_params(), rtol=1e-6)


def _twin_scores(
    y: np.ndarray,
    d: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    folds: np.ndarray,
    rng: np.random.Generator,
    clip: float,
) -> dict[tuple[int, int], np.ndarray]:
    """Farbmacher et al. (2022) eq. (9) written out with scikit-learn models."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    def reg(Xf: np.ndarray, yf: np.ndarray, Xn: np.ndarray) -> np.ndarray:
        return LinearRegression().fit(Xf, yf).predict(Xn)

    def clf(Xf: np.ndarray, yf: np.ndarray, Xn: np.ndarray) -> np.ndarray:
        model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(Xf, yf)
        return model.predict_proba(Xn)[:, 1]

    n = len(y)
    MX = np.column_stack([m, X])
    rng.integers(2**31 - 1)  # the learners' seed (unused by these learners)
    p, pm = np.empty(n), np.empty(n)
    mu_x = {0: np.empty(n), 1: np.empty(n)}
    mu_mx = {0: np.empty(n), 1: np.empty(n)}
    om = {0: np.empty(n), 1: np.empty(n)}
    for k in np.unique(folds):
        te, tr = folds == k, np.flatnonzero(folds != k)
        p[te] = clf(X[tr], d[tr], X[te])
        pm[te] = clf(MX[tr], d[tr], MX[te])
        half = rng.permutation(tr)
        pa, pb = half[: len(half) // 2], half[len(half) // 2 :]
        for a in (0, 1):
            arm = tr[d[tr] == a]
            mu_x[a][te] = reg(X[arm], y[arm], X[te])
            mu_mx[a][te] = reg(MX[arm], y[arm], MX[te])
            a_arm, b_oth = pa[d[pa] == a], pb[d[pb] == 1 - a]
            om[a][te] = reg(X[b_oth], reg(MX[a_arm], y[a_arm], MX[b_oth]), X[te])
    p, pm = np.clip(p, clip, 1 - clip), np.clip(pm, clip, 1 - clip)
    out = {}
    for a in (0, 1):
        on = d == a
        pa = p if a else 1 - p
        pma = pm if a else 1 - pm
        out[a, a] = on * (y - mu_x[a]) / pa + mu_x[a]
        out[a, 1 - a] = (
            on * (1 - pma) / (pma * (1 - pa)) * (y - mu_mx[a])
            + (~on) / (1 - pa) * (mu_mx[a] - om[a])
            + om[a]
        )
    return out


def test_cross_fitted_scores_equal_a_hand_written_twin() -> None:
    df, _ = mediation_linear(n=600, interaction=0.3, seed=8)
    y, d, m = (df[c].to_numpy(float) for c in ("y", "t", "m"))
    X = df[COVS].to_numpy(float)
    folds = fold_ids(len(y), 4, np.random.default_rng(0), d)
    ours = mediation_scores(y, d, m, X, folds, "linear", "linear", 0.01, np.random.default_rng(5))
    twin = _twin_scores(y, d, m, X, folds, np.random.default_rng(5), 0.01)
    for key in twin:
        assert ours.psi[key].mean() == pytest.approx(twin[key].mean(), abs=TWIN_ATOL)
        np.testing.assert_allclose(ours.psi[key], twin[key], atol=50 * TWIN_ATOL)
