"""Meta-learners of the conditional average treatment effect τ(x) = E[Y(1) − Y(0) | X=x].

With ``μ_a(x) = E[Y | T=a, X=x]``, ``e(x) = P(T=1 | X=x)`` and ``m(x) = E[Y | X=x]``:

- **S-learner**: one model ``μ(x, t)`` on ``[t, x]`` (treatment as the first feature,
  CausalML's layout); ``τ̂(x) = μ̂(x, 1) − μ̂(x, 0)``.
- **T-learner**: ``τ̂(x) = μ̂₁(x) − μ̂₀(x)``, one model per arm.
- **X-learner** (Künzel, Sekhon, Bickel & Yu 2019, PNAS 116(10):4156–4165,
  doi:10.1073/pnas.1804597116): imputed effects ``D¹ = Y − μ̂₀(X)`` on the treated and
  ``D⁰ = μ̂₁(X) − Y`` on the controls, regressed on ``X`` within each arm (``τ̂₁``,
  ``τ̂₀``) and combined as ``τ̂(x) = e(x)·τ̂₀(x) + (1 − e(x))·τ̂₁(x)``.
- **R-learner** (Nie & Wager 2021, Biometrika 108(2):299–319,
  doi:10.1093/biomet/asaa076): minimises
  ``Σ [(Y − m̂(X)) − (T − ê(X))·τ(X)]²``, i.e. a regression of
  ``(Y − m̂)/(T − ê)`` on ``X`` with weights ``(T − ê)²``.
- **DR-learner** (Kennedy 2023, Electronic Journal of Statistics 17(2):3008–3049,
  doi:10.1214/23-EJS2157): a regression of the doubly robust pseudo-outcome
  ``φ = μ̂₁ − μ̂₀ + T(Y − μ̂₁)/ê − (1 − T)(Y − μ̂₀)/(1 − ê)`` on ``X``.

The nuisances ``μ̂₀, μ̂₁, ê`` (and ``m̂``) are the shared cross-fitted ones of
:mod:`cqox.estimators.cate.nuisances`.  Unit effects of the fitted rows are
cross-fitted on the same folds (the final model that predicts row ``i`` was not fitted
on ``i``'s fold; for the T-learner they are the out-of-fold ``μ̂₁ − μ̂₀`` themselves);
predictions for new rows come from the models fitted on all rows.  A ``linear`` final
stage (DR, R) is least squares on ``[1, x]`` with a heteroskedasticity-robust (HC1)
covariance ``V``, which gives pointwise standard errors ``se(x) = sqrt(z'Vz)``,
``z = [1, x]`` (cross-fitted too for the fitted rows); the other final learners give
no pointwise interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqox.errors import EstimationError
from cqox.estimators.cate.effects import Predictor
from cqox.nuisance.crossfit import crossfit_predict
from cqox.nuisance.learners import LIGHTGBM_DEFAULTS, make_learner, predict_fitted
from cqox.nuisance.lightgbm_core import core_learner
from cqox.nuisance.ols import least_squares

#: Rounds of the weighted LightGBM final stage of the R-learner (no early stopping:
#: the validation loss of a weighted pseudo-outcome is not the R-loss on fresh rows).
R_LIGHTGBM_ROUNDS = 100

#: Meta-learner names (registry names are ``<name>_learner``).
META_LEARNERS: tuple[str, ...] = ("s", "t", "x", "r", "dr")


@dataclass(frozen=True)
class MetaFit:
    """A fitted meta-learner.

    Attributes
    ----------
    cate, se : ndarray, shape (n,)
        Cross-fitted τ̂(x_i) of the fitted rows and its pointwise SE (NaN without one).
    predict : callable
        ``predict(X_new) -> (cate, se)`` from the models fitted on all rows.
    diagnostics : dict
        Learner-specific numbers (final-stage coefficients of a linear stage, ...).
    """

    cate: np.ndarray
    se: np.ndarray
    predict: Predictor
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinearStage:
    """A least-squares final stage ``τ(x) = [1, x]'β`` with an HC1 covariance.

    Attributes
    ----------
    coef : ndarray, shape (p + 1,)
        Intercept first.
    cov : ndarray, shape (p + 1, p + 1)
        HC1 sandwich covariance of ``coef``.
    """

    coef: np.ndarray
    cov: np.ndarray

    def diagnostics(self) -> dict[str, list[float]]:
        """Coefficients and their HC1 standard errors, for the JSON."""
        se = np.sqrt(np.maximum(np.diag(self.cov), 0.0))
        return {"final_coef": self.coef.tolist(), "final_coef_se": se.tolist()}

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``τ̂(x) = z'β̂`` and ``se(x) = sqrt(z'Vz)`` with ``z = [1, x]``; shapes (m,)."""
        Z = np.column_stack([np.ones(len(X)), X])
        var = np.einsum("ij,jk,ik->i", Z, self.cov, Z)
        return Z @ self.coef, np.sqrt(np.maximum(var, 0.0))


