"""Signed, expiring links to an analysis's report, for people without an account.

``POST /api/analyses/{analysis_id}/share`` answers a URL carrying a token signed with
the service's key (HS256, like the access tokens, but of type ``share`` so neither kind
is accepted for the other): the analysis id, its owner, the issue and expiry times.
``GET /api/shared/reports/{token}`` serves the report to whoever holds the URL until
the token expires (at most :data:`MAX_HOURS`), or until the analysis is deleted.  The
token is the only credential: treat the link like the report itself.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import Field

from cqox.server.access import owned
from cqox.server.deps import DbSession, ServicesDep, SettingsDep, Viewer
from cqox.server.figures import report_csp
from cqox.server.models import AnalysisRecord
from cqox.server.problems import NotFoundError, UnauthorizedError
from cqox.server.responses import ShareLink
from cqox.server.routers.analyses import report_filename, report_page
from cqox.server.schemas import Strict
from cqox.server.security import ALGORITHM, signing_key

router = APIRouter(prefix="/api", tags=["analyses"])

#: Longest lifetime of a viewer link (30 days).
MAX_HOURS = 720
#: The token type of a viewer link (access and refresh tokens have their own).
TOKEN_TYPE = "share"


class ShareRequest(Strict):
    """How long the link stays valid."""

    hours: int = Field(default=72, ge=1, le=MAX_HOURS)


def share_token(key: str, analysis: AnalysisRecord, hours: int) -> tuple[str, datetime]:
    """A signed token for the report of ``analysis``, valid ``hours`` from now."""
    now = datetime.now(UTC)
    expires = now + timedelta(hours=hours)
    payload = {
        "type": TOKEN_TYPE,
        "sub": analysis.id,
        "owner": analysis.owner_id,
        "jti": secrets.token_hex(8),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM), expires


def read_share_token(key: str, token: str) -> tuple[str, str]:
    """``(analysis id, owner id)`` of a valid viewer-link token, else 401."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["type", "sub", "owner", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("this report link has expired; ask for a new one") from exc
    except jwt.PyJWTError as exc:
        raise UnauthorizedError("this report link is not valid") from exc
    if claims.get("type") != TOKEN_TYPE:
        raise UnauthorizedError("this report link is not valid")
    return str(claims["sub"]), str(claims["owner"])


@router.post("/analyses/{analysis_id}/share", response_model=ShareLink)
def share_report(
    analysis_id: str,
    user: Viewer,
    session: DbSession,
    settings: SettingsDep,
    body: ShareRequest | None = None,
) -> dict[str, Any]:
    """A signed link to the report that works without logging in, until it expires."""
    analysis = owned(session, AnalysisRecord, analysis_id, user)
    hours = (body or ShareRequest()).hours
    token, expires = share_token(signing_key(settings), analysis, hours)
    return {
        "analysis_id": analysis.id,
        "url": f"/api/shared/reports/{token}",
        "expires_at": expires.isoformat(),
        "hours": hours,
    }


@router.get("/shared/reports/{token}", response_class=HTMLResponse)
def shared_report(
    token: str, session: DbSession, settings: SettingsDep, services: ServicesDep
) -> HTMLResponse:
    """The report behind a viewer link (no login: the signed token is the credential)."""
    analysis_id, owner_id = read_share_token(signing_key(settings), token[:4096])
    analysis = session.get(AnalysisRecord, analysis_id)
    if analysis is None or analysis.owner_id != owner_id:
        raise NotFoundError("the analysis of this link has been deleted")
    filename = report_filename(session, analysis)
    session.close()
    page = report_page(settings, analysis_id, services.artefacts)
    return HTMLResponse(
        page,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": report_csp(),
        },
    )
