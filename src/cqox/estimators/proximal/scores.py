"""Proximal causal inference: the outcome and treatment bridges and the two estimators.

Unmeasured confounding by ``U`` is handled with a treatment proxy ``Z`` (negative-control
exposure: ``Y ⊥ Z | U, A, X``) and an outcome proxy ``W`` (negative-control outcome:
``W ⊥ (A, Z) | U, X``), both associated with ``U`` (Miao, Geng & Tchetgen Tchetgen
2018, doi:10.1093/biomet/asy038; Tchetgen Tchetgen, Ying, Cui, Shi & Miao 2020,
arXiv:2009.10982).

* **Outcome bridge** ``h(W, A, X) = b'(1, A, W, X)`` solves ``E[Y − h(W, A, X) | Z, A,
  X] = 0``; with the instruments ``G = (1, A, Z, X)`` this is two-stage least squares
  of ``Y`` on ``D = (1, A, W, X)`` (``W`` instrumented by ``Z``): proximal 2SLS.  The
  ATE is ``E[h(W, 1, X) − h(W, 0, X)] = b_A``; its sandwich SE is the 2SLS robust SE.
* **Treatment bridge** ``q(Z, A, X) = 1 + exp{(1 − 2A) t'(1, A, Z, X)}`` (the inverse of
  a logistic ``P(A | U, X)`` with ``U`` replaced by ``Z``) solves
  ``E[q(Z, A, X) | W, A, X] = 1/P(A | W, X)``; its moments are
  ``E[(−1)^{1−A} q · (1, W, X)] = 0`` and ``E[q − 2] = 0`` (just identified).
* **Doubly robust** (Cui, Pu, Shi, Miao & Tchetgen Tchetgen 2023,
  doi:10.1080/01621459.2023.2191817)::

      ψ̂ = (1/n) Σ [ (−1)^{1−A} q̂(Z, A, X) (Y − ĥ(W, A, X)) + ĥ(W, 1, X) − ĥ(W, 0, X) ]

  consistent when either bridge is correctly specified.

Standard errors are sandwich SEs of the stacked estimating equations (bridge
parameters and ψ): the influence function of ψ̂ is ``m_ψ + D_b'·IF_b + D_t'·IF_t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from cqox.errors import EstimationError

#: Newton on the treatment-bridge moments stops when the largest moment is below this.
BRIDGE_TOL = 1e-10
BRIDGE_MAX_ITER = 100
#: |t'(1, A, Z, X)| above this makes q overflow: the bridge has no finite solution.
MAX_INDEX = 50.0


@dataclass(frozen=True)
class OutcomeBridge:
    """Proximal 2SLS: ``b`` (on ``D = (1, A, W, X)``) and its influence.

    Attributes
    ----------
    coef : ndarray, shape (k,)
    resid : ndarray, shape (n,)
        ``Y − ĥ(W, A, X)``.
    influence : ndarray, shape (n, k)
        ``IF_b`` per row (``cov(b̂) = IF'IF / n²``).
    first_stage_f : float
        Heteroskedasticity-robust Wald F of the treatment proxies in the regression of the
        outcome proxies on ``(1, A, Z, X)`` (one proxy each: the squared robust t).
    """

    coef: np.ndarray
    resid: np.ndarray
    influence: np.ndarray
    first_stage_f: float


def fit_outcome_bridge(
    y: np.ndarray, a: np.ndarray, z: np.ndarray, w: np.ndarray, X: np.ndarray
) -> OutcomeBridge:
    """Two-stage least squares of ``y`` on ``(1, a, w, X)`` with instruments ``(1, a, z, X)``.

    ``z`` and ``w`` have shape (n, k_z) and (n, k_w), ``k_z ≥ k_w``.
    """
    n = len(y)
    one = np.ones((n, 1))
    G = np.column_stack([one, a, z, X])
    D = np.column_stack([one, a, w, X])
    # first stage: D projected on G (its exogenous columns reproduce themselves)
    Pi, *_ = np.linalg.lstsq(G, D, rcond=None)
    D_hat = G @ Pi
    A_mat = D_hat.T @ D / n
    coef = np.linalg.solve(A_mat, D_hat.T @ y / n)
    resid = y - D @ coef
    influence = (D_hat * resid[:, None]) @ np.linalg.inv(A_mat).T
    f = _first_stage_f(G, w, Pi, z.shape[1])
    return OutcomeBridge(coef, resid, influence, f)


def _first_stage_f(G: np.ndarray, w: np.ndarray, Pi: np.ndarray, k_z: int) -> float:
    """Robust (HC0) Wald F of the ``z`` columns of ``G`` for the first outcome proxy."""
    n = G.shape[0]
    cols = slice(2, 2 + k_z)
    pi = Pi[:, 2]  # the first W column of D (after the intercept and A)
    e = w[:, 0] - G @ pi
    bread = np.linalg.inv(G.T @ G / n)
    meat = (G * e[:, None]).T @ (G * e[:, None]) / n
    V = bread @ meat @ bread / n
    b = pi[cols]
    return float(b @ np.linalg.solve(V[cols, cols], b) / k_z)


@dataclass(frozen=True)
class TreatmentBridge:
    """The treatment bridge ``q(Z, A, X)``, its coefficients and their influence.

    Attributes
    ----------
    coef : ndarray, shape (k,)
        ``t`` on ``(1, A, Z, X)``.
    q : ndarray, shape (n,)
    dq : ndarray, shape (n, k)
        ``∂q/∂t`` per row.
    influence : ndarray, shape (n, k)
        ``IF_t = −(E[∂m/∂t])⁻¹ m_i`` per row.
    """

    coef: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    influence: np.ndarray


def _bridge_terms(
    tau: np.ndarray, F: np.ndarray, sign: np.ndarray, B: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``q``, ``∂q/∂t``, the moments per row ``m_i`` and their mean Jacobian."""
    eta = np.clip(F @ tau, -MAX_INDEX, MAX_INDEX)
    expo = np.exp(-sign * eta)  # (1 − 2A) = −sign, with sign = (−1)^{1−A} = 2A − 1
    q = 1 + expo
    dq = (-sign * expo)[:, None] * F
    m = np.column_stack([(sign * q)[:, None] * B, q - 2])
    J = np.vstack(
        [
            ((sign[:, None] * B).T @ dq) / len(q),
            dq.mean(axis=0)[None, :],
        ]
    )
    return q, dq, m, J


def fit_treatment_bridge(
    a: np.ndarray, z: np.ndarray, w: np.ndarray, X: np.ndarray
) -> TreatmentBridge:
    """Solve the treatment-bridge moments by Newton (scipy ``root``, analytic Jacobian)."""
    n = len(a)
    one = np.ones((n, 1))
    F = np.column_stack([one, a, z, X])
    B = np.column_stack([one, w, X])
    if B.shape[1] + 1 != F.shape[1]:
        raise EstimationError(
            f"the treatment bridge needs as many outcome proxies as treatment proxies; got "
            f"{w.shape[1]} and {z.shape[1]}",
            details={"treatment_proxies": z.shape[1], "outcome_proxies": w.shape[1]},
        )
    sign = 2 * a - 1

    def moments(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, _, m, J = _bridge_terms(tau, F, sign, B)
        return m.mean(axis=0), J

    # start at t = 0 (q = 2 everywhere: the bridge of a treatment independent of U)
    sol = optimize.root(
        moments,
        np.zeros(F.shape[1]),
        jac=True,
        method="hybr",
        options={"xtol": 1e-12, "maxfev": 200 * F.shape[1]},
    )
    tau = np.asarray(sol.x)
    q, dq, m, J = _bridge_terms(tau, F, sign, B)
    worst = float(np.max(np.abs(m.mean(axis=0))))
    if (not sol.success and worst > 1e-8) or np.max(np.abs(F @ tau)) >= MAX_INDEX:
        raise EstimationError(
            "the treatment bridge q(Z, A, X) has no solution: its moment equations "
            f"could not be solved (largest moment {worst:.3g}); the treatment proxy may "
            "be too weakly related to the outcome proxy",
            details={"largest_moment": worst},
        )
    influence = -np.linalg.solve(J, m.T).T
    return TreatmentBridge(tau, q, dq, influence)


@dataclass(frozen=True)
class ProximalScore:
    """An ATE and its influence function (``se = ‖IF‖ / n``)."""

    estimate: float
    influence: np.ndarray


def p2sls_ate(bridge: OutcomeBridge) -> ProximalScore:
    """The ATE of proximal 2SLS: ``b_A`` and its influence."""
    return ProximalScore(float(bridge.coef[1]), bridge.influence[:, 1].copy())


def doubly_robust_ate(
    y: np.ndarray,
    a: np.ndarray,
    w: np.ndarray,
    X: np.ndarray,
    h: OutcomeBridge,
    q: TreatmentBridge,
) -> ProximalScore:
    """Cui et al. (2023)'s doubly robust ATE with its stacked-equation influence."""
    n = len(y)
    sign = 2 * a - 1
    D = np.column_stack([np.ones(n), a, w, X])
    # ĥ(W,1,X) − ĥ(W,0,X) = b_A for the linear bridge
    aug = sign * q.q * h.resid
    psi = float(h.coef[1] + aug.mean())
    m = aug + h.coef[1] - psi
    D_b = -(sign * q.q)[:, None] * D
    D_b = D_b.mean(axis=0)
    D_b[1] += 1.0
    D_t = ((sign * h.resid)[:, None] * q.dq).mean(axis=0)
    influence = m + h.influence @ D_b + q.influence @ D_t
    return ProximalScore(psi, influence)
