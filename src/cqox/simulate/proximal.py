"""Data with an unmeasured confounder ``U`` and two proxies of it (proximal inference).

A treatment proxy ``Z`` (negative-control exposure: no effect on ``Y`` given ``U, A,
X``) and an outcome proxy ``W`` (negative-control outcome: not affected by ``A`` or
``Z`` given ``U, X``); ``U`` is not in the table.

* :func:`zivich_2023`: the simulation of Zivich, Cole, Edwards, Mulholland, Shook-Sa &
  Tchetgen Tchetgen (2023), *Introducing proximal causal inference for
  epidemiologists*, Am J Epidemiol 192(7):1224–1227, doi:10.1093/aje/kwad077, with its
  three scenarios (ATE = −1)::

      X ~ N(0, 1), U = X + N(0, 1), Z = U + N(0, 1), W = U + N(0, 1)
      A ~ Bernoulli(expit(Z + β_U U + X))
      Y = W + β_U U + X + β_Z Z − A + N(0, 1)

  scenario 1: ``β_U = β_Z = 0`` (no unmeasured confounding); 2: ``β_U = 1, β_Z = 0``
  (confounding by ``U``; the proxies are valid); 3: ``β_U = β_Z = 1`` (``Z`` affects
  ``Y``: the treatment proxy is invalid and proximal estimators are biased).  With
  n = 500 and 4000 replications the authors report for proximal g-computation (our
  ``proximal_2sls``) in scenario 2: bias −0.003, empirical SE 0.210, mean sandwich SE
  0.208, coverage 94.6 %; in scenario 3: bias −0.900.  The outcome bridge is
  ``h(W, A, X) = 2W − A + X`` in scenario 2.

* :func:`proximal_bridges`: a design in which both bridges of Cui, Pu, Shi, Miao &
  Tchetgen Tchetgen (2023, doi:10.1080/01621459.2023.2191817) have the working forms
  of ``proximal_dr`` — the outcome bridge linear, ``h = b'(1, A, W, X)``, and the
  treatment bridge ``q(Z, A, X) = 1 + exp{(1 − 2A)(t'(1, A, Z, X))}``::

      X ~ N(0, 1), U ~ N(0, 1)
      A ~ Bernoulli(expit(0.5 X + 0.8 U))
      Z = 0.5 A + 0.3 X + U + N(0, 1)
      W = 0.3 X + U + N(0, 1)
      Y = 1 + 2 A + 0.5 X + 1.5 U + N(0, 1)            (ATE = 2)

  Because ``Z | A, U, X`` is normal, ``E[q(Z, a, X) | U, A = a, X] = 1/P(A = a | U, X)``
  with ``t = (−0.32, 0.24, 0.8, 0.26)``, and ``h = 1 + 2A + 1.5 W + 0.05 X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

#: Treatment-bridge coefficients (1, A, Z, X) of :func:`proximal_bridges`.
BRIDGE_Q = (-0.32, 0.24, 0.8, 0.26)
#: Outcome-bridge coefficients (1, A, W, X) of :func:`proximal_bridges`.
BRIDGE_H = (1.0, 2.0, 1.5, 0.05)


def zivich_2023(
    n: int = 500, scenario: int = 2, seed: int | None = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, t, z, w, x)`` from Zivich et al. (2023), scenario 1, 2 or 3.

    Returns the table and ``{"ATE": -1.0, "scenario": scenario}``.
    """
    if scenario not in (1, 2, 3):
        raise ValueError(f"scenario must be 1, 2 or 3; got {scenario!r}")
    beta_u = 0.0 if scenario == 1 else 1.0
    beta_z = 1.0 if scenario == 3 else 0.0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    u = x + rng.standard_normal(n)
    z = u + rng.standard_normal(n)
    w = u + rng.standard_normal(n)
    t = (rng.random(n) < special.expit(z + beta_u * u + x)).astype(np.float64)
    y = w + beta_u * u + x + beta_z * z - t + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "t": t, "z": z, "w": w, "x": x})
    return df, {"ATE": -1.0, "scenario": scenario}


def proximal_bridges(n: int = 2000, seed: int | None = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate ``(y, t, z, w, x)`` where both proximal bridges are correctly specified.

    Returns the table and ``{"ATE": 2.0, "bridge_q": …, "bridge_h": …}``.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    u = rng.standard_normal(n)
    t = (rng.random(n) < special.expit(0.5 * x + 0.8 * u)).astype(np.float64)
    z = 0.5 * t + 0.3 * x + u + rng.standard_normal(n)
    w = 0.3 * x + u + rng.standard_normal(n)
    y = 1 + 2 * t + 0.5 * x + 1.5 * u + rng.standard_normal(n)
    df = pd.DataFrame({"y": y, "t": t, "z": z, "w": w, "x": x})
    return df, {"ATE": 2.0, "bridge_q": BRIDGE_Q, "bridge_h": BRIDGE_H}
