"""K-fold cross-fitting: out-of-fold nuisance predictions with per-fold diagnostics.

Each row's nuisance prediction comes from a learner fitted on the other ``K − 1``
folds (Chernozhukov et al. 2018, doi:10.1111/ectj.12097, Definition 3.1), so the
orthogonal score is evaluated at predictions that are independent of the row's own
noise.  Folds are drawn from a seeded generator; with a binary treatment they are
stratified by arm so that every training fold contains both arms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.compute.executor import current
from cqox.errors import EstimationError
from cqox.nuisance.learners import make_learner, predict_fitted
from cqox.nuisance.lightgbm_core import core_learner

#: Probabilities are bounded away from 0 and 1 by this much when computing log-loss.
_LOGLOSS_EPS = 1e-15


#: Seed stream of the sample splits of the DML estimators (``Context.rng``), and the
#: bound of the learners' seed drawn after them: here, so that the out-of-core DML
#: (:mod:`cqox.compute.outofcore`) draws the very same folds.
DML_SPLIT_STREAM = 1000
SEED_MAX = 2**31 - 1


def fold_ids(
    n: int, n_folds: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> np.ndarray:
    """Random fold assignment, shape (n,), values ``0 … n_folds−1``.

    Rows are shuffled (within each stratum, if given) and dealt to folds in turn, so
    fold sizes differ by at most one per stratum.
    """
    folds = np.empty(n, dtype=np.int64)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in (0, 1)]
    offset = 0
    for idx in groups:
        perm = rng.permutation(idx)
        folds[perm] = (np.arange(len(perm)) + offset) % n_folds
        offset += len(perm)
    return folds


def folds_to_splits(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_idx, test_idx), …]`` per fold (DoubleML's ``set_sample_splitting`` form)."""
    ks = np.unique(folds)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in ks]


@dataclass(frozen=True)
class CrossFitPrediction:
    """Out-of-fold predictions of one nuisance function.

    Attributes
    ----------
    pred : ndarray, shape (n,)
        Prediction for every row from the learner not trained on its fold.
    fold_metric : ndarray, shape (K,)
        Per-fold held-out error: RMSE (regression) or log-loss (classification), on
        the test rows that belong to the training population (``train_mask``).
    metric : str
        ``"rmse"`` or ``"log_loss"``.
    """

    pred: np.ndarray
    fold_metric: np.ndarray
    metric: str


@dataclass(frozen=True)
class _FoldFit:
    """Fit the learner on every fold but ``k`` and predict fold ``k`` (a picklable task)."""

    learner: Any
    X: np.ndarray
    target: np.ndarray
    folds: np.ndarray
    task: str
    seed: int
    train_mask: np.ndarray | None
    role: str

    def __call__(self, k: int) -> tuple[np.ndarray, float]:
        """Fold ``k``'s predictions and held-out error (RMSE or log-loss)."""
        X, target, task, role, train_mask = (
            self.X,
            self.target,
            self.task,
            self.role,
            self.train_mask,
        )
        test = self.folds == k
        train = ~test if train_mask is None else (~test & train_mask)
        if train.sum() < 2:
            raise EstimationError(
                f"cross-fitting fold {k}: only {int(train.sum())} training rows for the "
                f"{role} model; use fewer folds",
                details={"fold": k, "parameter": role},
            )
        if task == "classification" and len(np.unique(target[train])) < 2:
            raise EstimationError(
                f"cross-fitting fold {k}: the training rows of the {role} model contain "
                "one treatment arm only; use fewer folds",
                details={"fold": k, "parameter": role},
            )
        # a plain LightGBM estimator is trained through LightGBM's core API: the same
        # model bit for bit, without the wrapper's overhead (cqox.nuisance.lightgbm_core)
        model = core_learner(make_learner(self.learner, task, self.seed + k, role), task)
        model.fit(X[train], target[train])
        fold_pred = predict_fitted(model, X[test], task)
        if not np.all(np.isfinite(fold_pred)):
            raise EstimationError(
                f"the {role} learner returned non-finite predictions in fold {k}",
                details={"fold": k, "parameter": role},
            )
        held = test[test] if train_mask is None else train_mask[test]
        return fold_pred, _metric(target[test][held], fold_pred[held], task)


