"""Inverse probability weighting (IPW).

Estimands and weights, with ``e(x) = P(T=1 | X=x)`` from a logit (or probit) model:

- ATE: ``w = T/e + (1−T)/(1−e)``
- ATT: ``w = T + (1−T)·e/(1−e)``
- ATC: ``w = T·(1−e)/e + (1−T)``

Horvitz–Thompson divides weighted sums by ``n`` (ATT/ATC: by the arm's size);
Hájek (the default) normalises the weights to sum to one within each arm (Hirano,
Imbens & Ridder 2003, doi:10.1111/1468-0262.00442).

Inference: the influence function of the stacked M-estimator (propensity score
equations plus weighted means), so the standard error accounts for the estimated
propensity (Lunceford & Davidian 2004, doi:10.1002/sim.1903):
``ψ_i = A⁻¹ [m_i(θ̂, β̂) + D_β H⁻¹ s_i]``, ``SE = sqrt(Σψ_i²)/n``.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=2000, seed=1)
>>> est = cqox.estimate("ipw", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"])
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    LINK,
    _doc,
    clip_param,
    estimand_param,
    trim_param,
)
from cqox.estimators.registry import register
from cqox.gates.weights import common_support_gate, ess_gate, max_weight_gate
from cqox.nuisance.glm import BinaryFit
from cqox.nuisance.propensity import propensity, separation_gates, trim_and_clip


@dataclass(frozen=True)
class IPWResult:
    """IPW estimate with its influence function.

    Attributes
    ----------
    tau : float
        Effect estimate.
    se : float
        Standard error, ``sqrt(Σψ²)/n``.
    psi : ndarray, shape (n,)
        Influence function of ``tau``.
    mu1, mu0 : float
        Weighted means of the outcome in each arm (potential-outcome means).
    w : ndarray, shape (n,)
        The weights, normalised to sum to 1 within each arm when Hájek.
    """

    tau: float
    se: float
    psi: np.ndarray
    mu1: float
    mu0: float
    w: np.ndarray


def _on(rows: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` on ``rows`` and 0 elsewhere.

    Only the rows of one arm enter each weight, and the other arm's propensities may
    be 0 or 1 in floating point (a probit index below −38 underflows), where the
    textbook form ``t / e`` would give ``0 / 0 = nan``.
    """
    out = np.zeros(len(rows))
    np.divide(num, den, out=out, where=rows)
    return out


def ipw_weights(t: np.ndarray, e: np.ndarray, estimand: str) -> np.ndarray:
    """Unnormalised IPW weights for ``estimand`` (ATE, ATT or ATC).

    ATE: ``T/e + (1−T)/(1−e)``; ATT: ``T + (1−T)·e/(1−e)``; ATC: ``T·(1−e)/e + (1−T)``.
    """
    treated = t == 1
    one = np.ones(len(t))
    if estimand == "ATE":
        return _on(treated, one, e) + _on(~treated, one, 1 - e)
    if estimand == "ATT":
        return treated + _on(~treated, e, 1 - e)
    return _on(treated, 1 - e, e) + ~treated


