"""Whether the ``server`` extra (the HTTP service's dependencies) is installed.

``pip install cqox`` installs the engine, the library and the command line; the HTTP
service and the dashboard need ``pip install 'cqox[server]'``.  ``cqox serve`` and
``cqox users`` stay listed in ``cqox --help`` either way and, when the extra is
missing, fail with one line that names the command to run instead of a traceback.
"""

from __future__ import annotations

import importlib.util

from cqox.errors import MissingDependencyError

#: Import name of each distribution in the ``server`` extra of pyproject.toml.
SERVER_MODULES: tuple[str, ...] = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "multipart",
    "jwt",
    "argon2",
    "prometheus_client",
    "swagger_ui_bundle",
)

#: The command that installs them.
INSTALL_HINT = "pip install 'cqox[server]'"


def missing_server_modules() -> list[str]:
    """Import names of the ``server`` extra that cannot be found, in declaration order."""
    return [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]


def require_server(command: str) -> None:
    """Raise :class:`~cqox.errors.MissingDependencyError` unless the server extra is there.

    Parameters
    ----------
    command
        The subcommand that needs it (``"serve"``, ``"users"``), named in the message.
    """
    missing = missing_server_modules()
    if missing:
        raise MissingDependencyError(
            f"'cqox {command}' needs the HTTP service's dependencies, which are not "
            f"installed (missing: {', '.join(missing)}); install them with {INSTALL_HINT}",
            details={"missing": missing, "extra": "server"},
        )
