"""The unadjusted baseline of a binary-treatment analysis, and a randomization check.

Every analysis of a 0/1 treatment reports, beside its adjusted estimates, the
**difference in means** of the outcome between the arms on every row where both are
observed:

    τ̂ = ȳ₁ − ȳ₀,   SE = sqrt(s₁²/n₁ + s₀²/n₀)   (Neyman 1923; the Welch form),

with a normal 95% interval.  It is *not* an effect estimate in an observational study
(it carries every confounder) and never enters the consensus.  It is the design-based
estimator of a randomized experiment (Imbens & Rubin 2015, ch. 6) and the number
experimental studies publish (LaLonde 1986; Dehejia & Wahba 1999), and the distance
between it and the adjusted estimates shows how much the adjustment moved.

The **randomization check** asks whether the covariates used by the analysis predict
the treatment: the OLS of ``t`` on ``[1, X]`` (a linear probability model) with an HC1
robust Wald test that every slope is 0, χ² with ``p`` degrees of freedom.  A small
p-value says the arms differ in their covariates (confounding, or an unlucky
randomization); a large one is no evidence against randomization — it does not prove
the treatment was randomized, which only the study's design can say.

References
----------
Imbens, G. W. & Rubin, D. B. (2015). *Causal Inference for Statistics, Social, and
Biomedical Sciences*, ch. 6 (Neyman's repeated-sampling approach) and ch. 7.
Hansen, B. B. & Bowers, J. (2008). Covariate balance in simple, stratified and
clustered comparative studies. *Statistical Science* 23(2):219–236 (omnibus balance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special  # normal and χ² tails without importing scipy.stats

from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import CqoxError
from cqox.nuisance.blocked import design_gram

#: Level of the randomization check below which the arms are said to differ.
RANDOMIZATION_ALPHA = 0.05
#: Two-sided normal quantile of the baseline's 95% interval.
_Z = float(special.ndtri(0.975))


def randomization_check(t: np.ndarray, X: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Robust Wald test that the covariates do not predict a 0/1 treatment.

    OLS of ``t`` on ``[1, X]``; HC1 covariance ``V = n/(n−k) (Z'Z)⁻¹ Z' diag(e²) Z (Z'Z)⁻¹``;
    ``W = β̂ₛ' Vₛ⁻¹ β̂ₛ`` over the slopes, χ²(p).
    """
    n, p = X.shape
    if p == 0 or n <= p + 1:
        return {"ran": False, "reason": "no covariates to check"}
    # Z = [1, X − x̄] is never formed: its Gram matrices are accumulated over blocks of
    # rows.  Centring leaves the slopes and their covariance unchanged and keeps the
    # normal equations well conditioned for columns with a large mean.
    k = p + 1
    center = X.mean(axis=0)
    gram = design_gram(X, extra=t, center=center)
    ZtZ_inv = np.linalg.pinv(gram[:k, :k])
    beta = ZtZ_inv @ gram[:k, k]
    e = t - (beta[0] - center @ beta[1:]) - X @ beta[1:]
    meat = design_gram(X, weights=e**2, center=center)
    V = ZtZ_inv @ meat @ ZtZ_inv * (n / (n - k))
    b, Vs = beta[1:], V[1:, 1:]
    rank = int(np.linalg.matrix_rank(Vs))
    if rank == 0:
        return {"ran": False, "reason": "the covariates do not vary"}
    wald = float(b @ np.linalg.pinv(Vs) @ b)
    p_value = float(special.chdtrc(rank, wald))  # χ²(rank) survival
    return {
        "ran": True,
        "test": "HC1 Wald test of the slopes of the linear probability model t ~ 1 + X",
        "statistic": wald,
        "df": rank,
        "p_value": p_value,
        "covariates": list(names),
        "arms_differ": p_value < RANDOMIZATION_ALPHA,
        "alpha": RANDOMIZATION_ALPHA,
    }


def difference_in_means(y: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """ȳ₁ − ȳ₀ with the Neyman (Welch) standard error and a normal 95% interval."""
    y1, y0 = y[t == 1], y[t == 0]
    n1, n0 = len(y1), len(y0)
    est = float(y1.mean() - y0.mean())
    se = float(np.sqrt(y1.var(ddof=1) / n1 + y0.var(ddof=1) / n0))
    p = float(2 * special.ndtr(-abs(est) / se)) if se > 0 else float("nan")
    return {
        "estimator": "difference_in_means",
        "estimand": "ATE",
        "estimate": est,
        "se": se,
        "ci": [est - _Z * se, est + _Z * se],
        "ci_level": 0.95,
        "p_value": p,
        "n": n1 + n0,
        "n_treated": n1,
        "n_control": n0,
    }


def unadjusted_baseline(
    df: pd.DataFrame, roles: Roles, adjusted: CausalData | None
) -> dict[str, Any] | None:
    """The difference in means and the randomization check (``None`` if not binary).

    The difference in means uses every row where the outcome and the treatment are
    observed (not only the rows complete in the covariates); the randomization check
    uses the rows and covariates of ``adjusted`` (the analysis's prepared data).
    """
    if roles.outcome is None or roles.treatment is None:
        return None
    try:
        plain = prepare(df, Roles(outcome=roles.outcome, treatment=roles.treatment))
    except (CqoxError, ValueError):
        return None  # not a 0/1 treatment with two arms: no baseline
    if plain.y is None or plain.t is None:
        return None
    out = difference_in_means(plain.y, plain.t)
    if (
        adjusted is not None
        and adjusted.t is not None
        and adjusted.X.shape[1] > 0
        and set(np.unique(adjusted.t)) <= {0.0, 1.0}
    ):
        check = randomization_check(adjusted.t, adjusted.X, adjusted.covariate_names)
    else:
        check = {"ran": False, "reason": "no covariates to check"}
    out["randomization_check"] = check
    if check.get("ran"):
        out["note"] = (
            f"the covariates predict the treatment (p = {check['p_value']:.3g}): the "
            "difference in means is not an effect estimate here"
            if check["arms_differ"]
            else f"no evidence that the covariates predict the treatment (p = "
            f"{check['p_value']:.3g}); if the treatment was randomized, the difference in "
            "means is the design-based estimate"
        )
    else:
        out["note"] = "unadjusted contrast; not an effect estimate unless randomized"
    return out


__all__ = [
    "RANDOMIZATION_ALPHA",
    "difference_in_means",
    "randomization_check",
    "unadjusted_baseline",
]
