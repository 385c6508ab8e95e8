"""Designs: identification strategies, and which ones a set of roles supports."""

from __future__ import annotations

from enum import StrEnum

from cqox.core.roles import Roles


class Design(StrEnum):
    """An identification strategy."""

    BACKDOOR = "backdoor"
    IV = "iv"
    RD = "rd"
    DID = "did"
    STAGGERED_DID = "staggered_did"
    SYNTHETIC_CONTROL = "synthetic_control"
    ITS = "its"
    PANEL_MATCHING = "panel_matching"
    MEDIATION = "mediation"
    #: The front-door criterion (Pearl 1995): mediators that carry the whole effect, that
    #: no backdoor path reaches from the treatment, and whose backdoor paths to the
    #: outcome the treatment blocks.  Identified by a causal graph (``dag=``) or asked
    #: for by naming the ``frontdoor`` estimator with the ``mediator`` role; never
    #: inferred from roles, which cannot tell it from mediation (same roles, other
    #: assumptions).
    FRONTDOOR = "frontdoor"
    DOSE_RESPONSE = "dose_response"
    NETWORK = "network"
    SPATIAL = "spatial"
    TRANSPORTABILITY = "transportability"
    PROXIMAL = "proximal"
    OFF_POLICY = "off_policy"
    #: A treatment that changes over the periods of a long panel, with named time-varying
    #: confounders (``covariates``) that earlier treatment may affect: g-methods
    #: (marginal structural models, the g-formula).  Kept by
    #: :func:`cqox.data.design_detect.refine_designs` only when the treatment and some
    #: named covariate change within units.
    TIME_VARYING = "time_varying"
    #: Heterogeneous (unit-level) effects under unconfoundedness: the backdoor design
    #: asked for τ(x) rather than an average.  Requested (``cqox cate``, ``cqox analyze
    #: --heterogeneity`` or by naming a CATE estimator), never inferred from roles.
    CATE = "cate"


def designs_for(roles: Roles) -> list[Design]:
    """The designs whose required roles are all present.

    This is a check of roles only; whether the data fit the design (binary
    treatment, enough pre-periods, ...) is checked by each estimator.
    """
    out: list[Design] = []
    has = roles.given()
    panel = "outcome" in has and "unit" in has and "time" in has
    # Rows of a panel are repeated measures of units, not independent draws: the
    # cross-sectional backdoor estimators would pool periods and understate the SE.
    if "outcome" in has and "treatment" in has and not panel:
        out.append(Design.BACKDOOR)
    if "outcome" in has and "treatment" in has and "instrument" in has:
        out.append(Design.IV)
    if "outcome" in has and "running" in has and "cutoff" in has:
        out.append(Design.RD)
    if panel and ("treatment" in has or "cohort" in has):
        out.append(Design.DID)
    if panel and "cohort" in has:
        out.append(Design.STAGGERED_DID)
    # a panel of places: spillovers by distance to treated places (ring DiD)
    if panel and ("treatment" in has or "cohort" in has) and "lat" in has and "lon" in has:
        out.append(Design.SPATIAL)
    if panel and "treatment" in has:
        out.extend([Design.SYNTHETIC_CONTROL, Design.PANEL_MATCHING])
    if panel and "treatment" in has and "covariates" in has:
        out.append(Design.TIME_VARYING)
    if "outcome" in has and "time" in has and "treatment" in has and "unit" not in has:
        out.append(Design.ITS)
    if "outcome" in has and "treatment" in has and "mediator" in has:
        out.append(Design.MEDIATION)
    if "outcome" in has and "dose" in has:
        out.append(Design.DOSE_RESPONSE)
    if "outcome" in has and "treatment" in has and "sample" in has:
        out.append(Design.TRANSPORTABILITY)
    if (
        "outcome" in has
        and "treatment" in has
        and "treatment_proxy" in has
        and "outcome_proxy" in has
    ):
        out.append(Design.PROXIMAL)
    if "action" in has and "reward" in has:
        out.append(Design.OFF_POLICY)
    return out
