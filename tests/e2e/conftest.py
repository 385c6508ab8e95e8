"""Browser tests of the dashboard (#14): a real ``cqox serve`` and Debian's chromium,
driven by Playwright for Python (Playwright's own browser download is not used).

They need the built dashboard (``make ui``; ``make test`` builds it) and ``chromium``
(``.ci/run`` installs it with apt-get).  Without either they are skipped with the reason,
except under ``CI=true``, where a missing piece fails them.  Every page is screenshot at
1400 and 420 px into ``build/screenshots/``, checked for horizontal overflow at 420 px
and with axe-core (no serious or critical violation); a console error (a refused
script or style, a page exception) fails the test that caused it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cqox.server.routers.ui import ui_built
from tests.api.service_process import Server, create_user_cli, free_port, service_env
from tests.conftest import DATASETS

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "e2e password 1"
CI = os.environ.get("CI") == "true"
#: Widths of the screenshots: a laptop and a phone.
WIDTHS = (1400, 420)
#: Longest an analysis may take in these tests.
ANALYSIS_TIMEOUT_MS = 240_000
#: Console messages that are not faults: the browser logs every 4xx answer, and the
#: error-display tests provoke some on purpose.
_EXPECTED_CONSOLE = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
)


def need(ok: object, reason: str) -> None:
    """Skip without ``ok`` — or fail under CI, where everything must be there."""
    if not ok:
        if CI:
            pytest.fail(reason)
        pytest.skip(reason)


def chromium_path() -> str | None:
    """Debian's chromium (or another Chromium on PATH)."""
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def shared_dataset(name: str) -> Path:
    """A file of the shared data sets (``../shared/datasets``), or skip."""
    path = DATASETS / name
    need(path.exists(), f"shared data set {name} not found in {DATASETS}")
    return path


# module scope: Playwright's sync API keeps an event loop running on the main thread
# while a browser is open, which would break later tests that call asyncio.run()
@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    need(ui_built(), "the dashboard is not built (make ui)")
    need(chromium_path(), "no chromium on PATH (apt-get install chromium; .ci/run does)")
    data = tmp_path_factory.mktemp("e2e")
    env = service_env(data, None, CQOX_WORKERS="2")
    for name, role in (("admin", "admin"), ("ana", "analyst"), ("vic", "viewer")):
        create_user_cli(env, name, role, PASSWORD)
    server = Server(env, free_port(), data / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(service: Server) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, service: Server) -> Iterator[Any]:
    context = browser.new_context(
        base_url=service.url, viewport={"width": WIDTHS[0], "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not _EXPECTED_CONSOLE.search(m.text)
            else None
        ),
    )
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    assert not problems, f"console errors: {problems}"


def login(page: Any, user: str = "ana") -> None:
    """Log in through the form and wait for the data sets page."""
    page.goto("/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Data sets", level=1).wait_for()


def upload(page: Any, path: Path) -> None:
    """Upload a table on the data sets page; the analysis page of it opens."""
    page.goto("/#/data")
    page.get_by_label("Table (CSV, Parquet, Excel, JSON)").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("heading", name=f"Analyse {path.name}").wait_for(timeout=60_000)
    page.locator("#role-outcome").wait_for()


def check_page(page: Any, name: str) -> None:
    """Screenshots at both widths, no sideways scrolling at 420 px, and axe-core."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(400)  # responsive Plotly figures redraw
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        if width < 1000:
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{name}: the page scrolls sideways by {overflow} px at {width}"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    assert_accessible(page, name)


def assert_accessible(page: Any, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is."""
    need(AXE.exists(), "axe-core is not installed (npm ci in frontend/)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: accessibility violations {json.dumps(bad, indent=1)}"
