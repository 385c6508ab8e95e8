"""The dashboard's typed API client is generated from ``frontend/openapi.json``; this
test fails when the service's schema moved on without it (run ``make api-client``).
The TypeScript's own drift from that file is checked by ``frontend/src/api/schema.test.ts``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def test_the_committed_openapi_schema_is_the_services() -> None:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", FRONTEND / "scripts" / "export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = module.render(module.current_schema())
    committed = (FRONTEND / "openapi.json").read_text(encoding="utf-8")
    assert committed == current, (
        "frontend/openapi.json differs from the service's schema: run `make api-client` "
        "and commit frontend/openapi.json and frontend/src/api/schema.d.ts"
    )
