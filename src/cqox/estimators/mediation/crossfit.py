"""Doubly robust, cross-fitted natural direct and indirect effects.

The efficient influence function of ``E[Y(d, M(1 − d))]`` under sequential
ignorability (Tchetgen Tchetgen & Shpitser 2012, *Ann. Statist.* 40(3):1816–1845,
doi:10.1214/12-AOS990), written with the mediator density ratio replaced by treatment
probabilities as in Farbmacher, Huber, Lafférs, Langen & Spindler (2022), "Causal
mediation analysis with double machine learning", *Econometrics Journal* 25(2):277–300,
doi:10.1093/ectj/utac003, eq. (9)::

    ψ_{d,1−d} = 1{D=d}(1 − p_d(M,X)) / (p_d(M,X)(1 − p_d(X))) · (Y − μ(d,M,X))
              + 1{D=1−d} / (1 − p_d(X)) · (μ(d,M,X) − ω(d,X)) + ω(d,X)

with ``p_d(X) = P(D=d | X)``, ``p_d(M,X) = P(D=d | M, X)``, ``μ(d,M,X) = E[Y | D=d, M, X]``
and ``ω(d,X) = E[μ(d,M,X) | D=1−d, X]``; ``E[Y(d, M(d))]`` has the AIPW score
``1{D=d}(Y − μ(d,X))/p_d(X) + μ(d,X)``.  Every nuisance is cross-fitted over
``n_folds`` folds (Chernozhukov et al. 2018); the nested ``ω`` is fitted, within each
training fold, on predictions of ``μ(d,M,X)`` from a model trained on the other half
of that fold (Farbmacher et al. 2022, §3), so no row's outcome enters its own ``ω``
target.  The effects are means of score differences, e.g. ``δ(1) = E[ψ_{1,1} − ψ_{1,0}]``
(NIE, treated) and ``ζ(0) = E[ψ_{1,0} − ψ_{0,0}]`` (NDE, control), with
``SE = sqrt(Σ φ_i²)/n`` for the centred score ``φ``; the proportion mediated
``NIE/TE`` by the delta method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.errors import EstimationError
from cqox.nuisance.learners import make_learner, predict_fitted
from cqox.nuisance.lightgbm_core import core_learner


@dataclass(frozen=True)
class MediationScores:
    """Per-observation scores of the four potential-outcome means.

    Attributes
    ----------
    psi : dict of (int, int) to ndarray, shape (n,)
        ``ψ_{t,t'}``, the score of ``E[Y(t, M(t'))]``.
    p_x, p_mx : ndarray, shape (n,)
        Cross-fitted ``P(D=1 | X)`` and ``P(D=1 | M, X)`` (after clipping).
    n_clipped : int
        Rows whose propensity was moved into ``[clip, 1 − clip]``.
    """

    psi: dict[tuple[int, int], np.ndarray]
    p_x: np.ndarray
    p_mx: np.ndarray
    n_clipped: int

    def effects(self) -> dict[str, tuple[float, np.ndarray]]:
        """``{name: (estimate, centred influence φ)}`` for every effect."""
        psi = self.psi
        raw = {
            "NIE_treated": psi[1, 1] - psi[1, 0],
            "NIE_control": psi[0, 1] - psi[0, 0],
            "NDE_treated": psi[1, 1] - psi[0, 1],
            "NDE_control": psi[1, 0] - psi[0, 0],
            "TE": psi[1, 1] - psi[0, 0],
        }
        raw["NIE"] = (raw["NIE_treated"] + raw["NIE_control"]) / 2
        raw["NDE"] = (raw["NDE_treated"] + raw["NDE_control"]) / 2
        out = {k: (float(v.mean()), v - v.mean()) for k, v in raw.items()}
        te, phi_te = out["TE"]
        for key, nie_key in (
            ("PM", "NIE"),
            ("PM_control", "NIE_control"),
            ("PM_treated", "NIE_treated"),
        ):
            nie, phi_nie = out[nie_key]
            pm = nie / te if te != 0 else float("nan")
            out[key] = (pm, (phi_nie - pm * phi_te) / te if te != 0 else phi_nie * np.nan)
        return out


def _fit_predict(
    learner: Any,
    task: str,
    seed: int,
    role: str,
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_new: np.ndarray,
) -> np.ndarray:
    if len(y_fit) < 2 or (task == "classification" and len(np.unique(y_fit)) < 2):
        raise EstimationError(
            f"cross-fitting: the {role} model has {len(y_fit)} training rows"
            + (" of one treatment arm only" if task == "classification" else "")
            + "; use fewer folds",
            details={"parameter": role},
        )
    # a plain LightGBM estimator is trained through LightGBM's core API: the same
    # model bit for bit, without the wrapper's overhead (cqox.nuisance.lightgbm_core)
    model = core_learner(make_learner(learner, task, seed, role), task)
    model.fit(X_fit, y_fit)
    pred = predict_fitted(model, X_new, task)
    if not np.all(np.isfinite(pred)):
        raise EstimationError(
            f"the {role} learner returned non-finite predictions", details={"parameter": role}
        )
    return pred


def mediation_scores(
    y: np.ndarray,
    d: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    folds: np.ndarray,
    outcome_learner: Any,
    propensity_learner: Any,
    clip: float,
    rng: np.random.Generator,
) -> MediationScores:
    """Cross-fitted scores ``ψ_{t,t'}`` (Farbmacher et al. 2022, eq. (9)).

    ``outcome_learner`` fits ``μ(d,X)``, ``μ(d,M,X)`` and ``ω(d,X)``;
    ``propensity_learner`` fits ``P(D=1 | X)`` and ``P(D=1 | M, X)``.
    """
    n = len(y)
    MX = np.column_stack([m, X])
    Xd = X if X.shape[1] else np.zeros((n, 1))
    p_x = np.empty(n)
    p_mx = np.empty(n)
    mu_x = {0: np.empty(n), 1: np.empty(n)}
    mu_mx = {0: np.empty(n), 1: np.empty(n)}
    omega = {0: np.empty(n), 1: np.empty(n)}
    seed = int(rng.integers(2**31 - 1))
    for k in np.unique(folds):
        test = folds == k
        train = np.flatnonzero(~test)
        s = seed + 97 * int(k)
        p_x[test] = _fit_predict(
            propensity_learner,
            "classification",
            s,
            "propensity_learner",
            Xd[train],
            d[train],
            Xd[test],
        )
        p_mx[test] = _fit_predict(
            propensity_learner,
            "classification",
            s + 1,
            "propensity_learner",
            MX[train],
            d[train],
            MX[test],
        )
        # the nested regression ω(a, X) = E[μ(a, M, X) | D = 1 − a, X]: μ from one half
        # of the training fold, predicted and regressed on X in the other half
        half = rng.permutation(train)
        part_a, part_b = half[: len(half) // 2], half[len(half) // 2 :]
        for a in (0, 1):
            arm = train[d[train] == a]
            mu_x[a][test] = _fit_predict(
                outcome_learner,
                "regression",
                s + 2 + a,
                "outcome_learner",
                Xd[arm],
                y[arm],
                Xd[test],
            )
            mu_mx[a][test] = _fit_predict(
                outcome_learner,
                "regression",
                s + 4 + a,
                "outcome_learner",
                MX[arm],
                y[arm],
                MX[test],
            )
            a_arm = part_a[d[part_a] == a]
            b_other = part_b[d[part_b] == 1 - a]
            mu_b = _fit_predict(
                outcome_learner,
                "regression",
                s + 6 + a,
                "outcome_learner",
                MX[a_arm],
                y[a_arm],
                MX[b_other],
            )
            omega[a][test] = _fit_predict(
                outcome_learner,
                "regression",
                s + 8 + a,
                "outcome_learner",
                Xd[b_other],
                mu_b,
                Xd[test],
            )
    raw = np.concatenate([p_x, p_mx])
    n_clipped = int(np.sum((raw < clip) | (raw > 1 - clip)))
    p_x = np.clip(p_x, clip, 1 - clip)
    p_mx = np.clip(p_mx, clip, 1 - clip)
    psi: dict[tuple[int, int], np.ndarray] = {}
    for a in (0, 1):
        on = (d == a).astype(np.float64)
        pa_x = p_x if a == 1 else 1 - p_x
        pa_mx = p_mx if a == 1 else 1 - p_mx
        # E[Y(a, M(a))]: AIPW
        psi[a, a] = on * (y - mu_x[a]) / pa_x + mu_x[a]
        # E[Y(a, M(1 − a))]: eq. (9)
        psi[a, 1 - a] = (
            on * (1 - pa_mx) / (pa_mx * (1 - pa_x)) * (y - mu_mx[a])
            + (1 - on) / (1 - pa_x) * (mu_mx[a] - omega[a])
            + omega[a]
        )
    return MediationScores(psi, p_x, p_mx, n_clipped)


__all__ = ["MediationScores", "mediation_scores"]
