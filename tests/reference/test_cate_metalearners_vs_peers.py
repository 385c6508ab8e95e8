"""Meta-learners against CausalML and EconML with identical learners.

S, T and X: predictions for new rows come from models fitted on all rows, exactly as
the peers fit them, so with the same deterministic learners the CATE predictions are
equal to floating-point order.  DR and R: the peers draw their own folds (and EconML's
DR-learner fits one outcome model on ``[X, T]``), so the linear final stages are
compared within a tolerance set by the sampling noise of the nuisances.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import cqox
from cqox.simulate.dml import make_irm_heterogeneous
from tests.reference.golden import CAUSALML, ECONML

pytestmark = pytest.mark.reference

#: Same rows, same learners, same layout of the features: only summation order differs.
EXACT_RTOL = 1e-8
#: DR/R with linear final stages against the peers' own folds and nuisances: the
#: coefficients differ by the fold-to-fold noise of the nuisances, a fraction of
#: their standard errors (measured: < 0.25 SE at n = 4000).
COEF_TOL_IN_SE = 0.5

COVS = [f"x{j}" for j in range(1, 6)]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    df, _ = make_irm_heterogeneous(n=1500, p=5, seed=3)
    new, _ = make_irm_heterogeneous(n=200, p=5, seed=4)
    return df, new


def _gbr() -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return df[COVS].to_numpy(), df["t"].to_numpy(), df["y"].to_numpy()


def _ours(name: str, df: pd.DataFrame, new: pd.DataFrame, **params: object) -> np.ndarray:
    est = cqox.estimate(name, df, outcome="y", treatment="t", covariates=COVS, seed=1, **params)
    return est.effects(new)["cate"].to_numpy()


def test_s_learner_equals_causalml(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    df, new = data
    X, t, y = _arrays(df)

    def fit() -> dict[str, np.ndarray]:
        from causalml.inference.meta import BaseSRegressor

        peer = BaseSRegressor(learner=_gbr()).fit(X, treatment=t, y=y)
        return {"cate": np.asarray(peer.predict(new[COVS].to_numpy())).ravel()}

    want = np.asarray(CAUSALML.outputs("cate/s-learner-gbr", fit)["cate"])
    got = _ours("s_learner", df, new, learner="linear", outcome_learner=_gbr())
    np.testing.assert_allclose(got, want, rtol=EXACT_RTOL, atol=1e-10)


def test_s_learner_equals_econml_with_linear_model(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    df, new = data
    X, t, y = _arrays(df)

    def fit() -> dict[str, np.ndarray]:
        from econml.metalearners import SLearner

        peer = SLearner(overall_model=LinearRegression()).fit(y, t, X=X)
        return {"cate": peer.effect(new[COVS].to_numpy())}

    want = np.asarray(ECONML.outputs("cate/s-learner-linear", fit)["cate"])
    got = _ours("s_learner", df, new, learner="linear", outcome_learner=LinearRegression())
    np.testing.assert_allclose(got, want, rtol=EXACT_RTOL, atol=1e-10)


@pytest.mark.parametrize("peer_name", ["causalml", "econml"])
def test_t_learner_equals_peers(data: tuple[pd.DataFrame, pd.DataFrame], peer_name: str) -> None:
    df, new = data
    X, t, y = _arrays(df)
    Xn = new[COVS].to_numpy()

    def fit() -> dict[str, np.ndarray]:
        if peer_name == "causalml":
            from causalml.inference.meta import BaseTRegressor

            peer = BaseTRegressor(learner=_gbr()).fit(X, treatment=t, y=y)
            return {"cate": np.asarray(peer.predict(Xn)).ravel()}
        from econml.metalearners import TLearner

        return {"cate": TLearner(models=_gbr()).fit(y, t, X=X).effect(Xn)}

    peer = CAUSALML if peer_name == "causalml" else ECONML
    want = np.asarray(peer.outputs("cate/t-learner-gbr", fit)["cate"])
    got = _ours("t_learner", df, new, learner="linear", outcome_learner=_gbr())
    np.testing.assert_allclose(got, want, rtol=EXACT_RTOL, atol=1e-10)


@pytest.mark.parametrize("peer_name", ["causalml", "econml"])
def test_x_learner_equals_peers(data: tuple[pd.DataFrame, pd.DataFrame], peer_name: str) -> None:
    df, new = data
    X, t, y = _arrays(df)
    Xn = new[COVS].to_numpy()
    logit = LogisticRegression(C=1e6, max_iter=2000)
    e_new = logit.fit(X, t).predict_proba(Xn)[:, 1]

    def fit() -> dict[str, np.ndarray]:
        if peer_name == "causalml":
            from causalml.inference.meta import BaseXRegressor

            m = BaseXRegressor(learner=_gbr()).fit(X, treatment=t, y=y, p=np.full(len(y), 0.5))
            return {"cate": np.asarray(m.predict(Xn, p=e_new)).ravel()}
        from econml.metalearners import XLearner

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = XLearner(models=_gbr(), propensity_model=logit).fit(y, t, X=X)
        return {"cate": m.effect(Xn)}

    peer = CAUSALML if peer_name == "causalml" else ECONML
    want = np.asarray(peer.outputs("cate/x-learner-gbr", fit)["cate"])
    got = _ours(
        "x_learner",
        df,
        new,
        learner="linear",
        outcome_learner=_gbr(),
        final_learner=_gbr(),
        propensity_learner=logit,
    )
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def _linear_coefs(name: str, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    est = cqox.estimate(
        name,
        df,
        outcome="y",
        treatment="t",
        covariates=COVS,
        seed=1,
        learner="linear",
        outcome_learner=_gbr(),
        propensity_learner=LogisticRegression(C=1e6, max_iter=2000),
        final_learner="linear",
        propensity_calibration="none",
    )
    d = est.diagnostics
    return np.asarray(d["final_coef"]), np.asarray(d["final_coef_se"])


def test_dr_learner_linear_final_close_to_econml() -> None:
    df, _ = make_irm_heterogeneous(n=4000, p=5, seed=5)
    X, t, y = _arrays(df)

    def fit() -> dict[str, np.ndarray]:
        from econml.dr import LinearDRLearner

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = LinearDRLearner(
                model_regression=_gbr(),
                model_propensity=LogisticRegression(C=1e6, max_iter=2000),
                cv=5,
                random_state=0,
                min_propensity=0.01,
            ).fit(y, t, X=X)
        return {"coef": np.concatenate([[peer.intercept_(T=1)], peer.coef_(T=1)])}

    want = np.asarray(ECONML.outputs("cate/linear-dr-learner", fit)["coef"])
    got, se = _linear_coefs("dr_learner", df)
    assert np.all(np.abs(got - want) < COEF_TOL_IN_SE * se), (got, want, se)


def test_r_learner_linear_final_close_to_econml_linear_dml() -> None:
    df, _ = make_irm_heterogeneous(n=4000, p=5, seed=6)
    X, t, y = _arrays(df)

    def fit() -> dict[str, np.ndarray]:
        from econml.dml import LinearDML

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = LinearDML(
                model_y=_gbr(),
                model_t=LogisticRegression(C=1e6, max_iter=2000),
                discrete_treatment=True,
                cv=5,
                random_state=0,
            ).fit(y, t, X=X)
        return {"coef": np.concatenate([[peer.intercept_], peer.coef_])}

    want = np.asarray(ECONML.outputs("cate/linear-dml", fit)["coef"])
    got, se = _linear_coefs("r_learner", df)
    assert np.all(np.abs(got - want) < COEF_TOL_IN_SE * se), (got, want, se)
