"""Timing and scoring: warm-up, median of repeats, error against the known truth."""

from __future__ import annotations

import math
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: What a case returns: at least ``estimate``; optionally ``se``, ``ci`` and ``tau_hat``.
Result = dict[str, Any]


@dataclass
class Case:
    """One library's run of one method on one design."""

    method: str
    library: str
    design: str
    estimand: str
    run: Callable[[], Result]
    repeats: int = 3
    note: str = ""
    #: Cases with the same non-empty group have their timed runs interleaved.
    group: str = ""
    #: Called before every run, outside the clock (undo what a run leaves behind).
    reset: Callable[[], None] | None = None


@dataclass
class Outcome:
    """Measured result of a case."""

    method: str
    library: str
    design: str
    estimand: str
    median_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    estimate: float | None = None
    se: float | None = None
    ci: list[float] | None = None
    truth: float | None = None
    abs_error: float | None = None
    covers: bool | None = None
    pehe: float | None = None
    error: str | None = None
    note: str = ""
    warmup_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


#: Timed runs of a case that takes milliseconds (``multivalued``, the transport
#: estimators and their hand twins): on a shared machine three wall times of ~10 ms
#: scatter by more than the gap between the libraries, and fifteen cost a fraction of
#: a second.
SMALL_CASE_REPEATS = 15

#: A first run longer than this counts as one of the timed repeats: one-off costs
#: (JIT compilation, lazy imports, caches) are a small share of it, and a separate
#: warm-up would double the suite's run time for little change in the median.
WARMUP_AS_REPEAT_S = 3.0
#: Timed runs of such a slow case in all (the first run and one more): their run-to-run
#: spread is small against their length, and it keeps the full suite under 20 minutes.
SLOW_CASE_RUNS = 2


def _plan(
    first: float, wanted: int, single_run_s: float | None, few_runs_s: float | None
) -> tuple[list[float], int]:
    """Timed runs kept from the warm-up, and the number of timed runs wanted."""
    times: list[float] = []
    if single_run_s is not None and first > single_run_s:
        return [first], 1
    if first > WARMUP_AS_REPEAT_S:
        times.append(first)
        wanted = min(wanted, SLOW_CASE_RUNS)
    if few_runs_s is not None and first > few_runs_s:
        wanted = 1
    return times, max(wanted, len(times))


def _fail(out: Outcome, exc: Exception) -> Outcome:
    out.error = f"{type(exc).__name__}: {exc}"[:300]
    out.note = (out.note + " " + traceback.format_exc(limit=1).splitlines()[-1]).strip()
    return out


def measure(
    case: Case,
    truth: float | None,
    tau: np.ndarray | None = None,
    repeats: int | None = None,
    single_run_s: float | None = None,
    few_runs_s: float | None = None,
) -> Outcome:
    """Warm up once, then time ``repeats`` runs; score the last result against ``truth``.

    A first (warm-up) run longer than :data:`WARMUP_AS_REPEAT_S` is kept as a timed
    repeat, and such a slow case is timed :data:`SLOW_CASE_RUNS` times in all.  Quick
    mode bounds the work: a first run longer than ``single_run_s`` is the only run; one
    longer than ``few_runs_s`` is followed by one timed run only.
    """
    return measure_group([(case, truth, tau)], repeats, single_run_s, few_runs_s)[0]


def _timed_run(case: Case) -> tuple[Result, float]:
    """``case.run()`` and its wall time, with ``case.reset`` before and after, untimed."""
    if case.reset is not None:
        case.reset()
    start = time.perf_counter()
    result = case.run()
    elapsed = time.perf_counter() - start
    if case.reset is not None:
        case.reset()
    return result, elapsed


