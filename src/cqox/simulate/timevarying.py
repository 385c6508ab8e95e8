"""A time-varying treatment with treatment–confounder feedback and a known effect.

Robins, Hernán & Brumback (2000, doi:10.1097/00001648-200009000-00011); *Causal
Inference: What If*, ch. 19–21: a covariate ``L_t`` that is affected by earlier treatment
and affects later treatment and the outcome is both a confounder (adjust) and a mediator
(do not adjust), so no regression of ``Y`` on the treatment history — with or without
``L`` — estimates the effect; inverse probability weighting and the g-formula do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

#: Coefficients of :func:`time_varying_feedback` (see its docstring).
ALPHA_A = -0.8  # effect of A_{t−1} on L_t (treatment lowers the risk factor)
BETA_A = 0.3  # direct effect of each period's treatment on Y
BETA_L = -1.0  # effect of the last risk factor on Y
BETA_V = 0.5  # effect of the baseline covariate on Y and L_0
#: Effect of one more treated period on E[Y(ā)]: direct plus through L.
PER_PERIOD = BETA_A + BETA_L * ALPHA_A


def time_varying_feedback(
    n: int = 1000, periods: int = 4, seed: int | None = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate a long panel ``(id, time, a, l, v, y)`` with treatment–confounder feedback.

    Model (``t = 0 … K − 1``, ``A_{−1} = 0``)::

        V ~ Bernoulli(0.5)                                   baseline covariate
        L_0 = 0.5 V + e_0,   L_t = L_{t−1} − 0.8 A_{t−1} + e_t,   e_t ~ N(0, 0.5²)
        A_t ~ Bernoulli(expit(−1 + 0.6 L_t + A_{t−1} + 0.5 V))
        Y = 2 + 0.3 Σ_t A_t − (L_{K−1} − 0.8 A_{K−1}) + 0.5 V + ε,   ε ~ N(0, 1)

    ``L`` raises treatment and lowers the outcome (confounding), and treatment lowers
    later ``L`` (feedback).  Under any regime ``ā``,
    ``E[Y(ā)] = 2 + 0.5·E[V] − E[L_0] + (0.3 + 0.8)·Σ_t a_t = 2 + 1.1·Σ_t a_t``: the
    cumulative-treatment MSM ``E[Y(ā)] = β₀ + β₁ Σ_t a_t`` is correct with ``β₁ = 1.1``,
    and the g-formula's models (each ``L_t`` linear in ``L_{t−1}, V, A_{t−1}``; ``Y``
    linear in the whole history) are correct too.  The outcome is on the last period's
    row and missing on the others.

    Returns
    -------
    df : DataFrame
        ``n × periods`` rows: ``id``, ``time``, ``a``, ``l``, ``v``, ``y``.
    truth : dict
        ``always_vs_never`` (``1.1·K``), ``msm_coef`` (``(2, 1.1)``), ``always``,
        ``never`` (``E[Y]`` under each regime).
    """
    rng = np.random.default_rng(seed)
    K = periods
    v = rng.binomial(1, 0.5, n).astype(float)
    L = np.empty((n, K))
    A = np.empty((n, K))
    prev = np.zeros(n)
    for t in range(K):
        e = 0.5 * rng.standard_normal(n)
        L[:, t] = (BETA_V * v + e) if t == 0 else (L[:, t - 1] + ALPHA_A * prev + e)
        A[:, t] = rng.binomial(1, special.expit(-1.0 + 0.6 * L[:, t] + prev + 0.5 * v))
        prev = A[:, t]
    y = (
        2.0
        + BETA_A * A.sum(axis=1)
        + BETA_L * (L[:, -1] + ALPHA_A * A[:, -1])
        + BETA_V * v
        + rng.standard_normal(n)
    )
    Y = np.full((n, K), np.nan)
    Y[:, -1] = y
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), K),
            "time": np.tile(np.arange(K), n),
            "a": A.ravel(),
            "l": L.ravel(),
            "v": np.repeat(v, K),
            "y": Y.ravel(),
        }
    )
    truth = {
        "always_vs_never": PER_PERIOD * K,
        "msm_coef": (2.0, PER_PERIOD),
        "always": 2.0 + PER_PERIOD * K,
        "never": 2.0,
    }
    return df, truth
