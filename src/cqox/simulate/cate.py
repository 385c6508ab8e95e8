"""Heterogeneous-effect designs with a known τ(x), named after their paper."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

#: The designs of Wager & Athey (2018), §5.
WA2018_DESIGNS: tuple[str, ...] = ("confounded_null", "heterogeneous", "heterogeneous_sharp")


def _xi(x: np.ndarray) -> np.ndarray:
    return 1 + special.expit(20 * (x - 1 / 3))


def _varsigma(x: np.ndarray) -> np.ndarray:
    return 2 * special.expit(12 * (x - 0.5))


def wager_athey_2018(
    design: str = "heterogeneous",
    n: int = 2000,
    p: int = 6,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The simulation designs of Wager & Athey (2018), §5, doi:10.1080/01621459.2017.1319839.

    ``x ~ U[0, 1]^p`` (``p ≥ 2``), ``Y = m(x) + (T − ½)·τ(x) + ε``, ``ε ~ N(0, 1)``:

    - ``"confounded_null"`` (§5.1): ``e(x) = ¼(1 + β₂,₄(x₁))`` (β the Beta(2, 4)
      density), ``m(x) = 2x₁ − 1``, ``τ(x) = 0`` — confounding, no effect.
    - ``"heterogeneous"`` (§5.2): ``e = ½``, ``m = 0``, ``τ(x) = ξ(x₁)ξ(x₂)``,
      ``ξ(x) = 1 + 1/(1 + e^{−20(x − 1/3)})``.
    - ``"heterogeneous_sharp"`` (§5.2): as above with ``τ(x) = ς(x₁)ς(x₂)``,
      ``ς(x) = 2/(1 + e^{−12(x − 1/2)})``.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``t``, ``x1`` … ``xp``.
    truth : dict
        ``ATE`` (population, by Gauss–Legendre quadrature), ``SATE``, and ``tau`` (the
        true τ(x_i), shape (n,)).
    """
    if design not in WA2018_DESIGNS:
        raise ValueError(f"design must be one of {WA2018_DESIGNS}; got {design!r}")
    if p < 2:
        raise ValueError(f"p must be at least 2; got {p}")
    rng = np.random.default_rng(seed)
    X = rng.random((n, p))
    nodes, weights = np.polynomial.legendre.leggauss(200)
    u, wts = (nodes + 1) / 2, weights / 2
    if design == "confounded_null":
        e = 0.25 * (1 + stats.beta.pdf(X[:, 0], 2, 4))
        m = 2 * X[:, 0] - 1
        tau = np.zeros(n)
        ate = 0.0
    else:
        f = _xi if design == "heterogeneous" else _varsigma
        e = np.full(n, 0.5)
        m = np.zeros(n)
        tau = f(X[:, 0]) * f(X[:, 1])
        ate = float(np.sum(wts * f(u)) ** 2)
    t = (rng.random(n) < e).astype(np.int64)
    y = m + (t - 0.5) * tau + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "t": t, **{f"x{j + 1}": X[:, j] for j in range(p)}})
    return df, {"ATE": ate, "SATE": float(tau.mean()), "tau": tau}


def logged_bandit(n: int = 2000, seed: int | None = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Logged data of a binary-action bandit with a known value of the target policy.

    ``x ~ U[0, 1]³``; the logging policy takes action ``A = 1`` with probability
    ``e(x) = 0.2 + 0.6·x₁``; the reward is ``R = x₂ + A·(x₁ − ½) + ε``, ``ε ~ N(0, 1)``.
    The target policy treats when ``x₁ > ½``, so its value is
    ``V = E[x₂] + E[1{x₁ > ½}(x₁ − ½)] = ½ + ⅛ = 0.625``.

    Returns
    -------
    df : DataFrame
        Columns ``r`` (reward), ``a`` (logged action), ``p_log`` (the logging
        probability of the action taken), ``target`` (the target policy's action) and
        ``x1`` … ``x3``.
    truth : dict
        ``policy_value`` (population, 0.625) and ``SPV`` (the sample mean of
        ``x₂ + π(x)(x₁ − ½)``).
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    e = 0.2 + 0.6 * X[:, 0]
    a = (rng.random(n) < e).astype(np.int64)
    tau = X[:, 0] - 0.5
    r = X[:, 1] + a * tau + rng.standard_normal(n)
    target = (X[:, 0] > 0.5).astype(np.int64)
    df = pd.DataFrame(
        {
            "r": r,
            "a": a,
            "p_log": np.where(a == 1, e, 1 - e),
            "target": target,
            **{f"x{j + 1}": X[:, j] for j in range(3)},
        }
    )
    return df, {"policy_value": 0.625, "SPV": float(np.mean(X[:, 1] + target * tau))}
