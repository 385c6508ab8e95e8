"""The data sets shipped in ``cqox.datasets`` are the published data: each reproduces its
headline number, so the documentation's examples run on the real thing without the
developers' ``shared/`` folder.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cqox
from cqox import datasets
from cqox.errors import ParameterError

#: Published numbers are printed to the last digit shown; half of it is the tolerance.
HALF_LAST_DIGIT_2DP = 0.005
HALF_LAST_DIGIT_4DP = 5e-5
#: RA's influence-function SE divides by n, Welch's by n − 1: they differ by ≈ 1/(2 n_arm).
IF_VS_WELCH_REL = 5e-3


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore")


def test_catalogue_lists_every_file_with_its_shape_and_licence() -> None:
    assert datasets.list() == list(datasets.CATALOG)
    for name in datasets.list():
        df = datasets.load(name)
        info = datasets.describe(name)
        assert df.shape == (info.rows, info.columns), name
        assert info.licence and info.source and info.citation, name
        assert name in str(info)


def test_load_returns_a_fresh_copy() -> None:
    first = datasets.load("lalonde")
    first.loc[0, "re78"] = -1.0
    assert datasets.load("lalonde").loc[0, "re78"] != -1.0


def test_unknown_name_is_refused_with_the_closest_name() -> None:
    with pytest.raises(ParameterError, match=r"'lalond'.*did you mean 'lalonde'"):
        datasets.load("lalond")


def test_lalonde_experimental_benchmark_is_1794() -> None:
    df = datasets.load("lalonde")
    est = cqox.estimate("regression_adjustment", df, outcome="re78", treatment="treat")
    assert (est.n, int(df.treat.sum())) == (445, 185)
    assert abs(est.estimate - 1794.34) <= HALF_LAST_DIGIT_2DP
    # Welch SE 671.0 (Dehejia–Wahba print the homoskedastic 633)
    assert est.se == pytest.approx(671.0, rel=IF_VS_WELCH_REL)


def test_lalonde_cps_raw_difference_is_minus_8498() -> None:
    df = datasets.load("lalonde_cps")
    raw = df.re78[df.treat == 1].mean() - df.re78[df.treat == 0].mean()
    assert (len(df), int(df.treat.sum())) == (16177, 185)
    assert abs(raw - (-8497.5)) <= 0.05


def test_card_2sls_return_to_schooling_is_0132() -> None:
    info = datasets.describe("card")
    est = cqox.estimate("iv_2sls", datasets.load("card"), **info.roles)
    assert est.n == 3010
    assert abs(est.estimate - 0.1315) <= HALF_LAST_DIGIT_4DP
    assert abs(est.se - 0.0540) <= HALF_LAST_DIGIT_4DP  # robust (HC0), as recomputed


def test_castle_weighted_twfe_is_0076_and_first_treated_marks_adoption() -> None:
    df = datasets.load("castle")
    info = datasets.describe("castle")
    est = cqox.estimate("did_twfe", df, **info.roles)
    assert abs(est.estimate - 0.0755) <= HALF_LAST_DIGIT_4DP
    assert abs(est.se - 0.0332) <= HALF_LAST_DIGIT_4DP
    # first_treated is the first year with post > 0 (0 = never), constant within a state
    first = df[df.post > 0].groupby("sid").year.min()
    per_state = df.groupby("sid").first_treated.agg(["min", "max"])
    assert (per_state["min"] == per_state["max"]).all()
    assert per_state["min"].to_dict() == {s: int(first.get(s, 0)) for s in per_state.index}
    assert int((per_state["min"] > 0).sum()) == 21


def test_thornton_any_incentive_raises_learning_by_045() -> None:
    est = cqox.estimate(
        "regression_adjustment", datasets.load("thornton_hiv"), outcome="got", treatment="any"
    )
    assert est.n == 2834
    assert abs(est.estimate - 0.4506) <= HALF_LAST_DIGIT_4DP
    assert abs(est.se - 0.0209) <= HALF_LAST_DIGIT_4DP


def test_mlda_jump_at_21_is_766_per_100k() -> None:
    """Mastering 'Metrics Table 4.1: OLS ``all ~ D + a`` on the 48 cells, HC1 SE."""
    df = datasets.load("mlda").dropna(subset=["all"])
    a = df.agecell.to_numpy() - 21.0
    d = (a >= 0).astype(float)
    X = np.column_stack([np.ones_like(a), d, a])
    y = df["all"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    u = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    n, k = X.shape
    cov = bread @ (X.T * u**2) @ X @ bread * n / (n - k)
    assert abs(beta[1] - 7.66) <= HALF_LAST_DIGIT_2DP
    assert abs(np.sqrt(cov[1, 1]) - 1.51) <= HALF_LAST_DIGIT_2DP
    est = cqox.estimate("rd", datasets.load("mlda"), **datasets.describe("mlda").roles)
    assert est.estimate > 0 and est.ci[0] > 0  # local linear: a clear jump too
