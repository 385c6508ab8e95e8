"""Routes the dashboard needs (#14): estimators and a parameter check, designs of roles,
a data preview, owners and data-set names in lists, the re-run request, live progress
(Server-Sent Events), the report's file name and signed, expiring viewer links."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt

from cqox.server.models import Job
from cqox.server.routers.progress import progress_event
from tests.api.conftest import SECRET, Api, assert_error, small_frame


def _analysis(api: Api, h: dict[str, str]) -> dict[str, Any]:
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "t"},
            "estimators": ["ipw"],
            "options": {"params": {"ipw": {"trim": 0.01}}},
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_estimators_route_lists_the_registry_with_parameters(api: Api) -> None:
    r = api.client.get("/api/estimators", headers=api.headers("viewer"))
    assert r.status_code == 200
    found = {e["name"]: e for e in r.json()["estimators"]}
    assert {"ipw", "synth", "rd", "did_cs", "iv_2sls"} <= set(found)
    trim = next(p for p in found["ipw"]["parameters"] if p["name"] == "trim")
    assert trim["rule"] == "a float in [0, 0.5)" and trim["default"] is not None


def test_parameter_check_gives_the_engines_message(api: Api) -> None:
    h = api.headers("viewer")
    ok = api.client.post("/api/estimators/ipw/check", headers=h, json={"params": {"trim": 0.1}})
    assert ok.status_code == 200 and ok.json()["params"]["trim"] == 0.1
    bad = api.client.post("/api/estimators/ipw/check", headers=h, json={"params": {"trim": 0.7}})
    err = assert_error(bad, 400, "INVALID_PARAMETER")
    assert (
        err["message"]
        == "The 'trim' parameter of ipw must be a float in [0, 0.5). Got 0.7 instead."
    )
    typo = api.client.post("/api/estimators/ipx/check", headers=h, json={"params": {}})
    assert "did you mean 'ipw'" in typo.json()["error"]["message"]


def test_designs_route_follows_the_roles(api: Api) -> None:
    h = api.headers("viewer")

    def designs(roles: dict[str, Any], named_only: bool = False) -> dict[str, list[str]]:
        r = api.client.post("/api/designs", headers=h, json={"roles": roles})
        assert r.status_code == 200, r.text
        found = r.json()["designs"]
        return {d["design"]: d["estimators"] for d in found if d["named_only"] == named_only}

    assert "ipw" in designs({"outcome": "y", "treatment": "t"})["backdoor"]
    rd = designs({"outcome": "y", "running": "x", "cutoff": 0})
    assert list(rd) == ["rd"] and rd["rd"] == ["rd"]
    panel = designs({"outcome": "y", "unit": "id", "time": "year", "cohort": "g"})
    assert "did_cs" in panel["staggered_did"] and "backdoor" not in panel
    assert designs({}) == {} and designs({}, named_only=True) == {}
    # a panel without treatment implies no design, but synth runs when named (Basque)
    basque = {"outcome": "gdpcap", "unit": "region", "time": "year"}
    assert designs(basque) == {} and designs(basque, named_only=True)["synthetic_control"] == [
        "synth"
    ]
    assert "backdoor" not in designs(basque, named_only=True)
    assert_error(
        api.client.post("/api/designs", headers=h, json={"roles": {"outcme": "y"}}),
        400,
        "INVALID_MAPPING",
    )


def test_preview_answers_the_first_rows(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.get(f"/api/datasets/{ds}/preview?rows=5", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    frame = small_frame()
    assert body["columns"] == list(frame.columns) and len(body["rows"]) == 5
    assert body["rows"][0][0] == frame.iloc[0, 0]
    assert api.client.get(f"/api/datasets/{ds}/preview?rows=0", headers=h).status_code == 422
    other = api.user("analyst")
    assert_error(api.client.get(f"/api/datasets/{ds}/preview", headers=other), 404, "NOT_FOUND")


def test_lists_name_the_owner_and_the_data_set(api: Api) -> None:
    h = api.headers("analyst")
    done = _analysis(api, h)
    me = api.client.get("/api/auth/me", headers=h).json()["username"]
    datasets = api.client.get("/api/datasets", headers=h).json()["datasets"]
    assert datasets and all(d["owner"] == me for d in datasets)
    assert all(d["created_at"] and d["size"] > 0 for d in datasets)
    listed = api.client.get("/api/analyses", headers=h).json()["analyses"]
    row = next(a for a in listed if a["analysis_id"] == done["analysis_id"])
    assert row["dataset_name"] == "data.csv"
    detail = api.client.get(f"/api/analyses/{done['analysis_id']}", headers=h).json()
    assert detail["request"]["estimators"] == ["ipw"]
    assert detail["request"]["params"] == {"ipw": {"trim": 0.01}}
    assert detail["request"]["roles"] == {"outcome": "y", "treatment": "t"}
    assert "work" not in detail["request"] and detail["dataset_name"] == "data.csv"


def test_report_has_a_file_name_and_downloads_as_an_attachment(api: Api) -> None:
    h = api.headers("analyst")
    aid = _analysis(api, h)["analysis_id"]
    inline = api.client.get(f"/api/analyses/{aid}/report", headers=h)
    assert inline.status_code == 200
    name = f"cqox-report-data-{aid[:8]}.html"
    assert inline.headers["content-disposition"] == f'inline; filename="{name}"'
    saved = api.client.get(f"/api/analyses/{aid}/report?download=true", headers=h)
    assert saved.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert saved.text == inline.text and "<html" in saved.text


def test_an_animated_figure_downloads_as_a_gif_and_a_still_one_is_refused(api: Api) -> None:
    from cqox.simulate.its import its_ar1

    h = api.headers("analyst")
    df, _ = its_ar1(n_pre=10, n_post=6, seed=0)
    ds = api.dataset(h, df)
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "time": "t"},
            "estimators": ["its"],
            "options": {"params": {"its": {"interruption": 10}}, "wait_s": 60},
        },
    )
    assert r.status_code == 200, r.text
    aid = r.json()["analysis_id"]
    listed = api.client.get(f"/api/analyses/{aid}/figures", headers=h).json()["figures"]
    animated = [f["name"] for f in listed if f["animated"]]
    assert animated == ["effect_animation_its"]
    gif = api.client.get(f"/api/analyses/{aid}/figures/effect_animation_its?format=gif", headers=h)
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert gif.content.startswith(b"GIF89a")
    assert gif.headers["content-disposition"] == (
        f'attachment; filename="cqox-{aid[:8]}-effect_animation_its.gif"'
    )
    still = next(f["name"] for f in listed if not f["animated"])
    refused = api.client.get(f"/api/analyses/{aid}/figures/{still}?format=gif", headers=h)
    assert_error(refused, 404, "NOT_FOUND")
    assert "effect_animation_its" in refused.json()["error"]["message"]


def test_served_report_allows_only_its_two_inline_scripts_by_hash(api: Api) -> None:
    from cqox.report.interactive import script_hashes

    h = api.headers("analyst")
    aid = _analysis(api, h)["analysis_id"]
    link = api.client.post(f"/api/analyses/{aid}/share", headers=h, json={"hours": 1}).json()
    for r in (
        api.client.get(f"/api/analyses/{aid}/report", headers=h),
        api.client.get(link["url"]),
    ):
        policy = dict(
            part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
        )
        sources = policy["script-src"].split()
        assert sources == ["'self'", *(f"'{x}'" for x in script_hashes())]
        assert "unsafe" not in policy["script-src"] and "default-src" in policy
        assert r.text.count("<script>") == 2 and 'type="application/json"' in r.text


def test_viewer_link_opens_the_report_without_login_until_it_expires(api: Api) -> None:
    h = api.headers("analyst")
    aid = _analysis(api, h)["analysis_id"]
    r = api.client.post(f"/api/analyses/{aid}/share", headers=h, json={"hours": 2})
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["url"].startswith("/api/shared/reports/") and link["hours"] == 2
    page = api.client.get(link["url"])  # no credentials
    assert page.status_code == 200 and "<html" in page.text
    assert page.headers["content-disposition"].startswith("inline; filename=")
    token = link["url"].rsplit("/", 1)[-1]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2 * 3600 and claims["sub"] == aid
    # an expired, a forged and an access token are all refused
    expired = jwt.encode({**claims, "iat": 1, "exp": 2}, SECRET, algorithm="HS256")
    assert_error(api.client.get(f"/api/shared/reports/{expired}"), 401, "UNAUTHORIZED")
    forged = jwt.encode(claims, "another-key-" + "k" * 40, algorithm="HS256")
    assert_error(api.client.get(f"/api/shared/reports/{forged}"), 401, "UNAUTHORIZED")
    access = h["Authorization"].split()[1]
    assert_error(api.client.get(f"/api/shared/reports/{access}"), 401, "UNAUTHORIZED")
    # another user cannot mint a link to it; too long a link is refused
    other = api.user("analyst")
    assert_error(api.client.post(f"/api/analyses/{aid}/share", headers=other), 404, "NOT_FOUND")
    too_long = api.client.post(f"/api/analyses/{aid}/share", headers=h, json={"hours": 10_000})
    assert too_long.status_code == 422
    # deleting the analysis ends the link
    assert api.client.delete(f"/api/analyses/{aid}", headers=h).status_code == 200
    assert_error(api.client.get(link["url"]), 404, "NOT_FOUND")


def test_progress_events_stream_until_the_job_ends(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h, small_frame(n=600))
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "roles": {"outcome": "y", "treatment": "t"},
            "estimators": ["ipw", "aipw"],
            "options": {"wait_s": 0},
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    with api.client.stream("GET", f"/api/jobs/{job_id}/events", headers=h) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert time.monotonic() - started < 120
    assert events[-1]["status"] == "succeeded" and events[-1]["analysis_id"]
    assert events[-1]["percent"] == 100
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents)
    assert all(set(e) >= {"stage", "estimator", "percent", "step"} for e in events)
    other = api.user("viewer")
    assert_error(api.client.get(f"/api/jobs/{job_id}/events", headers=other), 404, "NOT_FOUND")


def test_progress_event_names_the_estimator_running() -> None:
    job = Job(id="j1", status="running", step="aipw ATT", progress=0.5, analysis_id=None)
    event = progress_event(job)
    assert (event["stage"], event["estimator"], event["estimand"]) == ("estimating", "aipw", "ATT")
    assert event["percent"] == 50
    job = Job(id="j1", status="running", step="starting", progress=0.0, analysis_id=None)
    assert (progress_event(job)["stage"], progress_event(job)["estimator"]) == ("starting", None)
    job = Job(id="j1", status="cancelled", step="cancelled", progress=0.2, analysis_id=None)
    assert progress_event(job)["stage"] == "cancelled"
