"""The estimator registry over HTTP: what ``cqox estimators --json`` prints, and a check.

The dashboard builds its estimand and parameter fields from ``GET /api/estimators`` and
checks what the user typed with ``POST /api/estimators/{name}/check``, which runs the
engine's own validation (:meth:`cqox.estimators.base.Estimator.resolved_params`), so the
form shows the very messages the command line and the analysis routes give.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from cqox.core.design import Design, designs_for
from cqox.core.jsonable import to_jsonable
from cqox.core.roles import Roles
from cqox.estimators import registry
from cqox.server.deps import Viewer
from cqox.server.responses import DesignList, EstimatorList, ParamsChecked
from cqox.server.schemas import MappingValue, Strict

router = APIRouter(prefix="/api/estimators", tags=["estimators"])


class ParamsCheck(Strict):
    """Parameters of one estimator, as the form would send them in ``options.params``."""

    params: dict[str, Any] = Field(default_factory=dict, max_length=100)


@router.get("", response_model=EstimatorList)
def list_estimators(user: Viewer) -> dict[str, Any]:
    """Every registered estimator: family, designs, estimands, roles and parameters."""
    return {"estimators": to_jsonable(registry.list_estimators())}


@router.post("/{name}/check", response_model=ParamsChecked)
def check_params(name: str, body: ParamsCheck, user: Viewer) -> dict[str, Any]:
    """The parameters with defaults filled in, or 422 with the engine's message."""
    cls = registry.get(name[:64])  # unknown → INVALID_PARAMETER with a "did you mean"
    resolved = cls(**body.params).resolved_params()
    return {"estimator": cls.name, "params": to_jsonable(resolved)}


class DesignsRequest(Strict):
    """Roles as the analysis request gives them (role → column, columns or cutoff)."""

    roles: dict[str, MappingValue] = Field(default_factory=dict, max_length=50)


designs_router = APIRouter(prefix="/api", tags=["estimators"])


@designs_router.post("/designs", response_model=DesignList)
def designs(body: DesignsRequest, user: Viewer) -> dict[str, Any]:
    """The designs these roles support, each with the estimators that serve it.

    A check of roles only (:func:`cqox.core.design.designs_for`), as the analysis does
    before it looks at the data; an unknown role is refused with the engine's message.
    Designs marked ``named_only`` are not implied by the roles, but their estimators
    have every role they require and run when named (``estimators``): synthetic control
    of one treated unit given as a parameter, CATE estimators.  Backdoor estimators are
    never offered that way (on a panel their rows are not independent draws).
    """
    roles = Roles.from_mapping({k: v for k, v in body.roles.items() if v not in (None, "", [])})
    found = designs_for(roles)
    given = set(roles.given())
    by_design: dict[str, list[str]] = {d.value: [] for d in found}
    named: dict[str, list[str]] = {}
    for name, cls in registry.all_estimators().items():
        served = [d for d in cls.designs if d in found]
        for design in served:
            by_design[design.value].append(name)
        if served or Design.BACKDOOR in cls.designs or not set(cls.requires) <= given:
            continue
        if cls.designs:
            named.setdefault(cls.designs[0].value, []).append(name)
    return {
        "designs": [
            *(
                {"design": d, "estimators": names, "named_only": False}
                for d, names in by_design.items()
            ),
            *({"design": d, "estimators": names, "named_only": True} for d, names in named.items()),
        ]
    }
