"""The dashboard in a real browser (#14): login, upload of the shared data sets, role
editing with the service's checks, live progress and cancel, figure interaction, report
download, the viewer link, history, compare and re-run, API keys and users, and the error
display — with screenshots of every page.  One analysis per design family is in
test_design_families.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ANALYSIS_TIMEOUT_MS,
    PASSWORD,
    SCREENSHOTS,
    WIDTHS,
    check_page,
    login,
    open_dataset,
    param,
    run,
    set_role,
    tick_estimator,
)

#: The shared data sets the issue names, with a column their preview must show.
SHARED = {
    "lalonde_nsw_dw.csv": "re78",
    "mpdta.csv": "first.treat",
    "cattaneo2.csv": "bweight",
    "rdrobust_senate.csv": "margin",
    "basque.csv": "gdpcap",
    "card1995.csv": "nearc4",
}


def test_login_shows_the_error_clears_it_and_logs_in(page: Any) -> None:
    page.goto("/")
    check_page(page, "login")
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "wrong user name or password" in alert.inner_text()
    assert "error-box" in alert.get_attribute("class")
    page.get_by_label("Password").fill(PASSWORD)  # editing clears the error
    assert page.get_by_role("alert").count() == 0
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Data sets", level=1).wait_for()
    assert page.get_by_text("ana (analyst)").is_visible()


def test_upload_of_each_shared_data_set_shows_preview_profile_and_roles(page: Any) -> None:
    login(page)
    for name, column in SHARED.items():
        open_dataset(page, name)
        preview = page.locator(".preview table")
        assert preview.locator("th", has_text=column).count() >= 1, name
        assert page.locator("#role-outcome option").count() >= 2, name
        if name == "lalonde_nsw_dw.csv":
            # inferred roles show their confidence and reason
            assert page.locator(".confidence").count() >= 1
            page.get_by_text(re.compile(r"Profile of the \d+ columns")).click()
            check_page(page, "analyse-lalonde")
    page.goto("/#/data")
    rows = page.locator("tbody tr")
    rows.first.wait_for()
    assert rows.count() >= len(SHARED)
    text = page.locator("table").inner_text()
    for name in SHARED:
        assert name in text
    assert "ana" in text and "kB" in text  # owner and size
    check_page(page, "datasets")


def test_role_editing_designs_parameter_checks_and_errors(page: Any) -> None:
    login(page)
    open_dataset(page, "mpdta.csv")
    set_role(page, "outcome", "lemp")
    set_role(page, "unit", "countyreal")
    set_role(page, "time", "year")
    set_role(page, "cohort", "first.treat")
    designs = page.locator("ul.designs")
    designs.get_by_text("Staggered difference-in-differences").wait_for()
    # the per-design field of staggered DiD, from the registry
    assert page.locator("#param-did_cs-control_group option").count() == 3
    # a parameter is checked by the service, with the engine's message
    param(page, "did_cs", "anticipation", "500")
    message = page.get_by_text(
        "The 'anticipation' parameter of did_cs must be an int in [0, 100]. Got 500 instead."
    )
    message.wait_for()
    assert message.locator("xpath=ancestor::div[@role='alert']").count() == 1
    assert page.locator("#param-did_cs-anticipation").get_attribute("aria-invalid") == "true"
    param(page, "did_cs", "anticipation", "")
    message.wait_for(state="detached")
    check_page(page, "analyse-mpdta")

    # a bad formula is refused by the service; the error goes as soon as the form changes
    open_dataset(page, "lalonde_nsw_dw.csv")
    set_role(page, "outcome", "re78")
    set_role(page, "treatment", "treat")
    page.get_by_label("or a covariate formula").fill("age + nosuchcolumn")
    tick_estimator(page, "ipw")
    page.get_by_role("button", name="Run analysis").click()
    error = page.locator("#run-error")
    error.wait_for()
    assert "nosuchcolumn" in error.inner_text()
    check_page(page, "analyse-error")
    page.get_by_label("or a covariate formula").fill("age + educ")
    error.wait_for(state="detached")
    # and a stale error never follows to another data set
    page.get_by_role("button", name="Run analysis").click()
    page.get_by_role("heading", name="Analysis of lalonde_nsw_dw.csv").wait_for(
        timeout=ANALYSIS_TIMEOUT_MS
    )


def test_progress_is_live_and_cancel_stops_the_job(page: Any) -> None:
    login(page)
    open_dataset(page, "lalonde_nsw_dw.csv")
    set_role(page, "outcome", "re78")
    set_role(page, "treatment", "treat")
    tick_estimator(page, "bootstrap")
    param(page, "bootstrap", "n_boot", "100000")
    page.get_by_role("button", name="Run analysis").click()
    status = page.locator("#run-status")
    status.get_by_text(re.compile(r"bootstrap .*%")).wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Running…").is_disabled()
    assert page.locator("progress").count() == 1
    check_page(page, "analyse-running")
    page.get_by_role("button", name="Cancel").click()
    status.get_by_text("The analysis was cancelled.").wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Run analysis").is_enabled()


def test_result_figures_report_download_and_viewer_link(
    page: Any, browser: Any, service: Any
) -> None:
    login(page)
    open_dataset(page, "lalonde_nsw_dw.csv")
    set_role(page, "outcome", "re78")
    set_role(page, "treatment", "treat")
    tick_estimator(page, "ipw")
    tick_estimator(page, "regression_adjustment")
    run(page, "lalonde_nsw_dw.csv")

    # the gate table filters
    counter = page.get_by_text(re.compile(r"^\d+ of \d+ gates$"))
    total = int(counter.inner_text().split(" of ")[1].split()[0])
    page.get_by_label("status").select_option("pass")
    shown = int(counter.inner_text().split(" of ")[0])
    assert 0 < shown <= total
    assert page.locator("#gate-table tbody tr").count() == shown

    # figure interaction: hover shows a label, a legend click hides a trace
    forest = page.get_by_role("figure", name=re.compile("Forest plot of"))
    point = forest.locator("g.points path.point").first
    point.wait_for()
    point.hover(force=True)
    forest.locator(".hoverlayer .hovertext").first.wait_for()
    assert "estimate" in (forest.locator(".hoverlayer").text_content() or "")
    legend = forest.locator("g.legend g.traces").first
    legend.click()
    page.wait_for_timeout(300)
    assert (
        "0.5" in (legend.get_attribute("style") or "")
        or legend.evaluate("e => getComputedStyle(e).opacity") == "0.5"
    )

    # the report downloads under its name
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download report").click()
    download = download_info.value
    assert re.fullmatch(
        r"cqox-report-lalonde_nsw_dw-[0-9a-f]{8}\.html", download.suggested_filename
    )
    saved = Path(download.path()).read_text(encoding="utf-8")
    assert "<html" in saved and "re78" in saved

    # the viewer link opens the report without logging in
    page.get_by_role("button", name="Create viewer link").click()
    url = page.locator("#share-url").input_value()
    assert url.startswith(service.url + "/api/shared/reports/")
    stranger = browser.new_context()
    try:
        view = stranger.new_page()
        refused: list[str] = []
        view.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
        view.on("pageerror", lambda e: refused.append(str(e)))
        response = view.goto(url, timeout=60_000)
        assert response.status == 200
        assert "CQOx report" in view.title()
        # the report's figures turn interactive under its own policy (scripts by hash)
        figures = view.locator("div.cqox-plot")
        figures.locator(".main-svg").first.wait_for(timeout=60_000)
        view.wait_for_function(
            "() => [...document.querySelectorAll('div.cqox-plot')]"
            ".every(b => !b.querySelector('img'))",
            timeout=60_000,
        )
        assert figures.count() >= 2 and figures.locator("img").count() == 0
        point = figures.first.locator("g.points path.point").first
        point.hover(force=True)
        figures.first.locator(".hoverlayer .hovertext").first.wait_for()
        assert not refused, refused
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            view.set_viewport_size({"width": width, "height": 900})
            view.wait_for_timeout(400)
            view.screenshot(path=str(SCREENSHOTS / f"report-{width}.png"), full_page=True)
    finally:
        stranger.close()
    check_page(page, "result-lalonde")


def test_history_compare_and_rerun(page: Any) -> None:
    login(page)
    page.goto("/#/history")
    rows = page.locator("tbody tr")
    rows.first.wait_for()
    if rows.count() < 2:
        pytest.skip("needs two analyses (run after the tests above, which run them)")
    text = page.locator("table").inner_text()
    assert ".csv" in text and "outcome" in text  # data set name and roles
    check_page(page, "history")
    boxes = page.get_by_role("checkbox")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare the two ticked").click()
    page.get_by_role("heading", name="Compare two analyses").wait_for()
    assert page.get_by_role("region", name="analysis A").is_visible()
    check_page(page, "compare")
    page.goto("/#/history")
    page.get_by_role("link", name="Re-run").first.click()
    page.get_by_text("settings of an earlier analysis loaded").wait_for()
    page.locator("input[name=estimator]:checked").first.wait_for()  # once the designs load


def test_api_keys_and_users_pages(page: Any) -> None:
    login(page, "admin")
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys", level=1).wait_for()
    page.get_by_label("name").fill("notebook")
    page.get_by_role("button", name="Create key").click()
    assert page.locator("#new-key").input_value().startswith("cqox_")
    page.get_by_role("row", name=re.compile("notebook")).wait_for()
    check_page(page, "keys")

    page.get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users", level=1).wait_for()
    page.get_by_label("user name").fill("ana")  # exists: the service's error is shown
    page.get_by_label("password (8+ characters)").fill("long enough password")
    page.get_by_role("button", name="Create user").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "ana" in alert.inner_text()
    page.get_by_label("user name").fill("newcomer")
    assert page.get_by_role("alert").count() == 0
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("row", name=re.compile("newcomer")).wait_for()
    check_page(page, "users")


def test_viewers_cannot_upload_or_run(page: Any) -> None:
    login(page, "vic")
    assert page.get_by_role("button", name="Upload").count() == 0
    assert page.get_by_role("link", name="Users").count() == 0


def test_api_documentation_renders_offline(page: Any) -> None:
    # Swagger UI from the installed package, under the page's own content security policy
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "CQOx" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-tag", has_text="analyses").first.wait_for()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.reload()
    page.locator(".swagger-ui .info .title").wait_for()
    assert requests and all(u.startswith(page.url.split("/docs")[0]) for u in requests), requests