def crossfit_predict(
    learner: Any,
    X: np.ndarray,
    target: np.ndarray,
    folds: np.ndarray,
    task: str,
    seed: int,
    train_mask: np.ndarray | None = None,
    role: str = "learner",
) -> CrossFitPrediction:
    """Cross-fitted predictions of ``E[target | X]`` (or ``P(target = 1 | X)``).

    Parameters
    ----------
    learner : str or estimator
        Learner name or scikit-learn estimator (cloned for every fold).
    X : ndarray, shape (n, p)
    target : ndarray, shape (n,)
    folds : ndarray, shape (n,)
        Fold of each row.
    task : {"regression", "classification"}
    seed : int
        Seed of the learners (fold ``k`` uses ``seed + k``).
    train_mask : ndarray of bool, shape (n,), optional
        Fit only on training rows where this is true (e.g. one treatment arm for
        ``E[Y | T=a, X]``); predictions are made for every test row.
    role : str
        Parameter name of the learner, for error messages.
    """
    n = len(target)
    pred = np.empty(n)
    ks = [int(k) for k in np.unique(folds)]

    fit_fold = _FoldFit(learner, X, target, folds, task, seed, train_mask, role)
    # the folds are independent fits (fold k's learner seeded with seed + k): with an
    # executor in force they run on it — process pool or Dask — with the same numbers
    executor = current()
    fitted = [fit_fold(k) for k in ks] if executor is None else executor.map(fit_fold, ks)
    metric = np.empty(len(ks))
    for j, (k, (fold_pred, fold_metric)) in enumerate(zip(ks, fitted, strict=True)):
        pred[folds == k] = fold_pred
        metric[j] = fold_metric
    return CrossFitPrediction(pred, metric, "log_loss" if task == "classification" else "rmse")


@dataclass(frozen=True)
class _PooledFoldFit:
    """Fit one outcome model on ``[X, d]`` off fold ``k``; predict fold ``k`` at d = 0 and 1."""

    learner: Any
    X: np.ndarray
    y: np.ndarray
    d: np.ndarray
    folds: np.ndarray
    seed: int
    role: str

    def __call__(self, k: int) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Fold ``k``'s predictions at d = 0 and d = 1 and their held-out RMSE per arm."""
        test = self.folds == k
        train = ~test
        if train.sum() < 2:
            raise EstimationError(
                f"cross-fitting fold {k}: only {int(train.sum())} training rows for the "
                f"{self.role} model; use fewer folds",
                details={"fold": k, "parameter": self.role},
            )
        model = core_learner(
            make_learner(self.learner, "regression", self.seed + k, self.role), "regression"
        )
        # the treatment is the last feature, as in EconML's DRLearner
        model.fit(np.column_stack([self.X[train], self.d[train]]), self.y[train])
        X_test = self.X[test]
        at = np.empty((len(X_test), X_test.shape[1] + 1))
        at[:, :-1] = X_test
        preds = []
        for a in (0.0, 1.0):
            at[:, -1] = a
            pred = predict_fitted(model, at, "regression")
            if not np.all(np.isfinite(pred)):
                raise EstimationError(
                    f"the {self.role} learner returned non-finite predictions in fold {k}",
                    details={"fold": k, "parameter": self.role},
                )
            preds.append(pred)
        d_test, y_test = self.d[test], self.y[test]
        arm0, arm1 = d_test == 0, d_test == 1
        return (
            preds[0],
            preds[1],
            _metric(y_test[arm0], preds[0][arm0], "regression"),
            _metric(y_test[arm1], preds[1][arm1], "regression"),
        )


