"""The propensity score, fitted once per analysis and shared.

IPW, AIPW, matching, stratification and the overlap gates all call
:func:`propensity`; the fit is cached in the analysis :class:`Context` under the rows,
covariates and link it depends on.

When the maximum-likelihood fit separates (a rare category that occurs in one arm
only, a covariate that predicts treatment perfectly), :func:`fit_propensity_model`
falls back to the Firth-penalised logit (:mod:`cqox.nuisance.firth`) instead of
refusing, and records which covariates separated; :func:`separation_gates` turns that
into a ``separation`` gate (warn) naming them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from cqox.core.context import Context
from cqox.core.gate import Gate
from cqox.data.gram import ShiftedGram
from cqox.data.prepare import CausalData
from cqox.errors import NoDataError, SeparationError
from cqox.nuisance.firth import fit_firth
from cqox.nuisance.glm import BinaryFit, fit_binary

#: A coefficient (per SD) at least this share of the largest one, in the diverging
#: MLE, marks its covariate as one of those that separate.
DIVERGING_SHARE = 0.5
#: Most distinct values of a covariate whose levels are checked one by one.
MAX_LEVELS = 20


def separating_covariates(
    X: np.ndarray, t: np.ndarray, coef_per_sd: Sequence[float]
) -> tuple[int, ...]:
    """Covariates behind a separation: a level confined to one arm, or a diverging coefficient.

    A level (of a covariate with at most ``MAX_LEVELS`` values) that is not the most
    common one and occurs in one arm only separates quasi-completely (a rare category's
    dummy); a standardised coefficient at least ``DIVERGING_SHARE`` of the largest one
    in the non-converging MLE points at the others.
    """
    out: set[int] = set()
    for j in range(X.shape[1]):
        values, codes, counts = np.unique(X[:, j], return_inverse=True, return_counts=True)
        if len(values) > MAX_LEVELS or len(values) < 2:
            continue
        treated = np.bincount(codes, weights=t, minlength=len(values))
        common = int(np.argmax(counts))
        confined = (treated == 0) | (treated == counts)
        confined[common] = False
        if confined.any():
            out.add(j)
    b = np.abs(np.asarray(coef_per_sd, dtype=np.float64))
    if b.size and np.isfinite(b).all() and b.max() > 0:
        out.update(int(j) for j in np.flatnonzero(b >= DIVERGING_SHARE * b.max()))
    return tuple(sorted(out))


def fit_propensity_model(
    X: np.ndarray, t: np.ndarray, link: str = "logit", gram: ShiftedGram | None = None
) -> BinaryFit:
    """Maximum-likelihood logit/probit; the Firth logit when the MLE separates.

    The Firth fit carries ``penalty="firth"`` and the indices of the separating
    covariates (``separating``).  ``gram``: the preparation's shifted Gram matrix, used
    only if it is of this very ``X`` (see :func:`cqox.nuisance.glm.fit_binary`).
    """
    try:
        return fit_binary(X, t, link, gram)
    except SeparationError as exc:
        coef = exc.details.get("coef_per_sd", [])
        culprits = separating_covariates(
            np.asarray(X, dtype=np.float64),
            np.asarray(t, dtype=np.float64),
            list(coef) if isinstance(coef, list) else [],
        )
        return replace(fit_firth(X, t), separating=culprits)


def separation_gates(fit: BinaryFit, names: Sequence[str], link: str = "logit") -> list[Gate]:
    """A ``separation`` gate (warn) when the propensity had to be penalised; else none."""
    if fit.penalty != "firth":
        return []
    culprits = [str(names[j]) for j in fit.separating if j < len(names)]
    shown = ", ".join(culprits) or "a combination of covariates"
    probit = " (asked for a probit)" if link == "probit" else ""
    return [
        Gate(
            "separation",
            float(len(culprits)),
            0.0,
            "warn",
            f"the maximum-likelihood propensity separates treated from control on {shown}: "
            f"a Firth-penalised logit was used instead{probit}; these covariates have "
            "values in one arm only (weak overlap there), consider coarsening them or "
            "trimming",
            {"covariates": culprits, "penalty": "firth"},
        )
    ]


def propensity(data: CausalData, ctx: Context, link: str = "logit") -> BinaryFit:
    """Logit or probit propensity of ``data.t`` on ``data.X`` (cached in ``ctx``)."""
    if data.t is None:
        raise ValueError("propensity needs a treatment")
    key = ("propensity", link, data.cache_key())
    fit = ctx.cache.get(key)
    if fit is None:
        fit = fit_propensity_model(data.X, data.t, link, data.gram)
        ctx.cache[key] = fit
    return fit


@dataclass(frozen=True)
class TrimmedPropensity:
    """A propensity after trimming and clipping (shared by IPW and AIPW).

    Attributes
    ----------
    fit : BinaryFit
        The propensity model: refitted on the kept rows when rows were trimmed.
    keep : ndarray of bool, shape (n,) or None
        Rows kept by trimming (``None``: all rows).
    e, de : ndarray, shape (n_kept,)
        Propensity and its derivative in the linear index; clipped rows have
        ``de = 0`` since they no longer move with the coefficients.
    counts : dict
        ``n_trimmed`` and ``n_clipped`` when those options are on.
    notes : list of str
        What trimming did, for the estimate's warnings.
    """

    fit: BinaryFit
    keep: np.ndarray | None
    e: np.ndarray
    de: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def trim_and_clip(
    fit: BinaryFit, X: np.ndarray, t: np.ndarray, link: str, trim: float, clip: float
) -> TrimmedPropensity:
    """Drop rows with propensity outside ``[trim, 1 − trim]`` and refit; then clip.

    Trimming changes the estimand to the effect in the trimmed population (Crump,
    Hotz, Imbens & Mitnik 2009, doi:10.1093/biomet/asn055); the trimmed set is treated
    as fixed.  Clipping keeps every row but bounds the weights.
    """
    counts: dict[str, int] = {}
    notes: list[str] = []
    keep: np.ndarray | None = None
    if trim > 0:
        mask = (fit.p_hat >= trim) & (fit.p_hat <= 1 - trim)
        counts["n_trimmed"] = int((~mask).sum())
        if counts["n_trimmed"]:
            notes.append(
                f"trimmed {counts['n_trimmed']} rows with propensity outside "
                f"[{trim:g}, {1 - trim:g}] ({int((~mask & (t == 1)).sum())} treated, "
                f"{int((~mask & (t == 0)).sum())} control); the estimand is the effect "
                "in the trimmed population"
            )
            kept_t = t[mask]
            if min(kept_t.sum(), (1 - kept_t).sum()) < 2:
                raise NoDataError(
                    f"trim={trim:g} leaves {int(kept_t.sum())} treated and "
                    f"{int((1 - kept_t).sum())} control rows; use a smaller 'trim'",
                    details={"parameter": "trim"},
                )
            keep = mask
            fit = fit_propensity_model(X[mask], kept_t, link)
    e, de = fit.p_hat, fit.dp_deta
    if clip > 0:
        clipped = (e < clip) | (e > 1 - clip)
        counts["n_clipped"] = int(clipped.sum())
        e = np.clip(e, clip, 1 - clip)
        de = np.where(clipped, 0.0, de)
    return TrimmedPropensity(fit, keep, e, de, counts, notes)
