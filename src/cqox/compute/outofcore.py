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
  covariates (two passes for the mean and SD), one pass per Newton step for the
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
from cqox.nuisance.glm import MAX_COEF, MAX_ITER, TOLERANCE

#: Estimators that run out of core.
ESTIMATORS = ("regression_adjustment", "ipw")
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
        """The partitions as delayed pandas frames (read only when a pass runs)."""
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

    def run(self, fn: Callable[..., Sums], *args: Any) -> Sums:
        """``Σ fn(arrays of a partition, *args)`` over the partitions (a map-reduce)."""
        from dask.base import compute
        from dask.delayed import delayed

        columns = (self.outcome, self.treatment, self.covariates)
        tasks = [delayed(_on_partition)(part, fn, *columns, args) for part in self.partitions()]
        if self.client is not None:
            results = self._on_cluster(tasks)
        else:
            results = compute(*tasks, scheduler="threads")
        return _add(list(results))

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
    total: Sums = {}
    for p in parts:
        for key, value in p.items():
            total[key] = value if key not in total else total[key] + value
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


def _col_sums(y: np.ndarray, t: np.ndarray, X: np.ndarray) -> Sums:
    return {"n": len(t), "sum_x": X.sum(axis=0), "sum_t": float(t.sum())}


def _col_ss(y: np.ndarray, t: np.ndarray, X: np.ndarray, mean: np.ndarray) -> Sums:
    d = X - mean
    return {"ss": (d * d).sum(axis=0)}


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
    first = table.run(_col_sums)
    n = int(first["n"])
    mean = first["sum_x"] / n
    scale = np.sqrt(table.run(_col_ss, mean)["ss"] / n)
    scale[scale == 0] = 1.0
    pbar = first["sum_t"] / n
    if not 0 < pbar < 1:
        raise EstimationError(
            f"treatment '{table.treatment}' has one arm only ({first['sum_t']:.0f} of {n})",
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
            if new["ll"] >= terms["ll"] - 1e-12 or size < 1e-8:
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
    estimator : {"regression_adjustment", "ipw"}
    outcome, treatment, covariates
        Columns (treatment 0/1, complete rows).
    estimand : {"ATE", "ATT", "ATC"}
    client : distributed.Client, optional
        Run the passes on this cluster (default: Dask's local threads).
    timeout : float, optional
        Seconds each pass may take on ``client``'s cluster (default: no limit).
    **params
        ``ipw``: ``weighting`` (``hajek``/``horvitz_thompson``), ``clip``.

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
    unknown = set(params) - ({"weighting", "clip"} if estimator == "ipw" else set())
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
    return ipw(table, estimand, **params)
