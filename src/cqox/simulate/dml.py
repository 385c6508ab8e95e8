"""Data-generating processes for double machine learning, named after their papers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats


def make_plr_CCDDHNR2018(  # noqa: N802 (named after the paper's authors, as in DoubleML)
    n: int = 500,
    p: int = 20,
    alpha: float = 0.5,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Partially linear model of Chernozhukov et al. (2018), doi:10.1111/ectj.12097.

    ``x ~ N(0, Σ)`` with ``Σ_kj = 0.7^|j−k|`` (``p ≥ 3``), and::

        d = m₀(x) + v,         m₀(x) = x₁ + 0.25·expit(x₃)
        y = α·d + g₀(x) + ζ,   g₀(x) = expit(x₁) + 0.25·x₃,    v, ζ ~ N(0, 1)

    (the simulation design of the paper's §6, as also used by DoubleML).  The effect
    of ``d`` is the constant ``α``.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``d``, ``x1`` … ``xp``.
    truth : dict
        ``theta`` (= ``alpha``) and ``ATE`` (the same number).
    """
    if p < 3:
        raise ValueError(f"p must be at least 3; got {p}")
    rng = np.random.default_rng(seed)
    k = np.arange(p)
    sigma = 0.7 ** np.abs(k[:, None] - k[None, :])
    X = rng.multivariate_normal(np.zeros(p), sigma, size=n, method="cholesky")
    m0 = X[:, 0] + 0.25 * special.expit(X[:, 2])
    g0 = special.expit(X[:, 0]) + 0.25 * X[:, 2]
    d = m0 + rng.standard_normal(n)
    y = alpha * d + g0 + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "d": d, **{f"x{j + 1}": X[:, j] for j in range(p)}})
    return df, {"theta": float(alpha), "ATE": float(alpha)}


def make_irm_heterogeneous(
    n: int = 2000,
    p: int = 10,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Interactive model with nonlinear nuisances and a heterogeneous effect.

    ``x ~ N(0, I_p)`` (``p ≥ 5``) and::

        e(x)  = Φ(0.6·x₁ + 0.8·tanh(2·x₂))
        μ₀(x) = x₁ + 0.5·x₂² + sin(2·x₃) + 0.5·x₄·x₅
        τ(x)  = 1 + 0.5·x₁ + 0.5·(x₄² − 1)
        y     = μ₀(x) + t·τ(x) + ε,   ε ~ N(0, 1)

    Both nuisances are nonlinear (a linear model of either is misspecified), the
    treatment is confounded through ``x₁`` and ``x₂``, and overlap is good
    (``0.03 < e < 0.97`` for most of the mass).  ``τ`` depends on ``x₁``, so the ATT
    exceeds the ATE: ``ATE = 1`` and, by Stein's lemma with ``c = 0.8·tanh(2·x₂)``,
    ``ATT = 1 + 0.5·E[x₁ e(x)]/E[e(x)]`` with
    ``E[x₁ e(x)] = 0.6·E_c[φ(c/s)/s]`` and ``E[e(x)] = E_c[Φ(c/s)]``,
    ``s = sqrt(1 + 0.6²)`` (one-dimensional Gauss–Hermite integrals over ``x₂``).

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``t``, ``x1`` … ``xp``.
    truth : dict
        ``ATE``, ``ATT`` (population values), ``SATE`` and ``SATT`` (sample averages of
        τ(x_i)).
    """
    if p < 5:
        raise ValueError(f"p must be at least 5; got {p}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    a = 0.6
    e = stats.norm.cdf(a * X[:, 0] + 0.8 * np.tanh(2 * X[:, 1]))
    t = (rng.random(n) < e).astype(np.int64)
    mu0 = X[:, 0] + 0.5 * X[:, 1] ** 2 + np.sin(2 * X[:, 2]) + 0.5 * X[:, 3] * X[:, 4]
    tau = 1 + 0.5 * X[:, 0] + 0.5 * (X[:, 3] ** 2 - 1)
    y = mu0 + t * tau + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "t": t, **{f"x{j + 1}": X[:, j] for j in range(p)}})
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / np.sqrt(2 * np.pi)
    s = np.sqrt(1 + a**2)
    c = 0.8 * np.tanh(2 * nodes)
    e_x1 = a * float(np.sum(weights * stats.norm.pdf(c / s) / s))
    e_mean = float(np.sum(weights * stats.norm.cdf(c / s)))
    truth = {
        "ATE": 1.0,
        "ATT": 1.0 + 0.5 * e_x1 / e_mean,
        "SATE": float(tau.mean()),
        "SATT": float(tau[t == 1].mean()),
    }
    return df, truth
