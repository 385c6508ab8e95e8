"""User management (admins only).

Changes are committed before the answer is sent; deleting a user removes their
datasets, jobs, analyses and files at once (:mod:`cqox.server.accounts`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from cqox.server.access import iso
from cqox.server.accounts import delete_account
from cqox.server.deps import Admin, DbSession, ServicesDep, SettingsDep
from cqox.server.models import User
from cqox.server.problems import ConflictError, NotFoundError
from cqox.server.responses import UserList, UserOut
from cqox.server.schemas import UserCreate
from cqox.server.security import check_username, create_user

router = APIRouter(prefix="/api/users", tags=["users"])


def _out(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role, "created_at": iso(u.created_at)}


@router.get("", response_model=UserList)
def list_users(admin: Admin, session: DbSession) -> dict[str, Any]:
    """Every user."""
    return {"users": [_out(u) for u in session.scalars(select(User).order_by(User.username))]}


@router.post("", status_code=201, response_model=UserOut)
def add_user(body: UserCreate, admin: Admin, session: DbSession) -> dict[str, Any]:
    """Create a user with a role."""
    return _out(create_user(session, body.username, body.role, body.password))


@router.delete("/{username}")
def delete_user(
    username: str,
    admin: Admin,
    session: DbSession,
    settings: SettingsDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Delete a user and, with them, their API keys, datasets, jobs, analyses and files."""
    check_username(username)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    if user.id == admin.id:
        raise ConflictError("an admin cannot delete their own account")
    removed = delete_account(session, settings.data_dir, user, services.runner.cancel)
    return {
        "deleted": username,
        "datasets": removed.datasets,
        "analyses": removed.analyses,
        "jobs": removed.jobs,
    }
