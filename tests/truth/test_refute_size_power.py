"""Size and power of the refutation gates, by seeded simulation (docs/accuracy.md).

The study of ``benchmarks.refute_accuracy``: warn rates of the five gates on data where
nothing is wrong (size) and where a confounder is omitted or a covariate leaks the
outcome (power).  The full form (400 replications, ``slow``) reproduces the published
table; the bounded form (40, ``ci_bounded``) checks the same claims with wider bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks import refute_accuracy

#: The four significance refuters at DoWhy's rule: nominal level 5%.
SIGNIFICANCE_GATES = refute_accuracy.GATES[:4]
NOMINAL = 0.05


def _mcse(rate: float, reps: int) -> float:
    return float(np.sqrt(max(rate * (1 - rate), NOMINAL * (1 - NOMINAL)) / reps))


def _check(reps: int) -> None:
    rates = refute_accuracy.run(reps)
    for scenario in ("correct", "null effect"):
        for g in SIGNIFICANCE_GATES:
            # size: at most the nominal level (DoWhy's rule is conservative)
            assert rates[scenario][g] <= NOMINAL + 3 * _mcse(NOMINAL, reps), (scenario, g)
    # the simulated confounder warns only where it can flip the sign: never for an
    # effect of 2 (a strong effect), often for an effect of 0 and under leakage (≈ 0)
    unobserved = "refute_unobserved_common_cause"
    assert rates["correct"][unobserved] == 0.0
    assert rates["omitted confounder"][unobserved] == 0.0
    assert rates["null effect"][unobserved] >= 0.1
    assert rates["leakage"][unobserved] >= 0.25
    # the significance refuters check mechanics, not identification: no power here
    for g in SIGNIFICANCE_GATES:
        assert rates["omitted confounder"][g] <= NOMINAL + 3 * _mcse(NOMINAL, reps)


@pytest.mark.slow
def test_refutation_gates_size_and_power_full() -> None:
    _check(400)


@pytest.mark.ci_bounded
def test_refutation_gates_size_and_power_bounded() -> None:
    _check(40)
