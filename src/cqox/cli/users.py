"""``cqox users``: create, list and delete users of the service (same settings as ``serve``)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cqox.cli.server_extra import require_server


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``users`` to the ``cqox`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "users",
        help="manage the service's users",
        description="Manage users in the service's database (CQOX_DATA_DIR / CQOX_DATABASE_URL).",
    )
    sub = p.add_subparsers(dest="users_command", metavar="ACTION")
    c = sub.add_parser("create", help="create a user")
    c.add_argument("name", help="user name")
    c.add_argument("--role", required=True, choices=["admin", "analyst", "viewer"])
    c.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    sub.add_parser("list", help="list the users")
    d = sub.add_parser("delete", help="delete a user")
    d.add_argument("name", help="user name")
    return p


def _factory() -> Any:
    from cqox.server.db import make_engine, migrate, session_factory
    from cqox.server.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    return engine, session_factory(engine), settings


def run(args: argparse.Namespace) -> int:
    """Run the ``users`` action; 0 on success, 2 on bad input."""
    require_server("users")
    from pydantic import ValidationError
    from sqlalchemy import select

    from cqox.server.accounts import delete_account
    from cqox.server.db import transaction
    from cqox.server.models import User
    from cqox.server.problems import ServiceError
    from cqox.server.security import check_username, create_user

    action = getattr(args, "users_command", None)
    if action is None:
        print("cqox: error: users needs an action: create, list or delete", file=sys.stderr)
        return 2
    try:
        engine, factory, settings = _factory()
    except ValidationError as exc:
        print(f"cqox: error: invalid configuration: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    try:
        with transaction(factory) as s:
            if action == "create":
                if args.password_stdin:
                    password = sys.stdin.readline().rstrip("\r\n")
                else:
                    password = getpass.getpass(f"password for {args.name}: ")
                user = create_user(s, args.name, args.role, password)
                print(f"created user {user.username} ({user.role})")
            elif action == "list":
                users = s.scalars(select(User).order_by(User.username)).all()
                print(f"{'user':<32}{'role':<10}created")
                for u in users:
                    print(f"{u.username:<32}{u.role:<10}{u.created_at:%Y-%m-%d %H:%M}")
            else:
                check_username(args.name)
                found = s.scalar(select(User).where(User.username == args.name))
                if found is None:
                    print(f"cqox: error: user '{args.name}' not found", file=sys.stderr)
                    return 2
                removed = delete_account(s, settings.data_dir, found)
                print(
                    f"deleted user {args.name} with {removed.datasets} dataset(s) and "
                    f"{removed.analyses} analysis(es)"
                )
    except ServiceError as exc:
        print(f"cqox: error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
