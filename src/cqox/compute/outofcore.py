"""Out-of-core estimation: tables larger than memory, as Parquet directories, on Dask.

For the backdoor estimators whose nuisances are linear — ``regression_adjustment``
and ``ipw`` (logit propensity) — every quantity the in-memory estimator computes is a
sum over rows of small arrays.  Each pass below maps one function over the Parquet
partitions (on a ``dask.distributed`` cluster, or Dask's threads) and adds up what the
partitions return, so no process ever holds more than one partition; the small
solves run here.  The numbers are those of :mod:`cqox.estimators.backdoor` to
rounding (tested to 1e-8 against ``cqox.estimate`` on the same table):

- **regression adjustment** (Wooldridge 2010, §21.3): pass 1 adds each arm's ``Z'Z``,
  ``Z'y``, ``Σy``, ``Σy²`` and the target population's ``Σz``; the normal equations
  give ``β̂₁, β̂₀``; pass 2 adds ``Σψ_i²`` of the influence function
  ``ψ_i = 1{i∈S}(z_i'(β̂₁−β̂₀) − τ̂)/P(S) + n z_i'(Z_a'Z_a)⁻¹z̄_S ε_i`` (± by arm) and the
  residual sums of squares; ``SE = sqrt(Σψ²)/n``.
- **IPW** (Lunceford & Davidian 2004, doi:10.1002/sim.1903): the logit propensity by
  the same Newton–Raphson as :func:`cqox.nuisance.glm.fit_binary` — standardised
  covariates (one pass for the mean and SD), one pass per Newton step for the
  log-likelihood, gradient ``Σ z(t−p)`` and information ``Σ p(1−p) zz'``, the same step
  halving and stopping rule — then one pass for the weighted arm means and one for the
  M-estimation influence function
  ``ψ_i = Σ_a ±[m_{ai} + s_i'H⁻¹D_a] / d̄_a``, whose ``Σψ²`` is assembled from the sums
  ``Σa²``, ``Σ a s`` and ``Σ s s'`` (``s_i = z_i(t_i − p_i)``).

``trim`` and the Firth fallback of separated propensity models need the whole table
at once and are refused here (use the in-memory estimator on a sample, or drop the
separating covariate); ``clip`` is supported.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.estimate import Estimate
from cqox.errors import EstimationError, ParameterError, SeparationError
from cqox.nuisance.glm import LL_SLACK, MAX_COEF, MAX_ITER, TOLERANCE

#: Estimators that run out of core.
ESTIMATORS = ("regression_adjustment", "ipw", "aipw", "dml_plr", "dml_irm")
ESTIMANDS = ("ATE", "ATT", "ATC")

Sums = dict[str, Any]


@dataclass(frozen=True)
class ParquetTable:
    """A Parquet directory (or file, or glob) read lazily, by partition, with Dask.

    Parameters
    ----------
    source : str or Path
        What ``dask.dataframe.read_parquet`` reads.
    outcome, treatment : str
    covariates : sequence of str
    client : distributed.Client, optional
        Where the passes run (default: Dask's local threads).
    timeout : float, optional
        Seconds one pass may take on the cluster before it is cancelled and an
        :class:`~cqox.errors.EstimationError` raised (default: no limit).  A worker that
        stalls — paused at its memory threshold, or lost — then fails the estimate
        instead of blocking it forever.
    """

    source: str | Path
    outcome: str
    treatment: str
    covariates: tuple[str, ...]
    client: Any = None
    timeout: float | None = None

    def partitions(self) -> list[Any]:
        """The partitions as delayed pandas frames (read only when a pass runs).

        Built once per table: listing a directory and reading its schema costs a
        fraction of a second, which every pass would otherwise pay again.
        """
        return self._partitions

    @functools.cached_property
    def _partitions(self) -> list[Any]:
        import dask.dataframe as dd

        columns = [self.outcome, self.treatment, *self.covariates]
        frame = dd.read_parquet(str(self.source))  # reads the schema, not the rows
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ParameterError(
                f"column(s) {', '.join(map(repr, missing))} not in {self.source} "
                f"(columns: {', '.join(map(str, frame.columns))})",
                details={"columns": missing},
            )
        return list(frame[columns].to_delayed())

    def run(self, fn: Callable[..., Sums], *args: Any, each: Sequence[Any] | None = None) -> Sums:
        """``Σ fn(arrays of a partition, *args)`` over the partitions (a map-reduce).

        ``each``: one more argument per partition (in partition order), passed to
        ``fn`` before ``args`` — e.g. the partition's cross-fitting folds.
        """
        return _add(self.map(fn, *args, each=each))

    def map(
        self, fn: Callable[..., Sums], *args: Any, each: Sequence[Any] | None = None
    ) -> list[Sums]:
        """``[fn(arrays of partition j, each[j], *args) for j]``, in partition order."""
        from dask.base import compute
        from dask.delayed import delayed

        columns = (self.outcome, self.treatment, self.covariates)
        parts = self.partitions()
        if each is not None and len(each) != len(parts):
            raise EstimationError(
                f"{self.source} has {len(parts)} partitions, not {len(each)}: it changed "
                "between two passes",
                details={"partitions": len(parts)},
            )
        tasks = [
            delayed(_on_partition)(part, fn, *columns, (args if each is None else (each[j], *args)))
            for j, part in enumerate(parts)
        ]
        if self.client is not None:
            return self._on_cluster(tasks)
        return list(compute(*tasks, scheduler="threads"))

    def _on_cluster(self, tasks: list[Any]) -> list[Sums]:
        futures = self.client.compute(tasks)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            return [
                f.result(timeout=None if deadline is None else max(deadline - time.monotonic(), 0))
                for f in futures
            ]
        except TimeoutError as exc:
            self.client.cancel(futures)
            raise EstimationError(
                f"an out-of-core pass over {self.source} did not finish within "
                f"timeout={self.timeout} s on the cluster (are its workers alive, not "
                "paused for memory?)",
                details={"parameter": "timeout", "value": self.timeout},
            ) from exc


def _on_partition(
    part: pd.DataFrame,
    fn: Callable[..., Sums],
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    args: tuple[Any, ...],
) -> Sums:
    y = part[outcome].to_numpy(dtype=np.float64)
    t = part[treatment].to_numpy(dtype=np.float64)
    X = part[list(covariates)].to_numpy(dtype=np.float64)
    if not (np.isfinite(y).all() and np.isfinite(t).all() and np.isfinite(X).all()):
        raise EstimationError(
            "out-of-core estimation needs complete rows: a partition has missing or "
            "infinite values (drop or impute them first)",
            details={"columns": [outcome, treatment, *covariates]},
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise EstimationError(
            f"treatment '{treatment}' must be 0/1 for out-of-core estimation",
            details={"role": "treatment", "column": treatment},
        )
    return fn(y, t, X, *args)


def _add(parts: list[Sums]) -> Sums:
    """Key by key: the sum over partitions (``min_…``/``max_…`` keys: the min or max)."""
    total: Sums = {}
    for p in parts:
        for key, value in p.items():
            if key not in total:
                total[key] = value
            elif key.startswith("min_"):
                total[key] = min(total[key], value)
            elif key.startswith("max_"):
                total[key] = max(total[key], value)
            else:
                total[key] = total[key] + value
    return total


def _intercept(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(X.shape[0]), X])


def _population(t: np.ndarray, estimand: str) -> np.ndarray:
    if estimand == "ATE":
        return np.ones(len(t), dtype=bool)
    return t == (1.0 if estimand == "ATT" else 0.0)


# -- regression adjustment ------------------------------------------------------------


def _ra_moments(y: np.ndarray, t: np.ndarray, X: np.ndarray, estimand: str) -> Sums:
    Z = _intercept(X)
    s = _population(t, estimand)
    out: Sums = {"n": len(y), "n_s": int(s.sum()), "sum_z_s": Z[s].sum(axis=0)}
    for a in (1, 0):
        idx = t == a
        Za, ya = Z[idx], y[idx]
        out |= {
            f"n{a}": int(idx.sum()),
            f"zz{a}": Za.T @ Za,
            f"zy{a}": Za.T @ ya,
            f"sy{a}": float(ya.sum()),
            f"syy{a}": float(ya @ ya),
        }
    return out


def _ra_influence(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    estimand: str,
    b1: np.ndarray,
    b0: np.ndarray,
    dir1: np.ndarray,
    dir0: np.ndarray,
    tau: float,
    p_s: float,
) -> Sums:
    Z = _intercept(X)
    s = _population(t, estimand)
    psi = s * (Z @ (b1 - b0) - tau) / p_s
    out: Sums = {}
    for a, b, direction, sign in ((1, b1, dir1, 1.0), (0, b0, dir0, -1.0)):
        idx = t == a
        resid = y[idx] - Z[idx] @ b
        psi[idx] += sign * (Z[idx] @ direction) * resid
        out[f"ssr{a}"] = float(resid @ resid)
    out["sum_psi2"] = float(psi @ psi)
    return out


def regression_adjustment(table: ParquetTable, estimand: str = "ATE") -> Estimate:
    """Regression adjustment out of core (see the module docstring)."""
    m = table.run(_ra_moments, estimand)
    n, k = int(m["n"]), len(table.covariates) + 1
    coef: dict[int, np.ndarray] = {}
    direction: dict[int, np.ndarray] = {}
    r2: dict[int, float] = {}
    zbar = m["sum_z_s"] / m["n_s"]
    for a in (1, 0):
        n_a = int(m[f"n{a}"])
        if n_a <= k:
            raise EstimationError(
                f"the {'treated' if a else 'control'} arm has {n_a} rows for {k} "
                "regression coefficients; use fewer covariates",
                details={"arm": a, "rows": n_a, "coefficients": k},
            )
        coef[a] = np.linalg.solve(m[f"zz{a}"], m[f"zy{a}"])
        # n (Z_a'Z_a)⁻¹ z̄: the in-memory (n/n_a) · bread · z̄ with bread = (Z_a'Z_a/n_a)⁻¹
        direction[a] = n * np.linalg.solve(m[f"zz{a}"], zbar)
    mu1, mu0 = float(zbar @ coef[1]), float(zbar @ coef[0])
    tau = mu1 - mu0
    p_s = m["n_s"] / n
    f = table.run(_ra_influence, estimand, coef[1], coef[0], direction[1], direction[0], tau, p_s)
    for a in (1, 0):
        n_a = m[f"n{a}"]
        tss = m[f"syy{a}"] - m[f"sy{a}"] ** 2 / n_a
        r2[a] = 1 - f[f"ssr{a}"] / tss
    se = math.sqrt(f["sum_psi2"]) / n
    names = ["(intercept)", *table.covariates]
    return Estimate.from_se(
        "regression_adjustment",
        estimand,
        tau,
        se,
        0.95,
        n=n,
        n_treated=int(m["n1"]),
        n_control=int(m["n0"]),
        diagnostics={
            "mu1": mu1,
            "mu0": mu0,
            "r2_treated": r2[1],
            "r2_control": r2[0],
            "coef_treated": dict(zip(names, coef[1].tolist(), strict=True)),
            "coef_control": dict(zip(names, coef[0].tolist(), strict=True)),
            "out_of_core": True,
        },
        method="OLS by arm with full interactions, robust influence-function SE "
        "(out of core: distributed sufficient statistics)",
    )


# -- IPW --------------------------------------------------------------------------------


def _col_moments(y: np.ndarray, t: np.ndarray, X: np.ndarray) -> Sums:
    """A partition's rows, treated count, column means and squared deviations from them."""
    mean = X.mean(axis=0) if len(t) else np.zeros(X.shape[1])
    d = X - mean
    return {"n": len(t), "sum_t": float(t.sum()), "mean": mean, "m2": (d * d).sum(axis=0)}


def _moments(table: ParquetTable) -> tuple[int, float, np.ndarray, np.ndarray]:
    """Rows, treated rows, and each covariate's mean and SD (``ddof=0``) in one pass.

    Each partition's mean and sum of squared deviations from it are combined exactly
    (Chan, Golub & LeVeque 1983, doi:10.1080/00031305.1983.10483115):
    ``M2 = Σ_j M2_j + Σ_j n_j (x̄_j − x̄)²``, as stable as the two-pass formula.
    """
    parts = [p for p in table.map(_col_moments) if p["n"] > 0]
    if not parts:
        raise EstimationError(
            f"{table.source} has no rows", details={"columns": list(table.covariates)}
        )
    sizes = np.array([p["n"] for p in parts], dtype=np.float64)
    n = int(sizes.sum())
    means = np.stack([p["mean"] for p in parts])
    mean = sizes @ means / n
    m2 = sum(p["m2"] for p in parts) + sizes @ (means - mean) ** 2
    return n, float(sum(p["sum_t"] for p in parts)), mean, np.sqrt(m2 / n)


def _standardised(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = 1.0
    Z[:, 1:] = (X - mean) / scale
    return Z


def _newton_terms(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
) -> Sums:
    """Log-likelihood, gradient and information of the logit at ``beta`` (one partition)."""
    Z = _standardised(X, mean, scale)
    eta = Z @ beta
    p = np.clip(special.expit(eta), 1e-300, 1 - 1e-16)
    f = special.expit(eta) * (1 - special.expit(eta))
    Zw = Z * np.sqrt(f)[:, None]
    return {
        "ll": float(np.sum(t * eta - np.logaddexp(0, eta))),
        "grad": Z.T @ (t - p),
        "info": Zw.T @ Zw,
        "max_abs_eta": float(np.max(np.abs(eta), initial=0.0)),
    }


def _fit_logit(
    table: ParquetTable,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Sums, int, int]:
    """The propensity's (standardised) coefficients, mean, scale, last terms, iterations, n."""
    n, n_treated, mean, scale = _moments(table)
    scale[scale == 0] = 1.0
    pbar = n_treated / n
    if not 0 < pbar < 1:
        raise EstimationError(
            f"treatment '{table.treatment}' has one arm only ({n_treated:.0f} of {n})",
            details={"role": "treatment"},
        )
    beta = np.zeros(len(table.covariates) + 1)
    beta[0] = np.log(pbar / (1 - pbar))
    terms = table.run(_newton_terms, mean, scale, beta)
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):  # noqa: B007 (reported after the loop)
        try:
            step = np.linalg.solve(terms["info"], terms["grad"])
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(terms["info"], terms["grad"], rcond=None)[0]
        size = 1.0
        while True:
            cand = beta + size * step
            new = table.run(_newton_terms, mean, scale, cand)
            # relative slack, as fit_binary: each needless halving would cost a pass
            if new["ll"] >= terms["ll"] - LL_SLACK * max(1.0, abs(terms["ll"])) or size < 1e-8:
                break
            size /= 2
        beta, terms = cand, new
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break
    max_coef = float(np.max(np.abs(beta[1:]), initial=0.0))
    if not converged or not np.isfinite(max_coef) or max_coef > MAX_COEF:
        raise SeparationError(
            "the propensity model separates treated from control units (largest "
            f"|coefficient| per SD {max_coef:.3g}, Newton "
            f"{'converged' if converged else 'not converged'} after {it} iterations); "
            "out of core there is no Firth fallback: remove or coarsen the covariate "
            "that predicts treatment",
            details={"max_abs_coef_per_sd": max_coef, "converged": converged},
        )
    return beta, mean, scale, terms, it, n


def _weights(
    t: np.ndarray, e: np.ndarray, de: np.ndarray, estimand: str, normalised: bool
) -> tuple[np.ndarray, ...]:
    """``w1, w0, dw1, dw0, d1, d0, dd1, dd0`` of :func:`cqox.estimators.backdoor.ipw.ipw_effect`."""
    n = len(t)
    treated = t == 1
    control = ~treated
    zero = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if estimand == "ATE":
            w1 = np.where(treated, 1 / e, 0.0)
            w0 = np.where(control, 1 / (1 - e), 0.0)
            dw1 = np.where(treated, (-de / e) / e, 0.0)
            dw0 = np.where(control, (de / (1 - e)) / (1 - e), 0.0)
        elif estimand == "ATT":
            w1, dw1 = treated.astype(np.float64), zero
            w0 = np.where(control, e / (1 - e), 0.0)
            dw0 = np.where(control, (de / (1 - e)) / (1 - e), 0.0)
        else:
            w1 = np.where(treated, (1 - e) / e, 0.0)
            dw1 = np.where(treated, (-de / e) / e, 0.0)
            w0, dw0 = control.astype(np.float64), zero
    g = np.ones(n) if estimand == "ATE" else (treated if estimand == "ATT" else control) * 1.0
    if normalised:
        return w1, w0, dw1, dw0, w1, w0, dw1, dw0
    return w1, w0, dw1, dw0, g, g, zero, zero


def _propensity(
    X: np.ndarray, mean: np.ndarray, scale: np.ndarray, beta: np.ndarray, clip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z = _standardised(X, mean, scale)
    p = special.expit(Z @ beta)
    e, de = p, p * (1 - p)
    if clip > 0:
        clipped = (e < clip) | (e > 1 - clip)
        e = np.clip(e, clip, 1 - clip)
        de = np.where(clipped, 0.0, de)
    return Z, p, np.stack([e, de])


def _ipw_means(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    clip: float,
    estimand: str,
    normalised: bool,
) -> Sums:
    _, _, ed = _propensity(X, mean, scale, beta, clip)
    w1, w0, _, _, d1, d0, _, _ = _weights(t, ed[0], ed[1], estimand, normalised)
    # zero weights times y are zero: the other arm's rows add nothing
    return {
        "wy1": float(np.sum(np.where(w1 != 0, w1 * y, 0.0))),
        "wy0": float(np.sum(np.where(w0 != 0, w0 * y, 0.0))),
        "d1": float(d1.sum()),
        "d0": float(d0.sum()),
        "n_treated": int(t.sum()),
    }


def _ipw_influence(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    clip: float,
    estimand: str,
    normalised: bool,
    mu1: float,
    mu0: float,
    c1: float,
    c0: float,
) -> Sums:
    Z, p, ed = _propensity(X, mean, scale, beta, clip)
    w1, w0, dw1, dw0, d1, d0, dd1, dd0 = _weights(t, ed[0], ed[1], estimand, normalised)
    wy1 = np.where(w1 != 0, w1 * y, 0.0)
    wy0 = np.where(w0 != 0, w0 * y, 0.0)
    dwy1 = np.where(dw1 != 0, dw1 * y, 0.0)
    dwy0 = np.where(dw0 != 0, dw0 * y, 0.0)
    a = (wy1 - mu1 * d1) / c1 - (wy0 - mu0 * d0) / c0
    s = Z * (t - p)[:, None]
    return {
        "D1": (dwy1 - mu1 * dd1) @ Z,
        "D0": (dwy0 - mu0 * dd0) @ Z,
        "aa": float(a @ a),
        "as": a @ s,
        "ss": s.T @ s,
    }


def ipw(
    table: ParquetTable,
    estimand: str = "ATE",
    weighting: str = "hajek",
    clip: float = 0.0,
) -> Estimate:
    """IPW with a logit propensity out of core (see the module docstring)."""
    if weighting not in ("hajek", "horvitz_thompson"):
        raise ParameterError(
            "The 'weighting' parameter of ipw must be one of 'hajek', 'horvitz_thompson'. "
            f"Got {weighting!r} instead.",
            details={"parameter": "weighting"},
        )
    normalised = weighting == "hajek"
    beta, mean, scale, terms, n_iter, n = _fit_logit(table)
    args = (mean, scale, beta, clip, estimand, normalised)
    m = table.run(_ipw_means, *args)
    mu1, mu0 = m["wy1"] / m["d1"], m["wy0"] / m["d0"]
    c1, c0 = m["d1"] / n, m["d0"] / n
    f = table.run(_ipw_influence, *args, mu1, mu0, c1, c0)
    # H = minus the mean Hessian at β̂ (logit: the information / n)
    hess = terms["info"] / n
    v = np.linalg.solve(hess, f["D1"] / n) / c1 - np.linalg.solve(hess, f["D0"] / n) / c0
    sum_psi2 = f["aa"] + 2 * float(v @ f["as"]) + float(v @ f["ss"] @ v)
    tau = mu1 - mu0
    se = math.sqrt(max(sum_psi2, 0.0)) / n
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    n_treated = int(m["n_treated"])
    return Estimate.from_se(
        "ipw",
        estimand,
        tau,
        se,
        0.95,
        n=n,
        n_treated=n_treated,
        n_control=n - n_treated,
        diagnostics={
            "mu1": mu1,
            "mu0": mu0,
            "propensity_converged": True,
            "propensity_iterations": n_iter,
            "propensity_coef": dict(
                zip(["(intercept)", *table.covariates], coef.tolist(), strict=True)
            ),
            "out_of_core": True,
        },
        method=f"{weighting} IPW, logit propensity, M-estimation (influence-function) SE "
        "(out of core: distributed Newton steps and sums)",
    )


# -- AIPW -------------------------------------------------------------------------------


def _aipw_rows(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    clip: float,
    estimand: str,
    g1: np.ndarray,
    g0: np.ndarray,
    p_t: float,
) -> tuple[np.ndarray, ...]:
    """Per-row ``Z_p, Z_o, e, de, μ̂₁, μ̂₀`` and the score terms ``ψ_a, ψ_b``."""
    Zp, p, ed = _propensity(X, mean, scale, beta, clip)
    Zo = _intercept(X)
    mu1_hat, mu0_hat = Zo @ g1, Zo @ g0
    e, de = ed[0], ed[1]
    psi_a, psi_b = _dr_score_rows(y, t, mu0_hat, mu1_hat, e, estimand, p_t)
    return Zp, p, Zo, e, de, mu1_hat, mu0_hat, psi_a, psi_b


def _dr_score_rows(
    y: np.ndarray,
    t: np.ndarray,
    mu0_hat: np.ndarray,
    mu1_hat: np.ndarray,
    e: np.ndarray,
    estimand: str,
    p_t: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~cqox.estimators.backdoor.aipw.dr_score` with the whole table's ``p = mean(T)``.

    (A partition's own share of treated rows would give other terms for ATT and ATC.)
    """
    if estimand == "ATE":
        psi_b = mu1_hat - mu0_hat + t * (y - mu1_hat) / e - (1 - t) * (y - mu0_hat) / (1 - e)
        return -np.ones_like(y), psi_b
    if estimand == "ATT":
        psi_b = (t * (y - mu0_hat) - e * (1 - t) * (y - mu0_hat) / (1 - e)) / p_t
        return -t / p_t, psi_b
    q = 1 - p_t
    psi_b = ((1 - t) * (mu1_hat - y) + t * (1 - e) * (y - mu1_hat) / e) / q
    return -(1 - t) / q, psi_b


def _aipw_sums(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    clip: float,
    estimand: str,
    g1: np.ndarray,
    g0: np.ndarray,
    p_t: float,
) -> Sums:
    Zp, _, Zo, e, de, mu1_hat, mu0_hat, psi_a, psi_b = _aipw_rows(
        y, t, X, mean, scale, beta, clip, estimand, g1, g0, p_t
    )
    r1, r0 = y - mu1_hat, y - mu0_hat
    out: Sums = {"psi_a": float(psi_a.sum()), "psi_b": float(psi_b.sum())}
    # derivatives of Σψ with respect to γ₁, γ₀ and β (sums; divided by n·scale later),
    # and the sums of the potential-outcome means — as in aipw_parametric
    if estimand == "ATE":
        out["d_g1"] = (1 - t / e) @ Zo
        out["d_g0"] = -(1 - (1 - t) / (1 - e)) @ Zo
        out["d_b"] = (-t * r1 * de / e**2 - (1 - t) * r0 * de / (1 - e) ** 2) @ Zp
        out["m1"] = float(np.sum(mu1_hat + t * r1 / e))
        out["m0"] = float(np.sum(mu0_hat + (1 - t) * r0 / (1 - e)))
    elif estimand == "ATT":
        out["d_g1"] = np.zeros(Zo.shape[1])
        out["d_g0"] = (-t + e * (1 - t) / (1 - e)) @ Zo / p_t
        out["d_b"] = (-(1 - t) * r0 * de / (1 - e) ** 2) @ Zp / p_t
        out["m1"] = float(np.sum(t * y))
        out["m0"] = float(np.sum(t * mu0_hat + e * (1 - t) * r0 / (1 - e)))
    else:
        out["d_g1"] = ((1 - t) - t * (1 - e) / e) @ Zo / (1 - p_t)
        out["d_g0"] = np.zeros(Zo.shape[1])
        out["d_b"] = (-t * r1 * de / e**2) @ Zp / (1 - p_t)
        out["m1"] = float(np.sum((1 - t) * mu1_hat + t * (1 - e) * r1 / e))
        out["m0"] = float(np.sum((1 - t) * y))
    out["min_e"] = float(e.min(initial=np.inf))
    out["max_e"] = float(e.max(initial=-np.inf))
    return out


def _aipw_influence(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    clip: float,
    estimand: str,
    g1: np.ndarray,
    g0: np.ndarray,
    p_t: float,
    theta: float,
    J: float,
    v1: np.ndarray,
    v0: np.ndarray,
    w_b: np.ndarray,
) -> Sums:
    Zp, p, Zo, _, _, mu1_hat, mu0_hat, psi_a, psi_b = _aipw_rows(
        y, t, X, mean, scale, beta, clip, estimand, g1, g0, p_t
    )
    treated = t == 1
    # γ̂_a's influence along D_γa: 1{T=a} ε_i z_i' n (Z_a'Z_a)⁻¹ D_γa = 1{T=a} ε_i z_i'v_a;
    # β̂'s along D_β: s_i' H⁻¹ D_β with s_i = z_i (t_i − p_i)
    correction = np.where(treated, (y - mu1_hat) * (Zo @ v1), (y - mu0_hat) * (Zo @ v0))
    correction += (t - p) * (Zp @ w_b)
    influence = -(psi_a * theta + psi_b) / J - correction / J
    return {"sum_inf2": float(influence @ influence)}


def aipw(table: ParquetTable, estimand: str = "ATE", clip: float = 0.0) -> Estimate:
    """Parametric AIPW out of core: logit propensity, OLS by arm, M-estimation SE.

    The numbers of :func:`cqox.estimators.backdoor.aipw.aipw_parametric` (the default,
    not cross-fitted ``aipw``) from passes over the partitions: the propensity's
    Newton steps (as :func:`ipw`), each arm's ``Z'Z`` and ``Z'y`` (as
    :func:`regression_adjustment`), one pass for the score sums ``Σψ_a``, ``Σψ_b`` and
    the derivatives ``D_γ1, D_γ0, D_β`` of the mean score, and one for ``Σ ψ_i²`` of
    the stacked M-estimator's influence function
    ``ψ_i = −[ψ_a,i θ̂ + ψ_b,i + 1{T=a} ε_i z_i' n(Z_a'Z_a)⁻¹D_γa + s_i'H⁻¹D_β] / J``.
    """
    beta, mean, scale, terms, n_iter, n = _fit_logit(table)
    m = table.run(_ra_moments, "ATE")
    k = len(table.covariates) + 1
    gamma: dict[int, np.ndarray] = {}
    for a in (1, 0):
        n_a = int(m[f"n{a}"])
        if n_a <= k:
            raise EstimationError(
                f"the {'treated' if a else 'control'} arm has {n_a} rows for {k} "
                "outcome-model coefficients; use fewer covariates",
                details={"arm": a, "rows": n_a, "coefficients": k},
            )
        gamma[a] = np.linalg.solve(m[f"zz{a}"], m[f"zy{a}"])
    n_treated = int(m["n1"])
    p_t = n_treated / n
    args = (mean, scale, beta, clip, estimand, gamma[1], gamma[0], p_t)
    f = table.run(_aipw_sums, *args)
    J = f["psi_a"] / n
    theta = -(f["psi_b"] / n) / J
    v1 = n * np.linalg.solve(m["zz1"], f["d_g1"] / n)
    v0 = n * np.linalg.solve(m["zz0"], f["d_g0"] / n)
    w_b = np.linalg.solve(terms["info"] / n, f["d_b"] / n)
    g = table.run(_aipw_influence, *args, theta, J, v1, v0, w_b)
    se = math.sqrt(g["sum_inf2"]) / n
    population = {"ATE": n, "ATT": n_treated, "ATC": n - n_treated}[estimand]
    mu1, mu0 = f["m1"] / population, f["m0"] / population
    names = ["(intercept)", *table.covariates]
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    return Estimate.from_se(
        "aipw",
        estimand,
        theta,
        se,
        0.95,
        n=n,
        n_treated=n_treated,
        n_control=n - n_treated,
        diagnostics={
            "mu1": mu1,
            "mu0": mu0,
            "propensity_min": f["min_e"],
            "propensity_max": f["max_e"],
            "propensity_converged": True,
            "propensity_iterations": n_iter,
            "propensity_coef": dict(zip(names, coef.tolist(), strict=True)),
            "outcome_coef_treated": dict(zip(names, gamma[1].tolist(), strict=True)),
            "outcome_coef_control": dict(zip(names, gamma[0].tolist(), strict=True)),
            "out_of_core": True,
        },
        method="AIPW, logit propensity, OLS outcome by arm, M-estimation "
        "(influence-function) SE (out of core: distributed Newton steps and sums)",
    )


# -- DML (cross-fitted, linear learners) ---------------------------------------------------


def _treatment_of(y: np.ndarray, t: np.ndarray, X: np.ndarray) -> Sums:
    return {"t": t.astype(np.int8)}


def crossfit_folds(
    table: ParquetTable, n_folds: int, seed: int | None
) -> tuple[list[np.ndarray], int]:
    """The folds of :mod:`cqox.estimators.backdoor.dml` for this table, split by partition.

    ``fold_ids(n, n_folds, Context(seed).rng(DML_SPLIT_STREAM), strata=T)``, as the
    in-memory estimators draw them: one pass gathers the treatment column (one byte a
    row, here), the permutation is drawn here and each partition gets its slice.
    Returns the per-partition folds (int16) and the learners' seed drawn after them.
    """
    from cqox.core.context import Context
    from cqox.nuisance.crossfit import DML_SPLIT_STREAM, SEED_MAX, fold_ids

    pieces = [r["t"] for r in table.map(_treatment_of)]
    t = np.concatenate(pieces)
    rng = Context(seed=seed).rng(DML_SPLIT_STREAM)
    folds = fold_ids(len(t), n_folds, rng, strata=t).astype(np.int16)
    bounds = np.cumsum([0, *(len(p) for p in pieces)])
    return [folds[bounds[j] : bounds[j + 1]] for j in range(len(pieces))], int(
        rng.integers(SEED_MAX)
    )


def _fold_ols_moments(
    y: np.ndarray, t: np.ndarray, X: np.ndarray, folds: np.ndarray, n_folds: int
) -> Sums:
    """Per fold: ``Z'Z`` and ``Z'y`` over all rows, the control rows and the treated rows."""
    Z = _intercept(X)
    k = Z.shape[1]
    out: Sums = {}
    for arm in ("all", "0", "1"):
        out[f"zz_{arm}"] = np.zeros((n_folds, k, k))
        out[f"zy_{arm}"] = np.zeros((n_folds, k))
    for j in range(n_folds):
        in_fold = folds == j
        for arm, rows in (("all", in_fold), ("0", in_fold & (t == 0)), ("1", in_fold & (t == 1))):
            Zr = Z[rows]
            out[f"zz_{arm}"][j] = Zr.T @ Zr
            out[f"zy_{arm}"][j] = Zr.T @ y[rows]
    out["n_fold"] = np.bincount(folds, minlength=n_folds)
    out["t_fold"] = np.bincount(folds, weights=t, minlength=n_folds)
    return out


def _fold_ols(m: Sums, arm: str) -> np.ndarray:
    """Coefficients (n_folds, k) of OLS fitted on every fold but k (sums minus fold k)."""
    zz, zy = m[f"zz_{arm}"], m[f"zy_{arm}"]
    return np.stack(
        [np.linalg.solve(zz.sum(axis=0) - zz[j], zy.sum(axis=0) - zy[j]) for j in range(len(zz))]
    )


def _fold_logit_terms(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    folds: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    betas: np.ndarray,
) -> Sums:
    """For each fold's logit (fitted on the other folds): log-likelihood, gradient, information."""
    Z = _standardised(X, mean, scale)
    n_folds, k = betas.shape
    ll, grad, info = np.zeros(n_folds), np.zeros((n_folds, k)), np.zeros((n_folds, k, k))
    for j in range(n_folds):
        rows = folds != j
        Zr, tr = Z[rows], t[rows]
        eta = Zr @ betas[j]
        p = special.expit(eta)
        Zw = Zr * np.sqrt(p * (1 - p))[:, None]
        ll[j] = np.sum(tr * eta - np.logaddexp(0, eta))
        grad[j] = Zr.T @ (tr - p)
        info[j] = Zw.T @ Zw
    return {"ll": ll, "grad": grad, "info": info}


def _fold_logits(
    table: ParquetTable,
    folds: list[np.ndarray],
    n_folds: int,
    t_fold: np.ndarray,
    n_fold: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fold's propensity logit, fitted on the other folds by Newton–Raphson.

    All folds' models advance together, one pass per Newton step (and per halving).
    The maximum-likelihood estimate is unique, so these coefficients equal those of
    :class:`cqox.nuisance.learners.LogitLearner` (another parametrisation, the same
    fitted probabilities) once both have converged.
    """
    _, _, mean, scale = _moments(table)
    scale[scale == 0] = 1.0
    k = len(table.covariates) + 1
    betas = np.zeros((n_folds, k))
    pbar = (t_fold.sum() - t_fold) / (n_fold.sum() - n_fold)
    if np.any((pbar <= 0) | (pbar >= 1)):
        raise EstimationError(
            "cross-fitting: the training rows of a fold contain one treatment arm only; "
            "use fewer folds",
            details={"parameter": "n_folds"},
        )
    betas[:, 0] = np.log(pbar / (1 - pbar))
    terms = table.run(_fold_logit_terms, mean, scale, betas, each=folds)
    active = np.ones(n_folds, dtype=bool)
    for _ in range(MAX_ITER):
        steps = np.zeros_like(betas)
        for j in np.flatnonzero(active):
            steps[j] = np.linalg.solve(terms["info"][j], terms["grad"][j])
        size = np.where(active, 1.0, 0.0)
        while True:
            cand = betas + size[:, None] * steps
            new = table.run(_fold_logit_terms, mean, scale, cand, each=folds)
            slack = LL_SLACK * np.maximum(1.0, np.abs(terms["ll"]))
            worse = active & (new["ll"] < terms["ll"] - slack) & (size >= 1e-8)
            if not worse.any():
                break
            size[worse] /= 2
        betas, terms = cand, new
        active &= np.max(np.abs(size[:, None] * steps), axis=1) >= TOLERANCE
        if not active.any():
            break
    if active.any() or np.max(np.abs(betas[:, 1:])) > MAX_COEF:
        raise SeparationError(
            "a cross-fitting fold's propensity model separates treated from control "
            "units (or did not converge); out of core there is no ridge fallback: remove "
            "or coarsen the covariate that predicts treatment",
            details={"parameter": "covariates"},
        )
    return betas, mean, scale


def _dml_score_sums(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    folds: np.ndarray,
    model: str,
    estimand: str,
    clip: float,
    p_t: float,
    mean: np.ndarray,
    scale: np.ndarray,
    b_m: np.ndarray,
    b_l: np.ndarray,
    b_g0: np.ndarray,
    b_g1: np.ndarray,
) -> Sums:
    """Sums of the DML score terms ``ψ_a, ψ_b`` and their squares and product."""
    Zo = _intercept(X)
    Zp = _standardised(X, mean, scale)
    m_hat = special.expit(np.einsum("ij,ij->i", Zp, b_m[folds]))
    if model == "plr":
        v = t - m_hat
        psi_a = -(v**2)
        psi_b = (y - np.einsum("ij,ij->i", Zo, b_l[folds])) * v
        e = m_hat
    else:
        e = np.clip(m_hat, clip, 1 - clip) if clip > 0 else m_hat
        if np.any((e <= 0) | (e >= 1)):
            raise EstimationError(
                "cross-fitted propensities of exactly 0 or 1; set 'clip' > 0",
                details={"parameter": "clip"},
            )
        g0 = np.einsum("ij,ij->i", Zo, b_g0[folds])
        g1 = np.einsum("ij,ij->i", Zo, b_g1[folds])
        psi_a, psi_b = _dr_score_rows(y, t, g0, g1, e, estimand, p_t)
    return {
        "a": float(psi_a.sum()),
        "b": float(psi_b.sum()),
        "aa": float(psi_a @ psi_a),
        "ab": float(psi_a @ psi_b),
        "bb": float(psi_b @ psi_b),
        "min_e": float(e.min(initial=np.inf)),
        "max_e": float(e.max(initial=-np.inf)),
        "n_clipped": int(np.sum(e != m_hat)),
    }


def dml(
    table: ParquetTable,
    model: str,
    estimand: str = "ATE",
    n_folds: int = 5,
    clip: float = 0.01,
    seed: int | None = None,
) -> Estimate:
    """Cross-fitted DML with linear learners out of core: ``dml_plr`` or ``dml_irm``.

    The estimators of :mod:`cqox.estimators.backdoor.dml` with ``learner="linear"``
    and one sample split (``n_rep=1``; ``dml_irm`` also with
    ``propensity_calibration="none"``: isotonic calibration sorts the whole table):
    the same folds (:func:`crossfit_folds`), each fold's OLS from the other folds'
    ``Z'Z`` and ``Z'y`` (whole-table sums minus the fold's), each fold's logit
    propensity by joint Newton passes, then one pass for ``Σψ_a``, ``Σψ_b``,
    ``Σψ_a²``, ``Σψ_aψ_b``, ``Σψ_b²``: ``θ̂ = −Σψ_b/Σψ_a`` and
    ``SE = sqrt(Σ(ψ_a θ̂ + ψ_b)² / n / J²/ n)`` with ``J = Σψ_a / n`` (DML2,
    Chernozhukov et al. 2018, doi:10.1111/ectj.12097).  The treatment is 0/1.
    """
    folds, _ = crossfit_folds(table, n_folds, seed)
    m = table.run(_fold_ols_moments, n_folds, each=folds)
    n = int(m["n_fold"].sum())
    n_treated = round(float(m["t_fold"].sum()))
    b_m, mean, scale = _fold_logits(table, folds, n_folds, m["t_fold"], m["n_fold"])
    k = len(table.covariates) + 1
    zero = np.zeros((n_folds, k))
    if model == "plr":
        b_l, b_g0, b_g1 = _fold_ols(m, "all"), zero, zero
    else:
        b_l, b_g0, b_g1 = zero, _fold_ols(m, "0"), _fold_ols(m, "1")
    f = table.run(
        _dml_score_sums,
        model,
        estimand,
        clip,
        n_treated / n,
        mean,
        scale,
        b_m,
        b_l,
        b_g0,
        b_g1,
        each=folds,
    )
    J = f["a"] / n
    if not np.isfinite(J) or J == 0:
        raise EstimationError(
            "the orthogonal score has a zero (or non-finite) derivative: the treatment "
            "residuals vanish, so the effect is not identified with these nuisance fits",
            details={"J": J},
        )
    theta = -(f["b"] / n) / J
    sum_psi2 = theta**2 * f["aa"] + 2 * theta * f["ab"] + f["bb"]
    se = math.sqrt(max(sum_psi2, 0.0) / n / J**2 / n)
    name = f"dml_{model}"
    return Estimate.from_se(
        name,
        estimand,
        theta,
        se,
        0.95,
        n=n,
        n_treated=n_treated,
        n_control=n - n_treated,
        counts={"n_propensity_trimmed": int(f["n_clipped"])} if model == "irm" else {},
        diagnostics={
            "propensity_min": f["min_e"],
            "propensity_max": f["max_e"],
            "n_folds": n_folds,
            "n_rep": 1,
            "out_of_core": True,
        },
        method=f"DML {'partially linear' if model == 'plr' else 'interactive'}, "
        f"{n_folds}-fold cross-fitting × 1, linear outcome, logit treatment (out of core: "
        "the in-memory folds, distributed per-fold sums and Newton steps)",
    )


def estimate_parquet(
    source: str | Path,
    estimator: str,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    estimand: str = "ATE",
    client: Any = None,
    timeout: float | None = None,
    **params: Any,
) -> Estimate:
    """One out-of-core estimate from a Parquet directory.

    Parameters
    ----------
    source : str or Path
        A Parquet directory (or file, or glob), read partition by partition.
    estimator : {"regression_adjustment", "ipw", "aipw"}
    outcome, treatment, covariates
        Columns (treatment 0/1, complete rows).
    estimand : {"ATE", "ATT", "ATC"}
    client : distributed.Client, optional
        Run the passes on this cluster (default: Dask's local threads).
    timeout : float, optional
        Seconds each pass may take on ``client``'s cluster (default: no limit).
    **params
        ``ipw``: ``weighting`` (``hajek``/``horvitz_thompson``), ``clip``; ``aipw``: ``clip``.

    Examples
    --------
    >>> import tempfile, cqox
    >>> from cqox.compute.outofcore import estimate_parquet
    >>> df, truth = cqox.simulate.confounded_binary(n=3000, p=3, seed=1)
    >>> folder = tempfile.mkdtemp()
    >>> for k in range(3):
    ...     df.iloc[k * 1000:(k + 1) * 1000].to_parquet(f"{folder}/part{k}.parquet")
    >>> e = estimate_parquet(folder, "regression_adjustment", outcome="y", treatment="t",
    ...                      covariates=["x1", "x2", "x3"])
    >>> abs(e.estimate - truth["ATE"]) < 4 * e.se
    True
    """
    if estimator not in ESTIMATORS:
        raise ParameterError(
            f"estimator {estimator!r} does not run out of core; choose one of "
            f"{', '.join(ESTIMATORS)}",
            details={"parameter": "estimator", "value": estimator},
        )
    if estimand not in ESTIMANDS:
        raise ParameterError(
            f"The 'estimand' parameter of {estimator} must be one of "
            f"{', '.join(ESTIMANDS)}. Got {estimand!r} instead.",
            details={"parameter": "estimand"},
        )
    allowed = {
        "ipw": {"weighting", "clip"},
        "aipw": {"clip"},
        "dml_plr": {"n_folds", "seed"},
        "dml_irm": {"n_folds", "seed", "clip", "propensity_calibration"},
    }.get(estimator, set())
    unknown = set(params) - allowed
    if unknown:
        raise ParameterError(
            f"unknown out-of-core parameter(s) of {estimator}: {', '.join(sorted(unknown))}",
            details={"parameter": sorted(unknown)[0]},
        )
    if timeout is not None and not timeout > 0:
        raise ParameterError(
            f"The 'timeout' parameter of estimate_parquet must be a positive number of "
            f"seconds. Got {timeout!r} instead.",
            details={"parameter": "timeout", "value": timeout},
        )
    table = ParquetTable(source, outcome, treatment, tuple(covariates), client, timeout)
    if estimator == "regression_adjustment":
        return regression_adjustment(table, estimand)
    if estimator == "aipw":
        return aipw(table, estimand, **params)
    if estimator == "dml_plr":
        if estimand != "ATE":
            raise ParameterError(
                f"dml_plr estimates the ATE only. Got estimand={estimand!r}.",
                details={"parameter": "estimand"},
            )
        return dml(table, "plr", **params)
    if estimator == "dml_irm":
        if estimand == "ATC":
            raise ParameterError(
                "dml_irm estimates the ATE or the ATT. Got estimand='ATC'.",
                details={"parameter": "estimand"},
            )
        calibration = params.pop("propensity_calibration", "none")
        if calibration != "none":
            raise ParameterError(
                "out of core, dml_irm takes propensity_calibration='none' (isotonic "
                f"calibration sorts the whole table). Got {calibration!r}.",
                details={"parameter": "propensity_calibration", "value": calibration},
            )
        return dml(table, "irm", estimand, **params)
    return ipw(table, estimand, **params)
