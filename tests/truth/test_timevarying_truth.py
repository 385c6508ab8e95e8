"""``msm_iptw`` and ``gformula`` recover a known effect under treatment–confounder feedback.

Design :func:`~cqox.simulate.timevarying.time_varying_feedback` (4 periods): the risk
factor ``L`` raises treatment and lowers the outcome, and treatment lowers later ``L``;
``E[Y(always)] − E[Y(never)] = 1.1 × 4 = 4.4``, and both g-methods' models are right.
The two naive regressions of ``Y`` on the number of treated periods — without ``L``
(confounded) and with the history of ``L`` (which blocks the effect through ``L``) — are
both far off, and the tests show it.

- default run: both estimates within 3·SE of 4.4 on three seeds (n = 1000); both naive
  regressions more than 4 SEs away;
- ``ci_bounded`` (≈ 4 min): ``msm_iptw`` 1000 and ``gformula`` 200 replications (with
  ``n_boot = 100``) at n = 1000: coverage within 2 MC SEs of [93%, 97%], bias within 4
  MC SEs of zero; where that coverage bound passes 100 % (``gformula``) the mean SE over
  the estimates' SD at most ``1 + 3/√(2·reps)``, so too-wide intervals still fail
  (measured: msm_iptw 0.937 / SE/SD 0.904, gformula 0.955 / 1.023);
- ``slow``: 2000 and 1000 replications, coverage in [93%, 97%].

Run the bounded study with ``--ci-bounded``, the full one with ``--run-slow``; add ``-s``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import cqox
from cqox.errors import CqoxWarning
from cqox.simulate.timevarying import time_varying_feedback

ROLES = {"outcome": "y", "treatment": "a", "unit": "id", "time": "time", "covariates": ["l", "v"]}
QUICK_Z = 3.0
COVERAGE_BAND = (0.93, 0.97)
BIAS_Z = 4.0
PARAMS: dict[str, dict[str, Any]] = {"msm_iptw": {}, "gformula": {"n_boot": 100}}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(PARAMS))
def test_estimate_within_three_se_of_the_truth(name: str, seed: int) -> None:
    df, truth = time_varying_feedback(n=1000, seed=seed)
    quick = {"n_boot": 50} if name == "gformula" else {}
    est = cqox.estimate(name, df, **ROLES, **quick)
    assert abs(est.estimate - truth["always_vs_never"]) <= QUICK_Z * est.se


def test_both_naive_regressions_are_biased() -> None:
    df, truth = time_varying_feedback(n=1000, seed=1)
    naive = cqox.estimate("msm_iptw", df, **ROLES).tables["naive_regressions"]
    assert len(naive) == 2
    z = (naive["estimate"] - truth["always_vs_never"]).abs() / naive["se"]
    assert bool((z > 4).all()), naive


def _study(name: str, n: int, reps: int, seed: int) -> tuple[float, float, float, float]:
    hits, errs, ses = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        for r in range(reps):
            df, truth = time_varying_feedback(n=n, seed=seed + r)
            est = cqox.estimate(name, df, **ROLES, seed=r, **PARAMS[name])
            hits.append(est.ci[0] <= truth["always_vs_never"] <= est.ci[1])
            errs.append(est.estimate - truth["always_vs_never"])
            ses.append(est.se)
    e = np.asarray(errs)
    return (
        float(np.mean(hits)),
        float(e.mean()),
        float(e.std(ddof=1) / np.sqrt(reps)),
        float(np.mean(ses) / e.std(ddof=1)),
    )


def _check(res: tuple[float, float, float, float], reps: int, title: str, slack_se: float) -> None:
    cov, bias, mcse, ratio = res
    print(f"\n{title}: coverage {cov:.3f}, bias {bias:+.4f} (MC SE {mcse:.4f}), SE/SD {ratio:.3f}")
    slack = slack_se * np.sqrt(0.95 * 0.05 / reps)
    assert COVERAGE_BAND[0] - slack <= cov <= COVERAGE_BAND[1] + slack, cov
    assert abs(bias) <= BIAS_Z * mcse, (bias, mcse)
    if COVERAGE_BAND[1] + slack >= 1.0:
        # with few replications the coverage bound passes 100 % and cannot catch
        # intervals too wide; the SEs against the estimates' spread can (the SD's
        # relative Monte-Carlo error is ≈ 1/√(2 reps): 3 of them, 1.21 at 200 reps, where
        # normal intervals would cover 98 %)
        assert ratio <= 1.0 + 3.0 / np.sqrt(2 * reps), ratio


@pytest.mark.ci_bounded
@pytest.mark.parametrize(("name", "reps"), [("msm_iptw", 1000), ("gformula", 200)])
def test_coverage_bounded(name: str, reps: int) -> None:
    _check(_study(name, 1000, reps, 30_000), reps, f"{name} bounded, n = 1000, {reps} reps", 2.0)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "reps"), [("msm_iptw", 2000), ("gformula", 1000)])
def test_coverage_full_study(name: str, reps: int) -> None:
    _check(_study(name, 1000, reps, 35_000), reps, f"{name} full, n = 1000, {reps} reps", 0.0)
