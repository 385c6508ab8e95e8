"""Authentication: login, refresh, logout, the current user, API keys.

Every mutating route here commits before its response is sent (``DbSession`` ends with
the handler), so a request that follows a logout, a refresh or a key revocation already
sees it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from cqox.server.access import iso
from cqox.server.deps import CurrentUser, DbSession, SettingsDep
from cqox.server.models import ApiKey, User, utcnow
from cqox.server.problems import NotFoundError, RateLimitExceededError, UnauthorizedError
from cqox.server.responses import ApiKeyCreated, ApiKeyList, ApiKeyOut, UserOut
from cqox.server.schemas import (
    ApiKeyCreate,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    TokenResponse,
)
from cqox.server.security import (
    authenticate,
    decode_token,
    issue_tokens,
    new_api_key,
    revoke,
)
from cqox.server.storage import check_id
from cqox.server.throttle import LoginThrottle

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=TokenResponse)
def login(
    request: Request, body: LoginRequest, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """Exchange user name and password for an access token (1 h) and a refresh token.

    Repeated failures for one user name earn an exponential back-off (429 with
    ``Retry-After``), whatever address they come from.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.attempt(body.username)
    if wait:
        raise RateLimitExceededError(
            f"too many failed logins for this user name; retry in {wait} s",
            details={"retry_after_s": wait},
            headers={"Retry-After": str(wait)},
        )
    user = authenticate(session, body.username, body.password)
    if user is None:
        raise UnauthorizedError("wrong user name or password")
    throttle.succeeded(body.username)
    return issue_tokens(settings, user)


@router.post("/refresh", response_model=TokenResponse)
def refresh(body: RefreshRequest, session: DbSession, settings: SettingsDep) -> dict[str, Any]:
    """New tokens for a valid refresh token (which is revoked: each is good once).

    Of concurrent refreshes with one token exactly one succeeds: the revocation is a
    single insert on the denylist's primary key, committed before new tokens are issued.
    """
    claims = decode_token(settings, body.refresh_token, "refresh")
    user = session.get(User, claims.sub)
    if user is None:
        raise UnauthorizedError("the token's user no longer exists")
    if not revoke(session, claims):
        raise UnauthorizedError("refresh token revoked")
    session.commit()
    return issue_tokens(settings, user)


@router.post("/logout", status_code=200)
def logout(
    request: Request,
    user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    body: LogoutRequest | None = None,
) -> dict[str, Any]:
    """Revoke the access token used (and the refresh token, when given)."""
    claims = getattr(request.state, "token_claims", None)
    if claims is not None:
        revoke(session, claims)
    if body is not None and body.refresh_token:
        revoke(session, decode_token(settings, body.refresh_token, "refresh"))
    return {"revoked": True}


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> dict[str, Any]:
    """The current user."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "created_at": iso(user.created_at),
    }


def _key_out(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": iso(k.created_at),
        "revoked_at": iso(k.revoked_at),
        "last_used_at": iso(k.last_used_at),
    }


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Create an API key (send it as ``X-API-Key``); the key is shown only in this answer."""
    row, key = new_api_key(session, user, body.name)
    return {**_key_out(row), "key": key}


@router.get("/api-keys", response_model=ApiKeyList)
def list_api_keys(user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """The current user's API keys (never the keys themselves)."""
    rows = session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at)
    ).all()
    return {"api_keys": [_key_out(k) for k in rows]}


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: str, user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Revoke one of the current user's API keys."""
    check_id(key_id, "key_id")
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"API key {key_id!r} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return _key_out(row)
