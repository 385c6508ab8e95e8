"""The dashboard in a real browser (#14): login, upload of the shared data sets, role
editing with the service's checks, one analysis per design family, live progress and
cancel, figure interaction, report download, the viewer link, history, compare and
re-run, API keys and users, and the error display — with screenshots of every page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ANALYSIS_TIMEOUT_MS,
    PASSWORD,
    SCREENSHOTS,
    WIDTHS,
    analysis_request,
    assert_shown_equals_library,
    check_page,
    dataset_path,
    login,
    open_dataset,
    param,
    run,
    set_role,
    shown_estimates,
    shown_number,
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


@dataclass(frozen=True)
class Family:
    """One analysis through the form: the data set, the roles picked, the estimators
    ticked and their parameters; ``network`` is an edge-list data set to pick."""

    dataset: str
    roles: dict[str, str]
    estimators: list[str]
    params: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    formula: str | None = None
    #: Headings of the design's own result views.
    views: tuple[str, ...] = ()


#: One analysis per design family, on the shared data set of the issue where there is
#: one (LaLonde, mpdta, Senate, Card, Basque, cattaneo2; framing and IHDP for mediation
#: and CATE) and on a table simulated by cqox.simulate where there is none.
FAMILIES = {
    "backdoor": Family(
        "lalonde_nsw_dw.csv",
        {"outcome": "re78", "treatment": "treat"},
        ["ipw", "regression_adjustment", "aipw"],
    ),
    "backdoor_cattaneo2": Family(
        "cattaneo2.csv",
        {"outcome": "bweight", "treatment": "mbsmoke_"},
        ["ipw"],
        {"estimand": "ATE"},
        formula="mmarried_ + mage + mage2 + fbaby_ + medu",
    ),
    "did": Family(
        "mpdta.csv",
        {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"},
        ["did_cs"],
    ),
    "rd": Family("rdrobust_senate.csv", {"outcome": "vote", "running": "margin"}, ["rd"]),
    "iv": Family(
        "card1995.csv",
        {"outcome": "lwage", "treatment": "educ"},
        ["iv_2sls"],
        # Card's controls (IV estimators run on named covariates only)
        formula="exper + expersq + black + smsa + south + smsa66 + "
        + " + ".join(f"reg66{i}" for i in range(2, 10)),
    ),
    "synth": Family(
        "basque.csv",
        {"outcome": "gdpcap", "unit": "regionname", "time": "year", "treatment": ""},
        ["synth"],
        {
            "treated_unit": "Basque Country (Pais Vasco)",
            "treatment_time": "1970",
            "v_method": "equal",
            "placebo": "false",
            "leave_one_out": "false",
        },
    ),
    "its": Family(
        "its_series.csv",
        {"outcome": "y", "time": "t", "treatment": ""},
        ["its"],
        {"interruption": "60"},
    ),
    "panel_matching": Family(
        "panel_switching.csv",
        {"outcome": "y", "treatment": "d", "unit": "unit", "time": "time"},
        ["panel_match"],
    ),
    "mediation": Family(
        "framing.csv",
        {"outcome": "cong_mesg", "treatment": "treat", "mediator": "emo"},
        ["mediation"],
        formula="age + income",
    ),
    "dose_response": Family(
        "dose_polynomial.csv",
        {"outcome": "y", "dose": "a", "treatment": ""},
        ["dose_gps"],
        formula="x1 + x2",
    ),
    "cate": Family(
        "ihdp_npci_1.csv",
        {"outcome": "y_factual", "treatment": "treatment"},
        ["dr_learner"],
        {"estimand": "ATE"},
        formula=" + ".join(f"x{i}" for i in range(1, 26)),
        views=("Heterogeneous effects: dr_learner ATE",),
    ),
    "network": Family(
        "network_units.csv",
        {"outcome": "y", "treatment": "t", "unit": "id"},
        ["network_exposure"],
        network="network_edges.csv",
        views=("Network interference: network_exposure",),
    ),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_one_analysis_per_design_family(page: Any, family: str) -> None:
    spec = FAMILIES[family]
    login(page)
    if spec.network:
        open_dataset(page, spec.network)  # the edge list is a data set of its own
    open_dataset(page, spec.dataset)
    for role, column in spec.roles.items():
        set_role(page, role, column)
    if spec.formula:
        page.get_by_label("or a covariate formula").fill(spec.formula)
    if family == "rd":
        page.locator("#role-cutoff").fill("0")
    if family == "iv":
        # the instrument is only suggested: applied when the user accepts it, while the
        # suggested weight (it would change the estimand) stays unapplied
        page.get_by_text("suggested · not applied").first.wait_for()
        assert page.locator("#role-weight").input_value() == ""
        page.get_by_role("button", name="Apply the suggested instrument nearc4").click()
        page.locator("fieldset", has_text="Instrument").get_by_role(
            "checkbox", name="nearc4", exact=True
        ).wait_for()
        assert (
            page.locator("fieldset", has_text="Instrument")
            .get_by_role("checkbox", name="nearc4", exact=True)
            .is_checked()
        )
        assert page.locator("#role-weight").input_value() == ""
    page.locator("ul.designs li").first.wait_for()
    if spec.network:
        picker = page.get_by_label("Network: edge list")
        picker.wait_for()
        option = page.locator("#network-dataset option", has_text=spec.network)
        option.wait_for(state="attached")
        picker.select_option(label=option.inner_text())
    for name in spec.estimators:
        page.locator(f"input[name=estimator][value='{name}']").wait_for()
        tick_estimator(page, name)
    for key, value in spec.params.items():
        if key == "estimand":
            page.locator("#estimand").select_option(value)
        else:
            param(page, spec.estimators[0], key, value)
    run(page, spec.dataset)
    table = page.locator("table", has=page.locator("th", has_text="estimator"))
    for name in spec.estimators:
        assert table.locator("tbody th", has_text=name).count() >= 1, (family, name)
    # the numbers shown are the library's for the same request
    assert_shown_equals_library(page, spec.dataset, spec.network)
    if family == "iv":
        # and the published 2SLS return to schooling (Card 1995; 0.1315, SE 0.0550)
        shown = {r["estimator"]: float(r["value"]) for r in shown_estimates(page)}
        assert shown["iv_2sls"] == pytest.approx(0.1315, abs=5e-4)
    verdict = page.get_by_role("region", name="verdict").inner_text()
    assert "{" not in verdict and "checks" in verdict  # a sentence, not raw JSON
    page.get_by_role("heading", name="Quality radar").wait_for()
    page.get_by_role("heading", name="Estimator comparison").wait_for()
    for heading in spec.views:
        view = page.get_by_role("region", name=heading)
        view.wait_for()
        view.locator(".plot .main-svg").first.wait_for()
    if family == "cate":
        check_cate_view(page)
    if family == "network":
        check_network_view(page)
    if family in ("did", "synth", "its"):
        page.get_by_role("heading", name=re.compile("Effect over time")).first.wait_for()
        animation = page.locator(".animation").first
        slider = animation.get_by_role("slider")
        last = int(slider.get_attribute("max"))
        slider.fill("1")
        assert animation.locator("output").inner_text().startswith("up to")
        animation.get_by_role("button", name="Play").click()
        # the animation advances a period every 0.6 s (slower on a loaded machine)
        page.wait_for_function(
            "(el) => Number(el.value) > 1", arg=slider.element_handle(), timeout=30_000
        )
        assert 1 < int(slider.input_value()) <= last
        animation.get_by_role("button", name="Pause").click()
    if family == "its":
        # the animation saves as a GIF rendered by the service, one frame per period
        with page.expect_download(timeout=120_000) as saved:
            page.get_by_role("button", name=re.compile("as an animated GIF")).first.click()
        gif = Path(saved.value.path()).read_bytes()
        assert saved.value.suggested_filename.endswith("-effect_animation_its.gif")
        assert gif.startswith(b"GIF89a")
    page.locator(".plot .main-svg").first.wait_for()
    if family in SCREENSHOT_FAMILIES:
        check_page(page, f"result-{family}")


#: Result pages screenshot (and checked with axe-core): one per kind of result view.
SCREENSHOT_FAMILIES = ("backdoor", "did", "rd", "iv", "synth", "its", "cate", "network")


def check_cate_view(page: Any) -> None:
    """The group effects shown are the library's GATES, rising with the prediction."""
    import pandas as pd

    import cqox

    request = analysis_request(page)
    library = cqox.analyze(
        pd.read_csv(dataset_path("ihdp_npci_1.csv")),
        roles=request["roles"],
        estimators=request["estimators"],
        params=request["params"],
        seed=request["seed"],
    )
    gates = library.to_dict()["estimates"][0]["tables"]["gates"]
    table = page.get_by_role("table", name="group effects of dr_learner ATE")
    cells = table.locator("tbody td[data-value]")
    assert cells.count() == len(gates)
    for cell, row in zip(cells.all(), gates, strict=True):
        assert cell.inner_text() == shown_number(row["estimate"])
        assert float(cell.get_attribute("data-value")) == pytest.approx(row["estimate"], rel=1e-9)
    view = page.get_by_role("region", name="Heterogeneous effects: dr_learner ATE")
    for heading in ("Distribution of τ̂(x)", "Group effects (GATES)", "Targeting"):
        view.get_by_role("heading", name=heading).wait_for()
    assert view.locator("figure.figure").count() == 3


def check_network_view(page: Any) -> None:
    """Direct, spillover and total as the estimates table has them; exposure counts."""
    view = page.get_by_role("region", name="Network interference: network_exposure")
    text = view.locator("p").first.inner_text()
    shown = {r["estimand"]: r["text"] for r in shown_estimates(page)}
    for estimand in ("direct", "spillover", "total"):
        assert re.search(rf"{estimand}( effect)? {re.escape(shown[estimand])} ", text, re.I), text
    view.get_by_role("heading", name="Exposure conditions").wait_for()
    bars = view.get_by_role("figure", name=re.compile("Units by exposure condition"))
    bars.locator("g.trace.bars path").first.wait_for()
    assert bars.locator("g.trace.bars g.point").count() == 4


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
        pytest.skip("needs two analyses (run after the design-family tests)")
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
