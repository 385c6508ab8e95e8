"""``multivalued`` recovers known effects of a three-level treatment.

Design: :func:`cqox.simulate.multivalued` — multinomial-logit assignment to levels
0/1/2 confounded by ``x1, x2``, effects varying with ``x``; population ATEs
``τ_1 = 1.0`` and ``τ_2 = 2.5`` against level 0, potential-outcome means 1.0/2.0/3.5.
All three methods are correctly specified there.

- default run: for each method and level, ``|τ̂_j − τ_j| ≤ 3·SE`` on a few seeds
  (fails with probability 0.27% per check when the SEs are right);
- ``ci_bounded`` (< 60 s): 600 replications at n = 1000, coverage of the 95% intervals
  of both contrasts in [93%, 97%] per method and level, mean bias within 4 MC SEs;
- ``slow``: 2000 replications at n = 500 and n = 2000, same checks.

Run the bounded study with ``--ci-bounded``, the full ones with ``--run-slow``; add
``-s`` for the table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cqox
from cqox.errors import CqoxWarning

METHODS = ("ipw", "ra", "aipw")
COVARIATES = ["x1", "x2"]
QUICK_Z = 3.0
#: With R = 600 the Monte-Carlo SE of a 95% coverage is 0.89 pp: 93–97% is ±2.2 MC SEs
#: per cell (R = 2000 in the slow study: ±4.1 MC SEs).
COVERAGE_BAND = (0.93, 0.97)
BIAS_Z = 4.0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("method", METHODS)
def test_each_level_within_three_se_of_the_truth(method: str, seed: int) -> None:
    df, truth = cqox.simulate.multivalued(n=3000, seed=seed)
    est = cqox.estimate(
        "multivalued", df, outcome="y", treatment="t", covariates=COVARIATES, method=method
    )
    for row in est.tables["effects"].itertuples():
        assert abs(row.estimate - truth["ATE"][row.level]) <= QUICK_Z * row.se
    for row in est.tables["pomeans"].itertuples():
        assert abs(row.estimate - truth["POM"][row.level]) <= QUICK_Z * row.se


def _study(n: int, reps: int, seed: int) -> dict[tuple[str, int], tuple[float, float, float]]:
    """Per (method, level): coverage, mean error, and its Monte-Carlo SE."""
    hits: dict[tuple[str, int], list[bool]] = {(m, j): [] for m in METHODS for j in (1, 2)}
    errs: dict[tuple[str, int], list[float]] = {k: [] for k in hits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        for r in range(reps):
            df, truth = cqox.simulate.multivalued(n=n, seed=seed + r)
            for m in METHODS:
                est = cqox.estimate("multivalued", df, outcome="y", treatment="t",
                                    covariates=COVARIATES, method=m)  # fmt: skip
                for row in est.tables["effects"].itertuples():
                    tau = truth["ATE"][row.level]
                    hits[(m, row.level)].append(row.ci_low <= tau <= row.ci_high)
                    errs[(m, row.level)].append(row.estimate - tau)
    out = {}
    for k in hits:
        e = np.asarray(errs[k])
        out[k] = (float(np.mean(hits[k])), float(e.mean()), float(e.std(ddof=1) / np.sqrt(reps)))
    return out


def _check(res: dict[tuple[str, int], tuple[float, float, float]], title: str) -> None:
    print(f"\n{title}\n  method level coverage   bias  (MC SE)")
    for (m, j), (cov, bias, mcse) in res.items():
        print(f"  {m:<6} {j:>5} {cov:8.3f} {bias:8.4f} ({mcse:.4f})")
    for (m, j), (cov, bias, mcse) in res.items():
        assert COVERAGE_BAND[0] <= cov <= COVERAGE_BAND[1], (m, j, cov)
        assert abs(bias) <= BIAS_Z * mcse, (m, j, bias, mcse)


@pytest.mark.ci_bounded
def test_coverage_bounded_three_levels() -> None:
    _check(_study(n=1000, reps=600, seed=50_000), "bounded: n = 1000, 600 replications")


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 2000])
def test_coverage_full_study_three_levels(n: int) -> None:
    _check(_study(n=n, reps=2000, seed=60_000 + n), f"full: n = {n}, 2000 replications")


def _population_att(treated: int) -> dict[int, float]:
    """``E[τ_j(X) | T = t]`` of :func:`cqox.simulate.multivalued` by Gauss–Hermite quadrature.

    ``τ_1(x) = 1 + 0.5 x1``, ``τ_2(x) = 2.5 − 0.5 x2``; ``E[g(X) | T = t] =
    E[g(X) p_t(X)] / E[p_t(X)]`` for ``X ~ N(0, I₂)`` (60 × 60 nodes: exact to ~1e-12).
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    x1, x2 = (a.ravel() for a in np.meshgrid(nodes, nodes, indexing="ij"))
    w = np.outer(weights, weights).ravel()
    eta = np.column_stack([np.zeros_like(x1), 0.5 * x1 - 0.5 * x2, -0.3 + 0.8 * x1 + 0.4 * x2])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    wt = w * p[:, treated]
    return {1: float(wt @ (1 + 0.5 * x1) / wt.sum()), 2: float(wt @ (2.5 - 0.5 * x2) / wt.sum())}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("method", ["ipw", "ra"])
@pytest.mark.parametrize("treated", [1, 2])
def test_att_within_three_se_of_the_population_att(method: str, seed: int, treated: int) -> None:
    truth = _population_att(treated)
    df, _ = cqox.simulate.multivalued(n=3000, seed=seed)
    est = cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=COVARIATES,
                        method=method, estimand="ATT", treated_level=treated)  # fmt: skip
    for row in est.tables["effects"].itertuples():
        assert abs(row.estimate - truth[row.level]) <= QUICK_Z * row.se


def _att_study(n: int, reps: int, seed: int) -> dict[tuple[str, int], tuple[float, float, float]]:
    """ATT on level-1 units: coverage, mean error and MC SE per (method, level)."""
    truth = _population_att(1)
    hits: dict[tuple[str, int], list[bool]] = {(m, j): [] for m in ("ipw", "ra") for j in (1, 2)}
    errs: dict[tuple[str, int], list[float]] = {k: [] for k in hits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        for r in range(reps):
            df, _ = cqox.simulate.multivalued(n=n, seed=seed + r)
            for m in ("ipw", "ra"):
                est = cqox.estimate("multivalued", df, outcome="y", treatment="t",
                                    covariates=COVARIATES, method=m, estimand="ATT")  # fmt: skip
                for row in est.tables["effects"].itertuples():
                    hits[(m, row.level)].append(row.ci_low <= truth[row.level] <= row.ci_high)
                    errs[(m, row.level)].append(row.estimate - truth[row.level])
    return {
        k: (float(np.mean(hits[k])), float(np.mean(errs[k])),
            float(np.std(errs[k], ddof=1) / np.sqrt(reps)))
        for k in hits
    }  # fmt: skip


@pytest.mark.ci_bounded
def test_att_coverage_bounded_three_levels() -> None:
    _check(_att_study(n=1000, reps=600, seed=70_000), "ATT bounded: n = 1000, 600 replications")


@pytest.mark.slow
def test_att_coverage_full_study_three_levels() -> None:
    _check(_att_study(n=2000, reps=2000, seed=80_000), "ATT full: n = 2000, 2000 replications")
