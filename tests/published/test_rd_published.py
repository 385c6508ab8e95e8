"""Published RD numbers: the U.S. Senate (README §9) and the minimum drinking age (§10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path
from tests.reference.golden import STATSMODELS

#: README prints rdrobust's output to 4 decimals (estimate, SE) and 3 (CI, h, b).
TOL_4 = 5e-5
TOL_3 = 5e-4
#: Mastering 'Metrics Table 4.1 prints 2 decimals.
TOL_BOOK = 0.005


@pytest.fixture(scope="module")
def senate() -> pd.DataFrame:
    return pd.read_csv(dataset_path("rdrobust_senate.csv"))


@pytest.fixture(scope="module")
def mlda() -> pd.DataFrame:
    return pd.read_csv(dataset_path("mlda_drinking.csv"))


def test_senate_incumbency_advantage_matches_rdrobust_reference(senate: pd.DataFrame) -> None:
    est = cqox.estimate("rd", senate, outcome="vote", roles={"running": "margin", "cutoff": 0})
    d = est.diagnostics
    assert est.estimand == "ATE(c)"
    assert abs(est.estimate - 7.4141) <= TOL_4
    assert abs(est.se - 1.4587) <= TOL_4
    assert abs(d["tau_bias_corrected"] - 7.5065) <= TOL_4
    assert abs(d["se_robust"] - 1.7413) <= TOL_4
    assert abs(est.ci[0] - 4.094) <= TOL_3 and abs(est.ci[1] - 10.919) <= TOL_3
    assert abs(d["ci_conventional"][0] - 4.555) <= TOL_3
    assert abs(d["ci_conventional"][1] - 10.273) <= TOL_3
    assert abs(d["h"][0] - 17.754) <= TOL_3 and abs(d["b"][0] - 28.028) <= TOL_3
    assert (d["n_h_left"], d["n_h_right"]) == (360, 323)
    assert d["n_left"] + d["n_right"] == 1297


def test_senate_design_passes_its_gates(senate: pd.DataFrame) -> None:
    covs = ["presdemvoteshlag1", "demvoteshlag1", "demvoteshlag2", "dopen"]
    est = cqox.estimate(
        "rd", senate, outcome="vote", covariates=covs, roles={"running": "margin", "cutoff": 0}
    )
    # covariates do not change the sample of the estimate
    assert abs(est.estimate - 7.4141) <= TOL_4
    gates = {g.name: g for g in est.gates}
    assert set(gates) == {"density", "covariate_continuity", "placebo_cutoffs", "donut"}
    assert gates["density"].status == "pass"
    assert gates["covariate_continuity"].status == "pass"
    assert len(gates["covariate_continuity"].details["p_values"]) == len(covs)


def test_mlda_quadratic_with_interactions_matches_mastering_metrics(mlda: pd.DataFrame) -> None:
    # Table 4.1, col. 2 "all ~ D*(a + a²)" with HC1 SEs is the separate-quadratics RD:
    # p = 2, a uniform kernel and a bandwidth covering every cell.  The per-side HC1
    # factor 24/21 equals the pooled 48/42 because the cells split 24/24.
    est = cqox.estimate(
        "rd",
        mlda,
        outcome="all",
        roles={"running": "agecell", "cutoff": 21},
        p=2,
        kernel="uniform",
        h=100.0,
        vce="hc1",
    )
    assert (est.diagnostics["n_h_left"], est.diagnostics["n_h_right"]) == (24, 24)
    assert abs(est.estimate - 9.55) <= TOL_BOOK
    assert abs(est.se - 1.83) <= TOL_BOOK


def test_mlda_linear_separate_slopes_equals_ols_with_interaction(mlda: pd.DataFrame) -> None:
    # The book's 7.66 (1.51) uses one common slope, which a local-polynomial RD (separate
    # fits on each side) does not; the separate-slopes OLS "all ~ D*a" (HC1) has the same
    # jump to two decimals and SE 1.27 — checked here against statsmodels.
    est = cqox.estimate(
        "rd",
        mlda,
        outcome="all",
        roles={"running": "agecell", "cutoff": 21},
        p=1,
        kernel="uniform",
        h=100.0,
        vce="hc1",
    )
    d = mlda.assign(D=(mlda["agecell"] >= 21).astype(float), a=mlda["agecell"] - 21)

    def ols() -> list[float]:
        import statsmodels.formula.api as smf

        fit = smf.ols("all ~ D * a", d).fit(cov_type="HC1")
        return [fit.params["D"], fit.bse["D"]]

    coef, se = STATSMODELS.outputs("rd/mlda-separate-slopes-hc1", ols)
    np.testing.assert_allclose(est.estimate, coef, rtol=1e-10)
    np.testing.assert_allclose(est.se, se, rtol=1e-10)
    assert abs(est.estimate - 7.66) <= TOL_BOOK


@pytest.mark.parametrize(("outcome", "jump"), [("mva", 4.53), ("suicide", 1.79)])
def test_mlda_cause_specific_jumps_have_the_books_sign_and_size(
    mlda: pd.DataFrame, outcome: str, jump: float
) -> None:
    # Book (common slope): MVA 4.53, suicide 1.79.  Separate slopes move the jump by less
    # than half its book SE (0.72, 0.50).
    est = cqox.estimate(
        "rd",
        mlda,
        outcome=outcome,
        roles={"running": "agecell", "cutoff": 21},
        p=1,
        kernel="uniform",
        h=100.0,
        vce="hc1",
        gates=False,
    )
    book_se = {"mva": 0.72, "suicide": 0.50}[outcome]
    assert abs(est.estimate - jump) <= 0.5 * book_se
