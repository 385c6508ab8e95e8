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
from functools import cached_property

import numpy as np

from cqox.data.gram import ShiftedGram
from cqox.errors import EstimationError, SeparationError
from cqox.nuisance.glm import BinaryFit, fit_binary
from cqox.nuisance.ols import OLSFit, fit_ols_rows, with_intercept

METHODS = ("om", "iosw", "dr")


@dataclass(frozen=True)
class TransportNuisances:
    """The fitted sampling and treatment models, and the outcome models when first read.

    The outcome models are fitted on first use (``transport_iosw`` never reads them;
    within an analysis the three estimators share one instance, so they are fitted at
    most once); :func:`fit_nuisances` has already checked that each arm has more rows
    than coefficients.

    Attributes
    ----------
    sampling : BinaryFit
        Logit of ``S`` on ``X`` over every row; ``sampling.p_hat`` has shape (n,).
    treatment : BinaryFit
        Logit of ``A`` on ``X`` over the trial rows; ``p_hat`` has shape (n_trial,).
    X : ndarray, shape (n, p)
        The covariates of every row.
    y : ndarray, shape (n,)
        The outcome (read on the trial rows only).
    arm_rows : tuple of ndarray
        Positions of the rows of trial arm 0 and of trial arm 1.
    outcome : tuple of OLSFit
        Least squares of ``Y`` on ``(1, X)`` in trial arm 0 and in trial arm 1.
    Zo : ndarray, shape (n, p + 1)
        ``(1, X)``, the outcome models' design, every row.
    g : ndarray, shape (2, n)
        ``ĝ_0(X)`` and ``ĝ_1(X)`` on every row.
    """

    sampling: BinaryFit
    treatment: BinaryFit
    X: np.ndarray
    y: np.ndarray
    arm_rows: tuple[np.ndarray, np.ndarray]

    @cached_property
    def outcome(self) -> tuple[OLSFit, OLSFit]:
        """The per-arm least-squares fits (the QR of ``[1, X]`` filled from ``X``)."""
        a0, a1 = (fit_ols_rows(self.X, self.y, rows) for rows in self.arm_rows)
        return a0, a1

    @cached_property
    def Zo(self) -> np.ndarray:  # noqa: N802 (the design matrix)
        """``(1, X)`` of every row."""
        return with_intercept(self.X)

    @cached_property
    def g(self) -> np.ndarray:
        """``ĝ_0(X)`` and ``ĝ_1(X)`` on every row, shape (2, n)."""
        return np.vstack([self.Zo @ f.coef for f in self.outcome])


