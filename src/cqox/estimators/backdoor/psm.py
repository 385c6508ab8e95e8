"""Propensity-score (and Mahalanobis) nearest-neighbour matching.

Estimands (Abadie & Imbens 2006, doi:10.1111/j.1468-0262.2006.00655.x): each unit
``i`` of the target set ``Q`` (treated for the ATT, controls for the ATC, everyone for
the ATE) is matched to the set ``J(i)`` of its ``M`` nearest units in the other arm,
*with all ties at the M-th distance*; its missing potential outcome is imputed by the
matched mean, ``Ŷ_i(1 − W_i) = (1/#J(i)) Σ_{j∈J(i)} Y_j``, and

    τ̂ = (1/N_Q) Σ_{i∈Q} (2W_i − 1)(Y_i − Ŷ_i(1 − W_i)).

The distance is on the logit of the shared propensity score ``e_hat`` (default), on
``e_hat`` itself, or Mahalanobis on the covariates.  Options: a caliper (in standard
deviations of the score for the propensity metrics, in Mahalanobis units otherwise;
target units without a match inside it are dropped and counted), exact matching on
named columns (matches only within cells), and matching without replacement (greedy,
hardest-to-match first by default).

Inference (Abadie & Imbens 2006, Theorem 7, written for ties): with
``k_j = Σ_{i∈Q} 1{j∈J(i)}/#J(i)`` (times used as a match), ``q_j = Σ_{i∈Q}
1{j∈J(i)}/#J(i)²`` and ``a_j = 1{j∈Q} + k_j`` (the weight of ``Y_j`` in ``τ̂``),

    V̂ = (1/N_Q²) [ Σ_{i∈Q} (d_i − τ̂)² + Σ_j (a_j² − 1{j∈Q} − q_j) σ̂²(X_j, W_j) ],

which with ``M`` matches and no ties is Abadie–Imbens' ``((K/M)² + (2M−1)K/M²)σ̂²``
(ATE) and ``K(K−1)/M² σ̂²`` (ATT, controls).  The conditional variance is estimated by
matching within arm: ``σ̂²_j = J_j/(J_j + 1)(Y_j − Ȳ_{H(j)})²`` over the ``J``
(``var_matches``, default 2, ties included) nearest same-arm units ``H(j)`` on the same
metric.  ``diagnostics["se_sample"]`` is the variance conditional on ``X``
(``Σ a_j² σ̂²_j / N_Q²``).

Bias correction (Abadie & Imbens 2011, doi:10.1198/jbes.2009.07333): each matched
outcome is adjusted by ``μ̂_w(X_i) − μ̂_w(X_j)`` with ``μ̂_w`` the least-squares fit of
``Y`` on the covariates among the arm-``w`` units used as matches, weighted by ``k_j``
(as Stata's ``nnmatch``/``teffects nnmatch, biasadj``); the variance formula is the
same.

Estimated propensity (Abadie & Imbens 2016, doi:10.3982/ECTA11293): matching on
``e_hat`` rather than on the true ``e`` changes the large-sample variance.  CQOx reports
the AI-2006 variance above, which treats the score as known; Abadie & Imbens show that
for the ATE this *overstates* the variance (conservative), while for the ATT the
correction can have either sign.  ``diagnostics["se_note"]`` states this on every
estimate.

All matching is ``O(n log n)``: binary search plus a two-pointer expansion on the sorted
one-dimensional score (compiled with Numba), a KD-tree for the Mahalanobis distance.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("psm", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"], estimand="ATT")
>>> abs(est.estimate - truth["ATT"]) < 4 * est.se
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param
from cqox.core.tables import Tables
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError
from cqox.estimators.backdoor.abadie_imbens import (
    MatchingResult,
    estimated_score_adjustment,
    match_estimate,
)
from cqox.estimators.backdoor.matching import exact_cells, match_scores, segment_sums, whiten
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    COMMON_SUPPORT,
    LINK,
    estimand_param,
    se_method_param,
)
from cqox.estimators.registry import register
from cqox.gates.balance import (
    balance_table,
    matched_share_gate,
    smd_gate,
    trim_to_common_support,
    variance_ratio_gate,
)
from cqox.gates.weights import common_support_gate
from cqox.nuisance.propensity import propensity, separation_gates
from cqox.sensitivity.rosenbaum import MATCHED_PAIRS_TABLE

#: Random stream (``Context.rng``) of ``order="random"`` matching without replacement.
_MATCH_ORDER_STREAM = 11


def _exact_param(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _exact_columns(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def _ai2016_blocker(
    params: dict[str, Any], on_score: bool, n_unmatched: int, counts: dict[str, int]
) -> str | None:
    """Why the AI-2016 adjustment (derived for plain matching on e) does not apply."""
    if not on_score:
        return "Mahalanobis matching"
    if not params["replace"]:
        return "matching without replacement"
    if params["exact"]:
        return "exact matching"
    if params["bias_correction"]:
        return "bias correction"
    if n_unmatched or counts.get("n_trimmed", 0):
        return "rows were dropped by the caliper or trimming"
    return None


def _unit_effects(
    y: np.ndarray, t: np.ndarray, s: np.ndarray, m: int, res: MatchingResult
) -> np.ndarray:
    """``Ŷ_i(1) − Ŷ_i(0)`` for every row, imputing the missing outcome by matching.

    Reuses the estimate's own matches (every target is matched when this is called).
    """
    effect = np.empty(len(y))
    effect[res.targets] = res.d
    done = np.zeros(len(y), bool)
    done[res.targets] = True
    for w in (0, 1):
        if done[t == w].all():
            continue
        q, r = np.flatnonzero(t == w), np.flatnonzero(t != w)
        order, q_order = (
            (res.within[1 - w].order, res.within[w].order) if len(res.within) == 2 else (None, None)
        )
        mt = match_scores(s[q], s[r], m, order=order, query_order=q_order)
        imputed = segment_sums(y[r][mt.idx], mt.ptr) / np.maximum(mt.sizes, 1)
        effect[q] = (2 * w - 1) * (y[q] - imputed)
    return effect


@register
class PSM(Estimator):
    """Nearest-neighbour matching on the propensity score or Mahalanobis distance."""

    example = Example(
        "confounded_binary",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
    )
    name = "psm"
    family = "matching"
    designs = (Design.BACKDOOR,)
    estimands = ("ATT", "ATE", "ATC")
    default_estimands = ("ATT", "ATE")
    summary_line = "Nearest-neighbour propensity-score / Mahalanobis matching, Abadie–Imbens SE"
    parameters = (
        estimand_param(("ATT", "ATE", "ATC"), "ATT"),
        Param("n_neighbors", 1, "int", "matches per unit (M), ties included", low=1, high=100),
        Param(
            "distance",
            "logit",
            "choice",
            "matching metric: logit propensity, propensity, or Mahalanobis on covariates",
            choices=("logit", "propensity", "mahalanobis"),
        ),
        Param(
            "caliper",
            None,
            "float",
            "largest distance in SDs of the score (Mahalanobis units for 'mahalanobis')",
            low=0.0,
            closed="neither",
            nullable=True,
        ),
        Param("replace", True, "bool", "match with replacement"),
        Param(
            "order",
            "largest",
            "choice",
            "order of targets when matching without replacement (by propensity)",
            choices=("largest", "smallest", "random", "data"),
        ),
        Param(
            "exact",
            None,
            "any",
            "columns to match exactly on (list, or comma-separated names)",
            nullable=True,
            check=_exact_param,
            rule="a list of column names or None",
        ),
        Param("bias_correction", False, "bool", "Abadie–Imbens (2011) regression bias correction"),
        Param(
            "var_matches",
            2,
            "int",
            "same-arm matches for the conditional variance",
            low=1,
            high=100,
        ),
        se_method_param(("ai2016", "ai2006"), "ai2016"),
        LINK,
        COMMON_SUPPORT,
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        y, t, X = data.y, data.t, data.X
        estimand = params["estimand"]
        if X.shape[1] == 0:
            raise EstimationError(
                "psm needs at least one covariate: without covariates the propensity is "
                "constant and matching is the difference in means",
                details={"role": "covariates"},
            )
        fit = propensity(data, ctx, params["link"])
        e = fit.p_hat
        counts: dict[str, int] = {}
        notes: list[str] = []
        keep = _common_support_rows(e, t, params["common_support"], counts, notes)
        exact = _exact_columns(params["exact"])
        cells = exact_cells(data.frame, exact)[keep] if exact else None
        yk, tk, Xk, ek = y, t, X, e
        if not keep.all():  # no copies of the rows when common support keeps them all
            yk, tk, Xk, ek = y[keep], t[keep], X[keep], e[keep]
        score, Xw, cal = _matching_metric(Xk, ek, params["distance"], params["caliper"])
        res = match_estimate(
            yk,
            tk,
            score,
            estimand,
            params["n_neighbors"],
            Xw=Xw,
            caliper=cal,
            cells=cells,
            replace=params["replace"],
            order=params["order"],
            var_matches=params["var_matches"],
            Xb=Xk if params["bias_correction"] and Xk.shape[1] else None,
            rng=ctx.rng(_MATCH_ORDER_STREAM),
        )
        n_target = {"ATT": int(tk.sum()), "ATC": int(len(tk) - tk.sum()), "ATE": len(tk)}[estimand]
        counts.update(_match_counts(res, tk))
        if res.n_unmatched:
            notes.append(
                f"{res.n_unmatched} of {n_target} target rows found no match "
                "(caliper or exact cells) and are left out of the estimate"
            )
        table = balance_table(Xk, tk, data.covariate_names, res.weights)
        arm = {"ATT": "treated", "ATC": "controls", "ATE": "rows"}[estimand]
        gates: list[Gate] = [
            common_support_gate(e, t, ctx),
            *separation_gates(fit, data.covariate_names, params["link"]),
            matched_share_gate(len(res.targets), n_target, ctx, arm),
            smd_gate(table, ctx, after=True),
            variance_ratio_gate(table, ctx, after=True),
        ]
        se, adjustment, se_note = _standard_error(
            yk, tk, ek, score, fit, res, params, counts, notes
        )
        return Estimate.from_se(
            self.name,
            estimand,
            res.tau,
            se,
            params["ci_level"],
            n=len(y),
            n_treated=int(t.sum()),
            n_control=int(len(t) - t.sum()),
            counts=counts,
            diagnostics={
                "matched_share": len(res.targets) / max(n_target, 1),
                "se_ai2006": res.se,
                "se_sample": res.se_sample,
                "ai2016_adjustment": adjustment,
                "se_note": se_note,
                "max_times_used": float(res.k.max()) if res.k.size else 0.0,
                "mean_matches": float(res.matches.sizes.mean()),
                "propensity_min": float(e.min()),
                "propensity_max": float(e.max()),
                "caliper_abs": None if not np.isfinite(cal) else float(cal),
            },
            # as columns: the DataFrames are built when first read
            tables=Tables(
                {
                    "balance": table.columns(),
                    # the matched sets behind this estimate, for Rosenbaum bounds downstream
                    MATCHED_PAIRS_TABLE: {
                        "row": np.flatnonzero(keep)[res.targets],
                        "n_matches": res.matches.sizes,
                        "difference": res.d,
                    },
                }
            ),
            gates=gates,
            warnings=notes,
            method=_method_text(params, adjustment is not None),
        )


def _common_support_rows(
    e: np.ndarray, t: np.ndarray, trim: bool, counts: dict[str, int], notes: list[str]
) -> np.ndarray:
    """Rows kept: all, or those inside the propensity common support (``common_support``)."""
    if not trim:
        return np.ones(len(t), bool)
    tr = trim_to_common_support(e, t)
    counts.update(tr.counts())
    if (note := tr.note()) is not None:
        notes.append(note)
    return tr.keep


def _matching_metric(
    X: np.ndarray, e: np.ndarray, distance: str, caliper: float | None
) -> tuple[np.ndarray | None, np.ndarray | None, float]:
    """``(score, whitened covariates, absolute caliper)`` of the matching distance.

    A one-dimensional score (logit propensity or propensity) with the caliper in its
    standard deviations, or Mahalanobis on the whitened covariates with the caliper in
    Mahalanobis units; no caliper is ``inf``.
    """
    if distance == "mahalanobis":
        return None, whiten(X), np.inf if caliper is None else caliper
    score = special.logit(e) if distance == "logit" else e
    if caliper is None:
        return score, None, np.inf
    return score, None, caliper * float(np.std(score, ddof=1))


def _match_counts(res: MatchingResult, t: np.ndarray) -> dict[str, int]:
    """Targets matched and unmatched, and distinct rows used as matches by arm."""
    return {
        "n_matched_targets": len(res.targets),
        "n_unmatched_targets": res.n_unmatched,
        "n_matched_controls_used": int(((res.k > 0) & (t == 0)).sum()),
        "n_matched_treated_used": int(((res.k > 0) & (t == 1)).sum()),
    }


def _standard_error(
    y: np.ndarray,
    t: np.ndarray,
    e: np.ndarray,
    score: np.ndarray | None,
    fit: Any,
    res: MatchingResult,
    params: dict[str, Any],
    counts: dict[str, int],
    notes: list[str],
) -> tuple[float, float | None, str]:
    """``(se, AI-2016 adjustment or None, what the SE is)`` of the matching estimate.

    ``se_method="ai2016"`` subtracts the Abadie–Imbens (2016) adjustment for matching on
    the estimated propensity from the AI-2006 variance when it applies and leaves a
    positive variance; otherwise the AI-2006 SE is reported, and the note says why.
    """
    why_not = _ai2016_blocker(params, score is not None, res.n_unmatched, counts)
    if params["se_method"] == "ai2016" and why_not is None:
        assert score is not None
        effect = _unit_effects(y, t, score, params["n_neighbors"], res)
        adjustment = estimated_score_adjustment(
            y,
            t,
            score,
            e,
            fit.dp_deta,
            fit.zt_dot,
            fit.hessian,
            params["estimand"],
            res.tau,
            effect,
            params["var_matches"],
            res.within,
        )
        if res.se**2 - adjustment > 0:
            return (
                float(np.sqrt(res.se**2 - adjustment)),
                adjustment,
                "Abadie–Imbens (2006) variance minus the Abadie–Imbens (2016) adjustment "
                "for matching on the estimated propensity",
            )
        notes.append(
            "the Abadie–Imbens (2016) adjustment exceeds the matching variance; "
            "reporting the unadjusted Abadie–Imbens (2006) SE"
        )
    se_note = "Abadie–Imbens (2006) variance" + (
        ""
        if score is None
        else " treating the propensity as known"
        + (f" ({why_not})" if why_not and params["se_method"] == "ai2016" else "")
        + "; for the ATE this is conservative (Abadie & Imbens 2016)"
    )
    return res.se, None, se_note


def _method_text(params: dict[str, Any], adjusted: bool) -> str:
    """One line: the matching and its inference."""
    metric = {
        "logit": "the logit propensity",
        "propensity": "the propensity",
        "mahalanobis": "Mahalanobis distance",
    }[params["distance"]]
    return (
        f"{params['n_neighbors']}:1 nearest-neighbour matching on {metric}"
        + (" with" if params["replace"] else " without")
        + " replacement"
        + (", bias-corrected" if params["bias_correction"] else "")
        + (", Abadie–Imbens (2016) SE" if adjusted else ", Abadie–Imbens SE")
    )
