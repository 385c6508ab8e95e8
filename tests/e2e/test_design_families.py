"""The dashboard in a real browser (#14): one analysis per design family, each checking
the numbers shown against the library's for the same request, with the family's result
views, animations and screenshots.

A file of its own, with its own service and browser (tests/e2e/conftest.py): under
pytest-xdist (`make test`) a file runs on one worker, and these analyses are the longest
part of the browser tests, so they run beside the other dashboard tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
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
