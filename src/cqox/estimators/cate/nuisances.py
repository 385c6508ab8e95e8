"""Cross-fitted nuisances shared by the CATE estimators (and with ``dml_irm``).

``μ₀(x) = E[Y | T=0, X=x]``, ``μ₁(x) = E[Y | T=1, X=x]`` and ``e(x) = P(T=1 | X=x)``
are predicted out of fold exactly as :func:`cqox.estimators.backdoor.dml.dml_irm`
predicts them for its first sample split: the same fold generator and seed stream,
the same learner seeds (:func:`split`).  They are kept in the analysis cache under
``dml_irm``'s key (with its default ``n_rep``) in the slot of its first split, so in
one analysis the meta-learners, the causal forest and ``dml_irm`` fit the nuisances
of that split once, whether or not ``dml_irm`` repeats the split; ``dml_irm`` fits
its further repetitions alone (the CATE estimators use one split: ``effects()``
returns one cross-fitted τ̂ per row).  ``E[Y | X]`` is composed as
``m(x) = e(x)·μ₁(x) + (1 − e(x))·μ₀(x)`` rather than learned a fourth time.

The split-sample RATE needs nuisances fitted within each half of the rows
(:func:`half_nuisances`); they are cached per analysis in the same way.

The cross-fitted propensities are calibrated (isotonic by default, as ``dml_irm``)
and clipped into ``[clip, 1 − clip]`` before they enter any inverse weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.core.context import Context
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.estimators.backdoor.dml import _DML_STREAM, _SEED_MAX, irm_auto_n_rep
from cqox.estimators.common import _doc, clip_param
from cqox.estimators.common import learner_param as _learner_param
from cqox.nuisance.crossfit import (
    CALIBRATION_METHODS,
    calibrate_propensity,
    crossfit_predict,
    fold_ids,
)


@dataclass(frozen=True)
class Nuisances:
    """Out-of-fold nuisance predictions of one data set.

    Attributes
    ----------
    folds : ndarray of int, shape (n,)
        Fold of each row (stratified by arm).
    seed : int
        Learner seed of the split (fold ``k`` of a nuisance uses ``seed + k``).
    mu0, mu1 : ndarray, shape (n,)
        Out-of-fold ``E[Y | T=a, X]``.
    e : ndarray, shape (n,)
        Out-of-fold propensity, calibrated and clipped into ``[clip, 1 − clip]``.
    m : ndarray, shape (n,)
        ``E[Y | X] = e·μ₁ + (1 − e)·μ₀``.
    diagnostics : dict
        Per-fold RMSE of the outcome models and log-loss of the propensity.
    """

    folds: np.ndarray
    seed: int
    mu0: np.ndarray
    mu1: np.ndarray
    e: np.ndarray
    m: np.ndarray
    diagnostics: dict[str, Any]


#: Seed streams of the split-sample RATE: the halves, then each half's folds.
_RATE_SPLIT_STREAM = 5200


def nuisance_params(default_learner: str = "lightgbm_linear") -> tuple[Param, ...]:
    """The nuisance parameters every CATE estimator shares."""
    return (
        _learner_param(
            "learner",
            default_learner,
            "name or estimator; default: linear-tree LightGBM",
        ),
        _learner_param("outcome_learner", None, "E[Y | T, X] in both arms; default: learner"),
        _learner_param("propensity_learner", None, "default: learner"),
        Param("n_folds", 5, "int", "cross-fitting folds", low=2, high=100),
        clip_param(0.01, "in every inverse weight, after calibration"),
        Param(
            "propensity_calibration",
            "isotonic",
            "choice",
            _doc("propensity_calibration", "'isotonic' or 'none'"),
            choices=CALIBRATION_METHODS,
        ),
    )


def split(n: int, n_folds: int, t: np.ndarray, ctx: Context) -> tuple[np.ndarray, int, int]:
    """The folds and learner seed of ``dml_irm``'s first sample split, and its ``n_rep``.

    ``dml_irm`` draws its ``n_rep`` fold sets one after another from one stream, then
    its learner seed (split ``r`` uses ``seed + 7919·r``); by default ``n_rep`` is
    :func:`cqox.estimators.backdoor.dml.irm_auto_n_rep` of ``n``.  Drawing the same
    fold sets here gives the same first split and seed, so the CATE estimators share
    ``dml_irm``'s first repetition (its cache slot 0) whenever ``dml_irm`` runs with
    its default ``n_rep`` — also when that default is more than one.
    """
    rng = ctx.rng(_DML_STREAM)
    n_rep = irm_auto_n_rep(n)
    folds_list = [fold_ids(n, n_folds, rng, t) for _ in range(n_rep)]
    return folds_list[0], int(rng.integers(_SEED_MAX)), n_rep


def shared_nuisances(data: CausalData, params: dict[str, Any], ctx: Context) -> Nuisances:
    """Cross-fitted ``μ₀, μ₁, e`` for ``data``, from the analysis cache when available."""
    assert data.y is not None and data.t is not None
    ml_g = pick(params, "outcome_learner")
    ml_m = pick(params, "propensity_learner")
    folds, seed, n_rep = split(data.n, params["n_folds"], data.t, ctx)
    # dml_irm's cache key (with its default n_rep): slot 0 is its first split
    key = (
        "dml_irm_nuisance",
        data.cache_key(),
        repr(ml_g),
        repr(ml_m),
        params["n_folds"],
        n_rep,
        ctx.seed,
    )
    cache: dict[int, Any] = ctx.cache.setdefault(key, {})
    return _crossfit(data.y, data.t, data.X, folds, seed, params, cache, 0)


def rate_halves(t: np.ndarray, ctx: Context) -> np.ndarray:
    """Half (0 or 1) of each row for the split-sample RATE, stratified by arm.

    Drawn from its own seed stream, so every CATE estimator of one analysis (and every
    refit under the same seed) uses the same halves.
    """
    return fold_ids(len(t), 2, ctx.rng(_RATE_SPLIT_STREAM), t)


def half_nuisances(
    data: CausalData, params: dict[str, Any], ctx: Context, halves: np.ndarray, half: int
) -> tuple[np.ndarray, Nuisances]:
    """Nuisances cross-fitted within one half only (rows ``halves == half``).

    Returns the half's row positions and its :class:`Nuisances` (arrays over those
    rows).  Nothing of the other half enters these fits: the split-sample RATE fits
    its prioritisation rule on one half with them and evaluates it on the other.
    Cached per analysis like the shared nuisances.
    """
    assert data.y is not None and data.t is not None
    rows = np.flatnonzero(halves == half)
    ml_g = pick(params, "outcome_learner")
    ml_m = pick(params, "propensity_learner")
    rng = ctx.rng(_RATE_SPLIT_STREAM + 1 + half)
    folds = fold_ids(len(rows), params["n_folds"], rng, data.t[rows])
    seed = int(rng.integers(_SEED_MAX))
    key = (
        "cate_rate_half_nuisance",
        data.cache_key(),
        repr(ml_g),
        repr(ml_m),
        params["n_folds"],
        ctx.seed,
    )
    cache: dict[int, Any] = ctx.cache.setdefault(key, {})
    nu = _crossfit(data.y[rows], data.t[rows], data.X[rows], folds, seed, params, cache, half)
    return rows, nu


def _crossfit(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    folds: np.ndarray,
    seed: int,
    params: dict[str, Any],
    cache: dict[int, Any],
    slot: int,
) -> Nuisances:
    """Out-of-fold ``μ̂₀, μ̂₁, ê`` on ``folds`` (raw fits kept in ``cache[slot]``)."""
    ml_g = pick(params, "outcome_learner")
    ml_m = pick(params, "propensity_learner")
    if slot in cache:
        g0, g1, m = cache[slot]
    else:
        g0 = crossfit_predict(ml_g, X, y, folds, "regression", seed, t == 0, "outcome_learner")
        g1 = crossfit_predict(ml_g, X, y, folds, "regression", seed, t == 1, "outcome_learner")
        m = crossfit_predict(
            ml_m, X, t, folds, "classification", seed + 1, role="propensity_learner"
        )
        cache[slot] = (g0, g1, m)
    c = params["clip"]
    e = calibrate_propensity(m.pred, t, params["propensity_calibration"])
    e = np.clip(e, c, 1 - c) if c > 0 else e
    if np.any((e <= 0) | (e >= 1)):
        from cqox.errors import EstimationError

        raise EstimationError(
            "cross-fitted propensities of exactly 0 or 1; set 'clip' > 0",
            details={"parameter": "clip"},
        )
    diagnostics = {
        "rmse_mu0": float(np.nanmean(g0.fold_metric)),
        "rmse_mu1": float(np.nanmean(g1.fold_metric)),
        "logloss_e": float(np.nanmean(m.fold_metric)),
        "propensity_min": float(e.min()),
        "propensity_max": float(e.max()),
        "n_propensity_clipped": int(np.sum((e <= c) | (e >= 1 - c))) if c > 0 else 0,
    }
    return Nuisances(folds, seed, g0.pred, g1.pred, e, e * g1.pred + (1 - e) * g0.pred, diagnostics)


def pick(params: dict[str, Any], name: str) -> Any:
    """The learner given as ``name``, else ``learner``.

    ``is None``, never ``or``: the truth value of an unfitted scikit-learn ensemble
    calls its ``__len__``, which raises before it is fitted.
    """
    spec = params.get(name)
    return params["learner"] if spec is None else spec


def learner_name(spec: Any) -> str:
    """A learner's name for the ``method`` line."""
    return spec if isinstance(spec, str) else type(spec).__name__
