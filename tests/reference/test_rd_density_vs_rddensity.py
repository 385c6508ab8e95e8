"""The ``rd`` density gate against the authors' ``rddensity`` 3.0 (same data, same settings).

``density_test`` reproduces ``rddensity``'s test (Cattaneo, Jansson & Ma 2020): the
bandwidth selector of ``rdbwdensity`` (pilots, regularisation, ``comb``/``each``/``diff``/
``sum``), the order ``q = p + 1`` local-polynomial fit of the empirical CDF, the jackknife
or plug-in variance, the mass-point adjustment, and the robust statistic it prints first.
rddensity's outputs are stored in golden/rddensity.json for machines without it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.rd.density import density_test
from tests.conftest import dataset_path
from tests.reference.golden import RDDENSITY

#: h, f̂, SEs and T: rddensity tabulates its normal-reference pilot constant C_b to
#: ≈ 1.7e-10 (p = 2) … 2.4e-8 (p = 4) relative (we compute it exactly) and inverts one
#: joint (2q+2)-column Gram matrix where we solve per side; the largest difference seen
#: over these cases is ≈ 8e-9 relative, so 1e-7 leaves margin without hiding a real error
#: (a wrong constant or weight moves these by ≥ 1e-4).
RTOL = 1e-7
#: p-values: dp/p ≈ |T|·φ(T)/Φ(−|T|)·dT/T amplifies the relative error of T by up to
#: ≈ T² (≤ 30 here).
RTOL_P = 3e-6


def _rddensity(label: str, x: np.ndarray, c: float, **kw: Any) -> dict[str, Any]:
    """rddensity's bandwidths, counts, densities, SEs and tests, live or stored."""

    def fit() -> dict[str, Any]:
        import rddensity

        args = dict(kw)
        if args.get("h") is not None:
            args["h"] = list(np.atleast_1d(args["h"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = rddensity.rddensity(x, c=c, bino_flag=False, **args)
        sides = ("left", "right")
        return {
            "h": [float(ref.h[s]) for s in sides],
            "n": {k: int(ref.n[k]) for k in ("left", "right", "eff_left", "eff_right")},
            "hat": [float(ref.hat[s]) for s in sides],
            "sd_jk": {k: float(ref.sd_jk[k]) for k in (*sides, "diff")},
            "sd_asy": {k: float(ref.sd_asy[k]) for k in (*sides, "diff")},
            "test": {k: float(ref.test[k]) for k in ("t_asy", "t_jk", "p_asy", "p_jk")},
            "mass_points": bool(ref.massPoints_flag),
        }

    options = ",".join(f"{k}={kw[k]}" for k in sorted(kw))
    return RDDENSITY.outputs(f"density/{label}-c={c}-{options}", fit)  # type: ignore[no-any-return]


def _compare(label: str, x: np.ndarray, c: float, **kw: Any) -> None:
    ours = density_test(x, c, **kw)
    ref = _rddensity(label, x, c, **kw)
    plugin = kw.get("vce") == "plugin"
    sd = ref["sd_asy"] if plugin else ref["sd_jk"]
    T = ref["test"]["t_asy" if plugin else "t_jk"]
    p = ref["test"]["p_asy" if plugin else "p_jk"]
    np.testing.assert_allclose(ours.h, ref["h"], rtol=RTOL)
    assert ours.n_h == (ref["n"]["eff_left"], ref["n"]["eff_right"])
    assert ours.n == (ref["n"]["left"], ref["n"]["right"])
    np.testing.assert_allclose([ours.f_left, ours.f_right], ref["hat"], rtol=RTOL)
    np.testing.assert_allclose(
        [ours.se_left, ours.se_right, ours.se_diff],
        [sd["left"], sd["right"], sd["diff"]],
        rtol=RTOL,
    )
    np.testing.assert_allclose(ours.statistic, T, rtol=RTOL)
    np.testing.assert_allclose(ours.p_value, p, rtol=RTOL_P)
    assert ours.mass_points == ref["mass_points"]


@pytest.fixture(scope="module")
def margin() -> np.ndarray:
    return pd.read_csv(dataset_path("rdrobust_senate.csv"))["margin"].dropna().to_numpy()


@pytest.mark.parametrize("vce", ["jackknife", "plugin"])
@pytest.mark.parametrize("kernel", ["triangular", "uniform", "epanechnikov"])
@pytest.mark.parametrize("bwselect", ["comb", "each", "diff", "sum"])
def test_senate_matches_rddensity(margin: np.ndarray, bwselect: str, kernel: str, vce: str) -> None:
    _compare("senate", margin, 0.0, bwselect=bwselect, kernel=kernel, vce=vce)


@pytest.mark.parametrize("p", [1, 3, 4])
def test_senate_other_orders_match_rddensity(margin: np.ndarray, p: int) -> None:
    _compare("senate", margin, 0.0, p=p)


@pytest.mark.parametrize("h", [10.0, (12.0, 30.0), 90.0], ids=["common", "two-sided", "wide"])
def test_senate_manual_bandwidth_matches_rddensity(margin: np.ndarray, h: Any) -> None:
    _compare("senate", margin, 0.0, h=h)


def test_senate_explicit_q_matches_rddensity(margin: np.ndarray) -> None:
    _compare("senate", margin, 0.0, p=1, q=3)


def _smooth(n: int, seed: int) -> np.ndarray:
    df, _ = cqox.simulate.rd_sharp(n=n, seed=seed)
    return df["x"].to_numpy()


def _manipulated(n: int, seed: int) -> np.ndarray:
    x = _smooth(n, seed)
    rng = np.random.default_rng(seed)
    moved = (x > -0.1) & (x < 0) & (rng.random(x.size) < 0.5)
    return np.where(moved, -x, x)


def _asymmetric(n: int, seed: int) -> np.ndarray:
    # skewed, ~7% of rows above the cutoff 0.55
    return np.random.default_rng(seed).beta(2.0, 5.0, size=n)


def _mass_points(n: int, seed: int) -> np.ndarray:
    # a normal rounded to a 0.02 grid: ~250 distinct values, many ties at each
    return np.round(np.random.default_rng(seed).normal(size=n) / 0.02) * 0.02


@pytest.mark.parametrize(
    ("make", "c", "kw"),
    [
        (_smooth, 0.0, {}),
        (_smooth, 0.0, {"kernel": "uniform", "bwselect": "each"}),
        (_smooth, 0.3, {"vce": "plugin"}),
        (_manipulated, 0.0, {}),
        (_manipulated, 0.0, {"p": 1, "kernel": "epanechnikov"}),
        (_asymmetric, 0.55, {}),
        (_asymmetric, 0.55, {"bwselect": "diff", "p": 3}),
        (_mass_points, 0.0, {}),
        (_mass_points, 0.1, {"bwselect": "sum", "vce": "plugin"}),
    ],
    ids=[
        "smooth",
        "smooth-uniform-each",
        "smooth-c0.3-plugin",
        "manipulated",
        "manipulated-p1-epa",
        "asymmetric",
        "asymmetric-diff-p3",
        "mass-points",
        "mass-points-c0.1-sum-plugin",
    ],
)
@pytest.mark.parametrize("n", [600, 4000])
def test_simulated_designs_match_rddensity(make: Any, c: float, kw: dict[str, Any], n: int) -> None:
    _compare(f"{make.__name__.strip('_')}-n={n}-seed=11", make(n, 11), c, **kw)


def test_manipulation_is_rejected_and_smooth_density_is_not() -> None:
    assert density_test(_manipulated(4000, 3), 0.0).p_value < 0.01
    assert density_test(_smooth(4000, 3), 0.0).p_value > 0.05


def test_orders_rddensity_cannot_reproduce_are_refused() -> None:
    with pytest.raises(cqox.ParameterError, match="'p'"):
        density_test(_smooth(500, 1), 0.0, p=5)


def test_too_few_rows_on_a_side_is_named() -> None:
    x = np.r_[np.linspace(-1, -0.1, 200), np.linspace(0.1, 1, 5)]
    with pytest.raises(cqox.NoDataError, match="at least 10 rows on each side"):
        density_test(x, 0.0)


def test_rd_gate_equals_rddensity_on_the_estimation_sample() -> None:
    df, _ = cqox.simulate.rd_sharp(n=3000, seed=8)
    df.loc[::7, "y"] = np.nan  # listwise deletion: the gate tests the rows the fit uses
    est = cqox.estimate("rd", df, outcome="y", roles={"running": "x", "cutoff": 0.0})
    gate = next(g for g in est.gates if g.name == "density")
    x = df.loc[df["y"].notna(), "x"].to_numpy()
    ref = _rddensity("rd-gate-sample-seed=8", x, 0.0)
    np.testing.assert_allclose(gate.details["statistic"], ref["test"]["t_jk"], rtol=RTOL)
    np.testing.assert_allclose(gate.value, ref["test"]["p_jk"], rtol=RTOL_P)
    np.testing.assert_allclose(
        [gate.details["h_left"], gate.details["h_right"]], ref["h"], rtol=RTOL
    )
    assert [gate.details["n_left"], gate.details["n_right"]] == [
        ref["n"]["eff_left"],
        ref["n"]["eff_right"],
    ]
