"""``gformula``: the parametric g-formula for a time-varying treatment, by Monte Carlo.

Robins (1986, doi:10.1016/0270-0255(86)90088-6); Taubman, Robins, Mittleman & Hernán
(2009, doi:10.1093/ije/dyp192); *Causal Inference: What If*, ch. 21.2.  Under sequential
exchangeability, consistency and positivity,

``E[Y(ā)] = ∫ E[Y | Ā = ā, L̄ = l̄] Π_t f(l_t | ā_{t−1}, l̄_{t−1}) dl̄``,

estimated by fitting

- for each period ``t ≥ 1`` and each time-varying covariate ``L_j`` (in column order): a
  linear model with normal errors (``σ_{jt}`` from the residuals, ``n − k`` degrees of
  freedom) or, for a 0/1 covariate, a logistic model of ``L_{jt}`` on ``(L_{t−1}, A_{t−1},
  L_{j't}`` for ``j' < j)``; baseline covariates (constant within units) are carried;
- the outcome on the whole history ``(A_0 … A_{K−1}, L̄_{K−1}, V)``: linear, or logistic
  for a 0/1 outcome (the estimand is then a risk difference);

and simulating ``n_draws`` copies of each unit's history from its observed ``L_0`` under
"always treated" and "never treated" (the same random numbers for both regimes), averaging
the outcome model's prediction.  ``always_vs_never = Ê[Y(1̄)] − Ê[Y(0̄)]``; its SE is the
standard deviation over ``n_boot`` bootstrap samples of units (every model refitted and
the simulation redrawn, so the Monte-Carlo error is in the SE), the interval
``estimate ± z·SE``.

Example
-------
>>> import cqox
>>> from cqox.simulate.timevarying import time_varying_feedback
>>> df, truth = time_varying_feedback(n=2000, seed=1)
>>> est = cqox.estimate("gformula", df, outcome="y", treatment="a", unit="id", time="time",
...                     covariates=["l", "v"], n_boot=50)
>>> bool(abs(est.estimate - truth["always_vs_never"]) < 4 * est.se)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError
from cqox.estimators.base import Example
from cqox.estimators.common import CI_LEVEL, n_boot_param
from cqox.estimators.registry import register
from cqox.estimators.timevarying.family import ALWAYS_VS_NEVER, TimeVaryingEstimator
from cqox.estimators.timevarying.panel import TimeVaryingPanel
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.ols import fit_ols, with_intercept

#: Seed streams: the point estimate's simulation and the bootstrap.
_SIM_STREAM, _BOOT_STREAM = 4, 5


@dataclass(frozen=True)
class LinearOrLogit:
    """A fitted model with its prediction: linear (``sigma`` > 0) or logistic (``sigma`` 0)."""

    coef: np.ndarray
    logistic: bool
    sigma: float

    def mean(self, X: np.ndarray) -> np.ndarray:
        """``E[· | X]`` (probabilities for a logistic model)."""
        eta = self.coef[0] + X @ self.coef[1:]
        return np.asarray(special.expit(eta) if self.logistic else eta)


def fit_model(X: np.ndarray, y: np.ndarray, logistic: bool, what: str) -> LinearOrLogit:
    """Least squares or logistic regression of ``y`` on ``X`` plus an intercept."""
    if logistic:
        if y.min() == y.max():
            # a 0/1 variable constant in a period: predict it with certainty
            eta = 40.0 if y[0] == 1 else -40.0
            return LinearOrLogit(np.concatenate([[eta], np.zeros(X.shape[1])]), True, 0.0)
        return LinearOrLogit(np.asarray(fit_binary(X, y).coef), True, 0.0)
    Z = with_intercept(X)
    n, k = Z.shape
    if n <= k:
        raise EstimationError(
            f"the model of {what} has {k} coefficients for {n} units; use fewer covariates "
            "or periods",
            details={"model": what},
        )
    ols = fit_ols(Z, y)
    return LinearOrLogit(
        np.asarray(ols.coef), False, float(np.sqrt(ols.resid @ ols.resid / (n - k)))
    )


@dataclass(frozen=True)
class GFormulaModels:
    """The fitted covariate models (by period, then covariate) and the outcome model."""

    covariate: list[list[tuple[int, LinearOrLogit]]]
    outcome: LinearOrLogit


def history_design(L: np.ndarray, A: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The outcome model's regressors: ``(A_0 … A_{K−1}, time-varying L̄, baseline V)``."""
    n = A.shape[0]
    tv = L[:, :, ~baseline].reshape(n, -1)
    return np.column_stack([A, tv, L[:, 0, baseline]])


def _covariate_design(L: np.ndarray, A: np.ndarray, t: int, before: list[int]) -> np.ndarray:
    return np.column_stack([L[:, t - 1, :], A[:, t - 1], L[:, t, before]])


