"""Nuisance learners for cross-fitted estimators, selectable by name or passed in.

Names (``task`` is ``"regression"`` for outcome models, ``"classification"`` for the
propensity):

========================  ===============================  ================================
name                      regression                       classification
========================  ===============================  ================================
``linear``                OLS (QR least squares)           logit by maximum likelihood
``logistic``              (not a regression learner)       logit by maximum likelihood
``lasso``                 standardised ``LassoCV``         standardised L1 ``LogisticRegressionCV``
``random_forest``         ``RandomForestRegressor``        ``RandomForestClassifier``
``lightgbm``              LightGBM, early stopping         LightGBM, early stopping
``lightgbm_linear``       the same with linear trees       the same with linear trees
========================  ===============================  ================================

Any scikit-learn-compatible estimator may be passed instead of a name; it is always
``sklearn.base.clone``-d before fitting, so the caller's object is never fitted or
shared between folds.  A regression ensemble passed where a classifier is needed (one
``learner`` for every nuisance, the propensity included) is replaced by its classifier
twin with the same settings (:func:`classifier_twin`).  Every random learner gets an
explicit seed and one thread (``n_jobs=1`` / ``num_threads=1``), so results do not
depend on the machine.

LightGBM defaults (:data:`LIGHTGBM_DEFAULTS`) are chosen for nuisance estimation in
cross-fitting, where each fit sees ``(K−1)/K`` of the rows and speed matters: 7
leaves, learning rate 0.2, 63 histogram bins, at least 20 rows per leaf, column
subsampling 0.8, and early stopping (10 rounds of patience, at most 500 trees) on a
seeded 10% validation split of the training fold.  Small trees with a high learning
rate and early stopping spend rounds only while they reduce the held-out loss: on
the benchmark design (10,000 rows × 50 covariates) a fit takes 40–60 trees of 7
leaves where the peers' settings (200 trees of 15 leaves, rate 0.05) take 200, at a
held-out RMSE within 1% and a lower log-loss (docs/validation_backdoor_dml.md).

``lightgbm_linear`` grows *linear trees* (LightGBM's ``linear_tree``: each leaf
holds a least-squares fit on the features split on along its path; Shi, Li & Li
2019, "Gradient boosting with piece-wise linear regression trees", IJCAI 2019,
arXiv:1802.05640), otherwise the same settings.  Constant leaves approximate a
smooth trend by steps and flatten it beyond the data.  That matters in the
interactive model, where ``E[Y | T=1, X]`` is fitted on the treated and predicted
for the controls (and vice versa): it is extrapolated exactly where its arm is
sparse, the propensity is extreme and the doubly robust score weights its errors
most.  There linear leaves lower the error of the cross-fitted outcome models
(RMSE against the true regression function) by 9–23% on ``make_irm_heterogeneous``
and ``confounded_binary`` at the same cost; it is the default of ``dml_irm``
(docs/validation_backdoor_dml.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqox.errors import EstimationError, ParameterError
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.lightgbm_core import core_learner
from cqox.nuisance.ols import least_squares

LEARNER_NAMES: tuple[str, ...] = (
    "linear",
    "logistic",
    "lasso",
    "random_forest",
    "lightgbm",
    "lightgbm_linear",
)

#: LightGBM settings of the ``lightgbm`` learner (see the module docstring for why).
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 500,
    "learning_rate": 0.2,
    "num_leaves": 7,
    "max_bin": 63,
    "min_child_samples": 20,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 1,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
#: Early stopping of the ``lightgbm`` learner: validation share and patience.
LIGHTGBM_VALIDATION_SHARE = 0.1
LIGHTGBM_PATIENCE = 10
#: Below this many training rows LightGBM is fitted without a validation split
#: (a 10% split would be too small to stop on) with a fixed 100 rounds.
LIGHTGBM_MIN_ROWS_FOR_EARLY_STOPPING = 200


#: Inverse ridge penalty of the logit fallback under separation (weak: it only keeps
#: the coefficients finite).
SEPARATION_RIDGE_C = 100.0


class OLSLearner:
    """Least squares with an intercept (``fit``/``predict``), by QR (SVD if rank deficient)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> OLSLearner:
        """Fit ``y`` on ``[1, X]``."""
        Z = np.column_stack([np.ones(len(X)), X])
        self.coef_, _ = least_squares(Z, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Fitted values ``[1, X] β̂``."""
        return self.coef_[0] + X @ self.coef_[1:]


class LogitLearner:
    """Unpenalised logit by Newton–Raphson (:func:`cqox.nuisance.glm.fit_binary`)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogitLearner:
        """Maximum-likelihood logit of ``y`` (0/1) on ``X`` plus an intercept.

        A training fold can be (quasi-)separated where the full sample is not (a
        rare binary covariate); the MLE then does not exist and the fit falls back to
        a logit with a weak ridge penalty (:data:`SEPARATION_RIDGE_C` on standardised
        covariates), whose predictions stay finite.
        """
        try:
            self.coef_ = fit_binary(X, y, "logit").coef
        except EstimationError:
            from sklearn.linear_model import LogisticRegression

            mean, scale = X.mean(axis=0), X.std(axis=0)
            scale[scale == 0] = 1.0
            model = LogisticRegression(C=SEPARATION_RIDGE_C, max_iter=5000)
            model.fit((X - mean) / scale, y)
            coef = model.coef_[0] / scale
            self.coef_ = np.concatenate([[model.intercept_[0] - coef @ mean], coef])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-(self.coef_[0] + X @ self.coef_[1:])))
        return np.column_stack([1 - p, p])


