"""Authentication: login, refresh, logout, API keys, and every way a token is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt

from tests.api.conftest import PASSWORD, SECRET, Api, assert_error


def _login(api: Api, role: str = "analyst") -> tuple[str, dict[str, object]]:
    name = f"u_{role}_{time.monotonic_ns()}"
    api.user(role, name)
    r = api.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    return name, r.json()


def test_login_answers_bearer_tokens_with_the_documented_claims(api: Api) -> None:
    _, tokens = _login(api)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    header = jwt.get_unverified_header(str(tokens["access_token"]))
    assert header["alg"] == "HS256"
    claims = jwt.decode(str(tokens["access_token"]), SECRET, algorithms=["HS256"])
    assert {"sub", "role", "jti", "exp"} <= set(claims)
    assert claims["role"] == "analyst"
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600


def test_wrong_password_and_unknown_user_are_401(api: Api) -> None:
    name, _ = _login(api)
    r = api.client.post("/api/auth/login", json={"username": name, "password": "nope-nope"})
    assert_error(r, 401, "UNAUTHORIZED")
    r = api.client.post("/api/auth/login", json={"username": "ghost", "password": "whatever1"})
    assert_error(r, 401, "UNAUTHORIZED")


def test_no_token_is_401(api: Api) -> None:
    for method, url in [
        ("GET", "/api/datasets"),
        ("GET", "/api/analyses"),
        ("GET", "/api/jobs/" + "0" * 32),
        ("POST", "/api/analyze/comprehensive"),
        ("GET", "/api/auth/me"),
    ]:
        r = api.client.request(method, url, json={} if method == "POST" else None)
        assert_error(r, 401, "UNAUTHORIZED")


def test_expired_tampered_and_foreign_tokens_are_401(api: Api) -> None:
    _, tokens = _login(api)
    claims = jwt.decode(str(tokens["access_token"]), SECRET, algorithms=["HS256"])
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = jwt.encode(
        {**claims, "iat": int(past.timestamp()), "exp": int(past.timestamp()) + 60},
        SECRET,
        algorithm="HS256",
    )
    r = api.client.get("/api/datasets", headers={"Authorization": f"Bearer {expired}"})
    assert_error(r, 401, "UNAUTHORIZED")
    assert "expired" in r.json()["error"]["message"]

    token = str(tokens["access_token"])
    head, payload, sig = token.split(".")
    tampered_sig = f"{head}.{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    r = api.client.get("/api/datasets", headers={"Authorization": f"Bearer {tampered_sig}"})
    assert_error(r, 401, "UNAUTHORIZED")

    escalated = jwt.encode({**claims, "role": "admin"}, "another-secret", algorithm="HS256")
    r = api.client.get("/api/users", headers={"Authorization": f"Bearer {escalated}"})
    assert_error(r, 401, "UNAUTHORIZED")

    unsigned = jwt.encode({**claims, "role": "admin"}, None, algorithm="none")
    r = api.client.get("/api/users", headers={"Authorization": f"Bearer {unsigned}"})
    assert_error(r, 401, "UNAUTHORIZED")

    r = api.client.get("/api/datasets", headers={"Authorization": "Bearer not.a.jwt"})
    assert_error(r, 401, "UNAUTHORIZED")


def test_refresh_token_is_not_an_access_token(api: Api) -> None:
    _, tokens = _login(api)
    r = api.client.get(
        "/api/datasets", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_error(r, 401, "UNAUTHORIZED")


def test_refresh_gives_new_tokens_once(api: Api) -> None:
    _, tokens = _login(api)
    r = api.client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert fresh["access_token"] != tokens["access_token"]
    r = api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert r.status_code == 200
    again = api.client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_error(again, 401, "UNAUTHORIZED")


def test_logout_revokes_the_token(api: Api) -> None:
    _, tokens = _login(api)
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.client.get("/api/auth/me", headers=h).status_code == 200
    r = api.client.post(
        "/api/auth/logout", headers=h, json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 200, r.text
    r = api.client.get("/api/auth/me", headers=h)
    assert_error(r, 401, "UNAUTHORIZED")
    assert "revoked" in r.json()["error"]["message"]
    r = api.client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_error(r, 401, "UNAUTHORIZED")


def test_api_keys_are_hashed_at_rest_usable_and_revocable(api: Api) -> None:
    from cqox.server.db import transaction
    from cqox.server.models import ApiKey

    h = api.user("analyst")
    r = api.client.post("/api/auth/api-keys", headers=h, json={"name": "ci"})
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    with transaction(api.app.state.services.factory) as s:
        row = s.get(ApiKey, key_id)
        assert row is not None and row.key_hash != key and key not in row.key_hash
    assert api.client.get("/api/datasets", headers={"X-API-Key": key}).status_code == 200
    assert (
        api.client.get("/api/datasets", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    listed = api.client.get("/api/auth/api-keys", headers=h).json()["api_keys"]
    assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0]
    assert api.client.delete(f"/api/auth/api-keys/{key_id}", headers=h).status_code == 200
    r = api.client.get("/api/datasets", headers={"X-API-Key": key})
    assert_error(r, 401, "UNAUTHORIZED")
    r = api.client.get("/api/datasets", headers={"X-API-Key": "cqox_made_up"})
    assert_error(r, 401, "UNAUTHORIZED")


def test_me_names_the_user_and_role(api: Api) -> None:
    name, tokens = _login(api, "viewer")
    r = api.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert r.json()["username"] == name and r.json()["role"] == "viewer"
