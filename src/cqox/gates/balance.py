"""Covariate balance, collinearity and common-support gates.

- ``covariate_balance`` (``smd``): the largest absolute standardised mean difference
  ``|x̄₁ − x̄₀| / sqrt((s₁² + s₀²)/2)`` over covariates (Austin 2009,
  doi:10.1002/sim.3697), before or after matching/weighting.  The denominator always
  uses the *unweighted* sample variances, so before and after are on one scale.
  Warn above ``smd`` (default 0.1), fail above three times it.
- ``variance_ratio``: treated/control variance of each covariate (weighted when
  weights are given); warn outside ``[variance_ratio_low, variance_ratio_high]``
  (default [0.5, 2]; Rubin 2001, doi:10.1023/A:1020363010465).
- ``matched_share``: share of the target arm that found a match; warn below
  ``matched_share`` (default 0.8), fail below half of it.
- ``vif``: the largest variance inflation factor ``1/(1 − R²_j)`` of a covariate
  regressed on the others; warn above ``vif`` (default 10).
- common support, ESS and weight extremes are in :mod:`cqox.gates.weights`;
  :func:`trim_to_common_support` drops the rows outside the support and counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.gate import Gate, Status, threshold_gate
from cqox.gates.weights import common_support, common_support_gate, ess_gate, max_weight_gate
from cqox.nuisance.blocked import centred_gram, column_mean_sd

#: Rows per block of the moment sums: the squares of one block in memory, not of ``X``
#: (2,048 rows: a scratch the allocator reuses, where a bigger one would be fresh
#: memory, a page fault per 4 kB, on every call).
MOMENT_BLOCK = 2048


def _weighted_moments(X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each column under each weight column of ``W`` (shape (n, m)).

    Returns arrays of shape (m, p), from ``W'X`` and ``W'(X∘X)`` accumulated by block.
    """
    sw = W.sum(axis=0)
    sums = np.zeros((W.shape[1], X.shape[1]))
    squares = np.zeros((W.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], MOMENT_BLOCK):
        rows = slice(start, start + MOMENT_BLOCK)
        Xb = X[rows]
        sums += W[rows].T @ Xb
        squares += W[rows].T @ (Xb * Xb)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / sw[:, None]
        var = np.maximum(squares / sw[:, None] - mean**2, 0.0)
    return mean, var


def _arm_weights(t: np.ndarray, w: np.ndarray | None) -> list[np.ndarray]:
    base = np.ones(len(t)) if w is None else w
    return [base * (t == 1), base * (t == 0)]


