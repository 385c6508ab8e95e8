"""Passwords, tokens and API keys.

- Passwords: argon2id (argon2-cffi), never stored in clear.
- Access tokens: JWT HS256 signed with ``CQOX_SECRET_KEY`` (or the generated key of
  :mod:`cqox.server.signing`), claims ``sub`` (user id), ``role``, ``jti`` (token id),
  ``type`` = ``access``, ``iat``, ``exp`` (1 hour).  A token is refused once it is
  older than its configured lifetime counted from ``iat``, whatever its ``exp`` says.
  ``CQOX_SECRET_KEY_PREVIOUS`` verifies tokens during a key rotation but never signs.
- Refresh tokens: JWT of ``type`` = ``refresh`` (7 days); refreshing revokes the old one
  atomically (the denylist's primary key lets one of concurrent refreshes win).
- Logout puts the ``jti`` of the token(s) in a persisted denylist.
- API keys: ``cqox_`` + 40 random URL-safe characters; only their SHA-256 is stored
  (a key is random, so a fast hash is enough — unlike a password it cannot be guessed).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cqox.server.models import ApiKey, RevokedToken, User, utcnow
from cqox.server.problems import InvalidRequestError, UnauthorizedError
from cqox.server.settings import Settings

ROLES: tuple[str, ...] = ("admin", "analyst", "viewer")
#: Permission → roles that have it (the issue's matrix).
PERMISSIONS: dict[str, frozenset[str]] = {
    "run_analysis": frozenset({"admin", "analyst"}),
    "view_results": frozenset({"admin", "analyst", "viewer"}),
    "delete_results": frozenset({"admin", "analyst"}),
    "manage_users": frozenset({"admin"}),
    "manage_system": frozenset({"admin"}),
}
ALGORITHM = "HS256"
#: Clock difference tolerated between the issuer and the verifier (an ``iat`` this far in
#: the future, or an age this far past the lifetime, is still accepted).
CLOCK_SKEW_S = 30
API_KEY_PREFIX = "cqox_"
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True when ``password`` matches the stored hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: A hash to verify against when the user does not exist (equal time for both cases).
_DUMMY_HASH = hash_password("cqox-no-such-user")


def check_username(name: str) -> str:
    """Validate a user name (letters, digits, ``_ . @ -``; at most 64 characters)."""
    if not USERNAME.match(name):
        raise InvalidRequestError(
            f"invalid user name {name!r}: use letters, digits, '_', '.', '@', '-' "
            "(at most 64 characters, starting with a letter or digit)",
            details={"username": name},
        )
    return name


def check_role(role: str) -> str:
    """Validate a role name."""
    if role not in ROLES:
        raise InvalidRequestError(
            f"unknown role {role!r} (roles: {', '.join(ROLES)})", details={"role": role}
        )
    return role


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username))
    session.commit()  # hold no connection during the deliberately slow hash check
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a token."""

    sub: str
    role: str
    jti: str
    type: str
    exp: datetime


def signing_key(settings: Settings) -> str:
    """The key that signs tokens (``create_app`` fills it in when not configured)."""
    if settings.secret_key is None:
        raise RuntimeError(
            "no signing key: build the app with create_app(), which loads or generates one"
        )
    return settings.secret_key


def verifying_keys(settings: Settings) -> list[str]:
    """The keys a token may be signed with: the current one, then the previous one."""
    keys = [signing_key(settings)]
    if settings.secret_key_previous:
        keys.append(settings.secret_key_previous)
    return keys


def lifetime(settings: Settings, kind: str) -> timedelta:
    """The configured lifetime of a token of ``kind`` (``access`` or ``refresh``)."""
    if kind == "refresh":
        return timedelta(days=settings.refresh_token_days)
    return timedelta(minutes=settings.access_token_minutes)


