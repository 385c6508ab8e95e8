"""The peer benchmark's paired ratios and their distribution-free interval for a median."""

from __future__ import annotations

import itertools
import math

import pytest
from benchmarks import harness, peer_speed


def _coverage(n: int, j: int) -> float:
    """``1 − 2 P(B ≤ j)``, B ~ Binomial(n, 1/2): confidence of (x₍ⱼ₊₁₎, x₍ₙ₋ⱼ₎)."""
    return 1 - 2 * sum(math.comb(n, k) for k in range(j + 1)) / 2**n


@pytest.mark.parametrize("n", [6, 7, 9, 15, 21, 40])
def test_median_interval_is_the_narrowest_with_95_percent(n: int) -> None:
    lo, hi = peer_speed.median_interval(n)
    assert hi == n - 1 - lo
    assert _coverage(n, lo) >= 0.95
    assert _coverage(n, lo + 1) < 0.95  # one step narrower falls short


def test_median_interval_of_15_runs_is_the_4th_to_12th() -> None:
    assert peer_speed.median_interval(15) == (3, 11)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_few_runs_give_the_range(n: int) -> None:
    assert peer_speed.median_interval(n) == (0, n - 1)


def test_paired_divides_run_by_run() -> None:
    # a load change doubles both cases' run 3: the paired ratios do not see it
    ours = [1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    peer = [1.1, 1.1, 2.2, 1.1, 1.1, 1.1, 1.1]
    median, lo, hi = peer_speed.paired(peer, ours) or (0.0, 0.0, 0.0)
    assert median == pytest.approx(1.1) and lo == pytest.approx(1.1) and hi == pytest.approx(1.1)
    assert peer_speed.paired([], ours) is None


def test_section_shows_the_paired_ratio_and_the_learner_split() -> None:
    def row(library: str, runs: list[float], learner: float) -> dict[str, object]:
        return {
            "method": "dml_irm",
            "library": library,
            "rows": 1000,
            "cpu_s": sorted(runs)[len(runs) // 2],
            "wall_s": None,
            "runs": len(runs),
            "cpu_runs": runs,
            "estimate": 1.0,
            "note": "",
            "error": None,
            "learner_s": learner,
            "core_s": learner - 0.1,
            "outside_s": 0.02,
            "core_runs": [learner - 0.1] * len(runs),
        }

    result = {
        "runs": 7,
        "slow_runs": {"1000": 3},
        "load_average": [1.0, 1.0, 1.0],
        "rows": [row("cqox", [3.0, 3.3, 3.6], 3.0), row("doubleml", [3.3, 3.3, 3.6], 3.2)],
    }
    text = "\n".join(peer_speed.section(result))
    assert "| dml_irm | 1,000 | 3.3e+03 | doubleml | 3.3e+03 | 1.00 | 1.00 [1.00, 1.10] |" in text
    # non-core per run: CQOx 0.1, 0.4, 0.7 s; DoubleML 0.2, 0.2, 0.5 s; one core time
    # C = 3.0 (median of 2.9, 2.9, 2.9, 3.1, 3.1, 3.1): ratios 3.2/3.1, 3.2/3.4, 3.5/3.7
    ratios = sorted([3.2 / 3.1, 3.2 / 3.4, 3.5 / 3.7])
    same = f"{ratios[1]:.3f} [{ratios[0]:.3f}, {ratios[2]:.3f}]"
    assert (
        f"| dml_irm | 1,000 | doubleml | 3.3e+03 | 3.2e+03 | 3.1e+03 | 200 | 20 | {same} |" in text
    )
    assert "| dml_irm | 1,000 | cqox | 3.3e+03 | 3e+03 | 2.9e+03 | 400 | 20 | — |" in text


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_no_case_is_timed_right_after_itself(m: int) -> None:
    cases_ = list(range(m))
    sequence = list(cases_)  # the warm-ups, in order
    for k in range(3 * m + 1):
        order = harness.round_order(cases_, k)
        assert sorted(order) == cases_  # every case once per round
        sequence += order
    assert all(a != b for a, b in itertools.pairwise(sequence))
    if m >= 3:  # every case leads some round
        assert {harness.round_order(cases_, k)[0] for k in range(m)} == set(cases_)