def fit_nuisances(
    X: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    gram: ShiftedGram | None = None,
) -> TransportNuisances:
    """Fit the sampling and trial treatment models; check the per-arm outcome models.

    ``t`` and ``y`` are read on the trial rows (``s == 1``) only; ``gram``, the
    preparation's shifted Gram matrix of ``X``, spares the sampling model's first
    product (:func:`~cqox.nuisance.glm.fit_binary`).  A sampling model that
    separates the samples is an :class:`~cqox.errors.EstimationError` saying that the
    trial and the target do not overlap, as is a trial arm with no more rows than its
    outcome model's coefficients (the models are fitted when first read).
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
    k = X.shape[1] + 1
    arm_rows = []
    for arm in (0, 1):
        rows = np.flatnonzero(trial & (t == arm))
        if len(rows) <= k:
            raise EstimationError(
                f"trial arm {arm} has {len(rows)} rows, not more than the "
                f"{k} coefficients of its outcome model; use fewer covariates",
                details={"arm": arm, "rows": len(rows)},
            )
        arm_rows.append(rows)
    return TransportNuisances(sampling, treatment, X, y, (arm_rows[0], arm_rows[1]))


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


def _zt_dot(fit: BinaryFit, W: np.ndarray) -> np.ndarray:
    """``W Z`` (shape (m, p + 1)) for the rows of ``W`` (shape (m, n)): :meth:`BinaryFit.zt_dot`."""
    if fit.design is not None:
        return np.asarray(W @ fit.design)
    return np.vstack([fit.zt_dot(w) for w in W])


def _influence_along(fit: BinaryFit, D: np.ndarray) -> np.ndarray:
    """:meth:`BinaryFit.influence_along` for each row of ``D``: shape (m, n), one solve."""
    if fit.design is not None:
        V = np.linalg.solve(fit.hessian, D.T)
        return np.asarray((fit.design @ V).T * fit.score_weight)
    return np.vstack([fit.influence_along(d) for d in D])


def potential_outcome_means(
    nuis: TransportNuisances,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    method: str,
    target: str,
) -> tuple[ArmScore, ArmScore]:
    """``(ψ̂(0), ψ̂(1))`` by ``method`` (``om``, ``iosw`` or ``dr``) for ``target``.

    ``target`` is ``"target"`` (``E[Y^a | S = 0]``) or ``"all"`` (``E[Y^a]``).  The
    influence function of ``ψ̂(a)`` is its equation's term plus each nuisance's
    influence along the derivative ``D`` of that equation (Stefanski & Boos 2002):

    - om: ``[R (ĝ_a − ψ̂) + IF_α(D_α)] / mean(R)``, ``D_α = mean(R z)``;
    - iosw: ``[w (Y − ψ̂) + IF_γ(D_γ) + IF_β(D_β)] / mean(w)`` with
      ``∂w/∂γ = 1{S=1,A=a} (∂v/∂η_S) z_S / e_a`` and ``∂w/∂β = −w (2a − 1)(1 − e_a) z_A``;
    - dr: the sum of both, the weighted part on ``Y − ĝ_a`` with ``D_α`` less
      ``mean(w z)/mean(w)``.

    The weights are nonzero on the trial rows only, so the weighting terms are formed
    there; the outcome model's influence ``(n/n_a) e z'(Z_a'Z_a/n_a)⁻¹ D`` is formed
    once per arm along the sum of its directions.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n = len(s)
    rows = np.flatnonzero(s == 1)
    t_trial = t[rows]
    influence = [np.zeros(n), np.zeros(n)]
    estimate = [0.0, 0.0]
    k = nuis.X.shape[1] + 1
    D_outcome = [np.zeros(k), np.zeros(k)]
    if method in ("om", "dr"):
        Zo = nuis.Zo  # the outcome models' design: iosw never forms it
        R = (1 - s) if target == "target" else np.ones(n)
        R_sum = float(np.sum(R))
        c = R_sum / n
        D_alpha = (R @ Zo) / n
        for arm in (0, 1):
            g = nuis.g[arm]
            psi_om = float(np.sum(R * g) / R_sum)
            # R (g − ψ̂) / c, in place
            term = g - psi_om
            term *= R
            term /= c
            influence[arm] = term
            D_outcome[arm] += D_alpha / c
            estimate[arm] += psi_om
    if method in ("iosw", "dr"):
        v, dv = _odds(nuis.sampling.p_hat[rows], target)
        e_trial = nuis.treatment.p_hat
        y_trial = y[rows]
        Zo_trial = nuis.Zo[rows] if method == "dr" else None
        # per arm: the weights' derivative along the sampling (γ) and treatment (β)
        # models, then each model's influence for both arms from one solve and product
        along_gamma = np.zeros((2, n))
        along_beta = np.empty((2, len(rows)))
        terms = []
        for arm in (0, 1):
            ind = t_trial == arm
            e_a = e_trial if arm == 1 else 1 - e_trial
            w = np.where(ind, v / e_a, 0.0)
            base = y_trial - nuis.g[arm][rows] if method == "dr" else y_trial
            w_sum = float(np.sum(w))
            delta = float(np.sum(w * base) / w_sum)
            r = np.where(ind, base - delta, 0.0)
            # ∂w/∂γ = 1{S=1,A=a} (∂v/∂η_S) z_S / e_a
            along_gamma[arm, rows] = np.where(ind, dv / e_a, 0.0) * r
            # ∂(1/e_a)/∂β = −(2a − 1)(1 − e_a)/e_a z_A, so ∂w/∂β = −w (2a − 1)(1 − e_a) z_A
            along_beta[arm] = w * r * (-(2 * arm - 1) * (1 - e_a))
            terms.append((w, r, w_sum / n))
            estimate[arm] += delta
        if_gamma = _influence_along(nuis.sampling, _zt_dot(nuis.sampling, along_gamma) / n)
        if_beta = _influence_along(nuis.treatment, _zt_dot(nuis.treatment, along_beta) / len(rows))
        for arm, (w, r, w_mean) in enumerate(terms):
            extra = if_gamma[arm]
            extra[rows] += if_beta[arm] + w * r
            influence[arm] += extra / w_mean
            if Zo_trial is not None:
                D_outcome[arm] -= (w @ Zo_trial) / n / w_mean
    if method in ("om", "dr"):
        for arm in (0, 1):
            # α̂_a's influence (n / n_a) 1{S=1, A=a} (Z'Z/n_a)⁻¹ z e, along D = ∂E[m]/∂α
            fit_o = nuis.outcome[arm]
            on = rows[t_trial == arm]
            index = nuis.Zo @ (fit_o.bread @ D_outcome[arm])
            influence[arm][on] += (n / len(on)) * fit_o.resid * index[on]
    return ArmScore(estimate[0], influence[0]), ArmScore(estimate[1], influence[1])


def potential_outcome_mean(
    nuis: TransportNuisances,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    arm: int,
    method: str,
    target: str,
) -> ArmScore:
    """``ψ̂(arm)`` by ``method`` for ``target`` (:func:`potential_outcome_means`)."""
    return potential_outcome_means(nuis, s, t, y, method, target)[arm]


def weights(nuis: TransportNuisances, s: np.ndarray, t: np.ndarray, target: str) -> np.ndarray:
    """The weights ``v(X) / e_A(X)`` of the trial rows, shape (n_trial,)."""
    trial = s == 1
    v, _ = _odds(nuis.sampling.p_hat[trial], target)
    e = nuis.treatment.p_hat
    return np.asarray(v / np.where(t[trial] == 1, e, 1 - e))
