"""A trial nested in a target population, with known target effects (transportability).

Rows are a random sample of one population; a covariate-dependent selection puts some
of them in a randomized trial (``s = 1``: treatment and outcome observed) and leaves
the rest as the target sample (``s = 0``: covariates only), as in the nested trial
designs of Dahabreh et al. (2019, doi:10.1111/biom.13716; 2020,
doi:10.1002/sim.8426).  ``x ~ N(0, I_3)``::

    P(S = 1 | x) = expit(γ0 + 0.7 x1 − 0.5 x2)                       (selection)
    A | S = 1    ~ Bernoulli(expit(κ x1))                           (trial assignment)
    Y            = 1 + 0.5 x1 + 0.3 x2 + 0.4 x3 + A·τ(x) + ε,       ε ~ N(0, 1)
    τ(x)         = 1 + 0.8 x1 − 0.5 x2 + q·x1²

The effect is modified by ``x1`` and ``x2``, whose distribution differs between the
trial and the target, so the trial's average effect is not the target's.  Selection
acts through the index ``u = 0.7 x1 − 0.5 x2 ~ N(0, σ² = 0.74)``, and given ``u``,
``x1 ~ N(0.7 u/σ², 1 − 0.49/σ²)`` and ``x2 ~ N(−0.5 u/σ², 1 − 0.25/σ²)``; the target
effects are therefore one-dimensional integrals over ``u``, computed by Gauss–Hermite
quadrature (exact to rounding, no simulation)::

    TATE = E[τ(X) | S = 0],   PATE = E[τ(X)] = 1 + q.

With ``q ≠ 0`` a working outcome model linear in ``x`` within each arm is misspecified
while the selection model stays correct: the weighting and doubly robust estimators
remain consistent and the outcome-model standardization does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

#: Selection index coefficients on (x1, x2) and its variance.
SELECT = np.array([0.7, -0.5])
SIGMA2 = float(SELECT @ SELECT)
#: Effect modification τ(x) = 1 + 0.8 x1 − 0.5 x2 + q x1².
TAU0, TAU_X1, TAU_X2 = 1.0, 0.8, -0.5
#: Quadrature nodes of the truth (far more than the integrand needs).
N_NODES = 120


def _conditional_moments(gamma0: float, sample: int, sigma2: float) -> tuple[float, float]:
    """``E[u | S = sample]`` and ``E[u² | S = sample]`` by Gauss–Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(N_NODES)
    u = nodes * np.sqrt(sigma2)
    p1 = special.expit(gamma0 + u)
    dens = weights * (p1 if sample == 1 else 1 - p1)
    mass = dens.sum()
    return float((dens * u).sum() / mass), float((dens * u * u).sum() / mass)


def target_effects(gamma0: float, q: float, selection: float = 1.0) -> dict[str, float]:
    """``TATE``, ``PATE`` and the trial's average effect ``trial_ATE`` of the design."""
    out: dict[str, float] = {"PATE": TAU0 + q}
    coef = selection * SELECT
    sigma2 = float(coef @ coef)
    if sigma2 == 0:  # selection at random: every population has the same effect
        tau = TAU0 + q * 1.0
        return {"PATE": tau, "TATE": tau, "trial_ATE": tau}
    c1, c2 = coef / sigma2  # E[x_j | u] = c_j u
    var1 = 1 - coef[0] ** 2 / sigma2  # Var(x1 | u)
    for name, s in (("TATE", 0), ("trial_ATE", 1)):
        m1, m2 = _conditional_moments(gamma0, s, sigma2)
        out[name] = float(TAU0 + TAU_X1 * c1 * m1 + TAU_X2 * c2 * m1 + q * (var1 + c1 * c1 * m2))
    return out


def nested_trial(
    n: int = 2000,
    gamma0: float = -1.0,
    kappa: float = 0.0,
    q: float = 0.0,
    selection: float = 1.0,
    observed_target: bool = False,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, t, s, x1, x2, x3)``: a trial (``s = 1``) nested in a target sample.

    Parameters
    ----------
    n : int
        Rows (trial and target together).
    gamma0 : float
        Intercept of the selection model (−1: about 30 % of the rows in the trial).
    kappa : float
        Log-odds of treatment per unit of ``x1`` in the trial (0: 1:1 randomization).
    q : float
        Coefficient of ``x1²`` in the effect (0: every working model is correct).
    selection : float
        Multiplies the selection coefficients ``(0.7, −0.5)``: the inverse odds of
        sampling weights ``e^{−γ0 − u}`` are log-normal with log-SD ``0.86·selection``,
        so ``selection`` sets how heavy they are (1: the default design, whose weights
        keep about half of the trial as effective sample size; 0.5: about 80 %).
    observed_target : bool
        Also fill ``t`` and ``y`` in the target rows (by default they are missing, as in
        a target sample with covariates only).
    seed : int or None
        Random seed.

    Returns
    -------
    df : DataFrame
        ``y``, ``t``, ``s``, ``x1``, ``x2``, ``x3``.
    truth : dict
        ``TATE`` (the effect in the target, ``s = 0``), ``PATE`` (in trial and target
        together), ``trial_ATE`` and the design's parameters.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    u = x[:, :2] @ (selection * SELECT)
    s = (rng.random(n) < special.expit(gamma0 + u)).astype(np.int64)
    t = (rng.random(n) < special.expit(kappa * x[:, 0])).astype(np.float64)
    tau = TAU0 + TAU_X1 * x[:, 0] + TAU_X2 * x[:, 1] + q * x[:, 0] ** 2
    y = 1 + x @ np.array([0.5, 0.3, 0.4]) + t * tau + rng.standard_normal(n)
    if not observed_target:
        t[s == 0] = np.nan
        y[s == 0] = np.nan
    df = pd.DataFrame({"y": y, "t": t, "s": s, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
    truth: dict[str, Any] = {
        **target_effects(gamma0, q, selection),
        "gamma0": gamma0,
        "kappa": kappa,
        "q": q,
        "selection": selection,
    }
    return df, truth