def _arm_moments(
    X: np.ndarray, t: np.ndarray, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean and variance of each column in each arm (matrix products by block)."""
    mean, var = _weighted_moments(X, np.column_stack(_arm_weights(t, w)))
    return mean[0], var[0], mean[1], var[1]


def standardised_differences(
    X: np.ndarray, t: np.ndarray, w: np.ndarray | None = None
) -> np.ndarray:
    """SMD of each column of ``X`` (shape (p,)), weighted means, unweighted scale."""
    m1, _, m0, _ = _arm_moments(X, t, w)
    _, v1, _, v0 = _arm_moments(X, t, None)
    scale = np.sqrt((v1 + v0) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, (m1 - m0) / np.where(scale > 0, scale, 1.0), 0.0)


def variance_ratios(X: np.ndarray, t: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Treated/control variance ratio of each column (shape (p,)); 1 when both are 0."""
    _, v1, _, v0 = _arm_moments(X, t, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v0 > 0, v1 / np.where(v0 > 0, v0, 1.0), np.where(v1 > 0, np.inf, 1.0))


@dataclass(frozen=True)
class BalanceTable:
    """Balance of each covariate before and (optionally) after adjustment.

    Attributes
    ----------
    names : list of str
        Covariate names (length p).
    smd_before, smd_after : ndarray, shape (p,)
        Standardised mean differences (``smd_after`` is ``None`` without weights).
    vr_before, vr_after : ndarray, shape (p,)
        Variance ratios treated/control.
    """

    names: list[str]
    smd_before: np.ndarray
    vr_before: np.ndarray
    smd_after: np.ndarray | None = None
    vr_after: np.ndarray | None = None

    def columns(self) -> dict[str, object]:
        """The columns of :meth:`to_frame` (for a table built on first read)."""
        cols: dict[str, object] = {
            "covariate": self.names,
            "smd_before": self.smd_before,
            "variance_ratio_before": self.vr_before,
        }
        if self.smd_after is not None and self.vr_after is not None:
            cols["smd_after"] = self.smd_after
            cols["variance_ratio_after"] = self.vr_after
        return cols

    def to_frame(self) -> pd.DataFrame:
        """One row per covariate."""
        return pd.DataFrame(self.columns())


def balance_table(
    X: np.ndarray, t: np.ndarray, names: Sequence[str], w_after: np.ndarray | None = None
) -> BalanceTable:
    """SMDs and variance ratios before, and after weighting by ``w_after`` if given.

    SMDs use the unweighted pooled standard deviation in both columns.
    """
    # one pass over X for the raw and the weighted moments
    weights = _arm_weights(t, None) + ([] if w_after is None else _arm_weights(t, w_after))
    mean, var = _weighted_moments(X, np.column_stack(weights))
    m1, v1, m0, v0 = mean[0], var[0], mean[1], var[1]
    scale = np.sqrt((v1 + v0) / 2)
    safe = np.where(scale > 0, scale, 1.0)

    def smd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(scale > 0, (a - b) / safe, 0.0)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, np.inf, 1.0))

    after: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    if w_after is not None:
        after = (smd(mean[2], mean[3]), ratio(var[2], var[3]))
    return BalanceTable(list(names), smd(m1, m0), ratio(v1, v0), after[0], after[1])


def smd_gate(table: BalanceTable, ctx: Context, after: bool = True) -> Gate:
    """Largest |SMD| after adjustment (``after``) or in the raw data."""
    smd = table.smd_after if after and table.smd_after is not None else table.smd_before
    stage = "after" if after and table.smd_after is not None else "before"
    name = "covariate_balance" if stage == "after" else "covariate_balance_raw"
    if smd.size == 0:
        return Gate.not_applicable(name, "there are no covariates")
    limit = ctx.threshold(name)
    absd = np.abs(smd)
    worst = int(np.argmax(absd))
    return threshold_gate(
        name,
        float(absd[worst]),
        limit,
        higher_is_better=False,
        label=f"max |SMD| {stage} adjustment ({table.names[worst]})",
        fail_threshold=None if stage == "before" else 3 * limit,
        details={
            "stage": stage,
            "n_above": int((absd > limit).sum()),
            "smd": dict(zip(table.names, smd.tolist(), strict=True)),
            "smd_before": dict(zip(table.names, table.smd_before.tolist(), strict=True)),
        },
    )


def variance_ratio_gate(table: BalanceTable, ctx: Context, after: bool = True) -> Gate:
    """Variance ratio farthest from 1 (on the log scale), after adjustment if available."""
    vr = table.vr_after if after and table.vr_after is not None else table.vr_before
    if vr.size == 0:
        return Gate.not_applicable("variance_ratio", "there are no covariates")
    low, high = ctx.threshold("variance_ratio_low"), ctx.threshold("variance_ratio_high")
    with np.errstate(divide="ignore"):
        dev = np.abs(np.log(np.where(vr > 0, vr, 1e-300)))
    worst = int(np.argmax(dev))
    value = float(vr[worst])
    bad = (vr < low) | (vr > high)
    status: Status = "warn" if bad.any() else "pass"
    return Gate(
        "variance_ratio",
        value,
        high if value > 1 else low,
        status,
        f"variance ratio treated/control farthest from 1 = {value:.3g} "
        f"({table.names[worst]}; {'check' if bad.any() else 'ok'}: range [{low:g}, {high:g}], "
        f"{int(bad.sum())} outside)",
        {"variance_ratio": dict(zip(table.names, vr.tolist(), strict=True))},
    )


