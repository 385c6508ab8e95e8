"""Typed dependencies: handler signatures read like a spec.

``DbSession`` (a session per request, committed when the handler returns and before the
response is sent), ``SettingsDep``, ``CurrentUser`` (from a Bearer JWT or an API key,
rate-limited per user id) and ``Allowed(permission)`` (the user, once the role matrix
allows the action).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cqox.server.artefacts import ArtefactCache
from cqox.server.jobs import JobRunner
from cqox.server.metrics import Metrics
from cqox.server.models import User
from cqox.server.problems import ForbiddenError, RateLimitExceededError, UnauthorizedError
from cqox.server.ratelimit import RateLimiter
from cqox.server.security import (
    API_KEY_PREFIX,
    PERMISSIONS,
    decode_token,
    is_revoked,
    user_for_api_key,
)
from cqox.server.settings import Settings, get_settings
from cqox.server.shared_queue import SharedJobs


@dataclass
class Services:
    """What one app owns: database, job runner, metrics, rendered-artefact cache."""

    engine: Engine
    factory: sessionmaker[Session]
    runner: JobRunner | SharedJobs
    metrics: Metrics
    artefacts: ArtefactCache


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


def get_db(request: Request) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back on error.

    Used with ``scope="function"``: the commit happens before the response is sent, so
    a client that got the answer to a revocation (logout, API key, user deletion) can
    rely on it for its next request, and a failing commit is an error response rather
    than a success followed by a lost write.
    """
    session = get_services(request).factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]
ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="access token from /api/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_current_user(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> User:
    """The authenticated user (Bearer access token or API key), else 401."""
    if api_key or (bearer is not None and bearer.credentials.startswith(API_KEY_PREFIX)):
        key = api_key or (bearer.credentials if bearer is not None else "")
        user = user_for_api_key(session, key)
        if user is None:
            raise UnauthorizedError("invalid or revoked API key")
        # end the transaction first: its connection goes back to the pool before the
        # shared rate limit takes one (holding one while waiting for a second deadlocks
        # a busy process once every pooled connection is held that way), and no lock
        # is held while the handler works
        session.commit()
        _limit_user(request, user)
        return user
    if bearer is None or not bearer.credentials:
        raise UnauthorizedError("authentication required: send 'Authorization: Bearer <token>'")
    claims = decode_token(settings, bearer.credentials, "access")
    if is_revoked(session, claims.jti):
        raise UnauthorizedError("token revoked")
    user = session.get(User, claims.sub)
    if user is None:
        raise UnauthorizedError("the token's user no longer exists")
    request.state.token_claims = claims
    session.commit()  # as above: release the connection before the rate limit's
    _limit_user(request, user)
    return user


def _limit_user(request: Request, user: User) -> None:
    """Count the request against the user's budget (one bucket per user, not per key)."""
    request.state.user_id = user.id
    limiter: RateLimiter = request.app.state.limiters[1]
    wait = limiter.check(f"user:{user.id}")
    if wait:
        raise RateLimitExceededError(
            f"rate limit exceeded; retry in {wait} s",
            details={"retry_after_s": wait},
            headers={"Retry-After": str(wait)},
        )


CurrentUser = Annotated[User, Depends(get_current_user)]


def allowed(permission: str) -> Callable[..., Any]:
    """Dependency: the current user, if the role matrix grants ``permission``."""
    roles = PERMISSIONS[permission]

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ForbiddenError(
                f"role '{user.role}' may not {permission.replace('_', ' ')} "
                f"(allowed: {', '.join(sorted(roles))})",
                details={"permission": permission, "role": user.role},
            )
        return user

    return check


Analyst = Annotated[User, Depends(allowed("run_analysis"))]
Viewer = Annotated[User, Depends(allowed("view_results"))]
Deleter = Annotated[User, Depends(allowed("delete_results"))]
Admin = Annotated[User, Depends(allowed("manage_users"))]
