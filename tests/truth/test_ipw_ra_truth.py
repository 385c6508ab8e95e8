"""``ipw`` and ``regression_adjustment`` against a known truth.

Data: :func:`cqox.simulate.confounded_binary` — logit propensity in ``x1..x3`` and an
outcome linear in ``x`` with a treatment effect ``τ(x) = 2 + x1``, so both the logit
propensity model (IPW) and the arm-wise linear outcome model (RA) are correctly
specified and ATE ≠ ATT ≠ ATC.  (RA would be misspecified for a τ(x) that is
nonlinear in x; this simulator is linear.)

Which truth: the **population** estimands (PATE = 2, PATT, PATC).  The influence
functions of both estimators contain the term ``τ(x_i) − τ`` (RA explicitly; IPW
through the weighted outcomes), so their SEs measure the spread of τ̂ around the
population value, including the sampling variation of the covariates.  Measured
against the sample averages of τ(x_i) (SATE, SATT, SATC) these intervals are
conservative — over-cover — by as much as Var(τ(X))/n is of the total variance;
checking coverage of the SATE would hide an SE that is too small.  The study reports
both; it asserts on the population values.

- default run: quick ``|τ̂ − τ| ≤ 3·SE`` checks;
- ``ci_bounded`` (< 60 s): 1000 replications at n = 1000;
- ``slow``: 2000 replications at n = 500 and n = 2000, Hájek and Horvitz–Thompson
  IPW and RA, for ATE, ATT and ATC.

Reproduce the numbers in docs/validation.md with
``.venv/bin/pytest -q -s tests/truth/test_ipw_ra_truth.py --run-slow``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import special

import cqox

COVARIATES = ["x1", "x2", "x3", "x4", "x5"]
#: Nominal level of every interval.
LEVEL = 0.95
#: Quick checks: |τ̂ − τ| ≤ 3·SE fails with probability 0.27% per check if SEs are right.
QUICK_Z = 3.0
#: Coverage band from the brief.  With R = 1000 replications the Monte-Carlo SE of a
#: coverage of 0.95 is sqrt(0.95·0.05/1000) = 0.69 pp, so 93–97% is ±2.9 MC SEs — a
#: meaningful check for the bounded study too (R = 2000 in the slow one: ±4.1 MC SEs).
COVERAGE_BAND = (0.93, 0.97)
#: Bias: within this many Monte-Carlo SEs of zero …
BIAS_Z = 4.0
#: … plus a finite-sample allowance of 5% of the sampling SD: IPW's O(1/n) bias is real
#: (≈ 0.003 at n = 1000, a thirtieth of its SD) and irrelevant for inference; a wrong
#: estimator is off by far more.
BIAS_FRACTION_OF_SD = 0.05
#: Monte-Carlo draws for the check of the simulator's population ATT/ATC.
N_TRUTH_DRAWS = 2_000_000


@dataclass(frozen=True)
class Method:
    """One estimator configuration of the study."""

    label: str
    estimator: str
    params: tuple[tuple[str, Any], ...] = ()


IPW_HAJEK = Method("ipw (Hájek)", "ipw")
IPW_HT = Method("ipw (Horvitz–Thompson)", "ipw", (("weighting", "horvitz_thompson"),))
RA = Method("regression_adjustment", "regression_adjustment")


def _fit(method: Method, df: Any, estimand: str) -> cqox.Estimate:
    return cqox.estimate(
        method.estimator, df, outcome="y", treatment="t", covariates=COVARIATES,
        estimand=estimand, **dict(method.params),
    )  # fmt: skip


def run_study(
    n: int, reps: int, seed: int, methods: tuple[Method, ...], estimands: tuple[str, ...]
) -> dict[tuple[str, str], dict[str, float]]:
    """Monte-Carlo study: bias, SD, mean SE and coverage per (method, estimand)."""
    keys = [(m.label, e) for m in methods for e in estimands]
    tau = {k: np.empty(reps) for k in keys}
    se = {k: np.empty(reps) for k in keys}
    pop = {e: 0.0 for e in estimands}
    sample = {k: np.empty(reps) for k in keys}
    for r in range(reps):
        df, truth = cqox.simulate.confounded_binary(n=n, seed=seed + r)
        for m in methods:
            for e in estimands:
                est = _fit(m, df, e)
                tau[(m.label, e)][r] = est.estimate
                se[(m.label, e)][r] = est.se
                sample[(m.label, e)][r] = truth["S" + e]
        pop = {e: truth[e] for e in estimands}
    z = special.ndtri(0.5 + LEVEL / 2)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for k in keys:
        t, s, truth_k = tau[k], se[k], pop[k[1]]
        out[k] = {
            "truth": truth_k,
            "bias": float(t.mean() - truth_k),
            "mc_se_bias": float(t.std(ddof=1) / np.sqrt(reps)),
            "sd": float(t.std(ddof=1)),
            "mean_se": float(s.mean()),
            "coverage": float(np.mean(np.abs(t - truth_k) <= z * s)),
            "coverage_sample_truth": float(np.mean(np.abs(t - sample[k]) <= z * s)),
        }
    return out


def _print_table(title: str, res: dict[tuple[str, str], dict[str, float]]) -> None:
    print(f"\n{title}")
    print(
        f"{'method':<24}{'estimand':<9}{'truth':>8}{'bias':>9}{'MC SE':>8}{'SD':>8}"
        f"{'mean SE':>9}{'cover':>8}{'cover S':>9}"
    )
    for (label, estimand), r in res.items():
        print(
            f"{label:<24}{estimand:<9}{r['truth']:>8.4f}{r['bias']:>9.4f}{r['mc_se_bias']:>8.4f}"
            f"{r['sd']:>8.4f}{r['mean_se']:>9.4f}{r['coverage']:>8.3f}"
            f"{r['coverage_sample_truth']:>9.3f}"
        )


def _assert_study(res: dict[tuple[str, str], dict[str, float]]) -> None:
    low, high = COVERAGE_BAND
    for key, r in res.items():
        assert abs(r["bias"]) <= BIAS_Z * r["mc_se_bias"] + BIAS_FRACTION_OF_SD * r["sd"], (
            key,
            r,
        )
        assert low <= r["coverage"] <= high, (key, r)


# ------------------------------------------------------------------ default run


def test_simulator_population_att_and_atc_match_monte_carlo_integral() -> None:
    """The closed forms in ``confounded_binary`` against a direct Monte-Carlo integral."""
    _, truth = cqox.simulate.confounded_binary(n=10, seed=0)
    rng = np.random.default_rng(99)
    x = rng.standard_normal((N_TRUTH_DRAWS, 3))
    e = special.expit(0.8 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2])
    tau = 2.0 + x[:, 0]
    att = float(np.sum(tau * e) / np.sum(e))
    atc = float(np.sum(tau * (1 - e)) / np.sum(1 - e))
    # MC SE of these ratios is below 1e-3 (τ has SD 1); 4 MC SEs
    assert truth["ATE"] == 2.0
    assert abs(truth["ATT"] - att) < 4e-3
    assert abs(truth["ATC"] - atc) < 4e-3
    assert truth["ATT"] > truth["ATE"] > truth["ATC"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
@pytest.mark.parametrize("method", [IPW_HAJEK, IPW_HT, RA], ids=lambda m: m.label)
def test_estimate_within_three_se_of_population_truth(
    method: Method, estimand: str, seed: int
) -> None:
    df, truth = cqox.simulate.confounded_binary(n=2000, seed=seed)
    est = _fit(method, df, estimand)
    assert abs(est.estimate - truth[estimand]) <= QUICK_Z * est.se


# ------------------------------------------------------------ coverage studies


@pytest.mark.ci_bounded
def test_coverage_bounded_ipw_and_ra_ate_att() -> None:
    res = run_study(
        n=1000, reps=1000, seed=10_000, methods=(IPW_HAJEK, RA), estimands=("ATE", "ATT")
    )
    _print_table("bounded study: n = 1000, 1000 replications", res)
    _assert_study(res)


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 2000])
def test_coverage_full_study(n: int) -> None:
    res = run_study(
        n=n,
        reps=2000,
        seed=20_000 + n,
        methods=(IPW_HAJEK, IPW_HT, RA),
        estimands=("ATE", "ATT", "ATC"),
    )
    _print_table(f"full study: n = {n}, 2000 replications", res)
    _assert_study(res)
