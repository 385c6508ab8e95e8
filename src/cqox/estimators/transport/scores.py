"""Transporting a trial's effect to a target population: the three estimating equations.

Data: ``n`` rows of a trial (``S = 1``: covariates ``X``, treatment ``A``, outcome
``Y``) and a target sample (``S = 0``: covariates only).  Under conditional
exchangeability in the trial, exchangeability of the samples given ``X``
(``Y^a ⊥ S | X``) and positivity of both, the potential-outcome mean in the target

    ψ(a) = E[Y^a | S = 0] = E[ E[Y | X, S = 1, A = a] | S = 0 ]

is identified (Dahabreh, Robertson, Steingrimsson, Stuart & Hernán 2020,
doi:10.1002/sim.8426; for the whole population ``E[Y^a]``, trial and target
together, Dahabreh, Robertson, Tchetgen Tchetgen, Stuart & Hernán 2019,
doi:10.1111/biom.13716).  With ``p(X) = P(S = 1 | X)`` (logistic, on every row),
``e_a(X) = P(A = a | X, S = 1)`` (logistic, in the trial), ``g_a(X) =
E[Y | X, S = 1, A = a]`` (least squares in trial arm ``a``), the target indicator
``R`` (``1 − S``; ``1`` for the whole population) and the weight

    w_a = S · 1{A = a} · v(X) / e_a(X),   v = (1 − p)/p  (target S = 0),  1/p  (all),

the estimators are

* outcome-model standardization  ``ψ̂_om(a) = Σ R ĝ_a(X) / Σ R``;
* inverse odds of sampling weighting ``ψ̂_w(a) = Σ ŵ_a Y / Σ ŵ_a`` (normalised);
* doubly robust ``ψ̂_dr(a) = ψ̂_om(a) + Σ ŵ_a (Y − ĝ_a(X)) / Σ ŵ_a`` (Dahabreh et al.
  2020's normalised augmented estimator): consistent when either the outcome models or
  the sampling and treatment models are right.

Standard errors are sandwich (M-estimation) standard errors of the stacked equations of
ψ and of the three nuisance models, so each estimator is honest under its own working
models: the influence function of ψ̂ is that of its equation plus ``D_θ · IF_θ`` for
each nuisance θ (Stefanski & Boos 2002, doi:10.1198/000313002753631330).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox.data.gram import ShiftedGram
from cqox.errors import EstimationError, SeparationError
from cqox.nuisance.glm import BinaryFit, fit_binary
from cqox.nuisance.ols import OLSFit, fit_ols, with_intercept

METHODS = ("om", "iosw", "dr")


@dataclass(frozen=True)
class TransportNuisances:
    """The fitted sampling, treatment and outcome models.

    Attributes
    ----------
    sampling : BinaryFit
        Logit of ``S`` on ``X`` over every row; ``sampling.p_hat`` has shape (n,).
    treatment : BinaryFit
        Logit of ``A`` on ``X`` over the trial rows; ``p_hat`` has shape (n_trial,).
    outcome : tuple of OLSFit
        Least squares of ``Y`` on ``(1, X)`` in trial arm 0 and in trial arm 1.
    Zo : ndarray, shape (n, p + 1)
        ``(1, X)``, the outcome models' design, every row.
    g : ndarray, shape (2, n)
        ``ĝ_0(X)`` and ``ĝ_1(X)`` on every row.
    """

    sampling: BinaryFit
    treatment: BinaryFit
    outcome: tuple[OLSFit, OLSFit]
    Zo: np.ndarray
    g: np.ndarray


def fit_nuisances(
    X: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    gram: ShiftedGram | None = None,
) -> TransportNuisances:
    """Fit the sampling, trial treatment and per-arm outcome models.

    ``t`` and ``y`` are read on the trial rows (``s == 1``) only; ``gram``, the
    preparation's shifted Gram matrix of ``X``, spares the sampling model's first
    product (:func:`~cqox.nuisance.glm.fit_binary`).  A sampling model that
    separates the samples is an :class:`~cqox.errors.EstimationError` saying that the
    trial and the target do not overlap.
    """
    trial = s == 1
    try:
        sampling = fit_binary(X, s, gram=gram)
    except SeparationError as exc:
        raise EstimationError(
            "the sampling model P(trial | covariates) separates the trial from the target "
            "sample: some covariate values occur in one sample only, so the trial says "
            "nothing about those target units (no overlap). Restrict the target to the "
            "trial's covariate range or coarsen the covariate that separates them",
            details=dict(exc.details),
        ) from None
    try:
        treatment = fit_binary(X[trial], t[trial])
    except SeparationError as exc:
        raise EstimationError(
            "the treatment model of the trial separates treated from control participants",
            details=dict(exc.details),
        ) from None
    Zo = with_intercept(X)
    fits = []
    for arm in (0, 1):
        rows = trial & (t == arm)
        if rows.sum() <= Zo.shape[1]:
            raise EstimationError(
                f"trial arm {arm} has {int(rows.sum())} rows, not more than the "
                f"{Zo.shape[1]} coefficients of its outcome model; use fewer covariates",
                details={"arm": arm, "rows": int(rows.sum())},
            )
        fits.append(fit_ols(Zo[rows], y[rows]))
    g = np.vstack([Zo @ f.coef for f in fits])
    return TransportNuisances(sampling, treatment, (fits[0], fits[1]), Zo, g)


@dataclass(frozen=True)
class ArmScore:
    """A potential-outcome mean and its influence function (``se = ‖IF‖ / n``)."""

    estimate: float
    influence: np.ndarray


def _odds(p: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    """``v(X)`` and ``∂v/∂η_S`` (η_S the sampling model's linear index)."""
    odds = (1 - p) / p
    if target == "target":
        return odds, -odds  # v = e^{−η}
    return 1 / p, -odds  # v = 1 + e^{−η}


def potential_outcome_mean(
    nuis: TransportNuisances,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    arm: int,
    method: str,
    target: str,
) -> ArmScore:
    """``ψ̂(arm)`` by ``method`` (``om``, ``iosw`` or ``dr``) for ``target``.

    ``target`` is ``"target"`` (``E[Y^a | S = 0]``) or ``"all"`` (``E[Y^a]``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n = len(s)
    trial = s == 1
    n_trial = int(trial.sum())
    R = (1 - s) if target == "target" else np.ones(n)
    g = nuis.g[arm]
    Zo = nuis.Zo
    ind = trial & (t == arm)
    y0 = np.where(trial, y, 0.0)
    fit_o = nuis.outcome[arm]
    resid = np.zeros(n)
    resid[ind] = fit_o.resid
    n_arm = int(ind.sum())

    def through_outcome(D: np.ndarray) -> np.ndarray:
        # α̂_a's influence (n / n_a) 1{S=1, A=a} (Z'Z/n_a)⁻¹ z e, along D = ∂E[m]/∂α
        return (n / n_arm) * resid * (Zo @ (fit_o.bread @ D))

    influence = np.zeros(n)
    estimate = 0.0
    if method in ("om", "dr"):
        c = float(R.mean())
        psi_om = float(np.sum(R * g) / np.sum(R))
        D_alpha = (R[:, None] * Zo).mean(axis=0)
        influence += (R * (g - psi_om) + through_outcome(D_alpha)) / c
        estimate += psi_om
    if method in ("iosw", "dr"):
        p = nuis.sampling.p_hat
        v, dv = _odds(p, target)
        e_trial = nuis.treatment.p_hat
        e_a = np.ones(n)
        e_a[trial] = e_trial if arm == 1 else 1 - e_trial
        w = np.where(ind, v / e_a, 0.0)
        base = y0 - (g if method == "dr" else 0.0)
        delta = float(np.sum(w * base) / np.sum(w))
        r = np.where(ind, base - delta, 0.0)
        # ∂w/∂γ = 1{S=1,A=a} (∂v/∂η_S) z_S / e_a
        D_gamma = ((np.where(ind, dv / e_a, 0.0) * r)[:, None] * nuis.sampling.Z).mean(axis=0)
        # ∂(1/e_a)/∂β = −(2a − 1)(1 − e_a)/e_a z_A, so ∂w/∂β = −w (2a − 1)(1 − e_a) z_A
        de = -(2 * arm - 1) * (1 - e_a[trial])
        D_beta = ((w[trial] * r[trial] * de)[:, None] * nuis.treatment.Z).sum(axis=0) / n_trial
        extra = nuis.sampling.influence_along(D_gamma)
        extra[trial] += nuis.treatment.influence_along(D_beta)
        if method == "dr":
            extra += through_outcome(-(w[:, None] * Zo).mean(axis=0))
        influence += (w * r + extra) / float(w.mean())
        estimate += delta
    return ArmScore(estimate, influence)


def weights(nuis: TransportNuisances, s: np.ndarray, t: np.ndarray, target: str) -> np.ndarray:
    """The weights ``v(X) / e_A(X)`` of the trial rows, shape (n_trial,)."""
    trial = s == 1
    v, _ = _odds(nuis.sampling.p_hat[trial], target)
    e = nuis.treatment.p_hat
    return np.asarray(v / np.where(t[trial] == 1, e, 1 - e))
