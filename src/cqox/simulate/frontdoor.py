"""Front-door data: a hidden confounder of treatment and outcome, the effect through M.

The graph is ``U → T, U → Y, T → M → Y`` with ``U`` not in the table (Pearl 1995,
doi:10.1093/biomet/82.4.669).  No observed set blocks the backdoor path ``T ← U → Y``,
but the mediator satisfies the front-door criterion, so the effect is identified::

    U ~ N(0, 1)
    T = 1{V < expit(γ U)}, V ~ U(0, 1)   (binary)   or   T = U + N(0, 1)   (continuous)
    M = 0.5 + α T + ε_M,                 ε_M ~ N(0, 1)
    Y = 1 + β M + δ U + ε_Y,             ε_Y ~ N(0, 1)

The effect of a unit change in ``T`` is ``α·β`` (the ATE of a 0/1 treatment); the
difference in means is biased by ``δ·(E[U | T = 1] − E[U | T = 0])``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: T → M, M → Y, U → T (logit slope), U → Y.
ALPHA = 1.2
BETA = 0.8
GAMMA = 1.5
DELTA = 2.0


def front_door(
    n: int = 2000, seed: int = 0, binary: bool = True
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A table ``y, t, m`` whose effect only the front door identifies; truth ``ATE``/``ACR``.

    Example
    -------
    >>> df, truth = front_door(n=500, seed=1)
    >>> sorted(df.columns), round(truth["ATE"], 2)
    (['m', 't', 'y'], 0.96)
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    if binary:
        t = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-GAMMA * u))).astype(float)
    else:
        t = u + rng.normal(size=n)
    m = 0.5 + ALPHA * t + rng.normal(size=n)
    y = 1.0 + BETA * m + DELTA * u + rng.normal(size=n)
    return pd.DataFrame({"y": y, "t": t, "m": m}), {"ATE" if binary else "ACR": ALPHA * BETA}


__all__ = ["ALPHA", "BETA", "front_door"]
