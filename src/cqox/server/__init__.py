"""The CQOx HTTP service: a thin shell around the engine.

Layout (FastAPI "bigger applications"): :mod:`~cqox.server.main` assembles
(``create_app(settings)``); one router per resource in :mod:`cqox.server.routers`;
typed dependencies in :mod:`~cqox.server.deps`; settings in
:mod:`~cqox.server.settings`; one error shape in :mod:`~cqox.server.problems`; the
job runner in :mod:`~cqox.server.jobs` and what runs in a worker process in
:mod:`~cqox.server.worker`.  Names are imported lazily so that a worker process loads
only the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cqox.server.main import create_app
    from cqox.server.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from cqox.server.main import create_app

        return create_app
    if name == "Settings":
        from cqox.server.settings import Settings

        return Settings
    raise AttributeError(f"module 'cqox.server' has no attribute {name!r}")
