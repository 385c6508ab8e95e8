"""rd against the authors' rdrobust package on identical data and settings.

Point estimates (conventional and bias-corrected), bandwidths h and b, conventional
and robust standard errors, the robust interval and effective numbers of rows, for
sharp and fuzzy designs, every kernel, every bandwidth selector, NN and HC variances,
p = 1 and 2, and a running variable with mass points. rdrobust's outputs are stored in
golden/rdrobust.json for machines without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path
from tests.reference.golden import RDROBUST

#: Same algorithm in double precision; observed differences ≤ 2e-12 relative (the
#: bandwidth selector's three nested fits accumulate rounding). 1e-8 leaves margin.
RTOL = 1e-8


@pytest.fixture(scope="module")
def senate() -> pd.DataFrame:
    return pd.read_csv(dataset_path("rdrobust_senate.csv"))


@pytest.fixture(scope="module")
def fuzzy() -> pd.DataFrame:
    df, _ = cqox.simulate.rd_fuzzy(n=2500, seed=7)
    return df


@pytest.fixture(scope="module")
def discrete() -> pd.DataFrame:
    """A running variable with mass points (rounded), triggering rdrobust's adjustment."""
    df, _ = cqox.simulate.rd_sharp(n=3000, seed=3)
    return df.assign(x=np.round(df["x"], 2))


def _rdrobust(case: str, y: pd.Series, x: pd.Series, **kw: Any) -> dict[str, Any]:
    """rdrobust's bandwidths, estimates, SEs, robust CI and counts, live or stored."""

    def fit() -> dict[str, Any]:
        from rdrobust import rdrobust

        peer = rdrobust(y, x, **kw)
        out = {
            "h": peer.bws.loc["h"].to_numpy(),
            "b": peer.bws.loc["b"].to_numpy(),
            "coef": peer.coef.iloc[:, 0].to_numpy(),
            "se": peer.se.iloc[:, 0].to_numpy(),
            "ci_robust": peer.ci.iloc[2].to_numpy(),
            "pv_robust": peer.pv.iloc[2, 0],
            "N_h": [int(v) for v in peer.N_h],
        }
        if "fuzzy" in kw:
            out.update(tau_T=peer.tau_T.iloc[0, 0], se_T_robust=peer.se_T.iloc[2, 0])
        return out

    return RDROBUST.outputs(f"rd/{case}", fit)  # type: ignore[no-any-return]


def _compare(ours: cqox.Estimate, peer: dict[str, Any], fuzzy: bool = False) -> None:
    d = ours.diagnostics
    coef, se = peer["coef"], peer["se"]
    np.testing.assert_allclose(d["h"], peer["h"], rtol=RTOL)
    np.testing.assert_allclose(d["b"], peer["b"], rtol=RTOL)
    np.testing.assert_allclose(ours.estimate, coef[0], rtol=RTOL)
    np.testing.assert_allclose(d["tau_bias_corrected"], coef[1], rtol=RTOL)
    np.testing.assert_allclose(ours.se, se[0], rtol=RTOL)
    np.testing.assert_allclose(d["se_robust"], se[2], rtol=RTOL)
    np.testing.assert_allclose(ours.ci, peer["ci_robust"], rtol=RTOL)
    np.testing.assert_allclose(ours.p_value, peer["pv_robust"], rtol=1e-6)
    assert [d["n_h_left"], d["n_h_right"]] == peer["N_h"]
    if fuzzy:
        np.testing.assert_allclose(d["first_stage"]["jump"], peer["tau_T"], rtol=RTOL)
        np.testing.assert_allclose(d["first_stage"]["se_robust"], peer["se_T_robust"], rtol=RTOL)


SHARP_CASES = [
    (kernel, bwselect, vce)
    for kernel in ("triangular", "uniform", "epanechnikov")
    for bwselect in ("mserd", "msetwo", "cerrd", "certwo")
    for vce in ("nn", "hc1")
] + [("triangular", "mserd", v) for v in ("hc0", "hc2", "hc3")]


@pytest.mark.parametrize(("kernel", "bwselect", "vce"), SHARP_CASES)
def test_sharp_senate_matches_rdrobust(
    senate: pd.DataFrame, kernel: str, bwselect: str, vce: str
) -> None:
    ours = cqox.estimate(
        "rd",
        senate,
        outcome="vote",
        roles={"running": "margin", "cutoff": 0.0},
        kernel=kernel,
        bwselect=bwselect,
        se_method=vce,
        gates=False,
    )
    ok = senate["vote"].notna()
    peer = _rdrobust(
        f"senate-{kernel}-{bwselect}-{vce}",
        senate.loc[ok, "vote"],
        senate.loc[ok, "margin"],
        kernel=kernel[:3],
        bwselect=bwselect,
        vce=vce,
    )
    _compare(ours, peer)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("kernel", ["triangular", "uniform"])
def test_fuzzy_matches_rdrobust(fuzzy: pd.DataFrame, p: int, kernel: str) -> None:
    ours = cqox.estimate(
        "rd",
        fuzzy,
        outcome="y",
        treatment="d",
        roles={"running": "x", "cutoff": 0.0},
        p=p,
        kernel=kernel,
        gates=False,
    )
    assert ours.estimand == "LATE(c)"
    peer = _rdrobust(
        f"fuzzy-p{p}-{kernel}", fuzzy["y"], fuzzy["x"], fuzzy=fuzzy["d"], p=p, kernel=kernel[:3]
    )
    _compare(ours, peer, fuzzy=True)


def test_mass_points_adjustment_matches_rdrobust(discrete: pd.DataFrame) -> None:
    ours = cqox.estimate(
        "rd", discrete, outcome="y", roles={"running": "x", "cutoff": 0.0}, gates=False
    )
    peer = _rdrobust("mass-points", discrete["y"], discrete["x"])
    _compare(ours, peer)


def test_manual_bandwidths_match_rdrobust(senate: pd.DataFrame) -> None:
    ours = cqox.estimate(
        "rd",
        senate,
        outcome="vote",
        roles={"running": "margin", "cutoff": 0.0},
        h=10.0,
        b=20.0,
        p=2,
        gates=False,
    )
    ok = senate["vote"].notna()
    peer = _rdrobust(
        "senate-h10-b20-p2", senate.loc[ok, "vote"], senate.loc[ok, "margin"], h=10.0, b=20.0, p=2
    )
    _compare(ours, peer)


def test_nonzero_cutoff_matches_rdrobust(senate: pd.DataFrame) -> None:
    ours = cqox.estimate(
        "rd", senate, outcome="vote", roles={"running": "margin", "cutoff": 5.0}, gates=False
    )
    ok = senate["vote"].notna()
    peer = _rdrobust("senate-cutoff5", senate.loc[ok, "vote"], senate.loc[ok, "margin"], c=5.0)
    _compare(ours, peer)


def test_the_automatic_rd_of_the_drinking_age_cells_is_rdrobusts() -> None:
    """MLDA (48 age cells, cutoff 21): what ``cqox analyze`` runs with only the running
    variable and the cutoff named is rdrobust's default local-linear fit (9.595 with an
    MSE-optimal h ≈ 0.49 years), not the book's global linear fit (7.66, docs/auto_mode.md)."""
    df = pd.read_csv(dataset_path("mlda_drinking.csv"))
    an = cqox.analyze(df, outcome="all", running="agecell", cutoff=21, seed=0)
    ours = an.estimate_for("rd")
    ok = df["all"].notna()
    peer = _rdrobust("mlda-all", df.loc[ok, "all"], df.loc[ok, "agecell"], c=21)
    _compare(ours, peer)
