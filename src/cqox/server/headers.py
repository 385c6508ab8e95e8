"""Security headers on every response: a content security policy and its companions.

The policy allows only this origin.  Two allowances are deliberate:

- ``style-src 'unsafe-inline'``: Plotly.js writes ``style`` attributes and ``<style>``
  rules at run time, and the self-contained HTML report carries its CSS inline.  Inline
  *styles* cannot run code; inline *scripts* stay forbidden.
- ``img-src data: blob:``: the report embeds its figures as ``data:`` PNGs, the dashboard
  shows PNG figures through ``blob:`` URLs, and Swagger UI's icons are ``data:`` SVGs.

No ``'unsafe-eval'``: the dashboard draws SVG traces only.  Plotly's WebGL traces
(``scattergl``, ``splom``, …) compile shaders with ``Function()`` and would need it;
the two other ``Function()`` calls in plotly.min.js are fallbacks for engines without
``globalThis``/``Function.prototype.bind`` and are never reached in current browsers.
``/docs`` adds the hash of Swagger UI's one inline start-up script
(:mod:`cqox.server.routers.docs`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

#: The policy of every response that does not set its own.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The other headers, set on every response.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # for browsers that predate frame-ancestors
    "X-Frame-Options": "DENY",
    # ids in URLs (/api/analyses/<id>/report) must not leak to other sites
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csp_with_scripts(*hashes: str) -> str:
    """The policy, with inline scripts of these ``sha256-…`` hashes allowed."""
    allowed = " ".join(f"'{h}'" for h in hashes)
    return CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {allowed}")


def install_security_headers(app: FastAPI) -> None:
    """Add the headers to every response of ``app`` (a route's own CSP is kept)."""

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
