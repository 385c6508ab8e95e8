"""Parametric g-formula (g-computation) for a point treatment.

Robins' g-formula (Robins 1986, doi:10.1016/0270-0255(86)90088-6; Snowden, Rose &
Mortimer 2011, doi:10.1093/aje/kwq472): fit an outcome model ``m(t, x) = E[Y | T=t,
X=x]``, predict every row of the target population under both treatments and average
(standardisation):

    μ̂_a = (1/|S|) Σ_{i∈S} m̂(a, X_i),   τ̂ = μ̂₁ − μ̂₀,

with ``S`` all rows (ATE), the treated (ATT) or the controls (ATC).  The outcome model
is linear (least squares) or logistic (maximum likelihood) — chosen from the outcome
(0/1 → logistic) unless set — with treatment–covariate interactions by default (one
model per arm) or main effects only.  For a binary outcome ``τ̂`` is the risk
difference; the risk ratio ``μ̂₁/μ̂₀`` and odds ratio are in the diagnostics.

Assumptions: unconfoundedness given ``X``, positivity, and a correctly specified
outcome model.

Inference (``se_method``): nonparametric bootstrap (``n_boot`` replicates, seeded
from the analysis seed).  Each replicate reweights the rows by multinomial counts,
refits the outcome model by weighted least squares (or Newton–Raphson started at the
full-sample fit) and re-standardises over the resampled target population; the
standard error is the replicates' standard deviation, the interval Wald with that SE
(the percentile interval is in the diagnostics).  Or ``"analytic"``: the variance of
the influence function of the stacked M-estimator (outcome model's estimating
equations and the standardisation; Tsiatis 2006, *Semiparametric Theory and Missing
Data*, §13; for the linear model by arm it is the regression-adjustment influence
function),

    IF_μa(i) = 1[i∈S]/p_S · (m̂(a, X_i) − μ̂_a) + n D_a' (Σ_j w_j z_j z_j')⁻¹ z_i r_i,

with ``D_a = mean_S ∂m̂(a, X)/∂β``, ``w = 1`` (linear) or ``m̂(1 − m̂)`` (logistic)
and ``r_i`` the fitted model's residual on the rows it was fitted to.  The default
``"auto"`` uses the influence function for the linear outcome model at every size: it
is the regression-adjustment influence function (a sandwich of least squares, exact in
form, with nothing simulated), it covers as the bootstrap does (docs/accuracy.md), and
the bootstrap costs ``n_boot`` Gram matrices (200 × n × k² operations: 0.2–0.4 s of CPU
at 10⁴ rows × 50 covariates, 35 s at 10⁶).  For the logistic model ``"auto"``
bootstraps up to :data:`AUTO_BOOTSTRAP_MAX_ROWS` rows, where the replicates also
capture the small-sample skew of the risk scale, and uses the influence function
beyond, where the two agree to well within the bootstrap's own Monte-Carlo error
(1/√(2·n_boot) ≈ 5% of the SE with 200 replicates).

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("g_computation", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"], seed=0, n_boot=100)
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param, n_boot_param, se_method_param
from cqox.estimators.registry import register
from cqox.nuisance.glm import weighted_logit

#: Random stream (``Context.rng``) of the bootstrap replicates.
_BOOTSTRAP_STREAM = 31

#: ``se_method="auto"`` with the logistic outcome model bootstraps up to this many rows
#: and uses the influence function beyond (the linear model: always the influence
#: function; see the module docstring).
AUTO_BOOTSTRAP_MAX_ROWS = 100_000

#: Newton stops when the largest coefficient step is below this.
NEWTON_TOL = 1e-9
NEWTON_MAX_ITER = 50


def _weighted_ols(Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    Zw = Z * w[:, None]
    return np.linalg.lstsq(Zw.T @ Z, Zw.T @ y, rcond=None)[0]


def _ols_by_arm(X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """:func:`_weighted_ols` with unit weights of ``y[rows]`` on ``[1, X[rows]]``.

    The normal equations are accumulated over blocks of rows, so neither the design
    ``[1, X]`` nor its arm's rows are copied (two n × k arrays at 10⁶ rows).
    """
    k = X.shape[1] + 1
    G = np.zeros((k, k))
    b = np.zeros(k)
    for start in range(0, len(rows), IF_BLOCK):
        chunk = rows[start : start + IF_BLOCK]
        Z = np.empty((len(chunk), k))
        Z[:, 0] = 1.0
        Z[:, 1:] = X[chunk]
        G += Z.T @ Z
        b += Z.T @ y[chunk]
    return np.linalg.lstsq(G, b, rcond=None)[0]


def _weighted_logit(
    Z: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray | None = None
) -> tuple[np.ndarray, bool]:
    """Weighted logistic MLE; converged only if the coefficients stay finite-sized."""
    coef, converged = weighted_logit(Z, y, w, beta, NEWTON_TOL, NEWTON_MAX_ITER)
    return coef, converged and bool(np.max(np.abs(coef)) < 30)


@dataclass(frozen=True)
class OutcomeModel:
    """A fitted outcome model ``m(t, x)``.

    Attributes
    ----------
    kind : {"linear", "logistic"}
    interactions : bool
        One model per arm (``coef`` has two rows) or one with a treatment term.
    coef : ndarray, shape (2, p + 1) or (p + 2,)
        Per arm ``[intercept, x]`` (arm 0 first), or ``[intercept, t, x]``.
    converged : bool
    """

    kind: str
    interactions: bool
    coef: np.ndarray
    converged: bool

    def predict(self, X: np.ndarray, a: int) -> np.ndarray:
        """``m̂(a, X)`` for every row of ``X``."""
        n = X.shape[0]
        if self.interactions:
            eta = self.coef[a, 0] + X @ self.coef[a, 1:]
        else:
            eta = self.coef[0] + a * self.coef[1] + X @ self.coef[2:]
        return special.expit(eta) if self.kind == "logistic" else eta + np.zeros(n)


def fit_outcome_model(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    kind: str,
    interactions: bool,
    w: np.ndarray | None = None,
    start: OutcomeModel | None = None,
) -> OutcomeModel:
    """Fit ``m(t, x)`` by (weighted) least squares or logistic regression."""
    n = len(y)
    if w is None and kind == "linear" and interactions:
        coef = np.empty((2, X.shape[1] + 1))
        for a in (0, 1):
            coef[a] = _ols_by_arm(X, y, np.flatnonzero(t == a))
        return OutcomeModel(kind, True, coef, True)
    w = np.ones(n) if w is None else w
    ones = np.ones(n)
    converged = True
    if interactions:
        Z = np.column_stack([ones, X])
        coef = np.empty((2, Z.shape[1]))
        for a in (0, 1):
            idx = t == a
            if kind == "linear":
                coef[a] = _weighted_ols(Z[idx], y[idx], w[idx])
            else:
                b0 = None if start is None else start.coef[a]
                coef[a], ok = _weighted_logit(Z[idx], y[idx], w[idx], b0)
                converged &= ok
        return OutcomeModel(kind, True, coef, converged)
    Z = np.column_stack([ones, t, X])
    if kind == "linear":
        return OutcomeModel(kind, False, _weighted_ols(Z, y, w), True)
    vec, ok = _weighted_logit(Z, y, w, None if start is None else start.coef)
    return OutcomeModel(kind, False, vec, ok)


@dataclass(frozen=True)
class GFormulaResult:
    """Standardised potential-outcome means and their contrasts.

    Attributes
    ----------
    mu1, mu0 : float
        Standardised means of ``Y(1)`` and ``Y(0)`` over the target population.
    tau : float
        ``mu1 − mu0``.
    model : OutcomeModel
    """

    mu1: float
    mu0: float
    tau: float
    model: OutcomeModel


def standardise(
    model: OutcomeModel, X: np.ndarray, target: np.ndarray, w: np.ndarray | None = None
) -> tuple[float, float]:
    """(Weighted) means of ``m̂(1, X)`` and ``m̂(0, X)`` over the ``target`` rows."""
    wt = target.astype(float) if w is None else w * target
    s = wt.sum()
    return float(wt @ model.predict(X, 1) / s), float(wt @ model.predict(X, 0) / s)


def g_formula(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    estimand: str = "ATE",
    kind: str = "linear",
    interactions: bool = True,
) -> GFormulaResult:
    """Point estimate of the g-formula."""
    model = fit_outcome_model(y, t, X, kind, interactions)
    target = _target(t, estimand)
    mu1, mu0 = standardise(model, X, target)
    return GFormulaResult(mu1, mu0, mu1 - mu0, model)


def _target(t: np.ndarray, estimand: str) -> np.ndarray:
    return {"ATE": np.ones(len(t), bool), "ATT": t == 1, "ATC": t == 0}[estimand]


#: Rows per block in every bootstrap sum over rows: the temporaries are (B × block)
#: instead of (B × n), so memory beyond the data is the replicate counts (1 byte per
#: row and replicate) plus a few MB.
GRAM_BLOCK = 2048


def block_matmul(W: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``W @ M`` accumulated over blocks of rows of ``M`` (``W`` may be integer counts)."""
    out = np.zeros((W.shape[0], M.shape[1]))
    for start in range(0, M.shape[0], GRAM_BLOCK):
        out += W[:, start : start + GRAM_BLOCK] @ M[start : start + GRAM_BLOCK]
    return out


