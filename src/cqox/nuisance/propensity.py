"""The propensity score, fitted once per analysis and shared.

IPW, AIPW, matching, stratification and the overlap gates all call
:func:`propensity`; the fit is cached in the analysis :class:`Context` under the rows,
covariates and link it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cqox.core.context import Context
from cqox.data.prepare import CausalData
from cqox.errors import NoDataError
from cqox.nuisance.glm import BinaryFit, fit_binary


def propensity(data: CausalData, ctx: Context, link: str = "logit") -> BinaryFit:
    """Logit or probit propensity of ``data.t`` on ``data.X`` (cached in ``ctx``)."""
    if data.t is None:
        raise ValueError("propensity needs a treatment")
    key = ("propensity", link, data.cache_key())
    fit = ctx.cache.get(key)
    if fit is None:
        fit = fit_binary(data.X, data.t, link)
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
            fit = fit_binary(X[mask], kept_t, link)
    e, de = fit.p_hat, fit.dp_deta
    if clip > 0:
        clipped = (e < clip) | (e > 1 - clip)
        counts["n_clipped"] = int(clipped.sum())
        e = np.clip(e, clip, 1 - clip)
        de = np.where(clipped, 0.0, de)
    return TrimmedPropensity(fit, keep, e, de, counts, notes)
