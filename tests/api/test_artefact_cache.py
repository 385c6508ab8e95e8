"""Finished reports and figures are rendered once, then served from the artefact cache.

The cache is keyed by analysis id, artefact and the stored analysis's version, and is
dropped when the analysis is deleted: a rewritten analysis is rendered again and a
deleted one is never served.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

from cqox.server.routers import analyses as routes
from tests.api.conftest import Api, assert_error


def _analysis(api: Api, h: dict[str, str]) -> str:
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipw"]}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["analysis_id"])


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the renders behind the routes (the real renderers still run)."""
    counts: Counter[str] = Counter()

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            counts[name] += 1
            return real(*args)

        return wrapper

    monkeypatch.setattr(routes, "png_figure", counting("png", routes.png_figure))
    monkeypatch.setattr(routes, "plotly_figure", counting("json", routes.plotly_figure))
    monkeypatch.setattr(routes, "render_report", counting("report", routes.render_report))
    monkeypatch.setattr(routes, "available", counting("list", routes.available))
    return counts


def test_figures_and_report_render_once_then_come_from_the_cache(
    api: Api, renders: Counter[str]
) -> None:
    h = api.user("analyst")
    aid = _analysis(api, h)
    base = f"/api/analyses/{aid}"
    first = {
        "list": api.client.get(f"{base}/figures", headers=h),
        "png": api.client.get(f"{base}/figures/forest.png", headers=h),
        "json": api.client.get(f"{base}/figures/forest?format=json", headers=h),
        "report": api.client.get(f"{base}/report", headers=h),
    }
    assert all(r.status_code == 200 for r in first.values()), {k: r.text for k, r in first.items()}
    again = {
        "list": api.client.get(f"{base}/figures", headers=h),
        "png": api.client.get(f"{base}/figures/forest.png", headers=h),
        "json": api.client.get(f"{base}/figures/forest?format=json", headers=h),
        "report": api.client.get(f"{base}/report", headers=h),
    }
    for kind, r in again.items():
        assert r.status_code == 200 and r.content == first[kind].content, kind
        assert r.headers["content-type"] == first[kind].headers["content-type"], kind
    assert again["png"].content[:8] == b"\x89PNG\r\n\x1a\n"
    assert again["json"].json()["data"]
    assert dict(renders) == {"list": 1, "png": 1, "json": 1, "report": 1}


def test_a_rewritten_analysis_is_rendered_again(api: Api, renders: Counter[str]) -> None:
    h = api.user("analyst")
    aid = _analysis(api, h)
    url = f"/api/analyses/{aid}/figures/forest.png"
    assert api.client.get(url, headers=h).status_code == 200
    path = routes.artifact_path(api.settings, aid)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new version
    assert api.client.get(url, headers=h).status_code == 200
    assert renders["png"] == 2


def test_deleting_an_analysis_drops_its_cached_artefacts(api: Api) -> None:
    h = api.user("analyst")
    aid = _analysis(api, h)
    cache = api.app.state.services.artefacts
    assert api.client.get(f"/api/analyses/{aid}/report", headers=h).status_code == 200
    assert api.client.get(f"/api/analyses/{aid}/figures/forest.png", headers=h).status_code == 200
    assert any(key[0] == aid for key in cache._items)
    assert api.client.delete(f"/api/analyses/{aid}", headers=h).status_code == 200
    assert not any(key[0] == aid for key in cache._items)
    for suffix in ("report", "figures/forest.png"):
        assert_error(api.client.get(f"/api/analyses/{aid}/{suffix}", headers=h), 404, "NOT_FOUND")


def test_another_users_request_is_refused_before_the_cache_is_read(api: Api) -> None:
    owner = api.user("analyst")
    aid = _analysis(api, owner)
    assert api.client.get(f"/api/analyses/{aid}/report", headers=owner).status_code == 200
    stranger = api.user("analyst")
    assert_error(api.client.get(f"/api/analyses/{aid}/report", headers=stranger), 404, "NOT_FOUND")
