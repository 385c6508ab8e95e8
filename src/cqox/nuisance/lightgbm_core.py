"""A LightGBM scikit-learn estimator fitted through LightGBM's core API, bit for bit.

Cross-fitting fits a caller's ``LGBMRegressor``/``LGBMClassifier`` once per fold and
nuisance (15 fits for ``dml_irm`` with 5 folds).  Around the C++ tree growth the
scikit-learn wrapper spends, per fit: its own input validation, the parameter
processing, and — because ``LGBMModel.fit`` calls ``lightgbm.train`` with
``keep_training_booster=False`` — a round trip of the whole model through its text
form (``model_to_string`` then ``model_from_string``), plus, per predict, the
validation and parameter processing again.  Measured on the peer benchmark's design
(50 covariates, 200 trees of 15 leaves, one thread): 7% of an arm's fit at 1,000 rows.

:class:`CoreLightGBM` trains the very same model — the parameters the wrapper itself
derives (its ``_process_params(stage="fit")``, on a fresh clone, so the caller's object
is never touched), the same ``Dataset`` and number of rounds — with
``lightgbm.train(..., keep_training_booster=True)`` and predicts with that booster.
LightGBM writes every threshold and leaf value at full precision, so the round trip
it skips changes no bit: the predictions are those of ``clone(spec).fit(X, y)``
exactly (tests/unit/test_lightgbm_core.py checks this for both classes).  With an
``eval_set`` and an early-stopping callback (the ``lightgbm`` and ``lightgbm_linear``
learners, :class:`cqox.nuisance.learners.EarlyStoppedLightGBM`) the validation
``Dataset`` is built as the wrapper builds it and predictions stop at the booster's
best iteration, the trees the wrapper's round trip keeps: again the same bits, and
10% less CPU time for ``dml_irm`` at its defaults on 1,000 rows (75 fits; 3% at
10,000 rows, where the tree growth dominates).  Anything
outside the plain case — another class or a subclass, a callable objective, class
weights, a multiclass or non-0/1 target, non-float64 features — goes through the
scikit-learn wrapper unchanged.  The data checks the wrapper does (finite target, at
least two rows, a classification target) are done before any fit by the data
preparation and the cross-fitting itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The exact LightGBM classes fitted through the core API (a subclass may change
#: what fitting means).
CORE_CLASSES: tuple[str, ...] = ("LGBMRegressor", "LGBMClassifier")


def is_core_eligible(model: Any) -> bool:
    """Whether ``model`` is a plain LightGBM regressor/classifier this module can fit."""
    cls = type(model)
    if cls.__name__ not in CORE_CLASSES or cls.__module__.split(".")[0] != "lightgbm":
        return False
    if callable(getattr(model, "objective", None)) or getattr(model, "class_weight", 0) is not None:
        return False
    return hasattr(model, "_process_params")


class CoreLightGBM:
    """``model`` (a fresh clone, owned by this object) fitted as its ``fit`` would, faster.

    Parameters
    ----------
    model : LGBMRegressor or LGBMClassifier
        An unfitted clone; :func:`is_core_eligible` must hold.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.booster_: Any = None
        self.num_threads_ = 1

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: list[tuple[np.ndarray, np.ndarray]] | None = None,
        callbacks: list[Any] | None = None,
    ) -> CoreLightGBM:
        """Train the booster on ``(X, y)``; the wrapper's own ``fit`` outside the plain case.

        ``eval_set`` and ``callbacks`` as ``LGBMModel.fit`` (e.g. early stopping on a
        validation split): the validation sets are built as the wrapper builds them,
        and predictions use the booster's best iteration, as the wrapper's do.
        """
        plain = self._plain(X, y) and all(
            self._plain(Xv, yv, train=False) for Xv, yv in eval_set or []
        )
        if not plain:
            self.model.fit(X, y, eval_set=eval_set, callbacks=callbacks)
            return self
        import lightgbm as lgb

        # the parameters LGBMModel.fit passes to Dataset and train (no eval_metric given)
        params = self.model._process_params(stage="fit")
        if callable(params.get("objective")):
            self.model.fit(X, y, eval_set=eval_set, callbacks=callbacks)
            return self
        metric = params["metric"]
        metric = [metric] if isinstance(metric, (str, type(None))) else list(metric)
        params["metric"] = [m for m in metric if m is not None]
        train_set = lgb.Dataset(X, label=y, params=params)
        valid_sets = [
            lgb.Dataset(Xv, label=yv, categorical_feature="auto", params=params)
            for Xv, yv in eval_set or []
        ]
        self.booster_ = lgb.train(
            params,
            train_set,
            num_boost_round=self.model.n_estimators,
            valid_sets=valid_sets,
            callbacks=list(callbacks or []),
            keep_training_booster=True,
        )
        self.booster_.free_dataset()
        self.num_threads_ = int(params["num_threads"])
        return self

    def _plain(self, X: np.ndarray, y: np.ndarray, train: bool = True) -> bool:
        if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
            return False
        if type(self.model).__name__ == "LGBMClassifier":
            # labels 0 and 1 are their own label encoding: the binary objective's target
            binary = bool(np.all((y == 0) | (y == 1)))
            return binary and (not train or bool(0 < np.count_nonzero(y) < len(y)))
        return True

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions (regression) of the fitted model."""
        if self.booster_ is None:
            return np.asarray(self.model.predict(X))
        return np.asarray(self.booster_.predict(X, num_threads=self.num_threads_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, 2), as ``LGBMClassifier.predict_proba``."""
        if self.booster_ is None:
            return np.asarray(self.model.predict_proba(X))
        p = np.asarray(self.booster_.predict(X, num_threads=self.num_threads_))
        return np.vstack((1.0 - p, p)).transpose()


def core_learner(model: Any, task: str) -> Any:
    """``model`` wrapped in :class:`CoreLightGBM` where that is exact, else ``model`` itself.

    Only a regressor for ``"regression"`` and a classifier for ``"classification"``
    (a classifier asked for a regression would predict labels, which the wrapper keeps).
    """
    want = "LGBMClassifier" if task == "classification" else "LGBMRegressor"
    if type(model).__name__ == want and is_core_eligible(model):
        return CoreLightGBM(model)
    return model
