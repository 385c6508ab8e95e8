"""Uploads that cannot exhaust the API process (issue #10, part 3).

Every hostile upload is answered 413 in the one error shape, with a message that names
the setting to raise, in under 2 s, and leaves nothing stored (no row, no file, no
temporary).  The last test attacks a fresh ``cqox serve`` on loopback as an attacker
would — bombs, a 20,000-column CSV, a 150 MB chunked body — and watches the API
process's peak memory stay under 1 GB.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cqox.data.limits import ReadLimits
from cqox.server import create_app
from cqox.server.body_limit import MULTIPART_OVERHEAD, BodyLimitMiddleware
from cqox.server.parsing import ParseJob, UploadParser, UploadRefusedError
from tests.api.conftest import PASSWORD, Api, assert_error, make_settings, small_frame
from tests.api.service_process import Server, create_user_cli, free_port, service_env
from tests.security import attacks
from tests.security.budgets import wall_budget_s

#: The issue's bound on the API process's memory while it is attacked.
API_MEMORY_BUDGET = 1 << 30

#: name → (file name, builder, setting the message must name)
HOSTILE: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "parquet_100M_constant_rows": ("constant.parquet", attacks.constant_parquet, "CQOX_MAX_CELLS"),
    "parquet_string_dictionary_bomb": (
        "strings.parquet",
        attacks.dictionary_string_parquet,
        "CQOX_MAX_EXPANDED_MB",
    ),
    "xlsx_ratio_bomb": (
        "bomb.xlsx",
        lambda: attacks.xlsx(deflated_zeros=40 << 20),
        "CQOX_MAX_EXPANSION_RATIO",
    ),
    "xlsx_over_the_absolute_cap_at_a_modest_ratio": (
        "big.xlsx",
        lambda: attacks.xlsx(deflated_zeros=80 << 20, random_bytes=500_000),
        "CQOX_MAX_EXPANDED_MB",
    ),
    # 32 KB that inflate to 32 MB: under the absolute cap, a thousand-fold ratio
    "gzip_bomb_csv": (
        "bomb.csv.gz",
        lambda: attacks.gzip_bomb(32 << 20),
        "CQOX_MAX_EXPANSION_RATIO",
    ),
    "csv_20000_columns": ("wide.csv", attacks.wide_csv, "CQOX_MAX_COLUMNS"),
    "json_20000_keys": ("wide.json", attacks.wide_json_records, "CQOX_MAX_COLUMNS"),
    "one_7MB_header_line": (
        "line.csv",
        lambda: attacks.long_header_csv(7 << 20),
        "CQOX_MAX_COLUMNS",
    ),
    "csv_over_max_cells": (
        "long.csv",
        lambda: b"y,t\n" + b"0,1\n" * 1_500_000,
        "CQOX_MAX_CELLS",
    ),
    "ndjson_over_max_cells": (
        "long.ndjson",
        lambda: attacks.long_ndjson(600_000),
        "CQOX_MAX_CELLS",
    ),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An app with tight limits, so that each one can be crossed with a small file."""
    settings = make_settings(
        tmp_path_factory.mktemp("cqox-uploads"),
        None,
        max_upload_mb=12.0,
        max_cells=1_000_000,
        max_expanded_mb=64.0,
        parse_time_limit_s=30.0,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client, settings, "sqlite")


def _nothing_stored(api: Api, headers: dict[str, str], before: list[str]) -> None:
    assert api.stored_files() == before  # no new dataset file, no temporary
    assert api.client.get("/api/datasets", headers=headers).json()["datasets"] == []


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_upload_is_413_naming_its_setting_fast_and_stores_nothing(
    api: Api, case: str
) -> None:
    name, build, setting = HOSTILE[case]
    raw = build()
    h = api.user("analyst")
    before = api.stored_files()
    start = time.perf_counter()
    r = api.upload(h, raw=raw, name=name)
    elapsed = time.perf_counter() - start
    err = assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert setting in err["message"] and err["details"]["limit"] == setting, err
    assert elapsed < wall_budget_s(), f"{case}: refused after {elapsed:.2f} s"
    _nothing_stored(api, h, before)