def matched_share_gate(n_matched: int, n_target: int, ctx: Context, arm: str) -> Gate:
    """Share of the target rows (``arm``) that found at least one match."""
    limit = ctx.threshold("matched_share")
    share = n_matched / n_target if n_target else 0.0
    return threshold_gate(
        "matched_share",
        share,
        limit,
        higher_is_better=True,
        label=f"share of {arm} matched",
        fail_threshold=limit / 2,
        details={"matched": n_matched, "target": n_target, "unmatched": n_target - n_matched},
    )


def vif(X: np.ndarray) -> np.ndarray:
    """Variance inflation factor of each column: the diagonal of the inverse correlation.

    ``VIF_j = 1 / (1 − R²_j)`` equals the ``j``-th diagonal element of the inverse of the
    correlation matrix; ``inf`` for a column that is an exact linear combination.
    """
    p = X.shape[1]
    if p < 2:
        return np.ones(p)
    # the correlation matrix from one blocked Gram of the centred columns, instead of
    # a standardised n × p copy of X
    mean, sd = column_mean_sd(X)
    sd = np.where(sd > 0, sd, 1.0)
    R = centred_gram(X, mean) / np.outer(sd, sd) / X.shape[0]
    try:
        diag = np.diag(np.linalg.inv(R))
    except np.linalg.LinAlgError:
        return np.full(p, np.inf)
    return np.where(diag > 0, diag, np.inf)


def vif_gate(X: np.ndarray, names: Sequence[str], ctx: Context) -> Gate:
    """Largest VIF over covariates."""
    if X.shape[1] < 2:
        return Gate.not_applicable("vif", "there are fewer than two covariates")
    v = vif(X)
    worst = int(np.argmax(v))
    return threshold_gate(
        "vif",
        float(v[worst]),
        ctx.threshold("vif"),
        higher_is_better=False,
        label=f"max VIF ({names[worst]})",
        details={"vif": dict(zip(names, v.tolist(), strict=True))},
    )


@dataclass(frozen=True)
class Trim:
    """Rows kept after trimming to the propensity common support, with counts."""

    keep: np.ndarray
    low: float
    high: float
    n_dropped_treated: int
    n_dropped_control: int

    def counts(self) -> dict[str, int]:
        """Counts for an Estimate."""
        return {
            "n_trimmed": self.n_dropped_treated + self.n_dropped_control,
            "n_trimmed_treated": self.n_dropped_treated,
            "n_trimmed_control": self.n_dropped_control,
        }

    def note(self) -> str | None:
        """The warning that says what was trimmed (``None`` when nothing was)."""
        n = self.n_dropped_treated + self.n_dropped_control
        if not n:
            return None
        return (
            f"trimmed {n} rows outside the propensity common support "
            f"[{self.low:.4g}, {self.high:.4g}] ({self.n_dropped_treated} treated, "
            f"{self.n_dropped_control} control); the estimand is the effect in the "
            "trimmed population"
        )


def trim_to_common_support(e: np.ndarray, t: np.ndarray) -> Trim:
    """Keep rows whose propensity lies in the common support of both arms."""
    low, high, inside = common_support(e, t)
    return Trim(
        inside,
        low,
        high,
        int((~inside & (t == 1)).sum()),
        int((~inside & (t == 0)).sum()),
    )


def data_gates(
    X: np.ndarray,
    t: np.ndarray,
    names: Sequence[str],
    ctx: Context,
    e: np.ndarray | None = None,
) -> list[Gate]:
    """Data-level gates of a backdoor analysis.

    Raw covariate balance and variance ratios, VIF and — given a propensity ``e`` —
    common support and the effective sample size and weight extremes of the ATE
    inverse-probability weights.
    """
    table = balance_table(X, t, names)
    gates = [smd_gate(table, ctx, after=False), vif_gate(X, names, ctx)]
    if e is not None:
        w = t / e + (1 - t) / (1 - e)
        gates += [common_support_gate(e, t, ctx), ess_gate(w, t, ctx), max_weight_gate(w, t, ctx)]
    return gates
