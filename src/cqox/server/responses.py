"""Response bodies declared in the OpenAPI schema, typed in the dashboard's client.

The generated client (``frontend/src/api/schema.d.ts``) types these answers instead of
taking them as free-form objects.

Each model is the exact shape its route returns; unknown keys are kept
(``extra="allow"``) so a field added to an answer is never silently dropped before the
model learns it.  The analysis result itself stays a free-form object: its shape is the
engine's ``Analysis.to_dict()`` (docs/design.md), written out in
``frontend/src/api/types.ts``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Answer(BaseModel):
    """A response body: declared fields, unknown ones passed through."""

    model_config = ConfigDict(extra="allow")


class UserOut(Answer):
    """A user account (never its password hash)."""

    id: str
    username: str
    role: Literal["admin", "analyst", "viewer"]
    created_at: str | None


class UserList(Answer):
    """Every user (admins)."""

    users: list[UserOut]


class ApiKeyOut(Answer):
    """An API key's record (never the key)."""

    id: str
    name: str
    prefix: str
    created_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key: the key itself, shown only in this answer."""

    key: str


class ApiKeyList(Answer):
    """The current user's API keys."""

    api_keys: list[ApiKeyOut]


class ShareLink(Answer):
    """A signed viewer link to an analysis's report."""

    analysis_id: str
    url: str
    expires_at: str
    hours: int


class DesignInfo(Answer):
    """A design the roles support, with the estimators that serve it."""

    design: str
    estimators: list[str]
    #: Not implied by the roles: its estimators run only when named.
    named_only: bool


class DesignList(Answer):
    """The designs of ``POST /api/designs``."""

    designs: list[DesignInfo]


class ParameterInfo(Answer):
    """An estimator parameter: default, validation rule and documentation."""

    name: str
    default: Any
    rule: str
    doc: str


class EstimatorInfo(Answer):
    """A registered estimator (``cqox estimators --json``)."""

    name: str
    family: str
    designs: list[str]
    estimands: list[str]
    requires: list[str]
    optional_roles: list[str]
    summary: str
    parameters: list[ParameterInfo]


class EstimatorList(Answer):
    """Every registered estimator."""

    estimators: list[EstimatorInfo]


class ParamsChecked(Answer):
    """An estimator's parameters with the defaults filled in."""

    estimator: str
    params: dict[str, Any]
