"""The web dashboard: the front-end built from ``frontend/`` (React, Vite) into ``server/ui``.

``make ui`` (run by ``make run`` and ``make test``) builds it into this package, so the
installed package serves it: ``/`` is the page, ``/assets/<file>`` its scripts, style
sheets and fonts (Plotly.js bundled in; nothing loads from another host).  Page changes
are hash routes (``/#/analyses``), so the server has one page to serve.  An install
without the built front-end answers ``/`` with a page saying how to build it; the API
and ``/docs`` work either way.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from cqox.server.problems import NotFoundError

router = APIRouter(include_in_schema=False)

#: Where ``make ui`` writes the built front-end (``vite build --outDir``).
UI_DIR = Path(__file__).resolve().parents[1] / "ui"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".map": "application/json",
}
NOT_BUILT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CQOx</title></head>
<body><main><h1>CQOx</h1>
<p>The dashboard is not built in this installation. In a checkout, <code>make run</code>
builds it (or <code>make ui</code>); the API works without it and is documented at
<a href="/docs">/docs</a>.</p></main></body></html>
"""


def ui_built(folder: Path | None = None) -> bool:
    """Whether the built front-end is installed (in ``folder``, default :data:`UI_DIR`)."""
    return ((folder or UI_DIR) / "index.html").is_file()


@router.get("/")
def dashboard() -> Response:
    """The web dashboard (or how to build it)."""
    if not ui_built():
        return HTMLResponse(NOT_BUILT, status_code=503)
    page = UI_DIR / "index.html"
    return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/assets/{name}")
def asset(name: str) -> FileResponse:
    """A built asset: content-hashed names, so they may be cached for good."""
    path = UI_DIR / "assets" / name
    kind = _TYPES.get(Path(name).suffix)
    if not _NAME.match(name) or kind is None or not path.is_file():
        raise NotFoundError(f"no asset {name[:40]!r}")
    return FileResponse(
        path, media_type=kind, headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )
