"""Parameters shared by many estimators, declared once.

A name means one thing across the registry (``tests/contract`` checks it): every
estimator that takes replicates calls them ``n_boot``, cross-fitting folds ``n_folds``,
repeated splits ``n_rep``, a propensity bound into ``[c, 1 − c]`` ``clip``, dropping
rows outside ``[c, 1 − c]`` ``trim``, dropping rows outside the common support
``common_support`` and the variance choice ``se_method``.  :data:`SHARED_MEANINGS`
gives each shared name its kind and meaning; the factories below build the
:class:`~cqox.core.params.Param` with an estimator's default, bounds and a note.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import ParameterError, RoleError
from cqox.inference.se_methods import SE_METHODS
from cqox.inference.spatial_hac import CONLEY_KERNELS, MAX_CUTOFF_KM, check_coordinates

#: shared parameter name → (kind, meaning).  A Param with one of these names has this
#: kind and a doc that starts with this meaning.
SHARED_MEANINGS: dict[str, tuple[str, str]] = {
    "ci_level": ("float", "confidence level of the interval"),
    "estimand": ("choice", "target population of the effect"),
    "link": ("choice", "propensity model link"),
    "trim": ("float", "drop rows with propensity outside [trim, 1 − trim], then refit"),
    "clip": ("float", "bound propensities into [clip, 1 − clip]"),
    "common_support": ("bool", "drop rows outside the propensity common support first"),
    "n_boot": ("int", "bootstrap replicates"),
    "n_folds": ("int", "cross-fitting folds"),
    "n_rep": ("int", "repeated sample splits"),
    "se_method": ("choice", "standard errors, intervals and p-values"),
    "method": ("choice", "estimating equation: weighting, outcome regression or doubly robust"),
    "seed": ("int", "random seed"),
    "n_jobs": ("int", "worker processes"),
    "learner": ("any", "learner of every nuisance"),
    "outcome_learner": ("any", "learner of the outcome model(s)"),
    "propensity_learner": ("any", "learner of the propensity P(T=1 | X)"),
    "treatment_learner": ("any", "learner of E[D | X]"),
    "final_learner": ("any", "learner of the final stage (the pseudo-outcome on X)"),
    "propensity_calibration": (
        "choice",
        "calibration of the cross-fitted propensities before clipping",
    ),
    "cost_per_treated": ("float", "cost of treating one unit, in outcome units"),
    "depth": ("int", "depth of the policy tree"),
    "n_draws": ("int", "Monte Carlo draws"),
    "outcome_model": ("choice", "outcome model"),
    "bandwidth": ("float", "kernel bandwidth in dose units"),
    "conley_cutoff_km": (
        "float",
        "Conley spatial-HAC cutoff in km: scores of units within this great-circle "
        "distance are correlated; required by se_method='conley'",
    ),
    "conley_kernel": ("choice", "Conley kernel: weight of a pair within the cutoff"),
    "weighting": (
        "choice",
        "inverse-probability weights normalised to sum to one (Hájek) or not (Horvitz–Thompson)",
    ),
}


def _doc(name: str, note: str) -> str:
    meaning = SHARED_MEANINGS[name][1]
    return f"{meaning}; {note}" if note else meaning


CI_LEVEL = Param(
    "ci_level",
    0.95,
    "float",
    _doc("ci_level", ""),
    low=0.0,
    high=1.0,
    closed="neither",
)

LINK = Param("link", "logit", "choice", _doc("link", ""), choices=("logit", "probit"))

COMMON_SUPPORT = Param(
    "common_support",
    False,
    "bool",
    _doc("common_support", ""),
    aliases=("trim",),
)


def estimand_param(choices: tuple[str, ...], default: str) -> Param:
    """The ``estimand`` parameter over ``choices``."""
    return Param("estimand", default, "choice", _doc("estimand", ""), choices=choices)


def trim_param(default: float = 0.0, note: str = "") -> Param:
    """``trim``: drop rows with propensity outside ``[trim, 1 − trim]`` and refit."""
    return Param("trim", default, "float", _doc("trim", note), low=0.0, high=0.5, closed="left")


def clip_param(default: float = 0.0, note: str = "", aliases: tuple[str, ...] = ()) -> Param:
    """``clip``: bound propensities into ``[clip, 1 − clip]`` (rows are kept)."""
    return Param(
        "clip",
        default,
        "float",
        _doc("clip", note),
        low=0.0,
        high=0.5,
        closed="left",
        aliases=aliases,
    )


def n_boot_param(
    default: int,
    *,
    low: int,
    high: int | None = None,
    note: str = "",
    aliases: tuple[str, ...] = (),
) -> Param:
    """``n_boot``: bootstrap replicates."""
    return Param(
        "n_boot", default, "int", _doc("n_boot", note), low=low, high=high, aliases=aliases
    )


def n_folds_param(default: int = 5) -> Param:
    """``n_folds``: cross-fitting folds."""
    return Param("n_folds", default, "int", _doc("n_folds", ""), low=2, high=100)


def n_rep_param(default: int | None, note: str = "") -> Param:
    """``n_rep``: repeated sample splits (``None`` allowed when the default is ``None``)."""
    return Param(
        "n_rep",
        default,
        "int",
        _doc("n_rep", note),
        low=1,
        high=1000,
        nullable=default is None,
    )


def se_method_param(
    choices: tuple[str, ...], default: str, note: str = "", aliases: tuple[str, ...] = ()
) -> Param:
    """``se_method`` over ``choices``: names from :data:`cqox.inference.se_methods.SE_METHODS`."""
    unknown = [c for c in choices if c not in SE_METHODS]
    if unknown:
        raise KeyError(f"se_method values {unknown} are not in cqox.inference.se_methods")
    listed = "; ".join(f"'{c}': {SE_METHODS[c]}" for c in choices)
    return Param(
        "se_method",
        default,
        "choice",
        _doc("se_method", f"{note}; {listed}" if note else listed),
        choices=choices,
        aliases=aliases,
    )


LEARNER_NAMES = ("linear", "logistic", "lasso", "random_forest", "lightgbm", "lightgbm_linear")


def learner_param(name: str, default: Any, note: str = "") -> Param:
    """A nuisance learner: a learner name or any scikit-learn estimator (cloned per fit)."""
    return Param(
        name,
        default,
        "any",
        _doc(name, note),
        nullable=default is None,
        check=lambda v: isinstance(v, str) or hasattr(v, "fit"),
        rule="one of " + ", ".join(repr(n) for n in LEARNER_NAMES) + ", or a scikit-learn "
        "estimator",
    )


#: ``conley_cutoff_km``: the spatial-HAC distance cutoff (needed by se_method='conley').
CONLEY_CUTOFF = Param(
    "conley_cutoff_km",
    None,
    "float",
    _doc("conley_cutoff_km", ""),
    low=0.0,
    high=MAX_CUTOFF_KM,
    closed="right",
    nullable=True,
)
#: ``conley_kernel``: weight of a pair within the cutoff.
CONLEY_KERNEL = Param(
    "conley_kernel",
    "uniform",
    "choice",
    _doc(
        "conley_kernel",
        "'uniform' (1 within the cutoff; Hsiang 2010) or 'bartlett' (1 − d/cutoff; Conley 1999)",
    ),
    choices=CONLEY_KERNELS,
)


def check_conley_params(params: dict[str, Any], estimator: str) -> None:
    """``conley_cutoff_km`` given exactly when ``se_method='conley'``."""
    conley = params["se_method"] == "conley"
    cutoff = params["conley_cutoff_km"]
    if conley and cutoff is None:
        raise ParameterError(
            f"The 'conley_cutoff_km' parameter of {estimator} is required with "
            "se_method='conley': give the distance in km within which errors are correlated.",
            details={"parameter": "conley_cutoff_km", "estimator": estimator},
        )
    if not conley and cutoff is not None:
        raise ParameterError(
            f"The 'conley_cutoff_km' parameter of {estimator} applies to se_method='conley' "
            f"only. Got se_method={params['se_method']!r}.",
            details={"parameter": "conley_cutoff_km", "estimator": estimator},
        )


def conley_coordinates(data: CausalData) -> tuple[np.ndarray, np.ndarray]:
    """The checked ``lat``/``lon`` columns of ``data`` (RoleError naming what is missing)."""
    for role in ("lat", "lon"):
        if getattr(data.roles, role) is None:
            raise RoleError(
                f"role '{role}' is required by se_method='conley' but was not given; "
                "name the latitude and longitude columns (decimal degrees) as roles "
                "'lat' and 'lon'",
                details={"role": role},
            )
    assert data.roles.lat is not None and data.roles.lon is not None
    return check_coordinates(data.column("lat"), data.column("lon"), data.roles.lat, data.roles.lon)
