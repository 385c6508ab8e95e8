"""``make run``: the service on localhost with a demo admin and the demo data set uploaded.

``python -m cqox.server.demo --data demo.csv --user demo --password ...`` starts the
service (settings from ``CQOX_*`` as for ``cqox serve``), creates the admin if absent,
uploads the data set once it is ready (unless that user already has one of the same
name), and prints the URL and the login.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path


def _ensure_user(username: str, password: str) -> None:
    from sqlalchemy import select

    from cqox.server.db import make_engine, migrate, session_factory, transaction
    from cqox.server.models import User
    from cqox.server.security import create_user
    from cqox.server.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    with transaction(session_factory(engine)) as s:
        if s.scalar(select(User).where(User.username == username)) is None:
            create_user(s, username, "admin", password)
    engine.dispose()


def _upload_when_ready(base: str, username: str, password: str, data: Path) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        print("cqox demo: the service did not become ready", file=sys.stderr)
        return
    with httpx.Client(base_url=base, timeout=120) as c:
        tokens = c.post("/api/auth/login", json={"username": username, "password": password})
        if tokens.status_code != 200:
            print(f"cqox demo: cannot log in as {username}: {tokens.text}", file=sys.stderr)
            return
        h = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        existing = c.get("/api/datasets", headers=h).json().get("datasets", [])
        if any(d["name"] == data.name for d in existing):
            ds = next(d for d in existing if d["name"] == data.name)
        else:
            r = c.post("/api/upload", headers=h, files={"file": (data.name, data.read_bytes())})
            ds = r.json()
        print(
            "\n"
            f"  CQOx is running at {base}/   (API docs: {base}/docs)\n"
            f"  demo login: user '{username}', password '{password}' (admin)\n"
            f"  demo data set: {data.name} ({ds.get('rows')} rows), dataset_id "
            f"{ds.get('dataset_id')}\n"
            "  stop with Ctrl-C\n",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo service until interrupted."""
    import uvicorn

    from cqox.server.main import create_app, proxy_options
    from cqox.server.settings import Settings

    p = argparse.ArgumentParser(prog="python -m cqox.server.demo")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--user", default="demo")
    p.add_argument("--password", required=True)
    p.add_argument("--data", type=Path, required=True)
    args = p.parse_args(argv)
    _ensure_user(args.user, args.password)
    base = f"http://{args.host}:{args.port}"
    threading.Thread(
        target=_upload_when_ready,
        args=(base, args.user, args.password, args.data),
        daemon=True,
    ).start()
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_keep_alive=30,
        **proxy_options(settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