def fit_models(panel: TimeVaryingPanel) -> GFormulaModels:
    """Every covariate model and the outcome model."""
    tv = [j for j in range(len(panel.names)) if not panel.baseline[j]]
    models: list[list[tuple[int, LinearOrLogit]]] = [[]]
    for t in range(1, panel.periods):
        per: list[tuple[int, LinearOrLogit]] = []
        for i, j in enumerate(tv):
            X = _covariate_design(panel.L, panel.A, t, tv[:i])
            what = f"covariate '{panel.names[j]}' at period {panel.times[t]!r}"
            per.append((j, fit_model(X, panel.L[:, t, j], bool(panel.binary[j]), what)))
        models.append(per)
    y_binary = bool(set(np.unique(panel.Y)) <= {0.0, 1.0})
    H = history_design(panel.L, panel.A, panel.baseline)
    return GFormulaModels(models, fit_model(H, panel.Y, y_binary, "the outcome"))


def simulate_regimes(
    panel: TimeVaryingPanel, models: GFormulaModels, n_draws: int, rng: np.random.Generator
) -> tuple[float, float]:
    """``(Ê[Y(0̄)], Ê[Y(1̄)])`` by Monte Carlo from each unit's observed ``L_0``."""
    n, K, p = panel.n * n_draws, panel.periods, len(panel.names)
    tv = [j for j in range(p) if not panel.baseline[j]]
    # common random numbers for both regimes
    noise = rng.standard_normal((n, K, max(1, len(tv))))
    unif = rng.random((n, K, max(1, len(tv))))
    out = []
    for a in (0.0, 1.0):
        L = np.empty((n, K, p))
        L[:, 0, :] = np.repeat(panel.L[:, 0, :], n_draws, axis=0)
        L[:, 1:, :] = L[:, :1, :]  # baseline covariates carried; the others overwritten
        A = np.full((n, K), a)
        for t in range(1, K):
            for i, (j, model) in enumerate(models.covariate[t]):
                mu = model.mean(_covariate_design(L, A, t, tv[:i]))
                if model.logistic:
                    L[:, t, j] = (unif[:, t, i] < mu).astype(float)
                else:
                    L[:, t, j] = mu + model.sigma * noise[:, t, i]
        out.append(float(models.outcome.mean(history_design(L, A, panel.baseline)).mean()))
    return out[0], out[1]


def gformula_point(
    panel: TimeVaryingPanel, n_draws: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Fit the models and simulate both regimes."""
    return simulate_regimes(panel, fit_models(panel), n_draws, rng)


@register
class GFormula(TimeVaryingEstimator):
    """Parametric g-formula for a time-varying treatment by Monte Carlo simulation."""

    name = "gformula"
    summary_line = (
        "Time-varying treatment: parametric g-formula by Monte Carlo simulation (Robins "
        "1986), always vs never treated, bootstrap SE"
    )
    example = Example(
        "timevarying.time_varying_feedback",
        {"n": 400, "periods": 3, "seed": 1},
        {"outcome": "y", "treatment": "a", "unit": "id", "time": "time",
         "covariates": ["l", "v"]},
        params={"n_boot": 30},
    )  # fmt: skip
    parameters = (
        n_boot_param(200, low=20, high=10_000, note="units resampled; every model refitted"),
        Param(
            "n_draws",
            1,
            "int",
            "Monte Carlo draws; simulated histories per unit and regime",
            low=1,
            high=100,
        ),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        panel = self.panel_of(data)
        n_draws = params["n_draws"]
        never, always = gformula_point(panel, n_draws, ctx.rng(_SIM_STREAM))
        theta = always - never
        rng = ctx.rng(_BOOT_STREAM)
        boot = np.empty((params["n_boot"], 2))
        for b in range(params["n_boot"]):
            idx = rng.integers(0, panel.n, panel.n)
            boot[b] = gformula_point(panel.take(idx), n_draws, rng)
        diff = boot[:, 1] - boot[:, 0]
        se = float(np.std(diff, ddof=1))
        level = params["ci_level"]
        z = float(special.ndtri(0.5 + level / 2))
        p = float(2 * special.ndtr(-abs(theta) / se)) if se > 0 else float("nan")
        regime_se = boot.std(axis=0, ddof=1)
        regimes = pd.DataFrame(
            {"regime": ["never", "always"], "estimate": [never, always], "se": regime_se,
             "ci_lower": np.array([never, always]) - z * regime_se,
             "ci_upper": np.array([never, always]) + z * regime_se}
        )  # fmt: skip
        observed = pd.DataFrame(
            {"time": panel.times, "treated_share": panel.A.mean(axis=0),
             **{f"mean_{nm}": panel.L[:, :, j].mean(axis=0) for j, nm in enumerate(panel.names)}}
        )  # fmt: skip
        return Estimate(
            self.name,
            ALWAYS_VS_NEVER,
            theta,
            se,
            (theta - z * se, theta + z * se),
            p,
            level,
            n=panel.n,
            diagnostics={
                "periods": panel.periods,
                "E[Y(never)]": never,
                "E[Y(always)]": always,
                "outcome_model": "logistic"
                if panel.Y.min() >= 0 and set(np.unique(panel.Y)) <= {0.0, 1.0}
                else "linear",
                "baseline_covariates": [
                    nm for nm, b in zip(panel.names, panel.baseline, strict=True) if b
                ],
            },
            tables={"regimes": regimes, "observed_by_period": observed},
            method=f"parametric g-formula, Monte Carlo ({n_draws} draw(s) per unit and "
            f"regime), bootstrap SE ({params['n_boot']} replicates)",
        )
