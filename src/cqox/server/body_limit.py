"""Request bodies are counted as they arrive; past the limit the answer is 413 at once.

A ``Content-Length`` over the limit is refused before a byte is read.  A chunked body
(no ``Content-Length``), or one longer than it said, is counted message by message as
the server hands it over, and the request is answered 413 the moment the count passes
the limit: the rest is never read, and the answer says ``Connection: close`` so that
the server closes the connection instead of draining it (a 150 MB chunked upload used
to be received whole before its 413).

The limit is ``CQOX_MAX_UPLOAD_MB`` plus room for the multipart envelope on
``POST /api/upload``, and 1 MB on every other ``/api`` route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cqox.server.problems import error_response
from cqox.server.settings import Settings

#: Largest JSON body accepted on routes other than the upload.
MAX_JSON_BODY = 1024 * 1024
#: Room for the multipart envelope around an uploaded file.
MULTIPART_OVERHEAD = 64 * 1024


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """The body limit of a route in bytes, and what sets it (for the message)."""
    if path.rstrip("/") == "/api/upload":
        return settings.max_upload_bytes + MULTIPART_OVERHEAD, " (CQOX_MAX_UPLOAD_MB)"
    return MAX_JSON_BODY, ""


class _BodyTooLargeError(Exception):
    """Raised into the app when its body read passes the limit (the 413 is sent)."""


class BodyLimitMiddleware:
    """ASGI middleware: answer 413 as soon as a request body passes its limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``; refuse it past the limit."""
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api"):
            await self.app(scope, receive, send)
            return
        limit, setting = body_limit(str(scope["path"]), self.settings)
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(
                    request, "INVALID_REQUEST", "invalid Content-Length header"
                )
                await response(scope, receive, send)
                return
            if int(declared) > limit:
                response = _too_large(request, f"{declared} bytes", limit, setting)
                await response(scope, receive, send)
                return
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        response = _too_large(request, f"at least {received} bytes", limit, setting)
                        await response(scope, receive, send)
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own answer to its aborted read: the 413 went first
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # whatever the app made of the aborted read (FastAPI: a 400), the 413 is sent
            if not refused:
                raise


def _too_large(request: Request, size: str, limit: int, setting: str) -> JSONResponse:
    # "Connection: close": otherwise the server drains the unread rest of the body to
    # keep the connection alive, which is the very reading the limit is there to stop
    return error_response(
        request,
        "PAYLOAD_TOO_LARGE",
        f"request body of {size} exceeds the limit of {limit} bytes{setting}",
        {"limit_bytes": limit},
        {"Connection": "close"},
    )
