"""``cqox worker``: run analysis jobs from the shared queue (``CQOX_SHARED_STATE``)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from cqox.cli.server_extra import INSTALL_HINT, missing_server_modules, require_server


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``worker`` to the ``cqox`` command."""
    epilog = (
        f"needs the server extra: {INSTALL_HINT}"
        if missing_server_modules()
        else "settings: the CQOX_* variables of `cqox serve --help`; CQOX_SHARED_STATE=true, "
        "CQOX_DATABASE_URL and CQOX_DATA_DIR must be the API's, CQOX_WORKERS is the number "
        "of sandboxed worker processes of this `cqox worker`."
    )
    p: argparse.ArgumentParser = subparsers.add_parser(
        "worker",
        help="run analysis jobs from the shared queue (scale-out service)",
        description="Take analysis jobs that `cqox serve` processes queued in the shared "
        "database and run them in sandboxed worker processes. Any number of `cqox worker` "
        "processes may run, on one or many machines. Stops on SIGTERM, putting unfinished "
        "jobs back in the queue.",
        epilog=epilog,
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def run(args: argparse.Namespace) -> int:
    """Run the worker until it is stopped."""
    require_server("worker")
    from pydantic import ValidationError

    from cqox.server.settings import Settings
    from cqox.server.worker_service import SharedStateRequiredError, run_worker

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"cqox: error: invalid configuration: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    try:
        return run_worker(settings)
    except SharedStateRequiredError as exc:
        print(f"cqox: error: {exc}", file=sys.stderr)
        return 2
