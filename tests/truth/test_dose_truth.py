"""``dose_msm`` and ``dose_gps`` recover known dose-response curves.

Designs (:mod:`cqox.simulate.dose`), each correct for one estimator:

- :func:`~cqox.simulate.dose.dose_polynomial` for ``dose_msm`` (degree 2):
  ``μ(a) = 1 + 2a − 0.5a²``, maximal at ``a = 2``; the unadjusted polynomial is biased;
- :func:`~cqox.simulate.dose.hirano_imbens_normal` for ``dose_gps``: the confounders act
  on ``y`` only through the normal GPS, so Hirano & Imbens' outcome model is exact.

- default run: ``|μ̂(a) − μ(a)| ≤ 3·SE`` at fixed doses on three seeds, and the naive
  (unadjusted) curve is rejected by the same check;
- ``ci_bounded`` (≈ 2 min): 1000 replications at n = 2000: coverage of the pointwise 95%
  intervals at each fixed dose in [93%, 97%], mean bias within 4 MC SEs, and the sup-t
  band over the grid (at least 90%, see ``BAND_FLOOR``) and the optimum's interval
  reported;
- ``slow``: 2000 replications at n = 2000 and n = 5000, same checks.  At n = 1000 the
  MSM's sandwich SE is ~10% low at the grid ends (the 5% and 95% dose quantiles, where
  the stabilised weights are largest): pointwise coverage 0.90–0.92 there and 0.92 for
  the band (docs/validation_dose_response.md); it is right by n = 4000.

Run the bounded study with ``--ci-bounded``, the full ones with ``--run-slow``; add
``-s`` for the table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import CqoxWarning
from cqox.simulate.dose import dose_polynomial, hirano_imbens_normal

COVARIATES = ["x1", "x2"]
QUICK_Z = 3.0
#: With R = 1000 the Monte-Carlo SE of a 95% coverage is 0.69 pp: 93–97% is ±2.9 MC SEs
#: (R = 2000 in the slow study: ±4.1 MC SEs).
COVERAGE_BAND = (0.93, 0.97)
#: The sup-t band spans the grid to the 5% and 95% dose quantiles, where the MSM's
#: sandwich SE is still 5–10% low at n = 2000 (heavy stabilised weights; measured
#: se/sd 0.90 and 0.97 at a = −1 and 3 over 1000 replications): its coverage is checked
#: against this floor, not the two-sided band.
BAND_FLOOR = 0.90
BIAS_Z = 4.0
Simulator = Callable[..., tuple[pd.DataFrame, dict[str, Any]]]
CASES: dict[str, tuple[Simulator, tuple[float, ...]]] = {
    "dose_msm": (dose_polynomial, (0.0, 1.0, 2.0)),
    "dose_gps": (hirano_imbens_normal, (-1.0, 0.5, 2.0)),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_curve_within_three_se_of_the_truth(name: str, seed: int) -> None:
    simulate, doses = CASES[name]
    df, truth = simulate(n=3000, seed=seed)
    est = cqox.estimate(name, df, outcome="y", dose="a", covariates=COVARIATES, n_sim=200)
    curve = est.curve(list(doses))
    mu = truth["curve"](curve["dose"].to_numpy())
    assert np.all(np.abs(curve["estimate"] - mu) <= QUICK_Z * curve["se"])
    assert abs(est.estimate - truth["optimal_dose"]) <= QUICK_Z * est.se + 0.05


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_unadjusted_curve_is_biased(name: str) -> None:
    simulate, doses = CASES[name]
    df, truth = simulate(n=3000, seed=1)
    naive = cqox.estimate(name, df, outcome="y", dose="a", n_sim=200).curve(list(doses))
    mu = truth["curve"](naive["dose"].to_numpy())
    assert np.any(np.abs(naive["estimate"] - mu) > 4 * naive["se"])


def _study(name: str, n: int, reps: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """Per fixed dose: coverage, mean error, MC SE; plus band and optimum coverage."""
    simulate, doses = CASES[name]
    hits: dict[str, list[bool]] = {f"a={a:g}": [] for a in doses}
    errs: dict[str, list[float]] = {k: [] for k in hits}
    band: list[bool] = []
    opt: list[bool] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        for r in range(reps):
            df, truth = simulate(n=n, seed=seed + r)
            est = cqox.estimate(name, df, outcome="y", dose="a", covariates=COVARIATES,
                                n_sim=500, seed=r)  # fmt: skip
            curve = est.curve(list(doses))
            mu = truth["curve"](curve["dose"].to_numpy())
            for key, lo, hi, m, e in zip(hits, curve["ci_lower"], curve["ci_upper"], mu,
                                         curve["estimate"], strict=True):  # fmt: skip
                hits[key].append(bool(lo <= m <= hi))
                errs[key].append(float(e - m))
            grid = est.tables["curve"]
            g_mu = truth["curve"](grid["dose"].to_numpy())
            band.append(bool(np.all((grid["band_lower"] <= g_mu) & (g_mu <= grid["band_upper"]))))
            opt.append(bool(est.ci[0] <= truth["optimal_dose"] <= est.ci[1]))
    out = {
        k: (float(np.mean(hits[k])), float(np.mean(errs[k])),
            float(np.std(errs[k], ddof=1) / np.sqrt(reps)))
        for k in hits
    }  # fmt: skip
    out["uniform band"] = (float(np.mean(band)), float("nan"), float("nan"))
    out["optimum CI"] = (float(np.mean(opt)), float("nan"), float("nan"))
    return out


def _check(res: dict[str, tuple[float, float, float]], title: str) -> None:
    print(f"\n{title}\n  {'target':<14} coverage     bias  (MC SE)")
    for k, (cov, bias, mcse) in res.items():
        print(f"  {k:<14} {cov:8.3f} {bias:8.4f} ({mcse:.4f})")
    for k, (cov, bias, mcse) in res.items():
        if k == "optimum CI":
            continue  # reported: the grid argmax is discrete (see docs/validation_dose_response.md)
        if k == "uniform band":
            assert BAND_FLOOR <= cov <= COVERAGE_BAND[1], (k, cov)
            continue
        assert COVERAGE_BAND[0] <= cov <= COVERAGE_BAND[1], (k, cov)
        if np.isfinite(bias):
            assert abs(bias) <= BIAS_Z * mcse, (k, bias, mcse)


@pytest.mark.ci_bounded
@pytest.mark.parametrize("name", sorted(CASES))
def test_coverage_bounded(name: str) -> None:
    _check(_study(name, n=2000, reps=1000, seed=90_000), f"{name} bounded: n = 2000, 1000 reps")


@pytest.mark.slow
@pytest.mark.parametrize("n", [2000, 5000])
@pytest.mark.parametrize("name", sorted(CASES))
def test_coverage_full_study(name: str, n: int) -> None:
    _check(_study(name, n=n, reps=2000, seed=95_000 + n), f"{name} full: n = {n}, 2000 reps")
