"""Is the estimated heterogeneity real?  Calibration, BLP, GATES, CLAN and RATE.

Every test uses the doubly robust scores
``φ_i = μ̂₁ − μ̂₀ + T(Y − μ̂₁)/ê − (1 − T)(Y − μ̂₀)/(1 − ê)`` and the unit effects
``τ̂_i`` of the fitted rows; both are cross-fitted (or out-of-bag), so ``τ̂_i`` never
saw row ``i`` — the sample splitting these tests need (Chernozhukov, Demirer, Duflo &
Fernández-Val 2018/2025, "Generic machine learning inference on heterogeneous
treatment effects in randomized experiments", NBER WP 24678, doi:10.3386/w24678;
their variational estimators here take the doubly robust form of Semenova &
Chernozhukov 2021, doi:10.1093/ectj/utaa027).

- **Calibration** (grf's ``test_calibration``; Chernozhukov et al.'s BLP in R-form):
  ``Y − m̂ = α·τ̄(T − ê) + β·(τ̂ − τ̄)(T − ê) + ε`` by least squares with HC3 SEs.
  ``α ≈ 1``: the average is right; ``β ≈ 1``: the variation of τ̂ is right; ``β > 0``
  (one-sided test): heterogeneity is detected.
- **BLP** (best linear predictor of τ by the proxy): ``φ = β₁ + β₂(τ̂ − τ̄) + ε``
  (HC3); ``β₁`` the ATE, ``H₀: β₂ = 0`` no heterogeneity the proxy captures.
- **GATES**: ``γ_k = E[τ(X) | τ̂ in quantile group k]``, estimated by the mean of
  ``φ`` in the group (SE ``sd/√n_k``), and the top − bottom difference.
- **CLAN**: covariate means in the top and bottom GATES groups and their difference.
- **Best linear projection** of τ on the covariates (grf's
  ``best_linear_projection``): ``φ = a + A'b + ε`` with HC3 SEs.
- **RATE** (Yadlowsky, Fleming, Shah, Brunskill & Wager 2021/2025, "Evaluating
  treatment prioritization rules via rank-weighted average treatment effects",
  JASA, doi:10.1080/01621459.2024.2393466): with rows ranked by ``τ̂``,
  ``TOC(q) = E[φ | top q] − E[φ]``; ``AUTOC = ∫₀¹ TOC(q) dq``,
  ``Qini = ∫₀¹ q·TOC(q) dq``; a two-sided z-test of ``RATE = 0`` (no
  heterogeneity the ranking can exploit).  Split-sample as grf recommends
  (:class:`RateSplit`): the rule (with its nuisances) is fitted on one half of the
  rows and evaluated on the other with that half's own doubly robust scores; SEs by
  grf's half-sample bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.gate import Gate
from cqox.estimators.cate.uplift import targeting_table, uplift_curves

#: Significance level of the heterogeneity gates (warn when heterogeneity is not
#: detected at this level: the unit effects are then not distinguishable from noise).
HETEROGENEITY_ALPHA = 0.05


@dataclass(frozen=True)
class LinearTest:
    """Least-squares coefficients with HC3 standard errors.

    Attributes
    ----------
    names : list of str
    coef, se : ndarray, shape (k,)
    """

    names: list[str]
    coef: np.ndarray
    se: np.ndarray

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """``term, estimate, se, t, p_value, ci_lower, ci_upper`` (two-sided)."""
        z = float(special.ndtri(0.5 + level / 2))
        tstat = self.coef / self.se
        return pd.DataFrame(
            {
                "term": self.names,
                "estimate": self.coef,
                "se": self.se,
                "t": tstat,
                "p_value": special.erfc(np.abs(tstat) / np.sqrt(2)),
                "ci_lower": self.coef - z * self.se,
                "ci_upper": self.coef + z * self.se,
            }
        )


def ols_hc3(Z: np.ndarray, y: np.ndarray, names: list[str]) -> LinearTest:
    """OLS of ``y`` on ``Z`` (no intercept added) with HC3 standard errors.

    ``V = (Z'Z)⁻¹ [Σ (u_i/(1 − h_i))² z_i z_i'] (Z'Z)⁻¹``, ``h_i`` the leverage.
    """
    bread = np.linalg.pinv(Z.T @ Z)
    coef = bread @ (Z.T @ y)
    u = y - Z @ coef
    h = np.einsum("ij,jk,ik->i", Z, bread, Z)
    s = Z * (u / np.maximum(1 - h, 1e-12))[:, None]
    cov = bread @ (s.T @ s) @ bread
    return LinearTest(names, coef, np.sqrt(np.maximum(np.diag(cov), 0.0)))


def calibration_test(
    y: np.ndarray, t: np.ndarray, m: np.ndarray, e: np.ndarray, cate: np.ndarray
) -> LinearTest:
    """Grf's calibration regression (see the module docstring)."""
    v = t - e
    tau_bar = float(np.mean(cate))
    Z = np.column_stack([tau_bar * v, (cate - tau_bar) * v])
    return ols_hc3(Z, y - m, ["mean_prediction", "differential_prediction"])


def blp_test(phi: np.ndarray, cate: np.ndarray) -> LinearTest:
    """Best linear predictor ``φ = β₁ + β₂(τ̂ − τ̄)`` (Chernozhukov et al.)."""
    Z = np.column_stack([np.ones(len(phi)), cate - cate.mean()])
    return ols_hc3(Z, phi, ["beta1_ate", "beta2_heterogeneity"])


def best_linear_projection(phi: np.ndarray, X: np.ndarray, names: list[str]) -> LinearTest:
    """Grf's ``best_linear_projection``: ``φ`` on ``[1, X]`` with HC3 SEs."""
    Z = np.column_stack([np.ones(len(phi)), X])
    return ols_hc3(Z, phi, ["(intercept)", *names])


def quantile_groups(cate: np.ndarray, n_groups: int) -> np.ndarray:
    """Group of each row, ``0 … n_groups−1`` by increasing τ̂ (equal-size, ties by order)."""
    order = np.argsort(cate, kind="stable")
    groups = np.empty(len(cate), dtype=np.int64)
    groups[order] = np.arange(len(cate)) * n_groups // len(cate)
    return groups


def gates_table(
    phi: np.ndarray, cate: np.ndarray, groups: np.ndarray, n_groups: int, level: float
) -> pd.DataFrame:
    """GATES: per τ̂ group, the mean DR score with its SE and interval."""
    z = float(special.ndtri(0.5 + level / 2))
    rows = []
    for k in range(n_groups):
        g = groups == k
        nk = int(g.sum())
        est = float(phi[g].mean())
        se = float(phi[g].std(ddof=1) / np.sqrt(nk)) if nk > 1 else float("nan")
        rows.append(
            {
                "group": k + 1,
                "n": nk,
                "cate_mean": float(cate[g].mean()),
                "estimate": est,
                "se": se,
                "ci_lower": est - z * se,
                "ci_upper": est + z * se,
            }
        )
    return pd.DataFrame(rows)


def clan_table(X: np.ndarray, names: list[str], groups: np.ndarray, n_groups: int) -> pd.DataFrame:
    """CLAN: covariate means in the most and least affected groups and their difference."""
    top, bottom = groups == n_groups - 1, groups == 0
    mt, mb = X[top].mean(axis=0), X[bottom].mean(axis=0)
    se = np.sqrt(
        X[top].var(axis=0, ddof=1) / top.sum() + X[bottom].var(axis=0, ddof=1) / bottom.sum()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        p = special.erfc(np.abs((mt - mb) / se) / np.sqrt(2))
    return pd.DataFrame(
        {
            "covariate": names,
            "mean_top": mt,
            "mean_bottom": mb,
            "difference": mt - mb,
            "se": se,
            "p_value": p,
        }
    )


@dataclass(frozen=True)
class Rate:
    """RATE of a prioritisation rule, with half-sample bootstrap SEs.

    Attributes
    ----------
    autoc, qini : float
        Point estimates.
    autoc_se, qini_se : float
        Half-sample bootstrap standard errors.
    """

    autoc: float
    qini: float
    autoc_se: float
    qini_se: float


def _rate_curves(phi_sorted: np.ndarray) -> tuple[float, float]:
    n = len(phi_sorted)
    j = np.arange(1, n + 1)
    toc = np.cumsum(phi_sorted) / j - phi_sorted.mean()
    return float(toc.mean()), float(np.mean(j / n * toc))


def rate(phi: np.ndarray, priority: np.ndarray, n_boot: int, rng: np.random.Generator) -> Rate:
    """AUTOC and Qini of ranking rows by ``priority`` (highest first), bootstrap SEs.

    The SEs are grf's half-sample bootstrap (``rank_average_treatment_effect``): each
    replicate draws ``⌊n/2⌋`` rows *without* replacement, whose spread equals the
    full-sample sampling spread for a linear statistic (``(σ²/m)(1 − m/n) = σ²/n``
    at ``m = n/2``), and unlike the with-replacement bootstrap never ties rows at the
    top of the ranking, where the AUTOC weights ``Σ_{k ≥ j} 1/k`` are largest.  A
    replicate keeps the ranking (drawn positions sorted), so each costs ``O(n)``.

    ``priority`` must not depend on the outcomes of the rows scored by ``phi`` (see
    :class:`RateSplit`); this function only ranks and averages.
    """
    order = np.argsort(-priority, kind="stable")
    ps = phi[order]
    autoc, qini = _rate_curves(ps)
    n = len(ps)
    a, q = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        idx = np.sort(rng.choice(n, n // 2, replace=False))
        a[b], q[b] = _rate_curves(ps[idx])
    return Rate(autoc, qini, float(a.std(ddof=1)), float(q.std(ddof=1)))


@dataclass(frozen=True)
class RateSplit:
    """The evaluation half of the split-sample RATE (grf's recommended use).

    The rows are split in two halves (:func:`cqox.estimators.cate.nuisances.rate_halves`).
    The prioritisation rule — the CATE model *and* its nuisances — is fitted on the
    training half only; the RATE is computed on the evaluation half, ranked by that
    rule and scored with doubly robust scores whose nuisances were cross-fitted
    within the evaluation half (grf: ``rank_average_treatment_effect(eval_forest,
    predict(train_forest, X_eval))``).  Given the training half, the ranking is a
    fixed function of ``x``, so it cannot follow the evaluation rows' noise, and the
    scores share no nuisance fit with it.

    Why one direction and not both (cross-fitted, averaged): the two directions'
    estimates are strongly correlated under no heterogeneity (each is large when the
    two halves' fitted rules happen to agree; measured correlation 0.63 on Wager &
    Athey's null design), so averaging them with a standard error that treats the
    halves as independent rejected 9 % at the 5 % level, and the bound that holds for
    any correlation (``(se₀ + se₁)/2``) 2 %; the single split rejects 3.5–5 %
    (docs/validation_cate.md).

    Attributes
    ----------
    priority : ndarray, shape (n_eval,)
        Priority of each evaluation row by the rule fitted on the training half.
    phi : ndarray, shape (n_eval,)
        Doubly robust score of each evaluation row (nuisances within the half).
    """

    priority: np.ndarray
    phi: np.ndarray


def _p_one_sided(est: float, se: float) -> float:
    return float(0.5 * special.erfc(est / se / np.sqrt(2))) if se > 0 else float("nan")


def _p_two_sided(est: float, se: float) -> float:
    return float(special.erfc(abs(est / se) / np.sqrt(2))) if se > 0 else float("nan")


def fold_centred(cate: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """``τ̂_i − mean_{fold(i)} τ̂ + mean τ̂``: cross-fitted effects without fold shifts.

    A fold's effects come from a model fitted on the *other* folds, whose level (the
    intercept) moves against the fold's own mean score: a fold with high scores gets a
    lower fitted level.  Pooled across folds, those level shifts rank rows partly by
    their fold and correlate the ranking with the rows' own noise, which biases BLP,
    GATES and RATE under no heterogeneity (measured: RATE rejected 15% at the 5% level
    on Wager & Athey's null design before this centring).  Within a fold the ranking
    depends on ``x`` only.
    """
    out = np.asarray(cate, dtype=np.float64).copy()
    for k in np.unique(folds):
        rows = folds == k
        out[rows] -= out[rows].mean()
    return out + float(np.mean(cate))


@dataclass(frozen=True)
class Heterogeneity:
    """The heterogeneity tests of one fit: JSON summary, gates and tables."""

    summary: dict[str, Any]
    gates: list[Gate]
    tables: dict[str, pd.DataFrame]


def heterogeneity(
    y: np.ndarray,
    t: np.ndarray,
    mu0: np.ndarray,
    mu1: np.ndarray,
    e: np.ndarray,
    cate: np.ndarray,
    X: np.ndarray,
    names: list[str],
    n_groups: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    cost_per_treated: float = 0.0,
    value_per_outcome: float = 1.0,
    budgets: list[float] | None = None,
    folds: np.ndarray | None = None,
    rate_split: RateSplit | None = None,
) -> Heterogeneity:
    """Calibration, BLP, GATES, CLAN, best linear projection and RATE as gates and tables.

    Also the uplift curves and the targeting table of
    :mod:`cqox.estimators.cate.uplift` (ranking by τ̂).

    ``folds`` (cross-fitted effects): the tests rank rows by τ̂ centred within its fold
    (:func:`fold_centred`).  ``rate_split``: RATE on the evaluation half of a
    split-sample fit (:class:`RateSplit`; the estimators always pass it); without it,
    RATE ranks all rows by ``cate`` itself, which over-rejects when ``cate`` was
    fitted with nuisances that saw the rows (use it for a fixed, external priority).
    """
    phi = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
    if folds is not None:
        cate = fold_centred(cate, folds)
    m = e * mu1 + (1 - e) * mu0
    calib = calibration_test(y, t, m, e, cate)
    blp = blp_test(phi, cate)
    groups = quantile_groups(cate, n_groups)
    gates = gates_table(phi, cate, groups, n_groups, level)
    top, bottom = gates.iloc[-1], gates.iloc[0]
    diff = float(top["estimate"] - bottom["estimate"])
    diff_se = float(np.hypot(top["se"], bottom["se"]))
    proj = best_linear_projection(phi, X, names)
    if rate_split is None:
        r = rate(phi, cate, n_boot, rng)
    else:
        r = rate(rate_split.phi, rate_split.priority, n_boot, rng)
    curves, areas = uplift_curves(phi, cate)
    targeting = targeting_table(phi, cate, cost_per_treated, value_per_outcome, budgets)

    p_calib = _p_one_sided(float(calib.coef[1]), float(calib.se[1]))
    p_blp = _p_two_sided(float(blp.coef[1]), float(blp.se[1]))
    p_gates = _p_two_sided(diff, diff_se)
    p_autoc = _p_two_sided(r.autoc, r.autoc_se)
    p_qini = _p_two_sided(r.qini, r.qini_se)
    summary = {
        "calibration": {
            "mean_prediction": float(calib.coef[0]),
            "mean_prediction_se": float(calib.se[0]),
            "differential_prediction": float(calib.coef[1]),
            "differential_prediction_se": float(calib.se[1]),
            "p_value": p_calib,
        },
        "blp": {
            "beta1": float(blp.coef[0]),
            "beta1_se": float(blp.se[0]),
            "beta2": float(blp.coef[1]),
            "beta2_se": float(blp.se[1]),
            "p_value": p_blp,
        },
        "gates": {"top_minus_bottom": diff, "se": diff_se, "p_value": p_gates},
        "rate": {
            "autoc": r.autoc,
            "autoc_se": r.autoc_se,
            "autoc_p_value": p_autoc,
            "qini": r.qini,
            "qini_se": r.qini_se,
            "qini_p_value": p_qini,
            "n_boot": n_boot,
            "method": "split-sample (rule fitted on one half, evaluated on the other), "
            "half-sample bootstrap"
            if rate_split is not None
            else "in-sample ranking, half-sample bootstrap",
        },
        "uplift": areas,
    }

    def gate(name: str, value: float, p: float, what: str) -> Gate:
        found = p < HETEROGENEITY_ALPHA
        return Gate(
            name,
            value,
            HETEROGENEITY_ALPHA,
            "pass" if found else "warn",
            f"{what} = {value:.4g}, p = {p:.3g}: "
            + (
                "heterogeneity detected"
                if found
                else "no heterogeneity detected at the 5% level; the unit effects may be noise"
            ),
            details={"p_value": p},
        )

    het_gates = [
        gate("cate_calibration", float(calib.coef[1]), p_calib, "differential prediction"),
        gate("cate_blp", float(blp.coef[1]), p_blp, "BLP heterogeneity loading β₂"),
        gate("cate_gates", diff, p_gates, "GATES top − bottom"),
        gate("cate_rate_autoc", r.autoc, p_autoc, "RATE (AUTOC)"),
    ]
    tables = {
        "gates": gates,
        "clan": clan_table(X, names, groups, n_groups),
        "best_linear_projection": proj.table(level),
        "calibration": calib.table(level),
        "blp": blp.table(level),
        "uplift": curves,
        "targeting": targeting,
    }
    return Heterogeneity(summary, het_gates, tables)
