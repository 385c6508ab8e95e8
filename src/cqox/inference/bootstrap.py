"""Nonparametric bootstrap: replicates, standard error, percentile and BCa intervals.

Two levels:

- :func:`bootstrap` resamples row indices (or whole clusters) and calls any statistic
  ``statistic(idx) -> float`` on each resample;
- :func:`bootstrap_fitted` bootstraps a fitted estimator (refitting it on each
  resample, nuisances included); the registered ``bootstrap`` estimator and
  :func:`cqox.estimators.backdoor.bootstrap.bootstrap_estimate` build on it.

Replicate ``b`` draws its resample from ``numpy.random.default_rng([seed, b])``: every
replicate has its own stream, so the result does not depend on how many workers run
it or in which order.  Replicates run in a process pool (one BLAS/OpenMP thread per
worker) when the job is large enough to repay starting the workers; small jobs run
serially.

Intervals (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, §13.3, §14.3):

- percentile: the ``α/2`` and ``1 − α/2`` quantiles of the replicates;
- BCa: quantiles at ``α_j = Φ(z₀ + (z₀ + z_j)/(1 − a(z₀ + z_j)))`` with bias
  correction ``z₀ = Φ⁻¹(#{θ*_b < θ̂} + #{θ*_b ≤ θ̂})/(2B)`` and acceleration
  ``a = Σ U_i³ / (6 (Σ U_i²)^{3/2})`` from jackknife values ``U_i = θ̄₍.₎ − θ̂₍ᵢ₎``
  (Efron 1987, doi:10.1080/01621459.1987.10478410).  The jackknife deletes one unit
  (row or cluster) at a time up to ``jackknife_groups`` units, and beyond that one of
  ``jackknife_groups`` random, equal-sized groups of units: the acceleration is a
  ratio of the third to the 1.5th power of the second moment of the influence values,
  which group sums estimate consistently.

The standard error is the standard deviation of the replicates (``ddof=1``).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from cqox import compute
from cqox.core.context import Context, ProgressCallback
from cqox.errors import CqoxError, EstimationError, ParameterError

if TYPE_CHECKING:
    from cqox.core.estimate import Estimate
    from cqox.data.prepare import CausalData

#: Stream of the random jackknife groups: beyond any replicate's stream ``[seed, b]``.
JACKKNIFE_GROUP_STREAM = 2**20
#: Serial time (estimated from the first replicates) below which the pool is not
#: started: starting workers and shipping the data to them costs a fraction of a
#: second, which small jobs do not repay.
PARALLEL_MIN_SECONDS = 2.0
#: Time spent on the first replicates to estimate the cost of one.
PILOT_SECONDS = 0.25
#: Jackknife units beyond which the delete-a-group jackknife is used.
JACKKNIFE_GROUPS = 200
#: Share of failed replicates above which the bootstrap is abandoned.
MAX_FAILED_SHARE = 0.5
_SEED_MAX = 2**31 - 1


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap distribution and what is read from it.

    Attributes
    ----------
    theta_hat : float
        The statistic on the full sample.
    replicates : ndarray, shape (n_boot,)
        The statistic on each resample (NaN where it failed).
    se : float
        Standard deviation of the finite replicates (``ddof=1``).
    bias : float
        ``mean(replicates) − theta_hat``.
    ci : tuple of float
        Interval at ``level`` by ``ci_method``.
    level : float
    ci_method : {"percentile", "bca"}
    z0, acceleration : float or None
        BCa bias correction and acceleration (``None`` for the percentile method).
    n_failed : int
        Replicates on which the statistic failed.
    n_workers : int
        Worker processes used (1: serial).
    """

    theta_hat: float
    replicates: np.ndarray
    se: float
    bias: float
    ci: tuple[float, float]
    level: float
    ci_method: str
    z0: float | None
    acceleration: float | None
    n_failed: int
    n_workers: int


