"""Proximal estimators against their peers on the same data.

- **linearmodels** ``IV2SLS`` (7.1): proximal 2SLS is two-stage least squares of ``Y``
  on ``(1, A, W, X)`` with ``W`` instrumented by ``Z`` (Tchetgen Tchetgen et al. 2020);
  the treatment coefficient and its robust (HC0, ``debiased=False``) SE must agree.
- **delicatessen** (generalized M-estimation, numerical-derivative sandwich): the doubly
  robust estimator of Cui et al. (2023) as the stack::

      (1, A, Z, X) (Y − b'(1, A, W, X))                       outcome bridge
      (−1)^{1−A} q(Z, A, X; t) (1, W, X),  q − 2              treatment bridge
      (−1)^{1−A} q (Y − h) + b_A − ψ                          ψ

  with ``q = 1 + exp{(1 − 2A) t'(1, A, Z, X)}``; ψ and its SE must agree.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from benchmarks.transport_proximal_cases import delicatessen_proximal_dr

import cqox
from cqox.simulate.proximal import proximal_bridges, zivich_2023
from tests.reference.golden import DELICATESSEN, LINEARMODELS

#: Closed-form 2SLS on both sides: rounding only.
IV_RTOL = 1e-8
#: Our Newton root of the bridge moments vs delicatessen's root finder (both ~1e-10),
#: and delicatessen's numerical bread (relative error ~1e-7).
DR_ATOL = 1e-6
DR_SE_RTOL = 1e-5
KW = {"outcome": "y", "treatment": "t", "treatment_proxy": "z", "outcome_proxy": "w"}


def _iv2sls(df: pd.DataFrame, covs: list[str]) -> dict[str, float]:
    from linearmodels.iv import IV2SLS

    exog = pd.concat([pd.Series(1.0, index=df.index, name="const"), df[["t", *covs]]], axis=1)
    res = IV2SLS(df["y"], exog, df[["w"]], df[["z"]]).fit(cov_type="robust", debiased=False)
    return {"coef": float(res.params["t"]), "se": float(res.std_errors["t"])}


@pytest.mark.reference
@pytest.mark.parametrize("scenario", [1, 2, 3])
def test_proximal_2sls_is_linearmodels_iv2sls(scenario: int) -> None:
    df, _ = zivich_2023(n=800, scenario=scenario, seed=11)
    ours = cqox.estimate("proximal_2sls", df, covariates=["x"], **KW)
    peer = LINEARMODELS.outputs(
        f"proximal/p2sls-zivich2023-s{scenario}-n800-seed11", lambda: _iv2sls(df, ["x"])
    )
    assert ours.estimate == pytest.approx(peer["coef"], rel=IV_RTOL)
    assert ours.se == pytest.approx(peer["se"], rel=IV_RTOL)


def _delicatessen_dr(df: pd.DataFrame) -> dict[str, float]:
    out = delicatessen_proximal_dr(df)
    return {"estimate": out["estimate"], "se": out["se"]}


@pytest.mark.reference
@pytest.mark.parametrize("seed", [3, 4])
def test_proximal_dr_matches_delicatessen(seed: int) -> None:
    df, _ = proximal_bridges(n=1500, seed=seed)
    ours = cqox.estimate("proximal_dr", df, covariates=["x"], **KW)
    peer = DELICATESSEN.outputs(
        f"proximal/dr-bridges-n1500-seed{seed}", lambda: _delicatessen_dr(df)
    )
    assert ours.estimate == pytest.approx(peer["estimate"], abs=DR_ATOL)
    assert ours.se == pytest.approx(peer["se"], rel=DR_SE_RTOL)


@pytest.mark.reference
def test_dr_and_2sls_differ_on_finite_data() -> None:
    # guards the comparison above against an augmentation that is identically zero
    df, _ = proximal_bridges(n=1500, seed=3)
    a: Any = cqox.estimate("proximal_dr", df, covariates=["x"], **KW)
    b: Any = cqox.estimate("proximal_2sls", df, covariates=["x"], **KW)
    assert abs(a.estimate - b.estimate) > 1e-4
