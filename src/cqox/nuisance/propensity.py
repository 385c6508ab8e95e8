"""The propensity score, fitted once per analysis and shared.

IPW, AIPW, matching, stratification and the overlap gates all call
:func:`propensity`; the fit is cached in the analysis :class:`Context` under the rows,
covariates and link it depends on.
"""

from __future__ import annotations

from cqox.core.context import Context
from cqox.data.prepare import CausalData
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