def crossfit_predict_pooled(
    learner: Any,
    X: np.ndarray,
    y: np.ndarray,
    d: np.ndarray,
    folds: np.ndarray,
    seed: int,
    role: str = "outcome_learner",
) -> tuple[CrossFitPrediction, CrossFitPrediction]:
    """Cross-fitted ``E[Y | T=0, X]`` and ``E[Y | T=1, X]`` from one pooled outcome model.

    One learner per fold is fitted on all training rows with the binary treatment as
    the last feature and predicted at ``T = 0`` and ``T = 1`` — the outcome nuisance of
    EconML's ``DRLearner`` (``model_regression``; Kennedy 2023,
    doi:10.1214/23-EJS2157) — instead of one learner per arm.  Half the fits; the arms
    share what they have in common, at the cost of whatever interaction of ``T`` with
    ``X`` the learner does not find.  Fold ``k``'s learner is seeded with ``seed + k``.
    The fold metrics are the held-out RMSE of each arm's prediction on that arm's rows.
    """
    n = len(y)
    pred0, pred1 = np.empty(n), np.empty(n)
    ks = [int(k) for k in np.unique(folds)]
    fit_fold = _PooledFoldFit(learner, X, y, d, folds, seed, role)
    executor = current()
    fitted = [fit_fold(k) for k in ks] if executor is None else executor.map(fit_fold, ks)
    m0, m1 = np.empty(len(ks)), np.empty(len(ks))
    for j, (k, (p0, p1, r0, r1)) in enumerate(zip(ks, fitted, strict=True)):
        rows = folds == k
        pred0[rows], pred1[rows] = p0, p1
        m0[j], m1[j] = r0, r1
    return CrossFitPrediction(pred0, m0, "rmse"), CrossFitPrediction(pred1, m1, "rmse")


def _metric(y: np.ndarray, p: np.ndarray, task: str) -> float:
    if len(y) == 0:
        return float("nan")
    if task == "classification":
        q = np.clip(p, _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    return float(np.sqrt(np.mean((y - p) ** 2)))


#: Propensity calibration methods of :func:`calibrate_propensity`.
CALIBRATION_METHODS: tuple[str, ...] = ("isotonic", "none")


def calibrate_propensity(e_hat: np.ndarray, t: np.ndarray, method: str = "isotonic") -> np.ndarray:
    """Calibrated cross-fitted propensities, shape (n,).

    ``"isotonic"``: the monotone (non-decreasing) regression of ``T`` on the
    cross-fitted ``ê`` (pool-adjacent-violators, values in ``[0, 1]``, predictions
    interpolated), so that among rows with similar ``ê`` the treated share equals the
    calibrated score.  A flexible classifier's out-of-fold probabilities are shrunk
    toward the middle where it has few rows (its leaves pool them with rows of the
    other arm), which leaves the inverse-probability correction of the doubly robust
    score too weak exactly where outcome errors are largest; isotonic calibration
    removes that miscalibration without changing the ranking (Ballinari & Bearth
    2024, "Improving the finite sample estimation of average treatment effects using
    double/debiased machine learning with propensity score calibration",
    arXiv:2409.04874; a weight-tailored isotonic variant: van der Laan, Lin, Carone
    & Luedtke 2024, arXiv:2411.06342).  It is DoubleML's
    ``PSProcessorConfig(calibration_method="isotonic")`` (fitted on all out-of-fold
    scores), applied before clipping.  ``"none"`` returns ``e_hat``.
    """
    if method == "none":
        return e_hat
    if method != "isotonic":
        raise ValueError(f"unknown calibration method {method!r}; use one of {CALIBRATION_METHODS}")
    # scikit-learn's IsotonicRegression, reimplemented bit for bit without importing it
    from cqox.nuisance.isotonic import isotonic_fit_predict

    return isotonic_fit_predict(e_hat, t)
