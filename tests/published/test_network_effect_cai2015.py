"""A published network-effect analysis reproduced on its shipped data (issue #13).

Cai, de Janvry & Sadoulet (2015, "Social networks and the decision to insure", *AEJ:
Applied Economics* 7(2):81–108, doi:10.1257/app.20130442) ran a randomized experiment in
rural China: farmers were invited to information sessions about a new weather
insurance in two rounds, and the first-round sessions were randomly given a default
option (buy unless one opts out, or the reverse).  For a second-round farmer, the
take-up rate among friends invited to the first round (``pre_takeup_rate``) is the
network exposure; it is endogenous, and the randomized default of those friends'
sessions (``default``) is its instrument.  The two-stage least-squares coefficient of
``takeup_survey`` on ``pre_takeup_rate`` with household controls and administrative-
village fixed effects, clustered by natural village (``address``), is the spillover of
friends' purchases on one's own: **0.791**, the paper's default-option IV regression as
Huntington-Klein's *The Effect* (2021, ch. 19) reproduces it on the same file with
``fixest::feols(... | factor(village) | pre_takeup_rate ~ default, cluster = ~address)``
(the table of the journal article itself could not be consulted offline when this test
was written; the number is the textbook's replication of it).  The data ship with CQOx (``cqox.datasets.load("social_insure")``,
MIT-licensed copy from ``causaldata`` 0.1.5; see src/cqox/datasets/LICENSES.md).
"""

from __future__ import annotations

import warnings

import pytest

import cqox
from cqox import datasets

pytestmark = pytest.mark.published

#: The published coefficient, printed to three decimals: half of the last digit.
PUBLISHED = 0.791
HALF_LAST_DIGIT_3DP = 5e-4
#: pyfixest 0.60 ``feols`` on this file with ``vcov={"CRV1": "address"}`` (fixest's
#: small-sample factor G/(G−1)·(n−1)/(n−k)); recomputed here, not a published number.
FIXEST_SE = 0.273127
FIXEST_RTOL = 1e-5


def fit(**params: object) -> cqox.Estimate:
    info = datasets.describe("social_insure")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cqox.estimate("iv_2sls", datasets.load("social_insure"), **info.roles, **params)


def test_network_effect_of_friends_takeup_matches_the_paper() -> None:
    est = fit()
    assert abs(est.estimate - PUBLISHED) < HALF_LAST_DIGIT_3DP, est.estimate
    # complete cases of the regression: 32 of the 1,410 households lack a control
    assert est.n == 1378
    assert est.diagnostics["n_clusters"] == 166
    # the default option moves friends' take-up (the first stage: +0.118, F ≈ 12)
    first = est.diagnostics["first_stage"]["pre_takeup_rate"]
    assert first["coef"]["default"] > 0
    assert first["f"]["statistic"] > 10


def test_clustered_se_matches_fixest_with_its_small_sample_factor() -> None:
    est = fit(debiased=True)
    assert est.se == pytest.approx(FIXEST_SE, rel=FIXEST_RTOL)
    assert est.ci[0] > 0  # the spillover is significant, as published