def test_a_normal_upload_still_works_and_leaves_no_temporaries(api: Api) -> None:
    h = api.user("analyst")
    before = api.stored_files()
    r = api.upload(h, small_frame(), name="ok.csv")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rows"] == 400 and body["columns"] == 5
    assert api.stored_files() == sorted([*before, f"{body['dataset_id']}.parquet"])
    detail = api.client.get(f"/api/datasets/{body['dataset_id']}", headers=h).json()
    assert {c["name"] for c in detail["schema"]} == {"y", "t", "x1", "x2", "x3"}
    assert detail["roles"]["outcome"] == "y"
    assert api.client.delete(f"/api/datasets/{body['dataset_id']}", headers=h).status_code == 200


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "cqoxboundary7f3a"
    out = b""
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"' + (
            f'; filename="{filename}"' if filename else ""
        )
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([("file", "a.csv", b"y,t\n1,0\n2,1\n")] * 2, "Too many files"),
        ([("file", "a.csv", b"y,t\n1,0\n2,1\n")] + [("f", None, b"x")] * 9, "Too many fields"),
        ([("file", "a.csv", b"y,t\n1,0\n2,1\n"), ("note", None, b"x" * 70_000)], "maximum size"),
    ],
    ids=["two_files", "nine_fields", "a_70KB_text_field"],
)
def test_multipart_limits_refuse_the_form_with_a_message_naming_the_limit(
    api: Api, parts: list[tuple[str, str | None, bytes]], words: str
) -> None:
    h = api.user("analyst")
    before = api.stored_files()
    body, content_type = _multipart(parts)
    r = api.client.post("/api/upload", headers={**h, "Content-Type": content_type}, content=body)
    err = assert_error(r, 400, "INVALID_REQUEST")
    assert words in err["message"], err
    _nothing_stored(api, h, before)


def test_the_caller_is_authenticated_before_the_form_is_parsed(api: Api) -> None:
    # two files break the form limits: parsed first, this would be 400, not 401
    body, content_type = _multipart([("file", "a.csv", b"y,t\n1,0\n")] * 2)
    r = api.client.post("/api/upload", headers={"Content-Type": content_type}, content=body)
    assert_error(r, 401, "UNAUTHORIZED")


def test_body_limit_counts_chunks_as_they_arrive_and_stops_reading() -> None:
    """A chunked body (no Content-Length) is cut at the limit: the rest is never read."""
    settings = make_settings(Path("unused"), None, max_upload_mb=1.0)
    limit = settings.max_upload_bytes + MULTIPART_OVERHEAD
    chunk = b"x" * 65536
    total_chunks = 150 * 16  # 150 MB
    read = 0
    sent: list[dict[str, Any]] = []
    app_saw: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception as exc:  # what the app makes of the aborted read
            app_saw.append(type(exc).__name__)
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < total_chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/upload", "headers": [], "state": {}}
    asyncio.run(BodyLimitMiddleware(app, settings)(scope, receive, send))
    assert read * len(chunk) <= limit + len(chunk)  # stopped at the first chunk past it
    assert sent[0]["status"] == 413 and len(sent) == 2  # our 413 only; the app's 400 dropped
    assert b"PAYLOAD_TOO_LARGE" in sent[1]["body"] and b"CQOX_MAX_UPLOAD_MB" in sent[1]["body"]
    assert app_saw == ["_BodyTooLargeError"]


# --- the parsing process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> UploadParser:
    settings = make_settings(
        tmp_path_factory.mktemp("cqox-parser"), None, parse_memory_mb=1024, parse_time_limit_s=1.0
    )
    p = UploadParser(settings)
    p.start()
    return p


def _job(parser: UploadParser, tmp_path: Path, raw: bytes, name: str, **changes: Any) -> ParseJob:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(raw)
    job = parser.job(upload, name, tmp_path / "out.parquet.tmp")
    return dataclasses.replace(job, **changes)


def test_a_parse_past_the_memory_limit_fails_in_the_child_not_here(
    parser: UploadParser, tmp_path: Path
) -> None:
    # with the decoded-size check out of the way, decoding needs 1.5 GB: over 1 GB
    raw = attacks.dictionary_string_parquet()
    lifted = ReadLimits(max_expanded_bytes=1 << 40)
    job = _job(parser, tmp_path, raw, "strings.parquet", limits=lifted, time_limit_s=60.0)
    with pytest.raises(UploadRefusedError) as info:
        parser.parse(job)
    err = info.value
    assert err.code == "PAYLOAD_TOO_LARGE" and "CQOX_PARSE_MEMORY_MB" in err.message, err.message
    assert not Path(job.output).exists()


def test_a_parse_past_the_time_limit_is_killed(parser: UploadParser, tmp_path: Path) -> None:
    raw = attacks.xlsx(attacks.sheet_rows(20_000, 20))  # openpyxl needs several seconds
    # identical rows compress far past the ratio cap: lift it, to reach the clock
    job = _job(parser, tmp_path, raw, "slow.xlsx", limits=ReadLimits(max_expansion_ratio=1e9))
    start = time.perf_counter()
    with pytest.raises(UploadRefusedError) as info:
        parser.parse(job)
    assert time.perf_counter() - start < job.time_limit_s + wall_budget_s()
    assert info.value.code == "PAYLOAD_TOO_LARGE"
    assert "CQOX_PARSE_TIME_LIMIT_S" in info.value.message


