"""``cqox serve``: run the HTTP service and dashboard (uvicorn, one process + workers)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cqox.cli.server_extra import INSTALL_HINT, missing_server_modules, require_server

#: Seconds an idle HTTP connection stays open.
KEEP_ALIVE_S = 30


def _epilog() -> str:
    """The settings list (imports the service: built only for ``cqox serve --help``)."""
    if missing_server_modules():
        return f"needs the server extra: {INSTALL_HINT}"
    from cqox.server.settings import settings_help

    return "settings (environment variables):\n" + settings_help()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``cqox`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the HTTP service and web dashboard",
        description="Run the CQOx HTTP service (API at /api, OpenAPI docs at /docs, dashboard "
        "at /). Configuration comes from environment variables:",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # the parser is the command's CliParser, which builds the epilog when help is printed
    p.epilog_factory = _epilog  # type: ignore[attr-defined]
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def run(args: argparse.Namespace) -> int:
    """Start the service; returns when it stops."""
    require_server("serve")
    import uvicorn
    from pydantic import ValidationError

    from cqox.server.main import create_app, proxy_options
    from cqox.server.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"cqox: error: invalid configuration: {first['msg']}", file=sys.stderr)
        return 2
    app = create_app(settings)
    print(
        f"CQOx service on http://{args.host}:{args.port}/  (API docs: /docs; data: "
        f"{settings.data_dir.resolve()})",
        flush=True,
    )
    # keep idle connections open longer than uvicorn's 5 s: a busy client that pauses
    # between requests must not race the server closing its connection
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_keep_alive=KEEP_ALIVE_S,
        **proxy_options(settings),
    )
    return 0