def batched_gram(Z: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``Z' diag(W_b) Z`` for every row ``b`` of ``W``, shape (B, k, k).

    One matrix product per block of rows against the pairwise column products
    ``z_ij z_il`` (upper triangle), instead of ``B`` separate ``n·k²`` products.
    """
    n, k = Z.shape
    iu, ju = np.triu_indices(k)
    flat = np.zeros((W.shape[0], len(iu)))
    for start in range(0, n, GRAM_BLOCK):
        block = Z[start : start + GRAM_BLOCK]
        flat += W[:, start : start + GRAM_BLOCK] @ (block[:, iu] * block[:, ju])
    return _symmetric(flat, k)


def _symmetric(flat: np.ndarray, k: int) -> np.ndarray:
    iu, ju = np.triu_indices(k)
    G = np.zeros((flat.shape[0], k, k))
    G[:, iu, ju] = flat
    G[:, ju, iu] = flat
    return G


def _batched_solve(G: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(G, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(g, r, rcond=None)[0] for g, r in zip(G, rhs, strict=True)])


def _target_means(counts: np.ndarray, target: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Each replicate's mean design row over its resampled target rows, shape (B, k)."""
    tz = Z * target[:, None]
    sums = block_matmul(counts, target[:, None].astype(np.float64))
    return block_matmul(counts, tz) / sums


def bootstrap_linear(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    target: np.ndarray,
    interactions: bool,
    counts: np.ndarray,
    beta_cache: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Bootstrap ``(mu1, mu0)`` of the linear g-formula for all replicates at once.

    ``beta_cache`` keeps the replicate coefficients, which do not depend on the target
    population, so the ATE and ATT of one analysis refit the replicates once.

    Weighted least squares per replicate from batched Gram matrices; standardisation
    is linear in the coefficients, so ``μ_a^b = z̄_b' β_a^b`` with ``z̄_b`` the
    replicate's mean design row over the target.
    """
    n = len(y)
    ones = np.ones(n)
    out = np.empty((counts.shape[0], 2))
    if interactions:
        Z = np.column_stack([ones, X])
        zbar = _target_means(counts, target, Z)
        for a in (0, 1):
            idx = t == a
            beta = _cached(beta_cache, ("linear", a), _batched_wls, Z[idx], counts[:, idx], y[idx])
            out[:, 1 - a] = np.sum(zbar * beta, axis=1)
        return out
    Z = np.column_stack([ones, t, X])
    beta = _cached(beta_cache, ("linear", "pooled"), _batched_wls, Z, counts, y)
    xbar = _target_means(counts, target, X)
    for a in (0, 1):
        out[:, 1 - a] = beta[:, 0] + a * beta[:, 1] + np.sum(xbar * beta[:, 2:], axis=1)
    return out


#: Newton iterations of the batched bootstrap logistic refits (warm-started at the
#: full-sample fit, Newton converges quadratically; unconverged replicates are dropped).
BOOT_NEWTON_ITER = 25


def _batched_logit(
    Z: np.ndarray, y: np.ndarray, W: np.ndarray, beta0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted logistic MLE for every row of weights ``W`` at once (Newton–Raphson).

    Gradient and Hessian are accumulated over blocks of rows, so no (B × n) array of
    fitted probabilities is formed.  Returns ``(beta, converged)`` with shapes (B, k)
    and (B,).
    """
    B, k = W.shape[0], Z.shape[1]
    n = Z.shape[0]
    iu, ju = np.triu_indices(k)
    beta = np.tile(beta0, (B, 1))
    done = np.zeros(B, bool)
    for _ in range(BOOT_NEWTON_ITER):
        act = np.flatnonzero(~done)
        if not len(act):
            break
        grad = np.zeros((len(act), k))
        flat = np.zeros((len(act), len(iu)))
        for start in range(0, n, GRAM_BLOCK):
            rows = slice(start, start + GRAM_BLOCK)
            Zb = Z[rows]
            p = special.expit(beta[act] @ Zb.T)
            Wb = W[act, rows]
            grad += (Wb * (y[rows] - p)) @ Zb
            flat += (Wb * p * (1 - p)) @ (Zb[:, iu] * Zb[:, ju])
        step = _batched_solve(_symmetric(flat, k), grad)
        beta[act] += step
        small = np.max(np.abs(step), axis=1) < NEWTON_TOL
        done[act[small]] = True
    ok = done & np.all(np.isfinite(beta), axis=1) & (np.max(np.abs(beta), axis=1) < 30)
    return beta, ok


def _standardised_risk(
    counts: np.ndarray, target: np.ndarray, beta: np.ndarray, Z: np.ndarray
) -> np.ndarray:
    """Each replicate's mean of ``expit(Z β_b)`` over its resampled target rows."""
    num = np.zeros(counts.shape[0])
    den = np.zeros(counts.shape[0])
    rows_t = np.flatnonzero(target)
    for start in range(0, len(rows_t), GRAM_BLOCK):
        rows = rows_t[start : start + GRAM_BLOCK]
        c = counts[:, rows]
        num += np.sum(c * special.expit(beta @ Z[rows].T), axis=1)
        den += c.sum(axis=1)
    return num / den


def bootstrap_logistic(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    target: np.ndarray,
    model: OutcomeModel,
    counts: np.ndarray,
    beta_cache: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Bootstrap ``(mu1, mu0)`` of the logistic g-formula, all replicates at once.

    Rows of failed (unconverged) replicates are NaN.
    """
    n = len(y)
    ones = np.ones(n)
    out = np.empty((counts.shape[0], 2))
    ok = np.ones(counts.shape[0], bool)
    if model.interactions:
        Z = np.column_stack([ones, X])
        for a in (0, 1):
            idx = t == a
            beta, conv = _cached(
                beta_cache,
                ("logistic", a),
                _batched_logit,
                Z[idx],
                y[idx],
                counts[:, idx],
                model.coef[a],
            )
            ok &= conv
            out[:, 1 - a] = _standardised_risk(counts, target, beta, Z)
    else:
        Z = np.column_stack([ones, t, X])
        beta, ok = _cached(
            beta_cache, ("logistic", "pooled"), _batched_logit, Z, y, counts, model.coef
        )
        for a in (0, 1):
            Za = np.column_stack([ones, np.full(n, float(a)), X])
            out[:, 1 - a] = _standardised_risk(counts, target, beta, Za)
    out[~ok] = np.nan
    return out


def _cached(cache: dict[Any, Any] | None, key: Any, compute: Callable[..., Any], *args: Any) -> Any:
    if cache is None:
        return compute(*args)
    if key not in cache:
        cache[key] = compute(*args)
    return cache[key]


#: Row indices drawn per call when building the replicate counts (bounds the int64
#: index temporaries at about 64 MB).
DRAW_CHUNK = 8_000_000


def resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Row counts of ``n_boot`` nonparametric bootstrap resamples, shape (n_boot, n).

    Each row is Multinomial(n, 1/n), drawn as ``n`` uniform row indices and counted with
    ``bincount`` (an order of magnitude faster than ``Generator.multinomial`` with ``n``
    equal cells).  Counts are stored as ``uint8``, an eighth of the memory of floats
    (200 MB for 200 replicates of 10⁶ rows): a row's count is about Poisson(1), so a
    count above 255 has probability below 1e-500; should one occur, the array is
    widened to ``uint16``, so the counts are exact in every case.  Replicates are drawn
    a few at a time; the stream of draws is the same as drawing all at once.
    """
    counts = np.empty((n_boot, n), dtype=np.uint8)
    per_call = max(1, DRAW_CHUNK // n)
    for b0 in range(0, n_boot, per_call):
        m = min(per_call, n_boot - b0)
        idx = rng.integers(0, n, size=(m, n))
        idx += (n * np.arange(m))[:, None]
        drawn = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n)
        if drawn.max() > np.iinfo(counts.dtype).max:
            counts = counts.astype(np.uint16)
        counts[b0 : b0 + m] = drawn
    return counts


def _batched_wls(Z: np.ndarray, W: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted least squares for every row of weights ``W``, shape (B, k)."""
    return _batched_solve(batched_gram(Z, W), block_matmul(W, Z * y[:, None]))


def bootstrap_g_formula(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    fit: GFormulaResult,
    estimand: str,
    n_boot: int,
    rng: np.random.Generator,
    beta_cache: dict[Any, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bootstrap replicates of ``(mu1, mu0)``, shape (B, 2), and failed replicates.

    Replicates are multinomial row counts; all replicates refit the outcome model
    together (batched weighted least squares, or batched Newton–Raphson warm-started
    at the full-sample fit).
    """
    n = len(y)
    counts = _cached(beta_cache, "counts", resample_counts, rng, n, n_boot)
    target = _target(t, estimand)
    arm_w = block_matmul(counts, np.column_stack([t == 1, t == 0]).astype(np.float64))
    # Replicates without two rows in each arm cannot be fitted; those whose target
    # population is empty have no standardised mean.  Only the first depends on the
    # data alone, so fits are shared across estimands through ``beta_cache``.
    fit_ok = arm_w.min(axis=1) >= 2
    empty = block_matmul(counts, target[:, None].astype(np.float64))[:, 0] == 0
    use = counts if fit_ok.all() else counts[fit_ok]
    out = np.full((n_boot, 2), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if fit.model.kind == "linear":
            out[fit_ok] = bootstrap_linear(y, t, X, target, fit.model.interactions, use, beta_cache)
        else:
            out[fit_ok] = bootstrap_logistic(y, t, X, target, fit.model, use, beta_cache)
    out[empty] = np.nan
    ok = np.all(np.isfinite(out), axis=1)
    return out, ok, int((~ok).sum())


#: Rows per block of the influence-function passes (one block of the design in memory).
IF_BLOCK = 8192


def _fit_design(X: np.ndarray, t: np.ndarray, rows: slice, pooled: bool) -> np.ndarray:
    """``[1, X]`` (by arm) or ``[1, T, X]`` (pooled) of the rows ``rows``."""
    Xb = X[rows]
    Z = np.empty((Xb.shape[0], Xb.shape[1] + (2 if pooled else 1)))
    Z[:, 0] = 1.0
    if pooled:
        Z[:, 1] = t[rows]
    Z[:, -Xb.shape[1] :] = Xb
    return Z


def g_formula_influence(
    y: np.ndarray, t: np.ndarray, X: np.ndarray, res: GFormulaResult, estimand: str
) -> np.ndarray:
    """Influence functions of ``(μ̂₁, μ̂₀)``, shape (n, 2) (module docstring's formula).

    ``sqrt(Σ IF²)/n`` is the standard error; the outcome model's estimating equations
    enter through ``n D_a'(Σ w z z')⁻¹ z_i r_i``.  Computed in blocks of rows: memory
    beyond the data is a few n-vectors and one block of the design.
    """
    model = res.model
    n = len(y)
    target = _target(t, estimand)
    p_s = float(target.mean())
    pooled = not model.interactions
    logistic = model.kind == "logistic"
    m = {a: model.predict(X, a) for a in (1, 0)}
    mu = {1: res.mu1, 0: res.mu0}
    # the fitted value of each row under its own treatment: the residual's centre
    own = np.where(t == 1, m[1], m[0])
    resid = y - own
    k = X.shape[1] + (2 if pooled else 1)
    # Σ w z z' over the rows each model was fitted to, and D_a = mean_S ∂m̂(a, X)/∂β
    grams = {a: np.zeros((k, k)) for a in ((None,) if pooled else (1, 0))}
    D = {a: np.zeros(k) for a in (1, 0)}
    n_s = float(target.sum())
    for start in range(0, n, IF_BLOCK):
        rows = slice(start, min(start + IF_BLOCK, n))
        Z = _fit_design(X, t, rows, pooled)
        tb, sb = t[rows], target[rows]
        w = own[rows] * (1 - own[rows]) if logistic else np.ones(len(tb))
        for key in grams:
            use = np.ones(len(tb), bool) if key is None else tb == key
            Zw = Z[use] * np.sqrt(w[use])[:, None]
            grams[key] += Zw.T @ Zw
        for a in (1, 0):
            if pooled:
                Z[:, 1] = a
            dm = m[a][rows] * (1 - m[a][rows]) if logistic else np.ones(len(tb))
            D[a] += (dm * sb) @ Z / n_s
    out = np.empty((n, 2))
    for col, a in enumerate((1, 0)):
        G = grams[None if pooled else a]
        v = np.linalg.lstsq(G, D[a], rcond=None)[0]
        corr = np.empty(n)
        for start in range(0, n, IF_BLOCK):
            rows = slice(start, min(start + IF_BLOCK, n))
            corr[rows] = _fit_design(X, t, rows, pooled) @ v
        corr *= n * resid
        if not pooled:
            corr[t != a] = 0.0
        out[:, col] = target * (m[a] - mu[a]) / p_s + corr
    return out


@register
class GComputation(Estimator):
    """Parametric g-formula with a linear or logistic outcome model."""

    example = Example(
        "confounded_binary",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
        {"n_boot": 20},
    )
    name = "g_computation"
    family = "g_computation"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT", "ATC")
    default_estimands = ("ATE", "ATT")
    summary_line = (
        "Parametric g-formula (outcome model + standardisation), influence-function or bootstrap SE"
    )
    parameters = (
        estimand_param(("ATE", "ATT", "ATC"), "ATE"),
        Param(
            "outcome_model",
            "auto",
            "choice",
            "outcome model: logistic for a 0/1 outcome, else linear ('auto'), or forced",
            choices=("auto", "linear", "logistic"),
        ),
        Param("interactions", True, "bool", "treatment–covariate interactions (model per arm)"),
        n_boot_param(200, low=20, high=100_000, note="for the standard error"),
        se_method_param(
            ("auto", "bootstrap", "analytic"),
            "auto",
            "'auto': analytic for the linear outcome model; for the logistic one "
            f"bootstrap up to {AUTO_BOOTSTRAP_MAX_ROWS:,} rows, analytic beyond",
        ),
        CI_LEVEL,
    )

    @classmethod
    def unused_params(cls, params: Mapping[str, Any]) -> frozenset[str]:
        """``n_boot`` with ``se_method='analytic'`` (``'auto'`` may bootstrap: counted)."""
        return frozenset({"n_boot"}) if params.get("se_method") == "analytic" else frozenset()

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        y, t, X = data.y, data.t, data.X
        binary = bool(np.all((y == 0) | (y == 1)))
        kind = params["outcome_model"]
        if kind == "auto":
            kind = "logistic" if binary else "linear"
        if kind == "logistic" and not binary:
            raise EstimationError(
                "The 'outcome_model' parameter of g_computation is 'logistic' but the "
                "outcome is not 0/1; use outcome_model='linear'",
                details={"parameter": "outcome_model"},
            )
        k = X.shape[1] + 1 + (0 if params["interactions"] else 1)
        for a in (0, 1):
            if params["interactions"] and (t == a).sum() <= k:
                raise EstimationError(
                    f"the {'treated' if a else 'control'} arm has {int((t == a).sum())} rows "
                    f"for {k} outcome-model coefficients; use fewer covariates or "
                    "interactions=False",
                    details={"arm": a},
                )
        estimand = params["estimand"]
        res = g_formula(y, t, X, estimand, kind, params["interactions"])
        if not res.model.converged:
            raise EstimationError(
                "the logistic outcome model did not converge (an arm's outcome is "
                "perfectly predicted by the covariates); use fewer covariates",
                details={"parameter": "outcome_model"},
            )
        se_method = params["se_method"]
        if se_method == "auto":
            small_logistic = kind == "logistic" and data.n <= AUTO_BOOTSTRAP_MAX_ROWS
            se_method = "bootstrap" if small_logistic else "analytic"
        if se_method == "analytic":
            return self._analytic(data, params, res, kind, binary)
        ctx.report("g_computation bootstrap", 0.0)
        reps, ok, failed = bootstrap_g_formula(
            y,
            t,
            X,
            res,
            estimand,
            params["n_boot"],
            ctx.rng(_BOOTSTRAP_STREAM),
            beta_cache=ctx.cache.setdefault(
                (
                    "g_formula_bootstrap",
                    data.cache_key(),
                    kind,
                    params["interactions"],
                    params["n_boot"],
                    ctx.seed,
                ),
                {},
            ),
        )
        reps = reps[ok]
        if len(reps) < 10:
            raise EstimationError(
                f"only {len(reps)} of {params['n_boot']} bootstrap replicates could be "
                "fitted; use fewer covariates",
                details={"parameter": "n_boot"},
            )
        taus = reps[:, 0] - reps[:, 1]
        se = float(np.std(taus, ddof=1))
        level = params["ci_level"]
        alpha = 1 - level
        diagnostics: dict[str, Any] = {
            "mu1": res.mu1,
            "mu0": res.mu0,
            "outcome_model": kind,
            "interactions": params["interactions"],
            "n_boot": len(reps),
            "se_method": "bootstrap",
            "ci_percentile": [
                float(np.quantile(taus, alpha / 2)),
                float(np.quantile(taus, 1 - alpha / 2)),
            ],
        }
        notes: list[str] = []
        if failed:
            notes.append(f"{failed} of {params['n_boot']} bootstrap replicates failed to fit")
        if binary and 0 < res.mu0 < 1 and 0 < res.mu1 < 1:
            log_rr = np.log(reps[:, 0] / reps[:, 1])
            log_or = np.log(reps[:, 0] / (1 - reps[:, 0])) - np.log(reps[:, 1] / (1 - reps[:, 1]))
            rr = res.mu1 / res.mu0
            odds = (res.mu1 / (1 - res.mu1)) / (res.mu0 / (1 - res.mu0))
            diagnostics.update(
                {
                    "risk_difference": res.tau,
                    "risk_ratio": rr,
                    "risk_ratio_se_log": float(np.std(log_rr, ddof=1)),
                    "odds_ratio": odds,
                    "odds_ratio_se_log": float(np.std(log_or, ddof=1)),
                }
            )
        return Estimate.from_se(
            self.name,
            estimand,
            res.tau,
            se,
            level,
            n=data.n,
            n_treated=int(t.sum()),
            n_control=int(data.n - t.sum()),
            counts={"n_boot_failed": failed},
            diagnostics=diagnostics,
            warnings=notes,
            method=f"g-formula with a {kind} outcome model"
            + (" by arm" if params["interactions"] else "")
            + f", standardised; bootstrap SE ({len(reps)} replicates)",
        )

    def _analytic(
        self,
        data: CausalData,
        params: dict[str, Any],
        res: GFormulaResult,
        kind: str,
        binary: bool,
    ) -> Estimate:
        """The estimate with the influence-function SE (``se_method="analytic"``)."""
        assert data.y is not None and data.t is not None
        y, t = data.y, data.t
        n = data.n
        inf = g_formula_influence(y, t, data.X, res, params["estimand"])
        psi = inf[:, 0] - inf[:, 1]
        se = float(np.sqrt(np.sum(psi**2)) / n)
        diagnostics: dict[str, Any] = {
            "mu1": res.mu1,
            "mu0": res.mu0,
            "outcome_model": kind,
            "interactions": params["interactions"],
            "se_method": "analytic",
        }
        if binary and 0 < res.mu0 < 1 and 0 < res.mu1 < 1:
            # delta method on the potential-outcome means' influence functions
            inf_rr = inf[:, 0] / res.mu1 - inf[:, 1] / res.mu0
            inf_or = inf[:, 0] / (res.mu1 * (1 - res.mu1)) - inf[:, 1] / (res.mu0 * (1 - res.mu0))
            diagnostics.update(
                {
                    "risk_difference": res.tau,
                    "risk_ratio": res.mu1 / res.mu0,
                    "risk_ratio_se_log": float(np.sqrt(np.sum(inf_rr**2)) / n),
                    "odds_ratio": (res.mu1 / (1 - res.mu1)) / (res.mu0 / (1 - res.mu0)),
                    "odds_ratio_se_log": float(np.sqrt(np.sum(inf_or**2)) / n),
                }
            )
        return Estimate.from_se(
            self.name,
            params["estimand"],
            res.tau,
            se,
            params["ci_level"],
            n=n,
            n_treated=int(t.sum()),
            n_control=int(n - t.sum()),
            counts={"n_boot_failed": 0},
            diagnostics=diagnostics,
            influence=psi,
            method=f"g-formula with a {kind} outcome model"
            + (" by arm" if params["interactions"] else "")
            + ", standardised; influence-function (M-estimation) SE",
        )