class EarlyStoppedLightGBM:
    """LightGBM with early stopping on a seeded validation split of its training rows."""

    def __init__(self, task: str, seed: int, **params: Any) -> None:
        self.task = task
        self.seed = seed
        self.params = {**LIGHTGBM_DEFAULTS, **params}

    def fit(self, X: np.ndarray, y: np.ndarray) -> EarlyStoppedLightGBM:
        """Fit, stopping after :data:`LIGHTGBM_PATIENCE` rounds without a better validation loss."""
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if self.task == "classification" else lgb.LGBMRegressor
        n = len(y)
        # trained through LightGBM's core API where that is bit for bit the wrapper's
        # model (cqox.nuisance.lightgbm_core): no model text round trip per fit
        if n < LIGHTGBM_MIN_ROWS_FOR_EARLY_STOPPING:
            model = core_learner(
                cls(**{**self.params, "n_estimators": 100}, random_state=self.seed), self.task
            )
            self.model_ = model.fit(X, y)
            return self
        rng = np.random.default_rng(self.seed)
        is_val = np.zeros(n, dtype=bool)
        n_val = max(1, round(LIGHTGBM_VALIDATION_SHARE * n))
        if self.task == "classification":
            # keep both classes in the validation split
            for c in (0, 1):
                idx = np.flatnonzero(y == c)
                k = max(1, round(LIGHTGBM_VALIDATION_SHARE * len(idx)))
                is_val[rng.choice(idx, size=min(k, len(idx) - 1), replace=False)] = True
        else:
            is_val[rng.choice(n, size=n_val, replace=False)] = True
        model = core_learner(cls(**self.params, random_state=self.seed), self.task)
        model.fit(
            X[~is_val],
            y[~is_val],
            eval_set=[(X[is_val], y[is_val])],
            callbacks=[lgb.early_stopping(LIGHTGBM_PATIENCE, verbose=False)],
        )
        self.model_ = model
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions at the best iteration."""
        return np.asarray(self.model_.predict(X), dtype=np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities at the best iteration, shape (n, 2)."""
        return np.asarray(self.model_.predict_proba(X), dtype=np.float64)


#: Regression ensembles whose classifier twin stands in for them where a propensity is
#: fitted: ``learner=RandomForestRegressor(...)`` sets every nuisance of an estimator,
#: as ``learner="random_forest"`` does, and the propensity needs ``predict_proba``.
CLASSIFIER_TWINS: dict[str, tuple[str, str]] = {
    "RandomForestRegressor": ("sklearn.ensemble", "RandomForestClassifier"),
    "ExtraTreesRegressor": ("sklearn.ensemble", "ExtraTreesClassifier"),
    "GradientBoostingRegressor": ("sklearn.ensemble", "GradientBoostingClassifier"),
    "HistGradientBoostingRegressor": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
    "DecisionTreeRegressor": ("sklearn.tree", "DecisionTreeClassifier"),
    "LGBMRegressor": ("lightgbm", "LGBMClassifier"),
}
#: Parameters that name a regression loss: the twin keeps its own (log-loss) default.
_REGRESSION_LOSS_PARAMS = frozenset({"loss", "criterion", "objective", "alpha", "quantile"})


