"""Cross-fitting of the built-in linear learners from per-fold sufficient statistics.

With the ``linear``/``logistic`` learners (:mod:`cqox.nuisance.learners`) the
cross-fitted nuisances of DML need no copy of the training rows and no refit from
scratch per fold:

* **Least squares.**  One pass over the rows gives the R factor of ``[1, X, y, …]``
  on every cell (fold × treatment arm) by blocked Householder QR
  (:class:`cqox.nuisance.ols.RFactor`).  The R factor of any union of cells is the
  R factor of their factors stacked (the combination step of a tall-skinny QR;
  Demmel, Grigori, Hoemmen & Langou 2012, doi:10.1137/080731992), so the fit on the
  training folds of fold ``k`` (all rows or one arm) is a QR of a few
  ``(p + 2) × (p + 2)`` matrices, as stable as a QR of the training rows themselves.
  The outcome model of ``dml_plr`` (all rows) and those of ``dml_irm`` (one arm
  each) come from the same cells.
* **Logit.**  Every fold's logit is solved from the full-sample maximum-likelihood fit
  (which the analysis has already computed for its shared propensity), all folds in
  the same passes over the rows: one pass gives each fold's held-out information, so
  the information of fold ``k``'s training rows is the sum over the other folds
  (fold Gram = total − held-out, no pass per fold); each further pass gives the
  scores of all folds together (two ``n × (p + 1) × K`` products) for a simplified
  Newton step with that information fixed.  The start is within ``O(n^{-1/2})`` of
  each fold's estimate, so every pass gains several digits; four or five passes
  replace the four Newton steps of five folds (twenty passes, each with a Gram
  matrix).  A fold that does not settle that way gets warm-started Newton–Raphson on
  its own training rows, and without a full-sample start every fold does.  Either
  way the estimate is the same maximum-likelihood fit.  Rows are standardised block
  by block, so no standardised copy of ``X`` is made.

Fits that are rank deficient (least squares) or do not converge (logit: separation
in a training fold) fall back to the learners themselves on that fold, so the
results are those of :func:`cqox.nuisance.crossfit.crossfit_predict` in every case.

A :class:`LinearCrossfit` is shared through the analysis cache
(:func:`shared_linear_crossfit`): ``dml_plr`` and ``dml_irm`` on the same rows, folds
and learners fit each nuisance once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from cqox.errors import EstimationError
from cqox.nuisance.blocked import column_mean_sd, row_blocks
from cqox.nuisance.crossfit import CrossFitPrediction, _metric
from cqox.nuisance.glm import (
    GRAM_BLOCK,
    LL_SLACK,
    MAX_COEF,
    MAX_ITER,
    TOLERANCE,
    binary_pass,
    standardised_block,
)
from cqox.nuisance.learners import LogitLearner, OLSLearner
from cqox.nuisance.ols import QR_BLOCK, QR_RANK_TOLERANCE, RFactor, stack_r

#: Each fold's Newton stops once a step this small has been taken.  Convergence is
#: quadratic there, so the coefficients are then within about its square (1e-16) of
#: the MLE, as close as :data:`~cqox.nuisance.glm.TOLERANCE` gets ``fit_binary``, one
#: pass over the rows earlier.
FOLD_TOLERANCE = 1e-8

#: Learner names this module fits (anything else goes through ``crossfit_predict``).
LINEAR_NAMES = ("linear", "logistic")


def is_linear_learner(spec: Any, task: str) -> bool:
    """Whether ``spec`` names the built-in OLS (regression) or logit (classification)."""
    if not isinstance(spec, str):
        return False
    name = spec.lower()
    return name == "linear" or (name == "logistic" and task == "classification")


class LinearCrossfit:
    """Cross-fitted OLS and logit nuisances of one ``(X, y, d, folds)``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
        Outcome.
    d : ndarray, shape (n,)
        Treatment (0/1 for the arm cells and the logit).
    folds : ndarray of int, shape (n,)
        Fold of each row.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, d: np.ndarray, folds: np.ndarray) -> None:
        self.X, self.y, self.d, self.folds = X, y, d, folds
        self.ks = np.unique(folds)
        self.binary = bool(np.all((d == 0) | (d == 1)))
        self._cells: np.ndarray | None = None
        self._logit: CrossFitPrediction | None = None

    def matches(self, X: np.ndarray, y: np.ndarray, d: np.ndarray, folds: np.ndarray) -> bool:
        """Whether this object was built on equal arrays (identity, else values)."""
        return all(
            a is b or (a.shape == b.shape and np.array_equal(a, b))
            for a, b in ((self.folds, folds), (self.y, y), (self.d, d), (self.X, X))
        )

    # -- least squares -------------------------------------------------------------

    def _cell_factors(self) -> np.ndarray:
        """R factors of ``[1, X, y, d]`` per fold × arm, shape (K, 2, p + 3, p + 3)."""
        if self._cells is not None:
            return self._cells
        n, p = self.X.shape
        width = p + 3
        arm = (self.d == 1).astype(np.int64) if self.binary else np.zeros(n, np.int64)
        fold_pos = np.searchsorted(self.ks, self.folds)
        cell = 2 * fold_pos + arm
        order = np.argsort(cell, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=2 * len(self.ks)))])
        out = np.zeros((len(self.ks), 2, width, width))
        for c in range(2 * len(self.ks)):
            idx = order[bounds[c] : bounds[c + 1]]
            acc = RFactor(width)
            for a in range(0, len(idx), QR_BLOCK):
                rows = idx[a : a + QR_BLOCK]
                block = acc.new_block(len(rows))
                block[:, 0] = 1.0
                block[:, 1 : p + 1] = self.X[rows]
                block[:, p + 1] = self.y[rows]
                block[:, p + 2] = self.d[rows]
                acc.reduce()
            out[c // 2, c % 2] = acc.result()
        self._cells = out
        return out

    def ols(
        self, target: str, arm: int | None, role: str = "outcome_learner"
    ) -> CrossFitPrediction:
        """Cross-fitted OLS of ``y`` (``target="y"``) or ``d`` on ``[1, X]``.

        ``arm`` restricts the training rows to one treatment arm (the ``train_mask``
        ``d == arm`` of :func:`cqox.nuisance.crossfit.crossfit_predict`); predictions
        are made for every row of each test fold.
        """
        R = self._cell_factors()
        p = self.X.shape[1]
        k = p + 1
        col = k if target == "y" else k + 1
        vec = self.y if target == "y" else self.d
        arms = (0, 1) if arm is None else (arm,)
        coefs = np.empty((k, len(self.ks)))
        for j, fold in enumerate(self.ks):
            train_cells = [R[i, a] for i in range(len(self.ks)) if i != j for a in arms]
            Rs = stack_r(train_cells, R.shape[-1])
            r = Rs[:k, :k]
            diag = np.abs(np.diag(r))
            if diag.max() > 0 and diag.min() > QR_RANK_TOLERANCE * diag.max():
                coefs[:, j] = solve_triangular(r, Rs[:k, col])
            else:
                coefs[:, j] = self._fallback_ols(fold, vec, arm, role)
        pred = self._predict(coefs)
        if not np.all(np.isfinite(pred)):
            raise EstimationError(
                f"the {role} learner returned non-finite predictions",
                details={"parameter": role},
            )
        metric = np.empty(len(self.ks))
        for j, fold in enumerate(self.ks):
            held = self.folds == fold
            if arm is not None:
                held &= self.d == arm
            metric[j] = _metric(vec[held], pred[held], "regression")
        return CrossFitPrediction(pred, metric, "rmse")

    def _fallback_ols(self, fold: Any, vec: np.ndarray, arm: int | None, role: str) -> np.ndarray:
        """The learner itself on the training rows of ``fold`` (rank-deficient design)."""
        train = self.folds != fold
        if arm is not None:
            train &= self.d == arm
        if train.sum() < 2:
            raise EstimationError(
                f"cross-fitting fold {fold}: only {int(train.sum())} training rows for the "
                f"{role} model; use fewer folds",
                details={"fold": int(fold), "parameter": role},
            )
        model = OLSLearner().fit(self.X[train], vec[train])
        return np.asarray(model.coef_, dtype=np.float64)

    def _predict(self, coefs: np.ndarray) -> np.ndarray:
        """``coef_0 + X coef_1:`` of each row's own fold, shape (n,): one pass over ``X``."""
        n = self.X.shape[0]
        pos = np.searchsorted(self.ks, self.folds)
        pred = np.empty(n)
        for a in range(0, n, GRAM_BLOCK):
            rows = slice(a, min(a + GRAM_BLOCK, n))
            fitted = self.X[rows] @ coefs[1:]
            pick = pos[rows]
            pred[rows] = coefs[0, pick] + fitted[np.arange(len(pick)), pick]
        return pred

    # -- logit ---------------------------------------------------------------------

    def logit(
        self, start: np.ndarray | None, role: str = "propensity_learner"
    ) -> CrossFitPrediction:
        """Cross-fitted logit of ``d`` on ``[1, X]`` (Newton from ``start`` in each fold).

        ``start`` is the full-sample coefficient vector (intercept first, original
        scale), e.g. the analysis's propensity fit; ``None`` starts as
        :func:`cqox.nuisance.glm.fit_binary` does.
        """
        if self._logit is not None:
            return self._logit
        X, d = self.X, self.d
        p = X.shape[1]
        mean, scale = column_mean_sd(X)
        scale[scale == 0] = 1.0
        starts = []
        for fold in self.ks:
            train = self.folds != fold
            n_train = int(train.sum())
            if n_train < 2:
                raise EstimationError(
                    f"cross-fitting fold {fold}: only {n_train} training rows for the "
                    f"{role} model; use fewer folds",
                    details={"fold": int(fold), "parameter": role},
                )
            n_treated = float(d[train].sum())
            if n_treated in (0.0, float(n_train)):
                raise EstimationError(
                    f"cross-fitting fold {fold}: the training rows of the {role} model "
                    "contain one treatment arm only; use fewer folds",
                    details={"fold": int(fold), "parameter": role},
                )
            starts.append(_to_standardised(start, mean, scale, n_treated / n_train))
        fold_pos = np.searchsorted(self.ks, self.folds)
        # from a common start (the full-sample fit) all folds are solved together;
        # a fold that does not settle there gets the full Newton of its own
        shared = (
            _fold_logits_shared_information(X, d, fold_pos, len(self.ks), mean, scale, starts[0])
            if start is not None and np.all(np.isfinite(start))
            else [None] * len(self.ks)
        )
        coefs = np.empty((p + 1, len(self.ks)))
        for j, fold in enumerate(self.ks):
            fitted = shared[j]
            if fitted is None:
                train_rows = np.flatnonzero(fold_pos != j)
                fitted = _logit_newton(X, d, train_rows, mean, scale, starts[j])
            if fitted is None:
                # separation in this training fold: the learner's own fallback
                train = self.folds != fold
                model = LogitLearner().fit(X[train], d[train])
                coefs[:, j] = model.coef_
            else:
                coefs[:, j] = _to_original(fitted, mean, scale)
        eta = self._predict(coefs)
        pred = 1.0 / (1.0 + np.exp(-eta))
        if not np.all(np.isfinite(pred)):
            raise EstimationError(
                f"the {role} learner returned non-finite predictions",
                details={"parameter": role},
            )
        metric = np.array(
            [_metric(d[self.folds == f], pred[self.folds == f], "classification") for f in self.ks]
        )
        self._logit = CrossFitPrediction(pred, metric, "log_loss")
        return self._logit


def _to_standardised(
    coef: np.ndarray | None, mean: np.ndarray, scale: np.ndarray, pbar: float
) -> np.ndarray:
    """Coefficients on ``[1, (X − mean)/scale]`` from those on ``[1, X]``."""
    beta = np.zeros(len(mean) + 1)
    if coef is None or not np.all(np.isfinite(coef)):
        beta[0] = np.log(pbar / (1 - pbar))
        return beta
    beta[1:] = coef[1:] * scale
    beta[0] = coef[0] + float(np.sum(coef[1:] * mean))
    return beta


def _to_original(beta: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    return coef


#: Most passes of the simplified Newton iteration of :func:`_fold_logits_shared_information`
#: (it gains several digits a pass; a fold still moving after these gets full Newton).
MAX_SHARED_PASSES = 30
#: A fold whose step does not shrink to at most this share of the previous one is not
#: converging fast enough on the shared information: it gets full Newton instead.
MAX_CONTRACTION = 0.5


def _fold_logits_shared_information(
    X: np.ndarray,
    d: np.ndarray,
    fold_pos: np.ndarray,
    n_folds: int,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
) -> list[np.ndarray | None]:
    """Every fold's training-rows logit MLE by simplified Newton from the same start.

    ``beta`` (standardised coefficients) is the full-sample MLE.  One pass over the
    rows gives each fold's held-out information ``G_j = Σ_{i ∈ fold j} w_i z_i z_i'``
    and score at ``beta``; the training rows of fold ``j`` have the information
    ``I_j = Σ_{l ≠ j} G_l`` and the score ``Σ_{l ≠ j} g_l`` (fold Gram = total −
    held-out, without another pass).  Each further pass computes the training scores
    of all folds at once (``Z B`` and ``Z'R`` for the ``k × K`` matrix ``B`` of the
    folds' coefficients) and steps ``β_j += I_j⁻¹ s_j`` with the information fixed at
    the start (the chord method; Kelley 1995, *Iterative Methods for Linear and
    Nonlinear Equations*, §5.4).  The start is within ``O(n^{-1/2})`` of each fold's
    MLE, so the error contracts by about that factor per pass: linear convergence,
    but a pass costs two ``n × k × K`` products instead of ``K`` Gram matrices.

    A fold is solved when its step is below :data:`~cqox.nuisance.glm.TOLERANCE`
    (its error is then a small multiple of the step: ``1e-10`` against ``1e-16`` for
    the full Newton, far below what the folds' predictions can resolve).  ``None`` for
    a fold whose information is singular, whose steps stop shrinking
    (:data:`MAX_CONTRACTION`), or whose coefficients diverge: the caller solves that
    fold with full Newton.
    """
    k = len(beta)
    held_info = np.zeros((n_folds, k, k))
    held_score = np.zeros((n_folds, k))
    for rows in row_blocks(X.shape[0]):
        Z = standardised_block(X, rows, mean, scale)
        prob = np.clip(special.expit(Z @ beta), 1e-300, 1 - 1e-16)
        resid = d[rows] - prob
        root = np.sqrt(prob * (1 - prob))
        pos = fold_pos[rows]
        for j in range(n_folds):
            mine = pos == j
            Zj = Z[mine]
            held_score[j] += Zj.T @ resid[mine]
            Zj *= root[mine, None]
            held_info[j] += Zj.T @ Zj
        del Z, Zj  # before the next block is made: one block in memory
    factors: list[Any] = []
    for j in range(n_folds):
        try:
            factors.append(cho_factor(held_info.sum(axis=0) - held_info[j]))
        except np.linalg.LinAlgError:
            factors.append(None)
    B = np.repeat(beta[:, None], n_folds, axis=1)
    score = held_score.sum(axis=0)[:, None] - held_score.T
    state = ["moving" if factors[j] is not None else "failed" for j in range(n_folds)]
    last = np.full(n_folds, np.inf)
    for _ in range(MAX_SHARED_PASSES):
        for j in range(n_folds):
            if state[j] != "moving":
                continue
            step = cho_solve(factors[j], score[:, j])
            size = float(np.max(np.abs(step)))
            if not np.isfinite(size) or size > MAX_CONTRACTION * last[j]:
                state[j] = "failed"
                continue
            B[:, j] += step
            last[j] = size
            if size < TOLERANCE:
                state[j] = "solved"
        moving = [j for j in range(n_folds) if state[j] == "moving"]
        if not moving:
            break
        score[:, moving] = _training_scores(X, d, fold_pos, mean, scale, B, moving)
    out: list[np.ndarray | None] = []
    for j in range(n_folds):
        max_coef = float(np.max(np.abs(B[1:, j]), initial=0.0))
        ok = state[j] == "solved" and np.isfinite(max_coef) and max_coef <= MAX_COEF
        out.append(B[:, j].copy() if ok else None)
    return out


def _training_scores(
    X: np.ndarray,
    d: np.ndarray,
    fold_pos: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    B: np.ndarray,
    folds: list[int],
) -> np.ndarray:
    """Logit scores of the folds ``folds`` on their training rows, shape (k, len(folds)).

    One pass: ``η = Z B``, residuals ``d − p`` with each fold's held-out rows set to
    zero, and ``Z'R``.
    """
    cols = B[:, folds]
    out = np.zeros_like(cols)
    which = np.asarray(folds)
    for rows in row_blocks(X.shape[0]):
        Z = standardised_block(X, rows, mean, scale)
        prob = np.clip(special.expit(Z @ cols), 1e-300, 1 - 1e-16)
        resid = d[rows, None] - prob
        resid[fold_pos[rows, None] == which[None, :]] = 0.0
        out += Z.T @ resid
        del Z  # before the next block is made: one block in memory
    return out


def _logit_newton(
    X: np.ndarray,
    d: np.ndarray,
    rows: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
) -> np.ndarray | None:
    """Logit MLE on ``rows`` by Newton–Raphson with step halving (``None``: no MLE).

    The rule of :func:`cqox.nuisance.glm.fit_binary` (stop after a step, on
    standardised covariates, below :data:`FOLD_TOLERANCE`); diverging
    coefficients (above :data:`~cqox.nuisance.glm.MAX_COEF` per SD) mean separation.
    Each iteration is one pass over the rows: the log-likelihood of a candidate step
    and the gradient and information there are computed together.
    """
    ll, grad, info = binary_pass(X, d, mean, scale, beta, rows=rows)
    for _ in range(MAX_ITER):
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        size = 1.0
        while True:
            cand = beta + size * step
            ll_new, grad_new, info_new = binary_pass(X, d, mean, scale, cand, rows=rows)
            # relative slack: near the optimum the change in a sum over many rows is
            # below its rounding error, and each halving would cost a pass
            if ll_new >= ll - LL_SLACK * max(1.0, abs(ll)) or size < 1e-8:
                break
            size /= 2
        beta, ll, grad, info = cand, ll_new, grad_new, info_new
        if np.max(np.abs(size * step)) < FOLD_TOLERANCE:
            max_coef = float(np.max(np.abs(beta[1:]), initial=0.0))
            return beta if np.isfinite(max_coef) and max_coef <= MAX_COEF else None
    return None


def shared_linear_crossfit(
    cache: dict[Any, Any],
    X: np.ndarray,
    y: np.ndarray,
    d: np.ndarray,
    folds: np.ndarray,
) -> LinearCrossfit:
    """The :class:`LinearCrossfit` of these arrays from ``cache`` (made once per analysis).

    Estimators prepare their own copies of the rows, so a cached object is matched
    by the values of ``X``, ``y``, ``d`` and the folds (a comparison costs one read of
    ``X``, far less than one fit), never by identity alone.
    """
    entries: list[LinearCrossfit] = cache.setdefault(("linear_crossfit", X.shape), [])
    for entry in entries:
        if entry.matches(X, y, d, folds):
            return entry
    entry = LinearCrossfit(X, y, d, folds)
    entries.append(entry)
    return entry


def crossfit_linear_or_none(
    shared: LinearCrossfit | None,
    learner: Any,
    task: str,
    target: str,
    arm: int | None = None,
    start: np.ndarray | None = None,
    role: str = "learner",
) -> CrossFitPrediction | None:
    """The fast path for a built-in linear learner, else ``None`` (use ``crossfit_predict``)."""
    if shared is None or not is_linear_learner(learner, task):
        return None
    if task == "classification":
        if target != "d" or not shared.binary or arm is not None:
            return None
        return shared.logit(start, role)
    return shared.ols(target, arm, role)


__all__: Sequence[str] = (
    "LinearCrossfit",
    "crossfit_linear_or_none",
    "is_linear_learner",
    "shared_linear_crossfit",
)
