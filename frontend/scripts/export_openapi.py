"""Write the service's OpenAPI schema to frontend/openapi.json (the typed client's source).

Run by ``make api-client`` (which then regenerates ``src/api/schema.d.ts`` from it);
``tests/contract/test_openapi_snapshot.py`` fails when the committed file no longer
matches the service, and a Vitest test when the TypeScript no longer matches the file.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "openapi.json"


def current_schema() -> dict[str, Any]:
    """The OpenAPI schema of a service built with default settings in a scratch folder."""
    from cqox.server import Settings, create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), secret_key="s" * 48, env="test"))
        schema: dict[str, Any] = app.openapi()
    return schema


def render(schema: dict[str, Any]) -> str:
    """The file's text: sorted keys, two-space indents, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the file; ``--check`` only compares (exit 1 when it differs)."""
    text = render(current_schema())
    if "--check" in sys.argv[1:]:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("openapi.json is current" if same else "openapi.json is stale: run make api-client")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