def _encode(settings: Settings, user: User, kind: str, ttl: timedelta) -> tuple[str, str]:
    now = datetime.now(UTC)
    jti = secrets.token_hex(16)
    payload = {
        "sub": user.id,
        "role": user.role,
        "jti": jti,
        "type": kind,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(payload, signing_key(settings), algorithm=ALGORITHM), jti


def issue_tokens(settings: Settings, user: User) -> dict[str, Any]:
    """The login answer: access and refresh tokens."""
    access, _ = _encode(settings, user, "access", lifetime(settings, "access"))
    refresh, _ = _encode(settings, user, "refresh", lifetime(settings, "refresh"))
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
    }


def _verified_payload(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a token signed by one of the verifying keys."""
    expired = False
    for key in verifying_keys(settings):
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                leeway=CLOCK_SKEW_S,
                options={"require": ["sub", "role", "jti", "exp", "iat", "type"]},
            )
            return payload
        except jwt.ExpiredSignatureError:
            expired = True  # the signature was good: no other key will do better
            break
        except jwt.PyJWTError:
            continue
    raise UnauthorizedError("token expired" if expired else "invalid token")


def decode_token(settings: Settings, token: str, kind: str = "access") -> TokenClaims:
    """Verify signature, age, expiry and type; raise :class:`UnauthorizedError` otherwise.

    The age is counted from ``iat``: a token older than the configured lifetime of its
    kind is refused even when its ``exp`` lies further ahead (a token minted with a
    far expiry, or one issued before the lifetime was shortened).
    """
    payload = _verified_payload(settings, token)
    if payload.get("type") != kind:
        raise UnauthorizedError(f"not an {kind} token")
    try:
        issued = float(payload["iat"])
    except (TypeError, ValueError):
        raise UnauthorizedError("invalid token") from None
    now = datetime.now(UTC).timestamp()
    if issued > now + CLOCK_SKEW_S:
        raise UnauthorizedError("invalid token: issued in the future")
    if now - issued > lifetime(settings, kind).total_seconds() + CLOCK_SKEW_S:
        raise UnauthorizedError("token expired: older than its maximum lifetime")
    return TokenClaims(
        sub=str(payload["sub"]),
        role=str(payload["role"]),
        jti=str(payload["jti"]),
        type=str(payload["type"]),
        exp=datetime.fromtimestamp(int(payload["exp"]), UTC),
    )


def is_revoked(session: Session, jti: str) -> bool:
    """True when the token id is on the denylist."""
    return session.get(RevokedToken, jti) is not None


def revoke(session: Session, claims: TokenClaims) -> bool:
    """Put a token id on the denylist; False when it was there already.

    One ``INSERT … ON CONFLICT DO NOTHING`` on the primary key: of concurrent
    revocations of one token exactly one inserts the row (the database serialises them),
    which is what makes a refresh token good once even under a race.  Expired rows are
    purged on the way.
    """
    values = {"jti": claims.jti, "expires_at": claims.exp}
    table = cast(Table, RevokedToken.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(values).on_conflict_do_nothing()
    else:  # other databases: check, then insert (the primary key still refuses a twin)
        if session.get(RevokedToken, claims.jti) is not None:
            return False
        session.add(RevokedToken(**values))
        session.flush()
        stmt = None
    inserted = True
    if stmt is not None:
        # RETURNING gives the row only when it was inserted (rowcount is not reliable
        # for INSERT … ON CONFLICT across drivers)
        inserted = session.execute(stmt.returning(table.c.jti)).first() is not None
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    return inserted


def hash_api_key(key: str) -> str:
    """SHA-256 of an API key (hex)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    """Create an API key for ``user``; the clear key is returned once, never stored."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(30)
    row = ApiKey(user_id=user.id, name=name, prefix=key[:12], key_hash=hash_api_key(key))
    session.add(row)
    session.flush()
    return row, key


def user_for_api_key(session: Session, key: str) -> User | None:
    """The owner of an active API key, or None."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    return session.get(User, row.user_id)


def create_user(session: Session, username: str, role: str, password: str) -> User:
    """Create a user (name and role validated, password hashed)."""
    from cqox.server.problems import ConflictError

    check_username(username)
    check_role(role)
    if len(password) < 8:
        raise InvalidRequestError("the password must have at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} exists already", details={"username": username})
    user = User(username=username, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user