def test_an_upload_that_finds_no_free_parser_is_told_to_retry(
    parser: UploadParser, tmp_path: Path
) -> None:
    job = _job(parser, tmp_path, b"y,t\n1,0\n2,1\n", "ok.csv", time_limit_s=0.2)
    held = [parser.slots.acquire(blocking=False) for _ in range(parser.settings.parse_concurrency)]
    try:
        assert all(held)
        with pytest.raises(UploadRefusedError) as info:
            parser.parse(job)
    finally:
        for _ in held:
            parser.slots.release()
    assert info.value.code == "SERVICE_UNAVAILABLE" and info.value.headers["Retry-After"]
    assert "CQOX_PARSE_CONCURRENCY" in info.value.message


def test_the_parsing_process_returns_metadata_and_the_stored_file(
    parser: UploadParser, tmp_path: Path
) -> None:
    raw = small_frame().to_csv(index=False).encode()
    # the module's 1 s limit is for the test that must be killed; a child parsing a
    # small file on a loaded machine may need longer than that to start
    job = _job(parser, tmp_path, raw, "ok.csv", time_limit_s=60.0)
    meta = parser.parse(job)
    assert meta["rows"] == 400 and meta["n_columns"] == 5 and meta["format"] == "csv"
    assert Path(job.output).stat().st_size == meta["stored_bytes"]


# --- a fresh service, attacked over loopback --------------------------------------------


def _peak_rss(pid: int) -> int:
    """Peak resident memory of a process (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _chunked_upload(chunk_mb: int, total_mb: int, counter: list[int]) -> Iterator[bytes]:
    yield (
        b'--b7f3\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\ny,t\n'
    )
    line = b"0,1\n" * (chunk_mb << 18)
    for _ in range(total_mb // chunk_mb):
        counter[0] += len(line)
        yield line
    yield b"\r\n--b7f3--\r\n"


def test_a_fresh_service_refuses_every_attack_fast_and_stays_under_1_GB(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data", None, CQOX_MAX_UPLOAD_MB="20")
    create_user_cli(env, "mallory", "analyst", PASSWORD)
    server = Server(env, free_port(), tmp_path / "server.log")
    try:
        c = httpx.Client(base_url=server.url, timeout=60)
        token = c.post("/api/auth/login", json={"username": "mallory", "password": PASSWORD})
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        timings: dict[str, float] = {}
        attack = {
            case: HOSTILE[case]
            for case in (
                "parquet_100M_constant_rows",
                "parquet_string_dictionary_bomb",
                "xlsx_ratio_bomb",
                "csv_20000_columns",
                "json_20000_keys",
                "one_7MB_header_line",
            )
        }
        attack["gzip_bomb_1GB"] = (
            "bomb.csv.gz",
            lambda: attacks.gzip_bomb(1 << 30),
            "CQOX_MAX_EXPANSION_RATIO",
        )
        for case, (name, build, setting) in attack.items():
            raw = build()
            start = time.perf_counter()
            r = c.post("/api/upload", headers=h, files={"file": (name, raw)})
            timings[case] = time.perf_counter() - start
            assert r.status_code == 413, (case, r.text)
            assert setting in r.json()["error"]["message"], (case, r.text)

        # 150 MB in chunks, no Content-Length: refused once past 20 MB, the rest unsent
        counter = [0]
        start = time.perf_counter()
        try:
            r = c.post(
                "/api/upload",
                headers={**h, "Content-Type": "multipart/form-data; boundary=b7f3"},
                content=_chunked_upload(1, 150, counter),
            )
            status: int | str = r.status_code
            assert "CQOX_MAX_UPLOAD_MB" in r.text
        except httpx.TransportError as exc:  # the server closed the connection on us
            status = type(exc).__name__
        timings["chunked_150MB"] = time.perf_counter() - start
        assert status in (413, "WriteError", "RemoteProtocolError", "ReadError"), status
        assert counter[0] < 60 << 20, f"{counter[0] >> 20} MB sent before the server stopped"

        budget = wall_budget_s()
        slow = {k: round(v, 2) for k, v in timings.items() if v >= budget}
        assert not slow, f"refused too slowly: {slow}"
        peak = _peak_rss(server.proc.pid)
        assert peak < API_MEMORY_BUDGET, f"API process peaked at {peak >> 20} MB"
        assert c.get("/ready").status_code == 200
        assert [p.name for p in (tmp_path / "data" / "datasets").iterdir()] == []
    finally:
        server.stop()