def round_order(items: list[T], k: int) -> list[T]:
    """The order of round ``k`` (from 0) of interleaved timed runs: rotated by ``k``.

    ``A B C``, ``B C A``, ``C A B``, … after warm-ups in the order ``A B C``: round
    ``k`` ends with ``items[(k − 1) mod m]`` and round ``k + 1`` starts with
    ``items[(k + 1) mod m]``, which differ for ``m ≥ 3``, so no case is timed right
    after itself; two cases keep the fixed order ``A B, A B`` (rotating them would
    repeat one).  A run right after the same call finds caches and interpreter state
    warm that a run after another library does not: reversing the order each round
    (``A B C``, ``C B A``) timed about half of each case's runs after itself, and
    ``iv_2sls``'s 1k medians fell on the boundary between the two groups (CQOx 442-621
    µs after itself, 781-807 µs after linearmodels).  Every case still leads every
    ``m``-th round, so a drift of the machine's load is spread over all of them.
    """
    m = len(items)
    shift = k % m if m >= 3 else 0
    return items[shift:] + items[:shift]


def measure_group(
    items: list[tuple[Case, float | None, np.ndarray | None]],
    repeats: int | None = None,
    single_run_s: float | None = None,
    few_runs_s: float | None = None,
) -> list[Outcome]:
    """:func:`measure` for several cases with their timed runs interleaved.

    Each case is warmed up, then the timed runs go round-robin in the order of
    :func:`round_order` (rotated each round; no case right after itself), so that a
    change in the machine's load during the group affects every case alike and the
    ratios between them stay meaningful on a shared machine.
    """
    outs: list[Outcome] = []
    state: list[tuple[int, list[float], int, Result, float]] = []
    for i, (case, _, _) in enumerate(items):
        out = Outcome(case.method, case.library, case.design, case.estimand, note=case.note)
        outs.append(out)
        try:
            result, first = _timed_run(case)  # warm-up (JIT compilation, imports, caches)
        except Exception as exc:  # a peer's failure is a finding, not a crash of the suite
            _fail(out, exc)
            continue
        wanted = repeats if repeats is not None else case.repeats
        times, wanted = _plan(first, wanted, single_run_s, few_runs_s)
        state.append((i, times, wanted, result, first))
    results: dict[int, Result] = {i: r for i, _, _, r, _ in state}
    failed: set[int] = set()
    rounds = 0
    while True:
        pending = [(i, t) for i, t, w, _, _ in state if len(t) < w and i not in failed]
        if not pending:
            break
        pending = round_order(pending, rounds)
        rounds += 1
        for i, times in pending:
            try:
                results[i], elapsed = _timed_run(items[i][0])
                times.append(elapsed)
            except Exception as exc:
                _fail(outs[i], exc)
                failed.add(i)
    for i, times, _, _, first in state:
        if i in failed:
            continue
        _score(outs[i], results[i], times, first, items[i][1], items[i][2])
    return outs


def _score(
    out: Outcome,
    result: Result,
    times: list[float],
    first: float,
    truth: float | None,
    tau: np.ndarray | None,
) -> None:
    out.times_s = [round(t, 6) for t in times]
    out.median_s = statistics.median(times)
    out.warmup_s = round(first, 6)
    out.estimate = _finite(result.get("estimate"))
    out.se = _finite(result.get("se"))
    ci = result.get("ci")
    if ci is not None and len(ci) == 2:
        out.ci = [float(ci[0]), float(ci[1])]
    elif out.se is not None and out.estimate is not None:
        out.ci = [out.estimate - 1.959964 * out.se, out.estimate + 1.959964 * out.se]
    out.truth = truth
    if truth is not None and out.estimate is not None:
        out.abs_error = abs(out.estimate - truth)
        if out.ci is not None:
            out.covers = bool(out.ci[0] <= truth <= out.ci[1])
    out.extra = dict(result.get("extra", {}))
    tau_hat = result.get("tau_hat")
    if tau is not None and tau_hat is not None:
        out.pehe = float(np.sqrt(np.mean((np.asarray(tau_hat) - tau) ** 2)))
