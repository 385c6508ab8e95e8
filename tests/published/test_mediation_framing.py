"""The framing experiment (Brader, Valentino & Suhay 2008) through ``mediation``.

Data: ``framing.csv`` (265 respondents; ../shared/datasets/README.md §12), the example
of the R ``mediation`` vignette (Tingley et al. 2014, *JSS* 59(5),
doi:10.18637/jss.v059.i05)::

    med.fit <- lm(emo ~ treat + age + educ + gender + income, data = framing)
    out.fit <- glm(cong_mesg ~ emo + treat + age + educ + gender + income,
                   data = framing, family = binomial("probit"))
    med.out <- mediate(med.fit, out.fit, treat = "treat", mediator = "emo",
                       robustSE = TRUE, sims = 100)

What is reproduced, and how precisely:

- **R vignette (verified; seed 2014, 100 draws, robust SEs):** ACME (control) 0.0791,
  CI [0.0351, 0.15]; ACME (treated) 0.0804, CI [0.0367, 0.16]; ADE (control) 0.0206;
  total effect ≈ 0.10; proportion mediated ≈ 0.8.  R's printed numbers are means
  (and percentiles) of 100 Monte-Carlo draws, so their last digits are simulation noise:
  a mean of 100 draws with SD ``s`` is off its limit by ``s/10`` (1 SD), and the 2.5 %
  percentile of 100 draws by about ``sqrt(0.025·0.975/100)/φ(1.96)·s ≈ 0.27 s``.  We
  run 20,000 draws (near the limit) and require R's numbers within ``MC_MULTIPLE`` of
  those Monte-Carlo errors; the rounded headline numbers (ACME ≈ 0.08, total ≈ 0.10
  → 0.1, PM ≈ 0.8) are reproduced at their printed precision.
- **statsmodels ``Mediation`` (recomputed, 1,000 draws, classical covariance):**
  ACME (control) 0.0823, ACME (treated) 0.0827, ADE (control) 0.0131, total 0.0958,
  PM 0.80 — compared with ``se_method="unadjusted"`` within the Monte-Carlo error of a
  1,000-draw mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path

#: |ours − published| ≤ 4 Monte-Carlo standard errors (a false alarm below 1e-4 each).
MC_MULTIPLE = 4.0
N_DRAWS = 20_000
R_SIMS = 100
SM_SIMS = 1000
#: Monte-Carlo SE of the 2.5 %/97.5 % percentile of ``R_SIMS`` normal draws, in units of
#: their SD: sqrt(p(1 − p)/S)/φ(z_p) = sqrt(0.025·0.975/100)/0.0584.
R_PERCENTILE_MC_SD = float(np.sqrt(0.025 * 0.975 / R_SIMS) / 0.05844)

R_VIGNETTE = {
    "NIE_control": 0.0791,
    "NIE_treated": 0.0804,
    "NDE_control": 0.0206,
}
R_CI = {"NIE_control": (0.0351, 0.15), "NIE_treated": (0.0367, 0.16)}
STATSMODELS_1000 = {
    "NIE_control": 0.0823,
    "NIE_treated": 0.0827,
    "NDE_control": 0.0131,
    "TE": 0.0958,
}
#: statsmodels draws the mediator under each arm with its own error, so its per-draw
#: effects spread more than ours: its SDs, measured on this file (200 draws), are used
#: for its Monte-Carlo error.
STATSMODELS_SD = {"NIE_control": 0.032, "NIE_treated": 0.032, "NDE_control": 0.060, "TE": 0.069}


def _fit(se_method: str) -> pd.DataFrame:
    df = pd.read_csv(dataset_path("framing.csv"))
    est = cqox.estimate(
        "mediation",
        df,
        outcome="cong_mesg",
        treatment="treat",
        mediator="emo",
        covariates=["age", "educ", "gender", "income"],
        outcome_model="probit",
        mediator_model="linear",
        se_method=se_method,
        n_draws=N_DRAWS,
        seed=2014,
    )
    assert est.estimand == "NIE" and est.n == 265
    return est.tables["effects"].set_index("effect")


@pytest.fixture(scope="module")
def robust() -> pd.DataFrame:
    return _fit("hc3")


@pytest.fixture(scope="module")
def classical() -> pd.DataFrame:
    return _fit("unadjusted")


@pytest.mark.parametrize("effect", sorted(R_VIGNETTE))
def test_r_vignette_effects_within_its_monte_carlo_error(robust: pd.DataFrame, effect: str) -> None:
    ours, sd = robust.loc[effect, "estimate"], robust.loc[effect, "se"]
    mc_se = sd * np.sqrt(1 / R_SIMS + 1 / N_DRAWS)
    assert abs(ours - R_VIGNETTE[effect]) <= MC_MULTIPLE * mc_se


@pytest.mark.parametrize("effect", sorted(R_CI))
def test_r_vignette_intervals_within_their_monte_carlo_error(
    robust: pd.DataFrame, effect: str
) -> None:
    sd = robust.loc[effect, "se"]
    tol = MC_MULTIPLE * R_PERCENTILE_MC_SD * sd
    lo, hi = R_CI[effect]
    assert abs(robust.loc[effect, "ci_low"] - lo) <= tol
    # R prints the upper ends to two digits (0.15, 0.16): add half a unit of rounding
    assert abs(robust.loc[effect, "ci_high"] - hi) <= tol + 0.005


def test_r_vignette_headline_numbers_at_their_printed_precision(robust: pd.DataFrame) -> None:
    assert round(robust.loc["NIE_control", "estimate"], 2) == 0.08
    assert round(robust.loc["NIE_treated", "estimate"], 2) == 0.08
    assert round(robust.loc["TE", "estimate"], 1) == 0.1
    assert round(robust.loc["PM", "estimate"], 1) == 0.8
    # the ACMEs are significant, the ADE is not (as in the vignette)
    assert robust.loc["NIE", "ci_low"] > 0 and robust.loc["NDE", "ci_low"] < 0


@pytest.mark.parametrize("effect", sorted(STATSMODELS_1000))
def test_statsmodels_recomputed_effects_within_monte_carlo_error(
    classical: pd.DataFrame, effect: str
) -> None:
    mc_se = np.sqrt(
        STATSMODELS_SD[effect] ** 2 / SM_SIMS + classical.loc[effect, "se"] ** 2 / N_DRAWS
    )
    # statsmodels prints 4 decimals: half a unit of rounding on top
    assert abs(classical.loc[effect, "estimate"] - STATSMODELS_1000[effect]) <= (
        MC_MULTIPLE * mc_se + 5e-5
    )
    assert round(classical.loc["PM", "estimate"], 2) == pytest.approx(0.80, abs=0.02)
