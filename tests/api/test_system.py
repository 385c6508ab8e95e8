"""Health, readiness, metrics, the dashboard, the OpenAPI document and the settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from cqox.server import Settings
from cqox.server.settings import PUBLISHED_DEFAULT_SECRET, get_settings
from tests.api.conftest import METRICS_AUTH, Api

ROUTES = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/upload"),
    ("GET", "/api/datasets"),
    ("GET", "/api/datasets/{dataset_id}"),
    ("DELETE", "/api/datasets/{dataset_id}"),
    ("POST", "/api/analyze/comprehensive"),
    ("POST", "/api/analyze/ate"),
    ("POST", "/api/analyze/did"),
    ("POST", "/api/analyze/sensitivity"),
    ("POST", "/api/analyze/design/{design}"),
    ("GET", "/api/jobs/{job_id}"),
    ("DELETE", "/api/jobs/{job_id}"),
    ("GET", "/api/analyses"),
    ("GET", "/api/analyses/{analysis_id}"),
    ("GET", "/api/analyses/{analysis_id}/figures/{name}"),
    ("GET", "/api/analyses/{analysis_id}/report"),
    ("POST", "/api/analyses/{analysis_id}/share"),
    ("GET", "/api/shared/reports/{token}"),
    ("GET", "/api/jobs/{job_id}/events"),
    ("GET", "/api/datasets/{dataset_id}/preview"),
    ("GET", "/api/estimators"),
    ("POST", "/api/estimators/{name}/check"),
    ("POST", "/api/designs"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
}


#: Seconds a test app's worker may take to start (it is ready only then).
WORKER_READY_TIMEOUT_S = 120.0


def test_health_and_ready(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    r = api.client.get("/ready")
    while r.status_code == 503 and time.monotonic() < deadline:
        # not ready while the worker starts: only the workers check may be false
        assert r.json()["checks"] == {"database": True, "storage": True, "workers": False}
        time.sleep(0.1)
        r = api.client.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": True, "storage": True, "workers": True}


def test_metrics_expose_requests_errors_latency_analyses_queue_and_datasets(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    api.client.post(
        "/api/analyze/comprehensive", headers=h, json={"dataset_id": ds, "estimators": ["ipw"]}
    )
    api.client.get("/api/datasets/" + "0" * 32, headers=h)
    text = api.client.get("/metrics", headers=METRICS_AUTH).text
    assert 'cqox_http_requests_total{method="POST",route="/api/upload",status="201"}' in text
    assert 'route="/api/datasets/{dataset_id}"' in text  # templates, not raw ids
    assert "0" * 32 not in text
    assert 'cqox_http_request_errors_total{code="NOT_FOUND"' in text
    assert "cqox_http_request_duration_seconds_bucket" in text
    assert 'cqox_analysis_duration_seconds_count{kind="comprehensive"}' in text
    assert 'cqox_estimator_duration_seconds_count{estimator="ipw"}' in text
    assert "cqox_job_queue_depth 0.0" in text
    count = next(ln for ln in text.splitlines() if ln.startswith("cqox_datasets "))
    assert float(count.split()[1]) >= 1


def test_dashboard_is_served_from_the_built_folder(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cqox.server.routers import ui

    monkeypatch.setattr(ui, "UI_DIR", tmp_path)
    missing = api.client.get("/")
    assert missing.status_code == 503 and "make run" in missing.text  # says how to build it
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<script type="module" src="/assets/index-1a.js">')
    (tmp_path / "assets" / "index-1a.js").write_text("console.log(1)")
    page = api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    js = api.client.get("/assets/index-1a.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "immutable" in js.headers["cache-control"]
    for bad in ("../index.html", "..%2Findex.html", ".hidden.js", "index-1a.exe", "nope.js"):
        assert api.client.get(f"/assets/{bad}").status_code == 404, bad


def test_openapi_lists_every_route(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    found = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert found >= ROUTES
    assert api.client.get("/docs").status_code == 200


def test_production_refuses_the_published_or_a_short_secret(tmp_path: object) -> None:
    with pytest.raises(ValidationError, match="CQOX_SECRET_KEY"):
        Settings(env="production", secret_key=PUBLISHED_DEFAULT_SECRET)
    with pytest.raises(ValidationError, match="CQOX_SECRET_KEY"):
        Settings(env="production", secret_key="short")
    ok = Settings(env="production", secret_key="s" * 40)
    assert ok.secret_key == "s" * 40


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQOX_DATA_DIR", "/tmp/cqox-env-test")
    monkeypatch.setenv("CQOX_MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("CQOX_WORKERS", "4")
    monkeypatch.setenv("CQOX_DATABASE_URL", "postgresql://u:p@h/db")
    s = Settings()
    assert str(s.data_dir) == "/tmp/cqox-env-test"
    assert s.max_upload_bytes == 3 * 1024 * 1024 and s.workers == 4
    assert s.sqlalchemy_url == "postgresql+psycopg://u:p@h/db"
    monkeypatch.delenv("CQOX_DATABASE_URL")
    assert Settings().sqlalchemy_url.startswith("sqlite:///")


def test_settings_dependency_can_be_overridden(api: Api) -> None:
    strict = api.settings.model_copy(update={"max_upload_mb": 0.0001})
    api.app.dependency_overrides[get_settings] = lambda: strict
    try:
        r = api.upload(api.headers("analyst"), raw=b"y,t\n" + b"1,0\n" * 100, name="d.csv")
        assert r.status_code == 413
    finally:
        api.app.dependency_overrides.clear()
