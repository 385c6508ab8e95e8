"""Confounded binary- and multi-valued-treatment data sets with known effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special


def confounded_binary(
    n: int = 2000,
    p: int = 5,
    effect: float = 2.0,
    heterogeneity: float = 1.0,
    confounding: float = 1.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Simulate ``(y, t, x1..xp)`` with confounded treatment and a known effect.

    Model (``x ~ N(0, I_p)``, ``p ≥ 3``)::

        e(x)  = expit(confounding · (0.8 x1 − 0.5 x2 + 0.3 x3))
        τ(x)  = effect + heterogeneity · x1
        y     = 1 + x1 + 0.5 x2 − 0.5 x3 + t·τ(x) + ε,   ε ~ N(0, 1)

    Both the propensity and the outcome depend on ``x1..x3``, so the naive difference
    in means is biased; τ(x) varies with ``x1``, so the ATT differs from the ATE.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``t``, ``x1`` … ``xp``.
    truth : dict
        ``ATE`` (= ``effect``, the population value); ``ATT`` and ``ATC`` (population
        values, by numerical integration); ``SATE``, ``SATT`` and ``SATC`` (sample
        averages of τ(x_i) over all rows, the treated and the controls).
    """
    if p < 3:
        raise ValueError(f"p must be at least 3; got {p}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    eta = confounding * (0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2])
    e = special.expit(eta)
    t = (rng.random(n) < e).astype(np.int64)
    tau = effect + heterogeneity * X[:, 0]
    y = 1 + X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 2] + t * tau + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "t": t, **{f"x{j + 1}": X[:, j] for j in range(p)}})
    # Population ATT = effect + h·E[x1 e(η)]/E[e(η)].  With η = c(0.8x1 − 0.5x2 + 0.3x3)
    # ~ N(0, s²), Stein's lemma gives E[x1 e(η)] = 0.8c·E[e'(η)], and E[e(η)] = 1/2 by
    # symmetry; E[e'(η)] is a one-dimensional Gauss–Hermite integral.
    s = confounding * np.sqrt(0.8**2 + 0.5**2 + 0.3**2)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    e_nodes = special.expit(s * nodes)
    mean_de = float(np.sum(weights * e_nodes * (1 - e_nodes)) / np.sqrt(2 * np.pi))
    att = effect + heterogeneity * 0.8 * confounding * mean_de / 0.5
    # ATC: E[x1 (1 − e(η))] = −E[x1 e(η)] (E[x1] = 0) and E[1 − e(η)] = 1/2.
    atc = effect - heterogeneity * 0.8 * confounding * mean_de / 0.5
    truth = {
        "ATE": float(effect),
        "ATT": att,
        "ATC": atc,
        "SATE": float(tau.mean()),
        "SATT": float(tau[t == 1].mean()),
        "SATC": float(tau[t == 0].mean()),
    }
    return df, truth


def multivalued(n: int = 3000, seed: int | None = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, t, x1, x2)`` with a three-level confounded treatment ``t ∈ {0, 1, 2}``.

    Model (``x ~ N(0, I_2)``; multinomial logit with level 0 as the base)::

        P(t = j | x) ∝ exp(η_j),  η_0 = 0,  η_1 = 0.5 x1 − 0.5 x2,  η_2 = −0.3 + 0.8 x1 + 0.4 x2
        y = 1 + x1 + 0.5 x2 + 1{t=1}(1 + 0.5 x1) + 1{t=2}(2.5 − 0.5 x2) + ε,  ε ~ N(0, 1)

    Both the treatment and the outcome depend on ``x1, x2``; the effects vary with
    ``x``.  The propensity is a multinomial logit and each level's outcome is linear in
    ``x``, so IPW, RA and AIPW are all correctly specified.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``t``, ``x1``, ``x2``.
    truth : dict
        ``ATE``: ``{1: 1.0, 2: 2.5}`` (population ``E[Y(j) − Y(0)]``); ``POM``:
        ``{0: 1.0, 1: 2.0, 2: 3.5}`` (population ``E[Y(j)]``); ``ATT``: ``{t: {j: E[Y(j) −
        Y(0) | T = t]}}`` for ``t = 1, 2`` (by 60 × 60-node Gauss–Hermite quadrature of
        ``E[τ_j(X) p_t(X)] / E[p_t(X)]``, exact to ~1e-12).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    eta = np.column_stack(
        [np.zeros(n), 0.5 * X[:, 0] - 0.5 * X[:, 1], -0.3 + 0.8 * X[:, 0] + 0.4 * X[:, 1]]
    )
    prob = special.softmax(eta, axis=1)
    t = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    y = (
        1
        + X[:, 0]
        + 0.5 * X[:, 1]
        + (t == 1) * (1 + 0.5 * X[:, 0])
        + (t == 2) * (2.5 - 0.5 * X[:, 1])
        + rng.standard_normal(n)
    )
    df = pd.DataFrame({"y": y, "t": t, "x1": X[:, 0], "x2": X[:, 1]})
    # the ATT: E[τ_j(X) | T = t] with τ_1 = 1 + 0.5 x1, τ_2 = 2.5 − 0.5 x2
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    g1, g2 = (v.ravel() for v in np.meshgrid(nodes, nodes, indexing="ij"))
    gw = np.outer(weights, weights).ravel()
    gp = special.softmax(
        np.column_stack([np.zeros_like(g1), 0.5 * g1 - 0.5 * g2, -0.3 + 0.8 * g1 + 0.4 * g2]),
        axis=1,
    )
    att = {
        t_: {1: float(w @ (1 + 0.5 * g1) / w.sum()), 2: float(w @ (2.5 - 0.5 * g2) / w.sum())}
        for t_, w in ((t_, gw * gp[:, t_]) for t_ in (1, 2))
    }
    return df, {"ATE": {1: 1.0, 2: 2.5}, "POM": {0: 1.0, 1: 2.0, 2: 3.5}, "ATT": att}
