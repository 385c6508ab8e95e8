"""Studentized (percentile-t) bootstrap of the transport estimators.

Why: the inverse odds of sampling weights ``v(X) = (1 − p)/p`` are heavy-tailed when
the selection model separates the samples moderately (log-normal in the benchmark
design), so the weighting estimator is skewed and its sandwich SE grows with its
error.  The sandwich itself is the right one (the stacked equations of the three
nuisance models and ψ; it equals delicatessen's to 1e-7), but the Wald interval built on
it misses on one side: at n = 2,000 in ``nested_trial(kappa=0.5)`` the TATE interval
covers 0.929 (2,000 replications; 5.9 % of the intervals lie above the truth, 1.2 %
below), and the SD of the estimates is 1.11 times the mean SE.  The percentile-t
bootstrap corrects the skewness of a smooth statistic to second order (Hall 1988,
doi:10.1214/aos/1176350933; Efron & Tibshirani 1993, §12.5):

    t*_b = (ψ̂*_b − ψ̂) / se*_b,    CI = [ψ̂ − q*_{1−α/2} · se,  ψ̂ − q*_{α/2} · se],

with ``se`` the sandwich SE of the sample and ``se*_b`` that of resample ``b`` (free:
each replicate computes its influence function anyway), every nuisance model refitted
on each resample.  Resampling is stratified by sample (trial rows from the trial, target
rows from the target), which is valid whether the trial is nested in the target
population or drawn separately.  The p-value is the equal-tailed
``2·min(P*(t* ≤ t), P*(t* ≥ t))`` at ``t = ψ̂/se``.

What it achieves there is limited: on the 300 seeds where the Wald TATE interval covered
0.897, the percentile-t one covered 0.917 (PATE 0.917 both), and the percentile, BCa
and bootstrap-SE intervals no better than Wald; the weighting estimator with the *true*
weights covers 0.928 too, so the shortfall is the weights' tail, which no resample of
the sample reproduces.  Hence a study tool kept with the benchmarks, not wired into the estimators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox.errors import CqoxError, EstimationError
from cqox.estimators.transport.scores import fit_nuisances, potential_outcome_means

#: Share of failed resamples (a separated sampling or treatment model) above which the
#: bootstrap is abandoned with an error.
MAX_FAILED_SHARE = 0.05
TARGETS = ("target", "all")


@dataclass(frozen=True)
class StudentizedReplicates:
    """Per-resample estimates and sandwich SEs of one contrast, shape (n_ok,) each."""

    estimates: np.ndarray
    ses: np.ndarray
    n_failed: int

    def interval(self, estimate: float, se: float, level: float) -> tuple[float, float]:
        """The percentile-t interval ``[ψ̂ − q_{1−α/2} se, ψ̂ − q_{α/2} se]``."""
        t = (self.estimates - estimate) / self.ses
        lo_q, hi_q = np.quantile(t, [(1 - level) / 2, (1 + level) / 2])
        return float(estimate - hi_q * se), float(estimate - lo_q * se)

    def p_value(self, estimate: float, se: float) -> float:
        """Equal-tailed p-value of ``ψ = 0`` from the bootstrap distribution of ``t*``."""
        t = (self.estimates - estimate) / self.ses
        t_obs = estimate / se
        return float(min(1.0, 2 * min(np.mean(t <= t_obs), np.mean(t >= t_obs))))


def contrast(
    X: np.ndarray, s: np.ndarray, t: np.ndarray, y: np.ndarray, method: str
) -> dict[str, tuple[float, float]]:
    """``ψ̂(1) − ψ̂(0)`` and its sandwich SE for each target population."""
    nuis = fit_nuisances(X, s, t, y)
    out = {}
    for target in TARGETS:
        arms = potential_outcome_means(nuis, s, t, y, method, target)
        phi = arms[1].influence - arms[0].influence
        out[target] = (arms[1].estimate - arms[0].estimate, float(np.sqrt(phi @ phi) / len(s)))
    return out


def studentized_bootstrap(
    X: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    method: str,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, StudentizedReplicates]:
    """``n_boot`` stratified resamples of ``method``'s contrast, for both targets."""
    trial = np.flatnonzero(s == 1)
    target = np.flatnonzero(s == 0)
    reps: dict[str, list[tuple[float, float]]] = {k: [] for k in TARGETS}
    failed = 0
    for _ in range(n_boot):
        idx = np.concatenate(
            [rng.choice(trial, size=len(trial)), rng.choice(target, size=len(target))]
        )
        try:
            got = contrast(X[idx], s[idx], t[idx], y[idx], method)
        except CqoxError:  # a separated model on this resample (e.g. one arm too small)
            failed += 1
            continue
        for k in TARGETS:
            reps[k].append(got[k])
    if failed > MAX_FAILED_SHARE * n_boot:
        raise EstimationError(
            f"the transport models failed on {failed} of {n_boot} bootstrap resamples "
            "(separation or an almost empty trial arm); use se_method='analytic'",
            details={"failed": failed, "n_boot": n_boot},
        )
    out = {}
    for k in TARGETS:
        a = np.asarray(reps[k], dtype=np.float64).reshape(-1, 2)
        out[k] = StudentizedReplicates(a[:, 0], a[:, 1], failed)
    return out


__all__ = ["StudentizedReplicates", "contrast", "studentized_bootstrap"]
