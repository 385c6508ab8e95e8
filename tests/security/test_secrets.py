"""Secrets and tokens (#10, part 4): no public key, bounded token age, key rotation."""

from __future__ import annotations

import logging
import os
import secrets
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cqox.server import Settings, create_app
from tests.api.conftest import SECRET, assert_error, make_settings
from tests.security.conftest import add_user, bearer, login, running

#: The development default of earlier versions: public, in the source for years.
PUBLISHED_DEFAULT = "cqox-development-secret-change-me"


def _claims(sub: str, role: str = "admin", kind: str = "access", **times: int) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "sub": sub,
        "role": role,
        "jti": secrets.token_hex(16),
        "type": kind,
        "iat": times.get("iat", now),
        "exp": times.get("exp", now + 600),
    }


def _settings_without_key(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("CQOX_SECRET_KEY", raising=False)
    monkeypatch.delenv("CQOX_SECRET_KEY_PREVIOUS", raising=False)
    return Settings(
        data_dir=data_dir,
        env="test",
        workers=1,
        worker_warm_up=False,
        rate_limit_per_minute=0,
        rate_limit_ip_per_minute=0,
    )


def test_without_a_configured_key_one_is_generated_private_logged_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings_without_key(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="cqox.server"):
        app = create_app(settings)
    path = tmp_path / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 43 and key != PUBLISHED_DEFAULT
    assert app.state.settings.secret_key == key
    assert any(str(path.resolve()) in r.getMessage() for r in caplog.records), caplog.text
    # the next start uses the same key (tokens survive a restart), and says nothing alarming
    caplog.clear()
    again = create_app(_settings_without_key(tmp_path, monkeypatch))
    assert again.state.settings.secret_key == key
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_two_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    from cqox.server.signing import load_or_create_key

    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(load_or_create_key(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporaries left


def test_a_key_file_readable_by_others_is_narrowed_to_the_owner(tmp_path: Path) -> None:
    from cqox.server.signing import load_or_create_key

    key = load_or_create_key(tmp_path)
    os.chmod(tmp_path / "secret_key", 0o644)
    assert load_or_create_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_a_token_signed_with_the_published_default_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(_settings_without_key(tmp_path, monkeypatch))
    with TestClient(app, raise_server_exceptions=False) as client:
        user_id = add_user(app, "alice", "admin")
        forged = jwt.encode(_claims(user_id), PUBLISHED_DEFAULT, algorithm="HS256")
        r = client.get("/api/users", headers=bearer(forged))
        assert_error(r, 401, "UNAUTHORIZED")
        # the generated key does sign working tokens
        tokens = login(client, "alice")
        assert client.get("/api/users", headers=bearer(tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("env", ["development", "test", "production"])
@pytest.mark.parametrize("field", ["secret_key", "secret_key_previous"])
def test_the_published_default_is_refused_as_a_configured_key(env: str, field: str) -> None:
    values = {"secret_key": "k" * 40, field: PUBLISHED_DEFAULT}
    with pytest.raises(ValidationError, match=f"CQOX_{field.upper()}"):
        Settings(env=env, **values)


@pytest.mark.parametrize("env", ["development", "production"])
def test_a_short_key_is_refused_and_an_empty_one_means_unset(env: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(env=env, secret_key="too-short-to-be-safe")
    with pytest.raises(ValidationError, match="CQOX_SECRET_KEY_PREVIOUS"):
        Settings(env=env, secret_key="k" * 40, secret_key_previous="old")
    assert Settings(env=env, secret_key="").secret_key is None  # generated at start


def test_a_token_older_than_its_lifetime_is_refused_whatever_its_exp(tmp_path: Path) -> None:
    with running(tmp_path, None) as client:
        user_id = add_user(client.app, "bob")  # type: ignore[arg-type]
        now = int(datetime.now(UTC).timestamp())
        old = now - int(timedelta(hours=2).total_seconds())  # access tokens live 60 min
        long_lived = jwt.encode(
            _claims(user_id, "analyst", iat=old, exp=now + 86400 * 365), SECRET, algorithm="HS256"
        )
        r = client.get("/api/auth/me", headers=bearer(long_lived))
        assert_error(r, 401, "UNAUTHORIZED")
        assert "lifetime" in r.json()["error"]["message"]
        # a refresh token is bounded by the refresh lifetime (7 days) the same way
        stale = now - int(timedelta(days=8).total_seconds())
        refresh = jwt.encode(
            _claims(user_id, "analyst", "refresh", iat=stale, exp=now + 86400 * 30),
            SECRET,
            algorithm="HS256",
        )
        r = client.post("/api/auth/refresh", json={"refresh_token": refresh})
        assert_error(r, 401, "UNAUTHORIZED")
        # within the lifetime the same construction is accepted (the test can fail)
        fresh = jwt.encode(_claims(user_id, "analyst", iat=now - 60), SECRET, algorithm="HS256")
        assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200


def test_a_token_without_iat_or_issued_in_the_future_is_refused(tmp_path: Path) -> None:
    with running(tmp_path, None) as client:
        user_id = add_user(client.app, "carol")  # type: ignore[arg-type]
        claims = _claims(user_id, "analyst")
        del claims["iat"]
        r = client.get("/api/auth/me", headers=bearer(jwt.encode(claims, SECRET, "HS256")))
        assert_error(r, 401, "UNAUTHORIZED")
        future = int(datetime.now(UTC).timestamp()) + 3600
        claims = _claims(user_id, "analyst", iat=future, exp=future + 600)
        r = client.get("/api/auth/me", headers=bearer(jwt.encode(claims, SECRET, "HS256")))
        assert_error(r, 401, "UNAUTHORIZED")


def test_rotation_the_previous_key_verifies_but_never_signs(tmp_path: Path) -> None:
    old_key, new_key = "old-key-" + "o" * 40, "new-key-" + "n" * 40
    with running(tmp_path / "before", None, secret_key=old_key) as client:
        add_user(client.app, "dave")  # type: ignore[arg-type]
        before = login(client, "dave")
    settings = make_settings(
        tmp_path / "before", None, secret_key=new_key, secret_key_previous=old_key
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        # tokens issued before the rotation still work
        assert client.get("/api/auth/me", headers=bearer(before["access_token"])).status_code == 200
        r = client.post("/api/auth/refresh", json={"refresh_token": before["refresh_token"]})
        assert r.status_code == 200, r.text
        # everything issued now is signed with the new key only
        for token in (r.json()["access_token"], login(client, "dave")["access_token"]):
            jwt.decode(token, new_key, algorithms=["HS256"])
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(token, old_key, algorithms=["HS256"])
    # once the previous key is dropped, its tokens are refused
    app = create_app(make_settings(tmp_path / "before", None, secret_key=new_key))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/auth/me", headers=bearer(before["access_token"]))
        assert_error(r, 401, "UNAUTHORIZED")