# ---------------------------------------------------------------------------------
# interval arithmetic


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval: the ``α/2`` and ``1 − α/2`` quantiles (linear interpolation)."""
    alpha = 1 - level
    lo, hi = np.percentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def jackknife_acceleration(jackknife_values: np.ndarray) -> float:
    """BCa acceleration ``a = Σ U³ / (6 (Σ U²)^{3/2})``, ``U_i = mean(θ₍.₎) − θ₍ᵢ₎``."""
    u = np.mean(jackknife_values) - np.asarray(jackknife_values, dtype=np.float64)
    den = float(np.sum(u**2))
    if den == 0:
        return 0.0
    return float(np.sum(u**3) / (6 * den**1.5))


def bca_interval(
    theta_hat: float,
    replicates: np.ndarray,
    jackknife_values: np.ndarray,
    level: float = 0.95,
) -> tuple[tuple[float, float], float, float]:
    """BCa interval, bias correction ``z₀`` and acceleration ``a``.

    ``z₀`` uses the mid-rank of ``theta_hat`` among the replicates (ties count half),
    as scipy.stats.bootstrap does.
    """
    b = len(replicates)
    share = (np.sum(replicates < theta_hat) + np.sum(replicates <= theta_hat)) / (2 * b)
    z0 = float(special.ndtri(share))
    a = jackknife_acceleration(jackknife_values)
    alpha = 1 - level
    quantiles = []
    for z in (special.ndtri(alpha / 2), -special.ndtri(alpha / 2)):
        num = z0 + z
        quantiles.append(float(special.ndtr(z0 + num / (1 - a * num))))
    if not all(math.isfinite(q) for q in quantiles):
        raise EstimationError(
            "the BCa interval is undefined: the bootstrap distribution is degenerate "
            "(all replicates on one side of the estimate); use ci_method='percentile'",
            details={"z0": z0, "acceleration": a},
        )
    lo, hi = np.percentile(replicates, [100 * q for q in quantiles])
    return (float(lo), float(hi)), z0, a


# ---------------------------------------------------------------------------------
# resampling


def _units(n: int, clusters: np.ndarray | None) -> tuple[int, list[np.ndarray] | None]:
    if clusters is None:
        return n, None
    _, codes = np.unique(clusters, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    members = np.split(order, bounds)
    return len(members), members


def resample_indices(
    n: int, seed: int, b: int, members: list[np.ndarray] | None = None
) -> tuple[np.ndarray, int]:
    """Row indices of replicate ``b`` (whole clusters when ``members`` is given).

    Returns the indices and an integer seed for any randomness inside the statistic,
    both drawn from replicate ``b``'s own stream ``default_rng([seed, b])``.
    """
    rng = np.random.default_rng([seed, b])
    if members is None:
        idx = rng.integers(0, n, n)
    else:
        picks = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[g] for g in picks])
    return idx, int(rng.integers(_SEED_MAX))


def _jackknife_index_sets(
    n: int, members: list[np.ndarray] | None, groups: int, seed: int
) -> list[np.ndarray]:
    """Row indices kept by each jackknife deletion."""
    n_units = n if members is None else len(members)
    unit_rows = [np.array([i]) for i in range(n)] if members is None else members
    if n_units <= groups:
        deleted = [[u] for u in range(n_units)]
    else:
        perm = np.random.default_rng([seed, JACKKNIFE_GROUP_STREAM]).permutation(n_units)
        deleted = [list(g) for g in np.array_split(perm, groups)]
    out = []
    all_rows = np.arange(n)
    for units in deleted:
        drop = np.concatenate([unit_rows[u] for u in units])
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        out.append(all_rows[keep])
    return out


# ---------------------------------------------------------------------------------
# running replicates


class _ReplicateTask:
    """Picklable replicate runner: ``task(b) -> float``."""

    def __init__(
        self,
        statistic: Callable[[np.ndarray, int], float],
        n: int,
        seed: int,
        members: list[np.ndarray] | None,
    ) -> None:
        self.statistic = statistic
        self.n = n
        self.seed = seed
        self.members = members

    def __call__(self, b: int) -> float:
        idx, inner_seed = resample_indices(self.n, self.seed, b, self.members)
        return _safe(self.statistic, idx, inner_seed)


def _safe(statistic: Callable[[np.ndarray, int], float], idx: np.ndarray, seed: int) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(statistic(idx, seed))
    except (CqoxError, np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
        return math.nan
    return value if math.isfinite(value) else math.nan


_WORKER_TASK: Callable[[int], float] | None = None


def _init_worker(task: Callable[[int], float]) -> None:
    global _WORKER_TASK
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _WORKER_TASK = task


def _run_chunk(bs: Sequence[int]) -> list[tuple[int, float]]:
    assert _WORKER_TASK is not None
    return [(b, _WORKER_TASK(b)) for b in bs]


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def run_replicates(
    task: Callable[[int], float],
    n_boot: int,
    n_jobs: int | None = None,
    progress: ProgressCallback | None = None,
    step: str = "bootstrap",
) -> tuple[np.ndarray, int]:
    """Evaluate ``task(b)`` for ``b = 0 … n_boot−1``; returns values and workers used.

    With an executor in force (:func:`cqox.compute.current`: a Dask cluster, a process
    pool, or in-process) every replicate runs on it, whatever ``n_jobs``.  Otherwise a
    pilot runs serially for :data:`PILOT_SECONDS`; if the rest would take less than
    :data:`PARALLEL_MIN_SECONDS` serially, or ``n_jobs`` is 1, or ``task`` cannot be
    sent to a worker process, the rest runs serially too.  Replicate ``b`` has its own
    random stream, so the values are the same on every executor.
    """
    executor = compute.current()
    if executor is not None:  # `cqox.compute.use(...)`, `--dask`, CQOX_DASK_SCHEDULER
        return _run_executor(executor, task, n_boot, progress, step), executor.workers
    out = np.full(n_boot, np.nan)
    workers = available_cores() if n_jobs is None or n_jobs < 1 else n_jobs
    start = time.perf_counter()
    b = 0
    while b < n_boot and (b == 0 or time.perf_counter() - start < PILOT_SECONDS):
        out[b] = task(b)
        b += 1
    per_rep = (time.perf_counter() - start) / b
    remaining = n_boot - b
    if progress is not None:
        progress(step, b / n_boot)
    if remaining == 0:
        return out, 1
    if workers > 1 and per_rep * remaining >= PARALLEL_MIN_SECONDS:
        try:
            return _run_pool(task, out, b, n_boot, workers, progress, step), workers
        except (OSError, RuntimeError, AttributeError, TypeError, ImportError) as exc:
            # unpicklable statistic or no process support: fall back to serial
            warnings.warn(f"bootstrap ran serially: {exc}", RuntimeWarning, stacklevel=2)
    report_every = max(1, remaining // 20)
    for i in range(b, n_boot):
        out[i] = task(i)
        if progress is not None and (i - b) % report_every == 0:
            progress(step, (i + 1) / n_boot)
    if progress is not None:
        progress(step, 1.0)
    return out, 1


def _run_executor(
    executor: compute.Executor,
    task: Callable[[int], float],
    n_boot: int,
    progress: ProgressCallback | None,
    step: str,
) -> np.ndarray:
    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(step, done / total)

    return np.asarray(executor.map(task, list(range(n_boot)), report), dtype=np.float64)


def _run_pool(
    task: Callable[[int], float],
    out: np.ndarray,
    first: int,
    n_boot: int,
    workers: int,
    progress: ProgressCallback | None,
    step: str,
) -> np.ndarray:
    todo = np.arange(first, n_boot)
    chunks = np.array_split(todo, min(len(todo), workers * 8))
    # fork: workers start in milliseconds and inherit the imported modules and the
    # task (closures included), and a user's script is not re-run in each worker (as
    # spawn would do without a ``__main__`` guard); spawn where fork does not exist.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if ctx.get_start_method() != "fork":
        import pickle

        pickle.dumps(task)  # fail fast (TypeError/AttributeError) if not picklable
    done = first
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(task,)
    ) as pool:
        pending = {pool.submit(_run_chunk, c.tolist()) for c in chunks if len(c)}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                for b, value in fut.result():
                    out[b] = value
                    done += 1
            if progress is not None:
                progress(step, done / n_boot)
    return out


def bootstrap(
    statistic: Callable[[np.ndarray, int], float],
    n: int,
    *,
    n_boot: int = 999,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int | None = None,
    clusters: np.ndarray | None = None,
    jackknife_groups: int = JACKKNIFE_GROUPS,
    n_jobs: int | None = 1,
    progress: ProgressCallback | None = None,
    theta_hat: float | None = None,
) -> BootstrapResult:
    """Bootstrap ``statistic(idx, seed) -> float`` over ``n`` rows.

    Parameters
    ----------
    statistic : callable
        Called with the row indices of a resample (shape (m,), with repeats) and an
        integer seed for any randomness of its own.  Worker processes are forked, so
        any callable works in parallel on Linux; where only spawn exists it must be
        picklable (else the replicates run serially, with a warning).
    n : int
        Rows in the sample.
    n_boot : int
        Replicates.
    ci_method : {"percentile", "bca"}
    level : float
        Confidence level.
    seed : int, optional
        Seed of the resampling (``None``: fresh entropy).
    clusters : ndarray, shape (n,), optional
        Cluster labels; whole clusters are resampled.
    jackknife_groups : int
        Units beyond which the BCa jackknife deletes groups instead of single units.
    n_jobs : int or None
        Worker processes (``None`` or < 1: all cores).
    progress : callable, optional
        ``progress(step, fraction)``.
    theta_hat : float, optional
        The statistic on the full sample, if already known.
    """
    if ci_method not in ("percentile", "bca"):
        raise ParameterError(
            f"The 'ci_method' parameter must be one of 'percentile', 'bca'. "
            f"Got {ci_method!r} instead.",
            details={"parameter": "ci_method"},
        )
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0]) % _SEED_MAX
    n_units, members = _units(n, clusters)
    if n_units < 2:
        raise EstimationError(
            f"the bootstrap needs at least 2 resampling units; got {n_units}",
            details={"units": n_units},
        )
    full = np.arange(n)
    if theta_hat is None:
        theta_hat = float(statistic(full, seed))
    task = _ReplicateTask(statistic, n, seed, members)
    reps, workers = run_replicates(task, n_boot, n_jobs, progress)
    ok = np.isfinite(reps)
    n_failed = int((~ok).sum())
    if n_failed > MAX_FAILED_SHARE * n_boot or ok.sum() < 2:
        raise EstimationError(
            f"the statistic failed on {n_failed} of {n_boot} bootstrap resamples; the "
            "estimator is not stable on resampled data (too few rows per arm or cluster?)",
            details={"n_failed": n_failed, "n_boot": n_boot},
        )
    good = reps[ok]
    se = float(np.std(good, ddof=1))
    z0: float | None = None
    a: float | None = None
    if ci_method == "percentile":
        ci = percentile_interval(good, level)
    else:
        sets = _jackknife_index_sets(n, members, jackknife_groups, seed)
        jack = np.array([_safe(statistic, keep, seed) for keep in sets])
        jack = jack[np.isfinite(jack)]
        ci, z0, a = bca_interval(theta_hat, good, jack, level)
    return BootstrapResult(
        float(theta_hat),
        reps,
        se,
        float(good.mean() - theta_hat),
        ci,
        level,
        ci_method,
        z0,
        a,
        n_failed,
        workers,
    )


# ---------------------------------------------------------------------------------
# bootstrapping an estimator


def resample_data(data: CausalData, idx: np.ndarray) -> CausalData:
    """The prepared data restricted to rows ``idx`` (with repeats), as a new object."""
    return replace(
        data,
        frame=data.frame.iloc[idx].reset_index(drop=True),
        y=None if data.y is None else data.y[idx],
        t=None if data.t is None else data.t[idx],
        X=data.X[idx],
        row_index=data.row_index[idx],
        warnings=[],
    )


class EstimatorStatistic:
    """Picklable statistic: refit an estimator on resampled prepared data."""

    def __init__(
        self, estimator: Any, data: CausalData, thresholds: Mapping[str, float] | None = None
    ) -> None:
        self.estimator = estimator
        self.data = data
        self.thresholds = dict(thresholds or {})

    def __call__(self, idx: np.ndarray, seed: int) -> float:
        """The estimate on rows ``idx``, with ``seed`` for the estimator's own randomness."""
        sub = resample_data(self.data, idx)
        # threads were limited once for the whole bootstrap (and per worker)
        ctx = Context(seed=seed, thresholds=self.thresholds, n_threads=None)
        est = self.estimator.fit(sub.frame, sub.roles, ctx, data=sub)
        return float(est.estimate)


def bootstrap_fitted(
    estimator: Any,
    data: CausalData,
    ctx: Context,
    *,
    n_boot: int = 999,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int | None = None,
    clusters: np.ndarray | None = None,
    jackknife_groups: int = JACKKNIFE_GROUPS,
    n_jobs: int | None = None,
) -> tuple[Estimate, BootstrapResult]:
    """Fit ``estimator`` on ``data`` and bootstrap it; returns the fit and the bootstrap."""
    full = estimator.fit(data.frame, data.roles, ctx, data=data)
    stat = EstimatorStatistic(estimator, data, ctx.thresholds)
    res = bootstrap(
        stat,
        data.n,
        n_boot=n_boot,
        ci_method=ci_method,
        level=level,
        seed=seed,
        clusters=clusters,
        jackknife_groups=jackknife_groups,
        n_jobs=n_jobs,
        progress=ctx.progress,
        theta_hat=full.estimate,
    )
    return full, res
