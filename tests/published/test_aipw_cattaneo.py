"""AIPW reproduces Stata's ``teffects aipw`` on the Cattaneo (2010) birthweight data."""

from __future__ import annotations

import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path

pytestmark = pytest.mark.published

#: Stata's manual specification: probit propensity, linear outcome by arm.
PROPENSITY = "mmarried_ + mage + I(mage**2) + fbaby_ + medu"
OUTCOME = "prenatal1_ + mmarried_ + mage + fbaby_"
#: Stata output (statsmodels results_teffects.py, verified; datasets README §2).
STATA_ATE, STATA_SE, STATA_PO0 = -230.9892, 26.2106, 3403.3553
#: Stata prints 4 decimals; the point estimate must agree to that precision.
POINT_TOL = 1e-4
#: SE agrees with Stata's GMM sandwich to its printed precision (relative 1e-5 ~ 4
#: decimals of 26.2106); the README asks for ~1e-3 relative, we are much closer.
SE_RTOL = 1e-5


@pytest.fixture(scope="module")
def cattaneo() -> pd.DataFrame:
    return pd.read_csv(dataset_path("cattaneo2.csv"))


def test_aipw_ate_matches_stata_teffects(cattaneo: pd.DataFrame) -> None:
    est = cqox.estimate(
        "aipw",
        cattaneo,
        outcome="bweight",
        treatment="mbsmoke_",
        covariates=PROPENSITY,
        link="probit",
        propensity_covariates=PROPENSITY,
        outcome_covariates=OUTCOME,
    )
    assert abs(est.estimate - STATA_ATE) < POINT_TOL
    assert est.se == pytest.approx(STATA_SE, rel=SE_RTOL)
    assert abs(est.diagnostics["mu0"] - STATA_PO0) < POINT_TOL
    assert est.n == 4642


def test_outcome_covariates_outside_the_covariates_role_are_used(cattaneo: pd.DataFrame) -> None:
    # prenatal1_ is only in the outcome model; the covariates role may be omitted
    est = cqox.estimate(
        "aipw",
        cattaneo,
        outcome="bweight",
        treatment="mbsmoke_",
        link="probit",
        propensity_covariates=PROPENSITY,
        outcome_covariates=OUTCOME,
    )
    assert abs(est.estimate - STATA_ATE) < POINT_TOL
    assert est.diagnostics["outcome_covariates"] == ["prenatal1_", "mmarried_", "mage", "fbaby_"]
