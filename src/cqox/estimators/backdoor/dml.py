"""Double/debiased machine learning (DML): partially linear and interactive models.

Chernozhukov, Chetverikov, Demirer, Duflo, Hansen, Newey & Robins (2018),
"Double/debiased machine learning for treatment and structural parameters",
*The Econometrics Journal* 21(1):C1–C68, doi:10.1111/ectj.12097.

**Partially linear regression (``dml_plr``)**, §4.1:
``Y = θ D + g(X) + ζ``, ``D = m(X) + V``, ``E[ζ | D, X] = 0``, ``E[V | X] = 0``.
With ``ℓ(X) = E[Y | X]`` and ``m(X) = E[D | X]`` learned by cross-fitting, the
partialling-out (Robinson 1988) score is
``ψ = (Y − ℓ̂ − θ(D − m̂))(D − m̂)``, i.e. ``ψ_a = −(D − m̂)²``,
``ψ_b = (Y − ℓ̂)(D − m̂)``.  θ is the effect of D under a constant effect; with a
binary D and heterogeneous effects it is the average of CATEs weighted by the
conditional treatment variance ``m(X)(1 − m(X))``.  D may be binary or continuous.

**Interactive regression (``dml_irm``)**, §5.1: binary D,
``Y = g(D, X) + U``, ``D = m(X) + V``, with ``g₀(X) = E[Y | D=0, X]``,
``g₁(X) = E[Y | D=1, X]``, ``m(X) = P(D=1 | X)``; the doubly robust scores for the
ATE and the ATT (DoubleML's "ATTE") are those of :func:`cqox.estimators.backdoor.aipw.dr_score`.
The cross-fitted propensities are calibrated by isotonic regression of D on them
(``propensity_calibration``, default ``"isotonic"``;
:func:`cqox.nuisance.crossfit.calibrate_propensity`, DoubleML's
``PSProcessorConfig(calibration_method="isotonic")``), then truncated to
``[clip, 1 − clip]`` (DoubleML's clipping threshold,
default 0.01).

Cross-fitting: K folds (default 5); each nuisance is predicted for a fold by a
learner fitted on the other folds (:mod:`cqox.nuisance.crossfit`).  θ̂ and its SE
come from the pooled score (DML2) through
:func:`cqox.inference.score.solve_linear_score`.  ``n_rep`` repeated sample splits are
aggregated by the median (:func:`cqox.inference.score.aggregate_repetitions`), the
paper's §3.4 remedy for the variance that one random split adds and the score SE does
not see; ``dml_irm`` repeats automatically while at most 10,000 rows are cross-fitted
in total (:func:`irm_auto_n_rep`: 5 splits up to n = 2,000, 1 from n = 10,000)
and by default takes the paper's SE over splits,
``σ̂² = median_s(σ̂_s² + (θ̂_s − θ̂)²)`` (``se_method="split_variance"``;
``"median_ci"`` is DoubleML's rule, which ``dml_plr`` uses).

Assumptions: unconfoundedness given X, overlap, and nuisance learners whose errors
shrink fast enough (product of RMSEs ``o(n^{-1/2})``).

Learners: ``learner`` sets all nuisances (names in :mod:`cqox.nuisance.learners`:
``linear`` — OLS/logit —, ``lasso``, ``random_forest``, ``lightgbm``,
``lightgbm_linear``, or any scikit-learn estimator, always cloned);
``outcome_learner`` and ``propensity_learner``/``treatment_learner`` override one
side.  The default of ``dml_plr`` is ``lightgbm`` with the fast early-stopped
settings of :data:`cqox.nuisance.learners.LIGHTGBM_DEFAULTS`; ``dml_irm`` defaults
to ``lightgbm_linear`` (the same with linear trees: its outcome models are
extrapolated into the other arm's region), isotonic propensity calibration and
repeated cross-fitting (see ``n_rep``).  Why: with step-tree LightGBM, uncalibrated
propensities and one split, ``dml_irm`` left a bias of 0.6 SD and 87% coverage on
:func:`cqox.simulate.dml.make_irm_heterogeneous` at n = 2000
(docs/validation_backdoor_dml.md).  ``dml_irm``'s ``outcome_structure="pooled"``
replaces the two per-arm outcome models ``g0``, ``g1`` by one model of ``Y`` on
``(X, T)`` predicted at ``T = 0`` and ``1`` — the nuisance structure of EconML's
``DRLearner`` — with the same doubly robust score: half the outcome fits.

Example
-------
>>> import cqox
>>> from cqox.simulate.dml import make_plr_CCDDHNR2018
>>> df, truth = make_plr_CCDDHNR2018(n=500, seed=1)
>>> est = cqox.estimate("dml_plr", df, outcome="y", treatment="d",
...                     covariates=[f"x{j}" for j in range(1, 21)], learner="linear")
>>> abs(est.estimate - truth["theta"]) < 4 * est.se
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import CqoxError, EstimationError
from cqox.estimators.backdoor.aipw import dr_score
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    _doc,
    clip_param,
    estimand_param,
    learner_param,
    n_folds_param,
    n_rep_param,
    se_method_param,
)
from cqox.estimators.registry import register
from cqox.gates.weights import common_support_gate
from cqox.inference.score import aggregate_repetitions, solve_linear_score
from cqox.nuisance.crossfit import (
    CALIBRATION_METHODS,
    DML_SPLIT_STREAM,
    SEED_MAX,
    CrossFitPrediction,
    calibrate_propensity,
    crossfit_predict,
    crossfit_predict_pooled,
    fold_ids,
)
from cqox.nuisance.linear_crossfit import (
    LinearCrossfit,
    crossfit_linear_or_none,
    is_linear_learner,
    shared_linear_crossfit,
)
from cqox.nuisance.propensity import propensity

#: Seed stream of the sample splits and learners (repetition ``r`` uses stream + r).
_DML_STREAM = DML_SPLIT_STREAM
_SEED_MAX = SEED_MAX
#: Outcome-nuisance structures of :func:`dml_irm`: one model per arm, or one pooled
#: model with the treatment as a feature.
OUTCOME_STRUCTURES: tuple[str, ...] = ("per_arm", "pooled")
POOLED_NOTE = " (pooled over arms)"


@dataclass(frozen=True)
class DMLResult:
    """A DML estimate over ``n_rep`` sample splits.

    Attributes
    ----------
    theta, se : float
        Median-aggregated estimate and standard error.
    thetas, ses : ndarray, shape (n_rep,)
        Estimate and SE of each sample split.
    influence : ndarray, shape (n,)
        ``−ψ/J`` of the split whose estimate is closest to the median.
    diagnostics : dict
        Per-fold nuisance errors (RMSE, log-loss) of every split, mean errors, and
        propensity range (IRM).
    e_hat : ndarray or None, shape (n,)
        Cross-fitted propensity of the first split (IRM, and PLR with binary D).
    """

    theta: float
    se: float
    thetas: np.ndarray
    ses: np.ndarray
    influence: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)
    e_hat: np.ndarray | None = None


#: Seed stride between repeated splits (a prime, so split seeds never coincide mod 2³¹).
_REP_SEED_STRIDE = 7919


def _seeds(folds_list: list[np.ndarray], seed: int) -> list[int]:
    return [(seed + _REP_SEED_STRIDE * r) % _SEED_MAX for r in range(len(folds_list))]


#: Rules that combine ``n_rep`` splits into one estimate and SE (both take the median
#: estimate): ``"median_ci"`` is DoubleML's (the SE read back from the median upper
#: confidence limit); ``"split_variance"`` is Chernozhukov et al. (2018, §3.4),
#: ``σ̂² = median_s(σ̂_s² + (θ̂_s − θ̂)²)``, which adds the split-to-split spread.
SE_AGGREGATIONS: tuple[str, ...] = ("split_variance", "median_ci")


def aggregate_split_variance(thetas: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """Median estimate and ``sqrt(median_s(σ̂_s² + (θ̂_s − θ̂)²))`` (paper §3.4); shapes (n_rep,)."""
    thetas = np.asarray(thetas, dtype=np.float64)
    ses = np.asarray(ses, dtype=np.float64)
    theta = float(np.median(thetas))
    return theta, float(np.sqrt(np.median(ses**2 + (thetas - theta) ** 2)))


def _aggregate(
    thetas: list[float],
    ses: list[float],
    influences: list[np.ndarray],
    diagnostics: dict[str, Any],
    e_hat: np.ndarray | None,
    se_method: str = "median_ci",
) -> DMLResult:
    th, sd = np.asarray(thetas), np.asarray(ses)
    if se_method == "split_variance":
        theta, se = aggregate_split_variance(th, sd)
    else:
        theta, se = aggregate_repetitions(th, sd)
    pick = int(np.argmin(np.abs(th - theta)))
    # The influence function of the split closest to the aggregate, rescaled so that
    # ``sqrt(Σψ²)/n`` is the aggregated SE (the Estimate contract); with one split it
    # is unchanged.  With several it carries the split variance as a scale factor.
    influence = influences[pick]
    norm = float(np.sqrt(np.sum(influence**2)) / len(influence))
    if len(th) > 1 and norm > 0 and np.isfinite(se):
        influence = influence * (se / norm)
    return DMLResult(theta, se, th, sd, influence, diagnostics, e_hat)


def dml_plr(
    y: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    folds_list: list[np.ndarray],
    ml_l: Any = "lightgbm",
    ml_m: Any = "lightgbm",
    seed: int = 0,
    linear_cache: dict[Any, Any] | None = None,
    propensity_start: np.ndarray | None = None,
) -> DMLResult:
    """Partially linear model, partialling-out score, cross-fitted on each fold set.

    ``folds_list`` holds one fold assignment (shape (n,)) per sample split.  ``ml_m``
    is used as a classifier when ``d`` is 0/1 (and ``ml_m`` is a name or has
    ``predict_proba``), as a regressor otherwise.  ``linear_cache`` (the analysis
    cache) shares the built-in linear learners' cross-fits with ``dml_irm``
    (:mod:`cqox.nuisance.linear_crossfit`); ``propensity_start`` is the full-sample
    logit their folds start from.
    """
    binary = bool(np.all((d == 0) | (d == 1)))
    # a 0/1 treatment is learned by a classifier, unless the learner given is a
    # regressor (then E[D | X] is a linear-probability-style regression, as DoubleML)
    classifier = isinstance(ml_m, str) or hasattr(ml_m, "predict_proba")
    m_task = "classification" if binary and classifier else "regression"
    thetas, ses, infs = [], [], []
    diag: dict[str, Any] = {"fold_rmse_l": [], "fold_rmse_m": []}
    e_first: np.ndarray | None = None
    for folds, s in zip(folds_list, _seeds(folds_list, seed), strict=True):
        lc = _linear(linear_cache, (ml_l, "regression"), (ml_m, m_task), X, y, d, folds)
        l_hat = _nuisance(
            crossfit_linear_or_none(lc, ml_l, "regression", "y", role="outcome_learner"),
            ml_l,
            X,
            y,
            folds,
            "regression",
            s,
            None,
            "outcome_learner",
        )
        m_hat = _nuisance(
            crossfit_linear_or_none(
                lc, ml_m, m_task, "d", start=propensity_start, role="treatment_learner"
            ),
            ml_m,
            X,
            d,
            folds,
            m_task,
            s + 1,
            None,
            "treatment_learner",
        )
        if e_first is None and binary:
            e_first = m_hat.pred
        v = d - m_hat.pred
        score = solve_linear_score(-(v**2), (y - l_hat.pred) * v)
        thetas.append(score.theta)
        ses.append(score.se)
        infs.append(score.influence)
        diag["fold_rmse_l"].append(l_hat.fold_metric.tolist())
        # RMSE of the treatment model on its own scale (also for a binary D)
        diag["fold_rmse_m"].append(
            [float(np.sqrt(np.mean(v[folds == k] ** 2))) for k in np.unique(folds)]
        )
        if m_task == "classification":
            diag.setdefault("fold_logloss_m", []).append(m_hat.fold_metric.tolist())
    diag["rmse_l"] = float(np.mean(diag["fold_rmse_l"]))
    diag["rmse_m"] = float(np.mean(diag["fold_rmse_m"]))
    return _aggregate(thetas, ses, infs, diag, e_first)


def dml_irm(
    y: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    folds_list: list[np.ndarray],
    estimand: str = "ATE",
    ml_g: Any = "lightgbm",
    ml_m: Any = "lightgbm",
    clip: float = 0.01,
    seed: int = 0,
    nuisance_cache: dict[int, Any] | None = None,
    propensity_calibration: str = "none",
    se_method: str = "median_ci",
    linear_cache: dict[Any, Any] | None = None,
    propensity_start: np.ndarray | None = None,
    outcome_structure: str = "per_arm",
) -> DMLResult:
    """Interactive regression model (ATE or ATT score), cross-fitted on each fold set.

    The nuisance predictions do not depend on the estimand, so ``nuisance_cache`` (one
    dictionary per data set, learners, folds and seed) lets the ATE and ATT runs of one
    analysis share them.  ``propensity_calibration`` (``"none"`` here, as DoubleML's
    default; the registered estimator defaults to ``"isotonic"``) is applied to the
    cross-fitted propensities of each split before truncation.  ``se_method``
    (:data:`SE_AGGREGATIONS`; ``"median_ci"`` here, as DoubleML) combines the splits.
    ``linear_cache`` and ``propensity_start`` as in :func:`dml_plr`.
    ``outcome_structure`` (:data:`OUTCOME_STRUCTURES`): ``"per_arm"`` fits ``g0`` and
    ``g1`` on each arm's training rows (DoubleML's IRM); ``"pooled"`` fits one outcome
    model on ``(X, T)`` and predicts it at ``T = 0`` and ``1`` (EconML's DRLearner; see
    :func:`cqox.nuisance.crossfit.crossfit_predict_pooled`).
    """
    if outcome_structure not in OUTCOME_STRUCTURES:
        raise ValueError(f"outcome_structure must be one of {OUTCOME_STRUCTURES}")
    thetas, ses, infs = [], [], []
    diag: dict[str, Any] = {"fold_rmse_g0": [], "fold_rmse_g1": [], "fold_logloss_m": []}
    e_first: np.ndarray | None = None
    n_trimmed = 0
    for r, (folds, s) in enumerate(zip(folds_list, _seeds(folds_list, seed), strict=True)):
        if nuisance_cache is not None and r in nuisance_cache:
            g0, g1, m = nuisance_cache[r]
        else:
            lc = _linear(
                linear_cache, (ml_g, "regression"), (ml_m, "classification"), X, y, d, folds
            )
            if outcome_structure == "pooled":
                g0, g1 = crossfit_predict_pooled(ml_g, X, y, d, folds, s, "outcome_learner")
            else:
                g0, g1 = (
                    _nuisance(
                        crossfit_linear_or_none(
                            lc, ml_g, "regression", "y", arm=a, role="outcome_learner"
                        ),
                        ml_g,
                        X,
                        y,
                        folds,
                        "regression",
                        s,
                        d == a,
                        "outcome_learner",
                    )
                    for a in (0, 1)
                )
            m = _nuisance(
                crossfit_linear_or_none(
                    lc,
                    ml_m,
                    "classification",
                    "d",
                    start=propensity_start,
                    role="propensity_learner",
                ),
                ml_m,
                X,
                d,
                folds,
                "classification",
                s + 1,
                None,
                "propensity_learner",
            )
            if nuisance_cache is not None:
                nuisance_cache[r] = (g0, g1, m)
        c = clip
        e_cal = calibrate_propensity(m.pred, d, propensity_calibration)
        e = np.clip(e_cal, c, 1 - c) if c > 0 else e_cal
        if np.any((e <= 0) | (e >= 1)):
            raise EstimationError(
                "cross-fitted propensities of exactly 0 or 1; set 'clip' > 0",
                details={"parameter": "clip"},
            )
        if e_first is None:
            e_first = e
            n_trimmed = int(np.sum(e != e_cal))
        psi_a, psi_b = dr_score(y, d, g0.pred, g1.pred, e, estimand)
        score = solve_linear_score(psi_a, psi_b)
        thetas.append(score.theta)
        ses.append(score.se)
        infs.append(score.influence)
        diag["fold_rmse_g0"].append(g0.fold_metric.tolist())
        diag["fold_rmse_g1"].append(g1.fold_metric.tolist())
        diag["fold_logloss_m"].append(m.fold_metric.tolist())
        diag.setdefault("logloss_m_calibrated", []).append(_log_loss(d, e))
    diag["rmse_g0"] = float(np.mean(diag["fold_rmse_g0"]))
    diag["rmse_g1"] = float(np.mean(diag["fold_rmse_g1"]))
    diag["logloss_m"] = float(np.mean(diag["fold_logloss_m"]))
    diag["n_propensity_trimmed"] = n_trimmed
    diag["propensity_calibration"] = propensity_calibration
    return _aggregate(thetas, ses, infs, diag, e_first, se_method)


def _linear(
    cache: dict[Any, Any] | None,
    outcome: tuple[Any, str],
    treatment: tuple[Any, str],
    X: np.ndarray,
    y: np.ndarray,
    d: np.ndarray,
    folds: np.ndarray,
) -> LinearCrossfit | None:
    """The shared linear cross-fit when a nuisance uses a built-in linear learner."""
    if cache is None or not (is_linear_learner(*outcome) or is_linear_learner(*treatment)):
        return None
    return shared_linear_crossfit(cache, X, y, d, folds)


def _nuisance(
    fast: CrossFitPrediction | None,
    learner: Any,
    X: np.ndarray,
    target: np.ndarray,
    folds: np.ndarray,
    task: str,
    seed: int,
    train_mask: np.ndarray | None,
    role: str,
) -> CrossFitPrediction:
    """``fast`` when the linear path applied, else the learner cross-fitted fold by fold."""
    if fast is not None:
        return fast
    return crossfit_predict(learner, X, target, folds, task, seed, train_mask, role=role)


def _propensity_start(data: CausalData, ctx: Context, learner: Any) -> np.ndarray | None:
    """The analysis's full-sample logit (shared), where the folds' logits start from."""
    if not is_linear_learner(learner, "classification") or data.t is None:
        return None
    if not bool(np.all((data.t == 0) | (data.t == 1))) or data.X.shape[1] == 0:
        return None
    try:
        fit = propensity(data, ctx)
    except (CqoxError, ValueError, np.linalg.LinAlgError):
        return None
    return fit.coef if fit.penalty == "none" else None


def _log_loss(d: np.ndarray, e: np.ndarray) -> float:
    """Log-loss of the (calibrated, truncated) propensities used in the score."""
    return float(-np.mean(d * np.log(e) + (1 - d) * np.log(1 - e)))


def _learner_for(params: dict[str, Any], role: str) -> Any:
    """The learner of ``role``, else ``learner``.

    ``is None``, never truthiness: a scikit-learn ensemble defines ``__len__``, which
    raises before it is fitted.
    """
    chosen = params[role]
    return params["learner"] if chosen is None else chosen


_COMMON_PARAMS = (
    learner_param("learner", "lightgbm", "a name or an estimator"),
    learner_param("outcome_learner", None, "default: learner"),
    n_folds_param(5),
    n_rep_param(1, "median aggregation"),
)

#: ``dml_irm`` repeats the sample split (median rule) while the rows cross-fitted in
#: total stay within this budget: ``n_rep = clip(IRM_REP_ROW_BUDGET // n, 1,
#: IRM_MAX_AUTO_REP)``.  Repetition matters most in small samples, where it is cheap;
#: from 10,000 rows on one split is kept, so large runs are not slower (measured with
#: 10 covariates: 0.55 s at n = 1,000, 0.76 s at n = 2,000, 0.42 s at n = 10,000).
IRM_REP_ROW_BUDGET = 10_000
#: At most this many automatic repetitions (Chernozhukov et al. 2018, §3.4, use 100
#: for their tables; five already remove most of the split-to-split variance here).
IRM_MAX_AUTO_REP = 5


def irm_auto_n_rep(n: int) -> int:
    """Repeated splits of ``dml_irm`` when ``n_rep`` is not given (see IRM_REP_ROW_BUDGET)."""
    return int(min(IRM_MAX_AUTO_REP, max(1, IRM_REP_ROW_BUDGET // max(n, 1))))


def _folds(
    n: int, params: dict[str, Any], ctx: Context, strata: np.ndarray | None
) -> tuple[list[np.ndarray], int]:
    rng = ctx.rng(_DML_STREAM)
    n_rep = params["n_rep"] if params["n_rep"] is not None else irm_auto_n_rep(n)
    folds_list = [fold_ids(n, params["n_folds"], rng, strata) for _ in range(n_rep)]
    return folds_list, int(rng.integers(_SEED_MAX))


def _name(spec: Any) -> str:
    return spec if isinstance(spec, str) else type(spec).__name__


def _two_valued(df: pd.DataFrame, roles: Roles) -> bool:
    col = roles.treatment
    return col is not None and col in df.columns and df[col].dropna().nunique() == 2


@register
class DMLPLR(Estimator):
    """Double ML, partially linear regression (partialling-out score)."""

    example = Example(
        "make_plr_CCDDHNR2018",
        {"n": 300, "p": 5, "seed": 1},
        {"outcome": "y", "treatment": "d", "covariates": ["x1", "x2", "x3", "x4", "x5"]},
        {"learner": "linear"},
    )
    name = "dml_plr"
    family = "dml"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE",)
    default_estimands = ("ATE",)
    binary_treatment = False
    summary_line = "Double ML, partially linear model (partialling out), cross-fitted, score SE"
    parameters = (
        *_COMMON_PARAMS,
        learner_param("treatment_learner", None, "classifier if D is 0/1; default: learner"),
        CI_LEVEL,
    )

    @classmethod
    def prepare_key(cls, df: pd.DataFrame, roles: Roles) -> tuple[Any, ...]:
        """With a two-valued treatment, the preparation every binary-treatment estimator shares."""
        if _two_valued(df, roles):
            return (Estimator.prepare, cls.requires, True)
        return (cls.prepare, cls.requires, False)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """A two-valued treatment is coded 0/1; any other numeric treatment is kept."""
        binary = _two_valued(df, roles)
        return prepare(df, roles, require=self.requires, binary_treatment=binary)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        d = data.t
        binary = bool(np.all((d == 0) | (d == 1)))
        folds_list, seed = _folds(data.n, params, ctx, d if binary else None)
        ml_l = _learner_for(params, "outcome_learner")
        ml_m = _learner_for(params, "treatment_learner")
        res = dml_plr(
            data.y,
            d,
            data.X,
            folds_list,
            ml_l,
            ml_m,
            seed,
            linear_cache=ctx.cache,
            propensity_start=_propensity_start(data, ctx, ml_m),
        )
        gates = [common_support_gate(res.e_hat, d, ctx)] if res.e_hat is not None else []
        return Estimate.from_se(
            self.name,
            "ATE",
            res.theta,
            res.se,
            params["ci_level"],
            n=data.n,
            n_treated=int(d.sum()) if binary else None,
            n_control=int(data.n - d.sum()) if binary else None,
            diagnostics={
                **res.diagnostics,
                "thetas": res.thetas.tolist(),
                "ses": res.ses.tolist(),
                "treatment": "binary" if binary else "continuous",
            },
            gates=gates,
            influence=res.influence,
            method=f"DML partially linear (partialling out), {params['n_folds']}-fold "
            f"cross-fitting × {params['n_rep']}, outcome {_name(ml_l)}, treatment "
            f"{_name(ml_m)}; score SE",
        )


@register
class DMLIRM(Estimator):
    """Double ML, interactive regression model (doubly robust ATE/ATT score)."""

    example = Example(
        "make_irm_heterogeneous",
        {"n": 400, "p": 5, "seed": 1},
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3", "x4", "x5"]},
        {"learner": "linear", "n_rep": 1},
    )
    name = "dml_irm"
    family = "dml"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT")
    default_estimands = ("ATE", "ATT")
    summary_line = "Double ML, interactive model (doubly robust ATE/ATT score), cross-fitted"
    parameters = (
        estimand_param(("ATE", "ATT"), "ATE"),
        learner_param("learner", "lightgbm_linear", "default: linear-tree LightGBM"),
        learner_param("outcome_learner", None, "default: learner"),
        n_folds_param(5),
        n_rep_param(
            None,
            "median aggregation; default (None): clip(10000 // n, 1, 5), at most 10,000 rows "
            "cross-fitted in total",
        ),
        learner_param("propensity_learner", None, "default: learner"),
        clip_param(0.01, "after calibration", aliases=("trimming_threshold",)),
        Param(
            "propensity_calibration",
            "isotonic",
            "choice",
            _doc(
                "propensity_calibration",
                "'isotonic' (monotone regression of T on them) or 'none'",
            ),
            choices=CALIBRATION_METHODS,
        ),
        se_method_param(
            SE_AGGREGATIONS, "split_variance", "over repeated splits", aliases=("se_aggregation",)
        ),
        Param(
            "outcome_structure",
            "per_arm",
            "choice",
            "'per_arm': one outcome model per treatment arm (DoubleML's IRM); 'pooled': one "
            "outcome model on (X, T), predicted at T = 0 and 1 (EconML's DRLearner), half "
            "the outcome fits",
            choices=OUTCOME_STRUCTURES,
        ),
        CI_LEVEL,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        t = data.t
        structure = params["outcome_structure"]
        folds_list, seed = _folds(data.n, params, ctx, t)
        n_rep = len(folds_list)
        ml_g = _learner_for(params, "outcome_learner")
        ml_m = _learner_for(params, "propensity_learner")
        res = dml_irm(
            data.y,
            t,
            data.X,
            folds_list,
            params["estimand"],
            ml_g,
            ml_m,
            params["clip"],
            seed,
            nuisance_cache=ctx.cache.setdefault(
                (
                    # the per-arm key is the one the CATE estimators share
                    "dml_irm_nuisance" + ("" if structure == "per_arm" else "_" + structure),
                    data.cache_key(),
                    repr(ml_g),
                    repr(ml_m),
                    params["n_folds"],
                    n_rep,
                    ctx.seed,
                ),
                {},
            ),
            propensity_calibration=params["propensity_calibration"],
            se_method=params["se_method"],
            linear_cache=ctx.cache,
            propensity_start=_propensity_start(data, ctx, ml_m),
            outcome_structure=structure,
        )
        assert res.e_hat is not None
        return Estimate.from_se(
            self.name,
            params["estimand"],
            res.theta,
            res.se,
            params["ci_level"],
            n=data.n,
            n_treated=int(t.sum()),
            n_control=int(data.n - t.sum()),
            counts={"n_propensity_trimmed": res.diagnostics["n_propensity_trimmed"]},
            diagnostics={
                **res.diagnostics,
                "thetas": res.thetas.tolist(),
                "ses": res.ses.tolist(),
                "propensity_min": float(res.e_hat.min()),
                "propensity_max": float(res.e_hat.max()),
            },
            gates=[common_support_gate(res.e_hat, t, ctx)],
            influence=res.influence,
            method=f"DML interactive model ({params['estimand']} score), "
            f"{params['n_folds']}-fold cross-fitting × {n_rep}, outcome "
            f"{_name(ml_g)}{POOLED_NOTE if structure == 'pooled' else ''}, propensity "
            f"{_name(ml_m)} ({params['propensity_calibration']} calibration); score SE",
        )