def ipw_effect(
    y: np.ndarray,
    t: np.ndarray,
    fit: BinaryFit,
    estimand: str = "ATE",
    normalised: bool = True,
    e: np.ndarray | None = None,
    de: np.ndarray | None = None,
) -> IPWResult:
    """IPW effect and influence function given a fitted propensity model.

    ``e`` and ``de`` (the propensity and its derivative with respect to the linear
    index) default to the fit's; pass clipped values to clip (``de`` is then zero for
    clipped rows, since they no longer move with β).
    """
    e = fit.p_hat if e is None else e
    de = fit.dp_deta if de is None else de
    n = len(y)
    # weight of each arm and its derivative with respect to the linear index η
    treated = t == 1
    control = ~treated
    one = np.ones(n)
    # d(1/e)/dη = −e'/e², written (−e'/e)/e so that it does not underflow.
    if estimand == "ATE":
        w1, w0 = _on(treated, one, e), _on(control, one, 1 - e)
        dw1 = _on(treated, _on(treated, -de, e), e)
        dw0 = _on(control, _on(control, de, 1 - e), 1 - e)
    elif estimand == "ATT":
        w1, w0 = treated.astype(np.float64), _on(control, e, 1 - e)
        dw1, dw0 = np.zeros(n), _on(control, _on(control, de, 1 - e), 1 - e)
    else:  # ATC
        w1, w0 = _on(treated, 1 - e, e), control.astype(np.float64)
        dw1, dw0 = _on(treated, _on(treated, -de, e), e), np.zeros(n)
    # Horvitz–Thompson divides by the population size N = Σ g: n for the ATE, the
    # (estimated) arm size for the ATT/ATC.  Hájek divides by the sum of the weights.
    g = np.ones(n) if estimand == "ATE" else (treated if estimand == "ATT" else control) * one

    def arm_mean(w: np.ndarray, dw: np.ndarray) -> tuple[float, np.ndarray]:
        # Solve Σ (w y − μ·d) = 0 with d = w (Hájek) or d = g (HT); ψ = A⁻¹[m + D_β H⁻¹ s].
        d, dd = (w, dw) if normalised else (g, np.zeros(n))
        mu = float(np.sum(w * y) / np.sum(d))
        m = w * y - mu * d
        D = fit.zt_dot(dw * y - mu * dd) / n
        return mu, (m + fit.influence_along(D)) / d.mean()

    mu1, psi1 = arm_mean(w1, dw1)
    mu0, psi0 = arm_mean(w0, dw0)
    psi = psi1 - psi0
    tau = mu1 - mu0
    se = float(np.sqrt(np.sum(psi**2)) / n)
    w = w1 + w0
    if normalised:
        w = np.where(t == 1, w / w[t == 1].sum(), w / w[t == 0].sum())
    return IPWResult(float(tau), se, psi, mu1, mu0, w)


@register
class IPW(Estimator):
    """Inverse probability weighting with a logit/probit propensity score."""

    example = Example(
        "confounded_binary",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
    )
    name = "ipw"
    family = "ipw"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT", "ATC")
    default_estimands = ("ATE", "ATT")
    summary_line = "Inverse probability weighting (Hájek or Horvitz–Thompson), M-estimation SE"
    parameters = (
        estimand_param(("ATE", "ATT", "ATC"), "ATE"),
        Param(
            "weighting",
            "hajek",
            "choice",
            _doc("weighting", ""),
            choices=("hajek", "horvitz_thompson"),
        ),
        LINK,
        trim_param(note="the propensity model"),
        clip_param(),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        y, t, X = data.y, data.t, data.X
        fit = propensity(data, ctx, params["link"])
        tp = trim_and_clip(fit, X, t, params["link"], params["trim"], params["clip"])
        if tp.keep is not None:
            y, t = y[tp.keep], t[tp.keep]
        fit, e, de, counts, notes = tp.fit, tp.e, tp.de, tp.counts, tp.notes
        res = ipw_effect(y, t, fit, params["estimand"], params["weighting"] == "hajek", e=e, de=de)
        raw_w = ipw_weights(t, e, params["estimand"])
        gates = [
            ess_gate(raw_w, t, ctx),
            max_weight_gate(raw_w, t, ctx),
            common_support_gate(e, t, ctx),
            *separation_gates(fit, data.covariate_names, params["link"]),
        ]
        return Estimate.from_se(
            self.name,
            params["estimand"],
            res.tau,
            res.se,
            params["ci_level"],
            n=len(y),
            n_treated=int(t.sum()),
            n_control=int(len(t) - t.sum()),
            counts=counts,
            diagnostics={
                "mu1": res.mu1,
                "mu0": res.mu0,
                "propensity_min": float(e.min()),
                "propensity_max": float(e.max()),
                "propensity_converged": fit.converged,
                "propensity_coef": dict(
                    zip(["(intercept)", *data.covariate_names], fit.coef.tolist(), strict=True)
                ),
            },
            gates=gates,
            warnings=notes,
            influence=res.psi,
            method=f"{params['weighting']} IPW, {params['link']} propensity, "
            "M-estimation (influence-function) SE",
        )
