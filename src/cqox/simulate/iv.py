"""Instrumental-variable data sets with a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd


def iv_linear(
    n: int = 2000,
    n_instruments: int = 2,
    strength: float = 0.5,
    endogeneity: float = 0.6,
    effect: float = 1.0,
    heteroskedastic: bool = False,
    n_clusters: int | None = None,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Linear IV model with a constant effect (the structural coefficient).

    Model (``x1, x2 ~ N(0, 1)``, instruments ``z_j ~ N(0, 1)``)::

        d = 0.5 x1 + strength · Σ_j z_j + v
        y = 1 + effect · d + x1 − 0.5 x2 + u
        (u, v) ~ N(0, [[1, ρ], [ρ, 1]]),  ρ = endogeneity

    With ``heteroskedastic`` the errors are multiplied by ``(0.5 + |z1|)``; with
    ``n_clusters`` a cluster effect shared by the rows of a cluster is added to both
    ``u`` and ``v`` (so that cluster-robust inference is needed).  The population
    first-stage F is about ``n · q · strength²`` (``q`` instruments); use ``strength``
    near ``sqrt(1/n)`` for weak instruments.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``d``, ``z1..zq``, ``x1``, ``x2`` and ``cluster``.
    truth : dict
        ``effect`` (also under ``LATE``/``ACR``: the effect is constant).
    """
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, n_instruments))
    x1, x2 = rng.standard_normal(n), rng.standard_normal(n)
    e1, e2 = rng.standard_normal(n), rng.standard_normal(n)
    u = e1
    v = endogeneity * e1 + np.sqrt(1 - endogeneity**2) * e2
    if n_clusters is not None:
        g = rng.integers(0, n_clusters, n)
        c = rng.standard_normal(n_clusters)[g]
        u, v = u + c, v + endogeneity * c
    else:
        g = np.arange(n) % 50
    if heteroskedastic:
        s = 0.5 + np.abs(Z[:, 0])
        u, v = u * s, v * s
    d = 0.5 * x1 + strength * Z.sum(axis=1) + v
    y = 1 + effect * d + x1 - 0.5 * x2 + u
    df = pd.DataFrame(
        {
            "y": y,
            "d": d,
            **{f"z{j + 1}": Z[:, j] for j in range(n_instruments)},
            "x1": x1,
            "x2": x2,
            "cluster": g,
        }
    )
    return df, {"effect": float(effect), "ACR": float(effect)}


def iv_binary_late(
    n: int = 4000,
    complier_share: float = 0.5,
    always_share: float = 0.2,
    late: float = 2.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Randomised binary instrument, binary treatment, heterogeneous effects by type.

    Principal strata (Angrist, Imbens & Rubin 1996): compliers take the treatment iff
    ``z = 1``, always-takers always, never-takers never.  Effects: compliers ``late``,
    always-takers ``late + 3``, never-takers ``late − 3`` (unobserved by design), and
    the untreated outcome depends on the type, so OLS of ``y`` on ``d`` is biased while
    the Wald ratio identifies the complier effect.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``d``, ``z``, ``x1``.
    truth : dict
        ``LATE`` (population complier effect) and ``SLATE`` (sample complier mean).
    """
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    kind = np.where(u < always_share, 2, np.where(u < always_share + complier_share, 1, 0))
    z = (rng.random(n) < 0.5).astype(np.int64)
    d = np.where(kind == 2, 1, np.where(kind == 1, z, 0))
    x1 = rng.standard_normal(n)
    tau = np.select([kind == 2, kind == 1], [late + 3.0, late], late - 3.0)
    tau = tau + 0.5 * x1 * (kind == 1)
    y0 = 1.0 + 1.5 * kind + x1 + rng.standard_normal(n)
    y = y0 + d * tau
    df = pd.DataFrame({"y": y, "d": d, "z": z, "x1": x1})
    return df, {"LATE": float(late), "SLATE": float(tau[kind == 1].mean())}