def linear_stage(
    X: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
) -> LinearStage:
    """(Weighted) least squares of ``target`` on ``[1, X]`` with the HC1 sandwich.

    ``V = (Z'WZ)⁻¹ [Σ (w_i u_i)² z_i z_i'] (Z'WZ)⁻¹ · n/(n − k)``, ``u = target − Zβ̂``.
    """
    n = len(target)
    Z = np.column_stack([np.ones(n), X])
    w = np.ones(n) if weight is None else weight
    sw = np.sqrt(w)
    coef, _ = least_squares(Z * sw[:, None], target * sw)
    u = target - Z @ coef
    bread = np.linalg.pinv((Z * w[:, None]).T @ Z)
    s = Z * (w * u)[:, None]
    k = Z.shape[1]
    cov = bread @ (s.T @ s) @ bread * (n / max(n - k, 1))
    return LinearStage(coef, cov)


def crossfit_linear(
    X: np.ndarray, target: np.ndarray, folds: np.ndarray, weight: np.ndarray | None = None
) -> MetaFit:
    """A linear final stage, cross-fitted for the fitted rows, all rows for new ones.

    Row ``i``'s effect and SE come from the fit without its fold: an in-sample linear
    fit would correlate ``τ̂_i`` with row ``i``'s own noise, which the heterogeneity
    tests (RATE, BLP, GATES) would read as heterogeneity.
    """
    cate = np.empty(len(target))
    se = np.empty(len(target))
    for k in np.unique(folds):
        test = folds == k
        stage = linear_stage(X[~test], target[~test], None if weight is None else weight[~test])
        cate[test], se[test] = stage.predict(X[test])
    full = linear_stage(X, target, weight)
    return MetaFit(cate, se, full.predict, full.diagnostics())


class RegressionPredictor:
    """``predict(X)``: a fitted regressor's predictions (picklable, unlike a closure)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Predictions, shape (m,)."""
        return predict_fitted(self.model, X, "regression")


class ProbabilityPredictor:
    """``P(T=1 | x)`` from a fitted classifier (picklable)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Probabilities, shape (m,)."""
        return predict_fitted(self.model, X, "classification")


class NoSE:
    """A Predictor from a point predictor: standard errors NaN (no pointwise interval)."""

    def __init__(self, point: Callable[[np.ndarray], np.ndarray]) -> None:
        self.point = point

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cate, se)`` with ``se`` NaN."""
        return self.point(X), np.full(len(X), np.nan)


class SContrast:
    """S-learner contrast ``μ̂(x, 1) − μ̂(x, 0)`` of a fitted model on ``[t, x]``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Contrast, shape (m,)."""
        return _s_contrast(self.model, X)


class ArmContrast:
    """T-learner contrast ``μ̂₁(x) − μ̂₀(x)``."""

    def __init__(self, mu0: Any, mu1: Any) -> None:
        self.mu0, self.mu1 = mu0, mu1

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Contrast, shape (m,)."""
        return predict_fitted(self.mu1, X, "regression") - predict_fitted(self.mu0, X, "regression")


