"""Headers and exposure (#10, part 6): CSP and companions, offline /docs, private /metrics."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cqox.server import create_app
from tests.api.conftest import METRICS_AUTH, assert_error, make_settings
from tests.api.service_process import free_port
from tests.security.conftest import add_user, bearer, login, running

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
_SRC = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _policy(header: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}."""
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running(tmp_path_factory.mktemp("headers"), None) as c:
        yield c


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    add_user(client.app, "olga")  # type: ignore[arg-type]
    h = bearer(login(client, "olga")["access_token"])
    responses = {
        "dashboard": client.get("/"),
        "asset": client.get("/assets/missing.js"),
        "api": client.get("/api/datasets", headers=h),
        "error": client.get("/api/datasets"),
        "not found": client.get("/nowhere"),
        "health": client.get("/health"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
    }
    for what, r in responses.items():
        assert r.headers.get("X-Content-Type-Options") == "nosniff", what
        assert r.headers.get("Referrer-Policy") == "no-referrer", what
        policy = _policy(r.headers.get("Content-Security-Policy", ""))
        assert policy.get("default-src") == ["'self'"], what
        assert policy.get("frame-ancestors") == ["'none'"], what
        assert policy.get("object-src") == ["'none'"], what
        scripts = policy.get("script-src", [])
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, what
        assert not [s for s in scripts if s.startswith(("http", "*"))], what


def test_the_dashboard_needs_nothing_the_policy_forbids() -> None:
    html = (FRONTEND / "index.html").read_text()
    assert not _INLINE_SCRIPT.search(html), "inline <script> blocks are refused by the CSP"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handlers are refused"
    urls = _SRC.findall(html)
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls  # same origin
    sources = [*FRONTEND.glob("src/**/*.ts"), *FRONTEND.glob("src/**/*.tsx")]
    assert len(sources) > 10
    for path in sources:
        code = path.read_text()
        for forbidden in (
            r"\beval\(",
            r"new Function",
            r"\.innerHTML\s*=",
            r"dangerouslySetInnerHTML",
            r"javascript:",
            r"https?://",
        ):
            assert not re.search(forbidden, code), (path.name, forbidden)


def test_docs_are_served_offline_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    assert "//" not in "".join(_SRC.findall(page.text))  # no scheme-relative host either
    urls = _SRC.findall(page.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
        assert r.headers["content-type"].startswith(kinds[Path(url).suffix]), url
    assert "SwaggerUIBundle" in client.get(next(u for u in urls if u.endswith(".js"))).text
    # the one inline start-up script is allowed by its hash, nothing else inline
    scripts = _INLINE_SCRIPT.findall(page.text)
    allowed = _policy(page.headers["Content-Security-Policy"])["script-src"]
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    assert "'unsafe-inline'" not in allowed
    assert "/openapi.json" in page.text and client.get("/openapi.json").status_code == 200
    assert client.get("/docs/assets/../settings.py").status_code == 404
    assert client.get("/docs/assets/swagger-ui-bundle.js.map").status_code == 404


def test_redoc_which_would_load_a_cdn_script_is_not_offered(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_metrics_are_not_public(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, metrics_token=None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert_error(c.get("/metrics"), 404, "NOT_FOUND")


def test_metrics_answer_only_the_bearer_of_the_metrics_token(client: TestClient) -> None:
    assert_error(client.get("/metrics"), 401, "UNAUTHORIZED")
    wrong = {"Authorization": "Bearer " + "x" * 37}
    assert_error(client.get("/metrics", headers=wrong), 401, "UNAUTHORIZED")
    # a user's own access token is not the metrics token
    add_user(client.app, "pat", "admin")  # type: ignore[arg-type]
    user = bearer(login(client, "pat")["access_token"])
    assert_error(client.get("/metrics", headers=user), 401, "UNAUTHORIZED")
    r = client.get("/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200 and "cqox_http_requests_total" in r.text


def test_metrics_on_a_separate_listener(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, None, metrics_token=None, metrics_address=f"127.0.0.1:{port}"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.get("/health")
        assert_error(c.get("/metrics"), 404, "NOT_FOUND")  # not on the public address
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200 and "cqox_http_requests_total" in r.text
    with pytest.raises(httpx.ConnectError):  # stopped with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.parametrize("value", ["9464", "host:", ":9464", "h:99999", "h:port"])
def test_a_bad_metrics_address_is_refused(value: str) -> None:
    from pydantic import ValidationError

    from cqox.server.settings import Settings

    with pytest.raises(ValidationError, match="CQOX_METRICS_ADDRESS"):
        Settings(secret_key="k" * 40, metrics_address=value)
