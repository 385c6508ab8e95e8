"""Regression-discontinuity data sets with a known effect at the cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Lee (2008) regression functions fitted by Calonico, Cattaneo & Titiunik (2014,
#: doi:10.3982/ECTA11757, Model 1 of their simulations), below and above the cutoff.
LEE_LEFT = (0.48, 1.27, 7.18, 20.21, 21.54, 7.33)
LEE_RIGHT = (0.52, 0.84, -3.00, 7.99, -9.01, 3.56)
LEE_SIGMA = 0.1295


#: A smooth alternative with the same left intercept and slope: quadratic on the left,
#: and on the right a jump of 0.5 with a slope change of 0.3.
QUADRATIC_LEFT = (0.48, 1.27, 3.59)
QUADRATIC_RIGHT = (0.98, 1.57, 3.59)
MODELS = ("lee2008", "quadratic")


def _poly(coefs: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    return np.polynomial.polynomial.polyval(x, np.asarray(coefs))


def _curves(model: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if model == "lee2008":
        return LEE_LEFT, LEE_RIGHT
    if model == "quadratic":
        return QUADRATIC_LEFT, QUADRATIC_RIGHT
    raise ValueError(f"model must be one of {MODELS}; got {model!r}")


def rd_sharp(
    n: int = 1000, effect_scale: float = 1.0, model: str = "lee2008", seed: int | None = 0
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Sharp RD, Model 1 of CCT (2014): Lee (2008) regression functions (or a quadratic).

    ``x = 2·Beta(2, 4) − 1``, ``y = μ₋(x) + 1[x ≥ 0]·(μ₊(x) − μ₋(x))·effect_scale + ε``
    with ``ε ~ N(0, 0.1295²)``, cutoff 0; the effect at the cutoff is
    ``0.04 · effect_scale`` for ``lee2008`` (whose large third derivative near the cutoff
    leaves a bias after bias correction at moderate n) and ``0.5 · effect_scale`` for
    ``quadratic``.  A pre-determined covariate ``w`` (smooth in ``x``) is included.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``x``, ``w``.
    truth : dict
        ``ATE(c)``.
    """
    left_c, right_c = _curves(model)
    rng = np.random.default_rng(seed)
    x = 2 * rng.beta(2, 4, n) - 1
    mu_l, mu_r = _poly(left_c, x), _poly(right_c, x)
    y = mu_l + (x >= 0) * (mu_r - mu_l) * effect_scale + LEE_SIGMA * rng.standard_normal(n)
    w = 0.5 * x + rng.standard_normal(n)
    tau = (right_c[0] - left_c[0]) * effect_scale
    return pd.DataFrame({"y": y, "x": x, "w": w}), {"ATE(c)": float(tau)}


def rd_fuzzy(
    n: int = 2000, effect: float = 0.3, model: str = "lee2008", seed: int | None = 0
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fuzzy RD with the left Lee (2008) (or quadratic) regression function and endogenous take-up.

    Take-up ``d = 1{u < 0.2 + 0.6·1[x ≥ 0]}`` (so the jump in the treatment probability
    is 0.6), ``y = μ₋(x) + effect·d + ε`` with ``ε`` correlated with ``u`` (selection
    on gains is absent, so every complier's effect is ``effect``), cutoff 0.

    Returns
    -------
    df : DataFrame
        Columns ``y``, ``x``, ``d``.
    truth : dict
        ``LATE(c)``.
    """
    rng = np.random.default_rng(seed)
    x = 2 * rng.beta(2, 4, n) - 1
    u = rng.random(n)
    d = (u < 0.2 + 0.6 * (x >= 0)).astype(np.int64)
    eps = LEE_SIGMA * (0.6 * stats.norm.ppf(u) + 0.8 * rng.standard_normal(n))
    y = _poly(_curves(model)[0], x) + effect * d + eps
    return pd.DataFrame({"y": y, "x": x, "d": d}), {"LATE(c)": float(effect)}