class XCombination:
    """X-learner ``e(x)·τ̂₀(x) + (1 − e(x))·τ̂₁(x)``."""

    def __init__(
        self,
        propensity: Callable[[np.ndarray], np.ndarray],
        tau0: Callable[[np.ndarray], np.ndarray],
        tau1: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.propensity, self.tau0, self.tau1 = propensity, tau0, tau1

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Combined effect, shape (m,)."""
        e = self.propensity(X)
        return e * self.tau0(X) + (1 - e) * self.tau1(X)


def _core(model: Any) -> Any:
    """A plain LightGBM regressor through the core API, any other learner as it is.

    The core API trains the wrapper's model bit for bit (:mod:`cqox.nuisance.lightgbm_core`).
    """
    return core_learner(model, "regression")


def _regressor(spec: Any, seed: int, weighted: bool, role: str) -> Any:
    """A fresh final-stage regressor; a weighted fit needs ``sample_weight`` support."""
    if weighted and isinstance(spec, str) and spec.startswith("lightgbm"):
        import lightgbm as lgb

        params = {**LIGHTGBM_DEFAULTS, "n_estimators": R_LIGHTGBM_ROUNDS}
        if spec == "lightgbm_linear":
            params["linear_tree"] = True
        return lgb.LGBMRegressor(**params, random_state=seed)
    return make_learner(spec, "regression", seed, role)


def _fit(model: Any, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> Any:
    if weight is None:
        return model.fit(X, y)
    from sklearn.pipeline import Pipeline

    # A Pipeline takes fit parameters per step: the weights belong to its final model
    # (scalers and other transforms before it are fitted unweighted).
    key = f"{model.steps[-1][0]}__sample_weight" if isinstance(model, Pipeline) else "sample_weight"
    try:
        return model.fit(X, y, **{key: weight})
    except TypeError:
        raise EstimationError(
            f"the final learner {type(model).__name__} does not accept sample_weight, "
            "which the R-learner's weighted loss needs; use 'linear', 'lightgbm', "
            "'random_forest' or an estimator whose fit takes sample_weight",
            details={"parameter": "final_learner"},
        ) from None


def crossfit_final(
    spec: Any,
    X: np.ndarray,
    target: np.ndarray,
    folds: np.ndarray,
    seed: int,
    rows: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, RegressionPredictor]:
    """Out-of-fold predictions of a final-stage regression and the all-rows predictor.

    ``rows`` (bool, shape (n,)) restricts training to some rows (one arm of the
    X-learner); predictions are made for every row of each held-out fold.
    """
    train_rows = np.ones(len(target), dtype=bool) if rows is None else rows
    oof = np.empty(len(target))
    for k in np.unique(folds):
        test = folds == k
        train = ~test & train_rows
        if train.sum() < 2:
            raise EstimationError(
                f"cross-fitting fold {k}: only {int(train.sum())} training rows for the "
                "final stage; use fewer folds",
                details={"parameter": "n_folds"},
            )
        model = _regressor(spec, seed + int(k), weight is not None, "final_learner")
        _fit(model, X[train], target[train], None if weight is None else weight[train])
        oof[test] = predict_fitted(model, X[test], "regression")
    full = _regressor(spec, seed + len(np.unique(folds)), weight is not None, "final_learner")
    _fit(
        full,
        X[train_rows],
        target[train_rows],
        None if weight is None else weight[train_rows],
    )
    return oof, RegressionPredictor(full)


def s_learner(
    y: np.ndarray, t: np.ndarray, X: np.ndarray, folds: np.ndarray, spec: Any, seed: int
) -> MetaFit:
    """S-learner: ``τ̂(x) = μ̂(x, 1) − μ̂(x, 0)`` from one model on ``[t, x]``."""
    Xt = np.column_stack([t, X])
    oof = np.empty(len(y))
    for k in np.unique(folds):
        test = folds == k
        model = _core(make_learner(spec, "regression", seed + int(k), "outcome_learner"))
        model.fit(Xt[~test], y[~test])
        oof[test] = _s_contrast(model, X[test])
    full = _core(make_learner(spec, "regression", seed + len(np.unique(folds)), "outcome_learner"))
    full.fit(Xt, y)
    return MetaFit(oof, np.full(len(y), np.nan), NoSE(SContrast(full)))


def _s_contrast(model: Any, X: np.ndarray) -> np.ndarray:
    one, zero = np.ones((len(X), 1)), np.zeros((len(X), 1))
    return predict_fitted(model, np.hstack([one, X]), "regression") - predict_fitted(
        model, np.hstack([zero, X]), "regression"
    )


def arm_models(
    y: np.ndarray, t: np.ndarray, X: np.ndarray, spec: Any, seed: int
) -> tuple[Any, Any]:
    """``μ̂₀`` and ``μ̂₁`` fitted on all rows of their arm."""
    mu0 = _core(make_learner(spec, "regression", seed, "outcome_learner")).fit(X[t == 0], y[t == 0])
    mu1 = _core(make_learner(spec, "regression", seed + 1, "outcome_learner")).fit(
        X[t == 1], y[t == 1]
    )
    return mu0, mu1


def t_learner(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mu0_oof: np.ndarray,
    mu1_oof: np.ndarray,
    spec: Any,
    seed: int,
) -> MetaFit:
    """T-learner: out-of-fold ``μ̂₁ − μ̂₀`` for the fitted rows, all-rows arm models for new rows."""
    mu0, mu1 = arm_models(y, t, X, spec, seed)
    return MetaFit(mu1_oof - mu0_oof, np.full(len(y), np.nan), NoSE(ArmContrast(mu0, mu1)))


def x_learner(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    e_oof: np.ndarray,
    folds: np.ndarray,
    outcome_spec: Any,
    final_spec: Any,
    propensity: Callable[[np.ndarray], np.ndarray],
    seed: int,
) -> MetaFit:
    """X-learner with all-arm first-stage models (each imputes the *other* arm only).

    ``propensity(X_new)`` gives ``e(x)`` for new rows (a model fitted on all rows);
    the fitted rows use the cross-fitted ``e_oof``.
    """
    mu0, mu1 = arm_models(y, t, X, outcome_spec, seed)
    treated = t == 1
    d = np.where(
        treated,
        y - predict_fitted(mu0, X, "regression"),
        predict_fitted(mu1, X, "regression") - y,
    )
    tau1_oof, tau1 = crossfit_final(final_spec, X, d, folds, seed + 100, rows=treated)
    tau0_oof, tau0 = crossfit_final(final_spec, X, d, folds, seed + 200, rows=~treated)
    oof = e_oof * tau0_oof + (1 - e_oof) * tau1_oof
    return MetaFit(oof, np.full(len(y), np.nan), NoSE(XCombination(propensity, tau0, tau1)))


def r_learner(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    m: np.ndarray,
    e: np.ndarray,
    folds: np.ndarray,
    final_spec: Any,
    seed: int,
) -> MetaFit:
    """R-learner: weighted regression of ``(Y − m̂)/(T − ê)`` with weights ``(T − ê)²``."""
    v = t - e
    target, weight = (y - m) / v, v**2
    if final_spec == "linear":
        return crossfit_linear(X, target, folds, weight)
    oof, full = crossfit_final(final_spec, X, target, folds, seed + 300, weight=weight)
    return MetaFit(oof, np.full(len(y), np.nan), NoSE(full))


def dr_pseudo_outcome(
    y: np.ndarray, t: np.ndarray, mu0: np.ndarray, mu1: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """``φ = μ̂₁ − μ̂₀ + T(Y − μ̂₁)/ê − (1 − T)(Y − μ̂₀)/(1 − ê)``, shape (n,)."""
    return mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)


def dr_learner(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    mu0: np.ndarray,
    mu1: np.ndarray,
    e: np.ndarray,
    folds: np.ndarray,
    final_spec: Any,
    seed: int,
) -> MetaFit:
    """DR-learner: regression of the doubly robust pseudo-outcome on ``X``."""
    phi = dr_pseudo_outcome(y, t, mu0, mu1, e)
    if final_spec == "linear":
        return crossfit_linear(X, phi, folds)
    oof, full = crossfit_final(final_spec, X, phi, folds, seed + 400)
    return MetaFit(oof, np.full(len(y), np.nan), NoSE(full))


def propensity_model(
    spec: Any, X: np.ndarray, t: np.ndarray, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``e(x)`` for new rows from a classifier fitted on all rows."""
    model = core_learner(
        make_learner(spec, "classification", seed, "propensity_learner"), "classification"
    )
    model.fit(X, t)
    return ProbabilityPredictor(model)


__all__ = [
    "META_LEARNERS",
    "LinearStage",
    "MetaFit",
    "crossfit_final",
    "crossfit_predict",
    "dr_learner",
    "dr_pseudo_outcome",
    "linear_stage",
    "propensity_model",
    "r_learner",
    "s_learner",
    "t_learner",
    "x_learner",
]
