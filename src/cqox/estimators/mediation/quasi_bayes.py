"""Quasi-Bayesian Monte Carlo for causal mediation (Imai, Keele & Tingley 2010).

Imai, K., Keele, L. & Tingley, D. (2010), "A general approach to causal mediation
analysis", *Psychological Methods* 15(4):309–334, doi:10.1037/a0020761, Algorithm 1;
as implemented by R ``mediation::mediate`` (Tingley et al. 2014, *JSS* 59(5),
doi:10.18637/jss.v059.i05).  Under sequential ignorability the average causal
mediation effects (ACME, natural indirect effects) and average direct effects (ADE,
natural direct effects) are

    δ(t) = E[Y(t, M(1)) − Y(t, M(0))],     ζ(t) = E[Y(1, M(t)) − Y(0, M(t))],

with the total effect ``τ = δ(t) + ζ(1 − t)``.  For ``j = 1 … S`` draws:

1. draw the mediator and outcome coefficients from ``N(β̂, V̂)`` (each model's own);
2. predict the mediator for every unit under ``t = 1`` and ``t = 0``: linear mediators
   add one normal error ``N(0, σ̂²)`` shared by both predictions; binary mediators are
   Bernoulli draws of the predicted probabilities (independent for the two);
3. predict the mean outcome ``E[Y | t, M, X]`` at the four combinations and average
   the differences over units: ``δ_j(1), δ_j(0), ζ_j(1), ζ_j(0)``;
   ``τ_j = (ζ_j(1) + δ_j(0) + ζ_j(0) + δ_j(1))/2`` and ``ν_j(t) = δ_j(t)/τ_j``.

The point estimates are the means of the draws (medians for the proportions
mediated), the intervals their percentiles and the p-values
``2·min(#{x > 0}, #{x < 0})/S`` (capped at 1), as in ``mediate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox.estimators.mediation.models import ParametricFit

#: Draws × units simulated at once (bounds the memory of the S × n matrices to ~4 MB
#: each while keeping the work vectorised).
CHUNK_CELLS = 500_000

#: Rows of the effects table: key, R ``summary.mediate`` label.
EFFECT_LABELS: dict[str, str] = {
    "NIE_control": "ACME (control)",
    "NIE_treated": "ACME (treated)",
    "NDE_control": "ADE (control)",
    "NDE_treated": "ADE (treated)",
    "TE": "Total Effect",
    "PM_control": "Prop. Mediated (control)",
    "PM_treated": "Prop. Mediated (treated)",
    "NIE": "ACME (average)",
    "NDE": "ADE (average)",
    "PM": "Prop. Mediated (average)",
}


@dataclass(frozen=True)
class MediationDesign:
    """How the two models' designs are built from ``(t, m, X)``.

    The mediator design is ``[1, t, X]``; the outcome design ``[1, t, m, X]`` or, with
    ``interaction``, ``[1, t, m, t·m, X]``.
    """

    interaction: bool

    @staticmethod
    def mediator(t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``[1, t, X]``."""
        return np.column_stack([np.ones(len(t)), t, X])

    def outcome(self, t: np.ndarray, m: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``[1, t, m, (t·m), X]``."""
        cols = [np.ones(len(t)), t, m] + ([t * m] if self.interaction else [])
        return np.column_stack([*cols, X])

    @property
    def n_outcome_head(self) -> int:
        """Columns of the outcome design before the covariates."""
        return 4 if self.interaction else 3


@dataclass(frozen=True)
class MediationDraws:
    """The simulated effects, one entry per draw (shape ``(S,)`` each)."""

    delta1: np.ndarray
    delta0: np.ndarray
    zeta1: np.ndarray
    zeta0: np.ndarray

    @property
    def tau(self) -> np.ndarray:
        """Total effect per draw, ``(ζ(1) + δ(0) + ζ(0) + δ(1))/2``."""
        return np.asarray((self.zeta1 + self.delta0 + self.zeta0 + self.delta1) / 2)

    def by_key(self) -> dict[str, np.ndarray]:
        """Every quantity of :data:`EFFECT_LABELS` per draw."""
        tau = self.tau
        nie = (self.delta0 + self.delta1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "NIE_control": self.delta0,
                "NIE_treated": self.delta1,
                "NDE_control": self.zeta0,
                "NDE_treated": self.zeta1,
                "TE": tau,
                "PM_control": self.delta0 / tau,
                "PM_treated": self.delta1 / tau,
                "NIE": nie,
                "NDE": (self.zeta0 + self.zeta1) / 2,
                "PM": nie / tau,
            }


def simulate_effects(
    mediator_fit: ParametricFit,
    outcome_fit: ParametricFit,
    design: MediationDesign,
    X: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    closed_form: bool = True,
) -> MediationDraws:
    """Algorithm 1 of Imai, Keele & Tingley (2010): ``n_draws`` simulated effects.

    ``X`` (n × p, no intercept) are the covariates of both models, in the column order
    of their designs.  ``closed_form`` uses :func:`_linear_linear` (the same
    distribution, without simulating each unit) when both models are linear.
    """
    n = X.shape[0]
    alpha = rng.multivariate_normal(mediator_fit.coef, mediator_fit.vcov, size=n_draws)
    beta = rng.multivariate_normal(outcome_fit.coef, outcome_fit.vcov, size=n_draws)
    head = design.n_outcome_head
    if closed_form and mediator_fit.family == outcome_fit.family == "linear":
        return _linear_linear(alpha, beta, design, X, mediator_fit.sigma, rng)
    out = np.empty((4, n_draws))
    step = max(1, CHUNK_CELLS // max(n, 1))
    for lo in range(0, n_draws, step):
        a = alpha[lo : lo + step]
        b = beta[lo : lo + step]
        s = len(a)
        # mediator index under t = 0 and t = 1: α0 + α1 t + X α_x
        m_base = a[:, :1] + a[:, 2:] @ X.T
        mu_m0, mu_m1 = m_base, m_base + a[:, 1:2]
        if mediator_fit.family == "linear":
            err = rng.normal(0.0, mediator_fit.sigma, size=(s, n))
            m0, m1 = mu_m0 + err, mu_m1 + err
        else:
            m1 = (rng.random((s, n)) < mediator_fit.mean(mu_m1)).astype(np.float64)
            m0 = (rng.random((s, n)) < mediator_fit.mean(mu_m0)).astype(np.float64)
        y_base = b[:, :1] + b[:, head:] @ X.T
        slope0 = b[:, 2:3]
        slope1 = slope0 + (b[:, 3:4] if design.interaction else 0.0)

        y1_base = y_base + b[:, 1:2]
        y11, y10 = outcome_fit.mean(y1_base + slope1 * m1), outcome_fit.mean(y1_base + slope1 * m0)
        y01, y00 = outcome_fit.mean(y_base + slope0 * m1), outcome_fit.mean(y_base + slope0 * m0)
        out[0, lo : lo + s] = (y11 - y10).mean(axis=1)
        out[1, lo : lo + s] = (y01 - y00).mean(axis=1)
        out[2, lo : lo + s] = (y11 - y01).mean(axis=1)
        out[3, lo : lo + s] = (y10 - y00).mean(axis=1)
    return MediationDraws(out[0], out[1], out[2], out[3])


def _linear_linear(
    alpha: np.ndarray,
    beta: np.ndarray,
    design: MediationDesign,
    X: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
) -> MediationDraws:
    """Steps 2–3 in closed form for a linear mediator and a linear outcome.

    With a linear outcome the unit averages only need the average simulated mediators
    ``m̄_t = α0 + α1 t + x̄'α_x + ē`` (``ē``, the mean of the ``n`` shared errors, is
    ``N(0, σ̂²/n)``: drawn as one number, the same distribution as ``mediate``'s):
    ``δ(t) = (γ + κ t)(m̄_1 − m̄_0) = (γ + κ t) α1`` and ``ζ(t) = β_T + κ m̄_t``, with
    ``γ`` the mediator's and ``κ`` the interaction's outcome coefficient.  O(S·k)
    instead of O(S·n·k).
    """
    n = X.shape[0]
    e_bar = rng.normal(0.0, sigma / np.sqrt(n), size=len(alpha))
    m0 = alpha[:, 0] + alpha[:, 2:] @ X.mean(axis=0) + e_bar
    m1 = m0 + alpha[:, 1]
    kappa = beta[:, 3] if design.interaction else np.zeros(len(beta))
    gamma = beta[:, 2]
    return MediationDraws(
        delta1=(gamma + kappa) * (m1 - m0),
        delta0=gamma * (m1 - m0),
        zeta1=beta[:, 1] + kappa * m1,
        zeta0=beta[:, 1] + kappa * m0,
    )


def mediate_pvalue(x: np.ndarray, xhat: float) -> float:
    """``mediate``'s p-value: ``2·min(#{x > 0}, #{x < 0})/S``, 1 when ``xhat`` is 0."""
    if not np.isfinite(xhat) or np.ptp(x) == 0:
        return float("nan")
    if xhat == 0:
        return 1.0
    return float(min(1.0, 2 * min(np.sum(x > 0), np.sum(x < 0)) / len(x)))


def _spread(x: np.ndarray, ratio: bool) -> float:
    """SD of the draws; for a ratio, half the central 68 % range.

    The proportion mediated ``δ/τ`` has no finite variance when the draws of ``τ`` come
    near zero (its SD is then dominated by a few draws), so its spread is measured as a
    normal's SD would be: ``(q₀.₈₄ − q₀.₁₆)/2``.
    """
    if len(x) < 2:
        return float("nan")
    if ratio:
        q16, q84 = np.quantile(x, [0.158655, 0.841345])
        return float((q84 - q16) / 2)
    return float(np.std(x, ddof=1))


def summarise(draws: MediationDraws, level: float) -> pd.DataFrame:
    """The effects table: estimate, SE (SD of the draws), percentile CI, p-value.

    (For the proportions mediated the SE is half the central 68 % range of the draws.)

    Point estimates are the means of the draws, except the proportions mediated: the
    medians for each arm and, for the average, the mean of the two medians, as
    ``mediate`` reports them.
    """
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    per = draws.by_key()
    rows = []
    for key, label in EFFECT_LABELS.items():
        x = per[key]
        finite = x[np.isfinite(x)]
        if key == "PM":
            est = (float(np.median(per["PM_control"])) + float(np.median(per["PM_treated"]))) / 2
        elif key.startswith("PM"):
            est = float(np.median(x))
        else:
            est = float(np.mean(x))
        ci = np.quantile(finite, [low, high]) if len(finite) else (np.nan, np.nan)
        rows.append(
            {
                "effect": key,
                "label": label,
                "estimate": est,
                "se": _spread(finite, key.startswith("PM")),
                "ci_low": float(ci[0]),
                "ci_high": float(ci[1]),
                "p_value": mediate_pvalue(x, est),
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "EFFECT_LABELS",
    "MediationDesign",
    "MediationDraws",
    "mediate_pvalue",
    "simulate_effects",
    "summarise",
]
