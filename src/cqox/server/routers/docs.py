"""``/docs``: Swagger UI served from the installed ``swagger-ui-bundle-v2`` package.

No CDN: the page, its script, its style sheet and its icon all come from this service,
so the documentation works offline and loads nothing unpinned (the package's version
is Swagger UI's).  The page's one inline script is allowed by its SHA-256 in the page's
content security policy.  ReDoc (FastAPI's ``/redoc``) is not offered: no package ships
it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from cqox.server.headers import csp_with_scripts
from cqox.server.problems import NotFoundError

ASSETS_URL = "/docs/assets"
#: The files of Swagger UI the page uses, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def swagger_dir() -> Path:
    """The folder of Swagger UI's files in the installed package."""
    return Path(str(swagger_ui_path))


def docs_page(openapi_url: str, title: str) -> tuple[str, str]:
    """The Swagger UI page and the content security policy that lets it run."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        # Swagger UI would otherwise send the spec to an online validator for a badge
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode("utf-8")
    hashes = [
        "sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii")
        for s in _INLINE_SCRIPT.findall(html)
    ]
    return html, csp_with_scripts(*hashes)


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """A router with ``/docs`` and its assets (one per app)."""
    html, policy = docs_page(openapi_url, f"{title} — API")
    router = APIRouter(tags=["docs"], include_in_schema=False)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        """Swagger UI."""
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    @router.get(ASSETS_URL + "/{name}")
    def docs_asset(name: str) -> FileResponse:
        """Swagger UI's script, style sheet and icon."""
        if name not in ASSETS:
            raise NotFoundError(f"no documentation asset {name[:40]!r}")
        return FileResponse(swagger_dir() / name, media_type=ASSETS[name])

    return router
