"""``cqox users`` and ``cqox serve --help``: the command line of the service."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from cqox.cli.main import main
from cqox.server.settings import PUBLISHED_DEFAULT_SECRET


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CQOX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CQOX_DATABASE_URL", raising=False)
    return tmp_path


def run(argv: list[str]) -> int:
    """Exit status of ``cqox argv`` (argparse may exit or the CLI may return)."""
    try:
        return int(main(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_create_list_delete_users(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "s3cret-password\n")
    assert main(["users", "create", "alice", "--role", "admin", "--password-stdin"]) == 0
    _stdin(monkeypatch, "another-password\n")
    assert main(["users", "create", "bob", "--role", "viewer", "--password-stdin"]) == 0
    assert (data_dir / "cqox.sqlite3").exists()
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "admin" in out and "bob" in out and "viewer" in out
    assert "s3cret" not in out
    assert main(["users", "delete", "bob"]) == 0
    capsys.readouterr()
    main(["users", "list"])
    assert "bob" not in capsys.readouterr().out


def test_created_user_can_log_in_with_the_stdin_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cqox.server.db import make_engine, session_factory, transaction
    from cqox.server.security import authenticate
    from cqox.server.settings import Settings

    _stdin(monkeypatch, "pass word with spaces\n")
    assert main(["users", "create", "carol", "--role", "analyst", "--password-stdin"]) == 0
    engine = make_engine(Settings().sqlalchemy_url)
    with transaction(session_factory(engine)) as s:
        user = authenticate(s, "carol", "pass word with spaces")
        assert user is not None and user.role == "analyst"
        assert user.password_hash.startswith("$argon2")
    engine.dispose()


def test_bad_input_exits_2_with_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "short\n")
    assert main(["users", "create", "dave", "--role", "analyst", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    _stdin(monkeypatch, "long-enough-pw\n")
    assert main(["users", "create", "../etc", "--role", "analyst", "--password-stdin"]) == 2
    _stdin(monkeypatch, "long-enough-pw\n")
    main(["users", "create", "erin", "--role", "analyst", "--password-stdin"])
    _stdin(monkeypatch, "long-enough-pw\n")
    capsys.readouterr()
    assert main(["users", "create", "erin", "--role", "analyst", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists" in err
    assert main(["users", "delete", "nobody"]) == 2
    assert run(["users", "create", "frank", "--role", "god", "--password-stdin"]) == 2


def test_serve_help_lists_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for name in (
        "--host",
        "--port",
        "CQOX_DATA_DIR",
        "CQOX_DATABASE_URL",
        "CQOX_SECRET_KEY",
        "CQOX_MAX_UPLOAD_MB",
        "CQOX_WORKERS",
        "CQOX_ENV",
        "CQOX_RATE_LIMIT_PER_MINUTE",
    ):
        assert name in out


def test_serve_refuses_the_published_default_secret(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CQOX_ENV", "production")
    monkeypatch.setenv("CQOX_SECRET_KEY", PUBLISHED_DEFAULT_SECRET)
    assert main(["serve"]) == 2
    assert "CQOX_SECRET_KEY" in capsys.readouterr().err
