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
import math
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
#: Tables simulated for the designs that no shared data set serves.
SIMULATED = ROOT / "build" / "e2e-data"
SIMULATED_NAMES = frozenset(
    {
        "its_series.csv",
        "panel_switching.csv",
        "dose_polynomial.csv",
        "network_units.csv",
        "network_edges.csv",
    }
)
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


def simulated_dataset(name: str) -> Path:
    """A table simulated by :mod:`cqox.simulate` for a design no shared data set has
    (written once into ``build/e2e-data/``; the same seed gives the same file)."""
    from cqox.simulate.dose import dose_polynomial
    from cqox.simulate.its import its_ar1
    from cqox.simulate.network import network_interference
    from cqox.simulate.panel_match import panel_switching

    path = SIMULATED / name
    if path.exists():
        return path
    SIMULATED.mkdir(parents=True, exist_ok=True)
    if name.startswith("network_"):
        units, edges, _ = network_interference(n=300, seed=0, graph_seed=0)
        units.to_csv(SIMULATED / "network_units.csv", index=False)
        edges.to_csv(SIMULATED / "network_edges.csv", index=False)
    else:
        make = {
            "its_series.csv": lambda: its_ar1(n_pre=60, n_post=60, seed=0)[0],
            "panel_switching.csv": lambda: panel_switching(n_units=100, n_periods=10, seed=0)[0],
            "dose_polynomial.csv": lambda: dose_polynomial(n=500, seed=0)[0],
        }[name]
        make().to_csv(path, index=False)
    return path


def dataset_path(name: str) -> Path:
    """A simulated table (:data:`SIMULATED_NAMES`) or a shared data set."""
    return simulated_dataset(name) if name in SIMULATED_NAMES else shared_dataset(name)


def open_dataset(page: Any, name: str) -> None:
    """The analysis page of a data set (uploaded on first use)."""
    page.goto("/#/data")
    link = page.get_by_role("link", name=f"Analyse {name}")
    page.get_by_role("heading", name="Your data sets").wait_for()
    page.wait_for_timeout(300)
    if link.count():
        link.first.click()
        page.get_by_role("heading", name=f"Analyse {name}").wait_for()
        page.locator("#role-outcome").wait_for()
    else:
        upload(page, dataset_path(name))


def set_role(page: Any, role: str, column: str) -> None:
    """Pick a role's column, opening its group of roles first when it is closed."""
    field = page.locator(f"#role-{role}")
    if not field.is_visible():
        field.locator("xpath=ancestor::details[1]/summary").click()
    field.select_option(column)


def tick(page: Any, label: str, on: bool = True) -> None:
    box = page.get_by_role("checkbox", name=label, exact=True)
    if box.is_checked() != on:
        box.click()


def tick_estimator(page: Any, name: str) -> None:
    page.locator(f"input[name=estimator][value='{name}']").check()


def param(page: Any, estimator: str, name: str, value: str) -> None:
    field = page.locator(f"#param-{estimator}-{name}")
    if not field.is_visible():
        page.locator("summary", has_text=f"parameters of {estimator}").click()
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def run(page: Any, dataset: str) -> None:
    """Run and wait for the result page."""
    page.get_by_role("button", name="Run analysis").click()
    page.get_by_role("heading", name=f"Analysis of {dataset}").wait_for(timeout=ANALYSIS_TIMEOUT_MS)


def shown_estimates(page: Any) -> list[dict[str, Any]]:
    """The estimates table of a result page: estimator, estimand, the text shown and
    the full-precision value behind it (``data-value``)."""
    table = page.locator("#estimates-table")
    rows: list[dict[str, Any]] = table.evaluate(
        """t => [...t.querySelectorAll('tbody tr')].map(r => ({
            estimator: r.querySelector('th').innerText.trim(),
            estimand: r.querySelectorAll('td')[0].innerText.trim(),
            text: r.querySelectorAll('td')[1].innerText.trim(),
            value: r.querySelectorAll('td')[1].dataset.value}))"""
    )
    return rows


def shown_number(x: float | None, digits: int = 4) -> str:
    """A number as the dashboard shows it (``num`` of frontend/src/lib/format.ts)."""
    if x is None or not math.isfinite(x):
        return "—"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        mantissa, exponent = f"{x:.2e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    text = repr(float(f"{x:.{digits}g}"))
    return text[:-2] if text.endswith(".0") else text


def analysis_request(page: Any) -> dict[str, Any]:
    """What the open result page's analysis was asked (roles, estimators, params, seed)."""
    analysis_id = page.url.rsplit("/result/", 1)[1]
    body: dict[str, Any] = page.evaluate(
        """async (id) => {
            const r = await fetch('/api/analyses/' + id, {headers: {
                Authorization: 'Bearer ' + sessionStorage.getItem('cqox_token')}});
            return await r.json();
        }""",
        analysis_id,
    )
    request: dict[str, Any] = body["request"]
    return request


def assert_shown_equals_library(page: Any, dataset: str, network: str | None = None) -> None:
    """Every estimate on the result page is the library's, run on the same table with
    the request the page sent: the text shown as the dashboard formats the library's
    number, and the value behind it to 1e-9 relative."""
    import pandas as pd

    import cqox

    request = analysis_request(page)
    df = pd.read_csv(dataset_path(dataset))
    edges = pd.read_csv(dataset_path(network)) if network else None
    library = cqox.analyze(
        df,
        roles=request["roles"],
        estimators=request["estimators"],
        params=request["params"],
        thresholds=request.get("thresholds") or {},
        infer=bool(request.get("infer", True)),
        seed=request["seed"],
        network=edges,
    ).to_dict()
    expected = {(e["estimator"], e["estimand"]): e["estimate"] for e in library["estimates"]}
    shown = shown_estimates(page)
    assert {(r["estimator"], r["estimand"]) for r in shown} == set(expected), (shown, expected)
    for row in shown:
        want = expected[(row["estimator"], row["estimand"])]
        assert row["text"] == shown_number(want), (row, want)
        assert float(row["value"]) == pytest.approx(want, rel=1e-9, abs=1e-12), (row, want)
