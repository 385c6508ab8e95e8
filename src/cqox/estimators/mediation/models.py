"""Parametric mediator and outcome models: linear, logistic and probit, with their covariance.

The quasi-Bayesian Monte Carlo of Imai, Keele & Tingley (2010) draws the coefficients of
both models from their asymptotic normal distribution ``N(β̂, V̂)``; ``V̂`` is the
classical covariance (``se_method="unadjusted"``, R ``mediate``'s default) or the HC3
sandwich (``se_method="hc3"``, R ``mediate(robustSE = TRUE)``, which calls
``sandwich::vcovHC``, HC3 by default):

- linear: ``V̂ = (Z'Z)⁻¹ Σ z_i z_i' e_i²/(1 − h_i)² (Z'Z)⁻¹``, ``h_i = z_i'(Z'Z)⁻¹z_i``;
  classical ``σ̂²(Z'Z)⁻¹`` with ``σ̂² = Σe²/(n − k)``;
- binary GLM (Fisher information ``I = Z'WZ``, ``W = f²/(p(1 − p))``, ``f = dp/dη``):
  ``V̂ = I⁻¹ Σ ψ_i ψ_i'/(1 − h_i)² I⁻¹`` with the score ``ψ_i = z_i (y_i − p_i) f_i/(p_i(1 − p_i))``
  and the IWLS leverage ``h_i = W_i z_i' I⁻¹ z_i`` (MacKinnon & White 1985; Zeileis
  2004, doi:10.18637/jss.v011.i10); classical ``I⁻¹``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cqox.errors import EstimationError, SeparationError
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.ols import fit_ols

FAMILIES = ("linear", "logistic", "probit")
MODEL_CHOICES = ("auto", *FAMILIES)
SE_CHOICES = ("hc3", "unadjusted")


@dataclass(frozen=True)
class ParametricFit:
    """A fitted mediator or outcome model.

    Attributes
    ----------
    family : {"linear", "logistic", "probit"}
    coef : ndarray, shape (k,)
        Coefficients of the columns of the design ``Z`` (intercept included in ``Z``).
    vcov : ndarray, shape (k, k)
        Covariance of ``coef`` (HC3 or classical).
    sigma : float
        Residual standard deviation ``sqrt(Σe²/(n − k))`` (linear), else NaN.
    resid : ndarray, shape (n,)
        Response residuals ``y − ŷ``.
    r2 : float
        R² of a linear model, else NaN.
    """

    family: str
    coef: np.ndarray
    vcov: np.ndarray
    sigma: float
    resid: np.ndarray
    r2: float

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """The response mean at linear index ``eta`` (any shape)."""
        return response(eta, self.family)


def response(eta: np.ndarray, family: str) -> np.ndarray:
    """``E[Y | η]``: identity, logistic or normal CDF."""
    if family == "linear":
        return eta
    if family == "logistic":
        return np.asarray(special.expit(eta))
    return np.asarray(special.ndtr(eta))


def choose_family(values: np.ndarray, given: str) -> str:
    """``given``, or for ``"auto"``: logistic for a 0/1 variable, linear otherwise."""
    if given != "auto":
        return given
    return "logistic" if set(np.unique(values).tolist()) <= {0.0, 1.0} else "linear"


def fit_model(
    Z: np.ndarray, y: np.ndarray, family: str, se_method: str, what: str
) -> ParametricFit:
    """Fit ``y`` on the design ``Z`` (intercept included) by ``family``.

    ``what`` names the model (``"mediator"`` or ``"outcome"``) in error messages.
    """
    n, k = Z.shape
    if n <= k:
        raise EstimationError(
            f"the {what} model has {k} coefficients for {n} rows; use fewer covariates",
            details={"model": what, "rows": n, "coefficients": k},
        )
    if family == "linear":
        ols = fit_ols(Z, y)
        ZtZ_inv = ols.bread / n
        e = ols.resid
        if se_method == "hc3":
            h = np.einsum("ij,jk,ik->i", Z, ZtZ_inv, Z)
            u = Z * (e / (1.0 - h))[:, None]
            vcov = ZtZ_inv @ (u.T @ u) @ ZtZ_inv
        else:
            vcov = ZtZ_inv * float(e @ e) / (n - k)
        tss = float(np.sum((y - y.mean()) ** 2))
        return ParametricFit(
            family,
            ols.coef,
            vcov,
            float(np.sqrt(e @ e / (n - k))),
            e,
            1.0 - float(e @ e) / tss if tss > 0 else float("nan"),
        )
    if not set(np.unique(y).tolist()) <= {0.0, 1.0}:
        raise EstimationError(
            f"the {what} model is {family} but the {what} is not coded 0/1 "
            f"(values like {np.unique(y)[:4].tolist()}); use the linear model",
            details={"model": what, "family": family},
        )
    try:
        fit = fit_binary(Z[:, 1:], y, link="logit" if family == "logistic" else "probit")
    except SeparationError as exc:
        raise SeparationError(
            f"the {what} model ({family}) separates the 0/1 {what}: its coefficients "
            "diverge; remove or coarsen the covariate that predicts it perfectly",
            details={"model": what, **exc.details},
        ) from None
    p = np.clip(fit.p_hat, 1e-12, 1 - 1e-12)
    f = fit.dp_deta
    w = f * f / (p * (1 - p))
    info_inv = np.linalg.pinv((Z * w[:, None]).T @ Z)
    if se_method == "hc3":
        h = w * np.einsum("ij,jk,ik->i", Z, info_inv, Z)
        psi = Z * ((y - p) * f / (p * (1 - p)) / (1.0 - h))[:, None]
        vcov = info_inv @ (psi.T @ psi) @ info_inv
    else:
        vcov = info_inv
    return ParametricFit(family, fit.coef, vcov, float("nan"), y - p, float("nan"))


__all__ = [
    "FAMILIES",
    "MODEL_CHOICES",
    "SE_CHOICES",
    "ParametricFit",
    "choose_family",
    "fit_model",
    "response",
]