def classifier_twin(model: Any) -> Any | None:
    """The classifier of the same ensemble with the regressor's settings, or ``None``.

    Every parameter the classifier accepts is carried over (trees, depth, learning
    rate, seed, threads, …) except the regression loss (:data:`_REGRESSION_LOSS_PARAMS`).
    Only the exact classes of :data:`CLASSIFIER_TWINS` have a twin (a subclass may
    change what its parameters mean).
    """
    import importlib

    where = CLASSIFIER_TWINS.get(type(model).__name__)
    if where is None or type(model).__module__.split(".")[0] != where[0].split(".")[0]:
        return None
    cls = getattr(importlib.import_module(where[0]), where[1])
    accepted = cls().get_params(deep=False)
    settings = {
        k: v
        for k, v in model.get_params(deep=False).items()
        if k in accepted and k not in _REGRESSION_LOSS_PARAMS
    }
    return cls(**settings)


def make_learner(spec: Any, task: str, seed: int, role: str = "learner") -> Any:
    """A fresh, unfitted learner for ``task`` from a name or an estimator object.

    Parameters
    ----------
    spec : str or estimator
        A name in :data:`LEARNER_NAMES` or a scikit-learn-compatible estimator (cloned).
    task : {"regression", "classification"}
    seed : int
        Seed for learners with randomness.
    role : str
        The parameter the learner came from (for error messages).
    """
    if not isinstance(spec, str):
        if not hasattr(spec, "fit"):
            raise ParameterError(
                f"The '{role}' parameter must be one of {', '.join(LEARNER_NAMES)} or a "
                f"scikit-learn estimator. Got {spec!r} instead.",
                details={"parameter": role},
            )
        from sklearn.base import clone

        model = clone(spec)
        if task == "classification" and not hasattr(model, "predict_proba"):
            twin = classifier_twin(model)
            if twin is not None:
                return twin
            raise ParameterError(
                f"The '{role}' learner {type(spec).__name__} has no predict_proba; the "
                "propensity needs a classifier",
                details={"parameter": role},
            )
        return model
    name = spec.lower()
    if name not in LEARNER_NAMES:
        raise ParameterError(
            f"The '{role}' parameter must be one of {', '.join(LEARNER_NAMES)} or a "
            f"scikit-learn estimator. Got {spec!r} instead.",
            details={"parameter": role},
        )
    if name == "logistic" and task == "regression":
        raise ParameterError(
            f"The '{role}' parameter: 'logistic' is a classifier; the outcome model needs "
            "a regression learner ('linear', 'lasso', 'random_forest', 'lightgbm', "
            "'lightgbm_linear')",
            details={"parameter": role},
        )
    if name in ("linear", "logistic"):
        return LogitLearner() if task == "classification" else OLSLearner()
    if name == "lasso":
        from sklearn.linear_model import LassoCV, LogisticRegressionCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if task == "classification":
            return make_pipeline(
                StandardScaler(),
                LogisticRegressionCV(
                    Cs=10, l1_ratios=(1.0,), solver="liblinear", cv=5, random_state=seed
                ),
            )
        return make_pipeline(StandardScaler(), LassoCV(cv=5, random_state=seed))
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kwargs = {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 1, "random_state": seed}
        if task == "classification":
            return RandomForestClassifier(**kwargs)
        return RandomForestRegressor(max_features=0.5, **kwargs)
    if name == "lightgbm_linear":
        return EarlyStoppedLightGBM(task, seed, linear_tree=True)
    return EarlyStoppedLightGBM(task, seed)


def predict_fitted(model: Any, X: np.ndarray, task: str) -> np.ndarray:
    """Predictions of a fitted learner: means (regression) or ``P(class 1)``."""
    if task == "classification":
        proba = np.asarray(model.predict_proba(X))
        if proba.ndim != 2 or proba.shape[1] != 2:
            raise EstimationError(
                f"the propensity learner {type(model).__name__} returned probabilities of "
                f"shape {proba.shape}; a binary classifier returns (n, 2)",
                details={"learner": type(model).__name__},
            )
        return proba[:, 1].astype(np.float64)
    return np.asarray(model.predict(X), dtype=np.float64).reshape(-1)
