"""The Analysis JSON encoded once: the same JSON values as the standard library's.

The worker encodes a result with orjson, the database stores that text and the routes
splice it into their answers (:mod:`cqox.server.json_documents`); these tests prove that
a client reads exactly what ``json.dumps`` and ``JSONResponse`` would have given it.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import struct
import threading
import time

import pytest
from starlette.responses import JSONResponse

from cqox.core.jsonable import to_jsonable
from cqox.server.json_documents import (
    JsonText,
    column_serializer,
    decode,
    encode,
    with_document,
)


def _floats(n: int, seed: int = 0) -> list[float]:
    """Finite doubles of every magnitude: random bit patterns and decimal scales."""
    rng = random.Random(seed)
    out = [0.0, -0.0, 1e-5, 1e-7, 1e16, 1e22, 5e-324, 1.7976931348623157e308, 0.1, 2.0**53]
    while len(out) < n:
        f = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if math.isfinite(f):
            out.append(f)
        out.append(rng.random() * 10 ** rng.randint(-30, 30))
    return out


def test_encode_gives_the_values_json_dumps_gives_number_for_number() -> None:
    floats = _floats(20_000)
    doc = {
        "floats": floats,
        "ints": [0, -1, 2**63 - 1, -(2**63), 7],
        "text": ["é ü 漢字", 'quote " backslash \\ slash / <tag> & \u2028', "\x00\x1f"],
        "nested": {"a": [None, True, False, {"b": []}], "empty": {}},
    }
    ours = json.loads(encode(doc))
    assert ours == json.loads(json.dumps(doc))
    # every double reads back bit for bit (the shortest text that round-trips)
    assert [struct.pack("d", f) for f in ours["floats"]] == [struct.pack("d", f) for f in floats]
    assert list(ours) == list(doc)  # key order kept


def test_encode_falls_back_for_integers_beyond_64_bits() -> None:
    assert json.loads(encode({"n": 10**30})) == {"n": 10**30}


def test_non_finite_numbers_are_null_as_the_contract_says() -> None:
    plain = to_jsonable({"x": float("nan"), "y": [float("inf"), 1.5]})
    assert json.loads(encode(plain)) == {"x": None, "y": [None, 1.5]}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        "[12345678901234567890, -98765432109876543210]",
        "12345678901234567890",
        "[1234567890123456789, 0.0000123456789012345678]",
        '{"id": "x1234567890123456789012"}',
        "[NaN, Infinity, -Infinity]",
        '"\\ud800"',
        "[1.5e-07, 1e400, -0.0]",
    ],
)
def test_decode_gives_what_json_loads_gives(text: str) -> None:
    expected = json.loads(text)
    for given in (text, text.encode(), memoryview(text.encode())):
        got = decode(given)
        assert repr(got) == repr(expected)  # types too: an int stays an int


def test_with_document_is_the_json_response_of_the_whole_value() -> None:
    result = {"estimates": [{"estimate": 1.25e-7, "ci": [0.5, 2.0]}], "name": "é"}
    envelope = {"job_id": "a" * 32, "result": None, "links": {"self": "/x"}, "tail": [1]}
    body = with_document(envelope, "result", encode(result))
    expected = bytes(JSONResponse({**envelope, "result": result}).body)
    assert json.loads(body) == json.loads(expected)
    assert list(json.loads(body)) == list(envelope)  # the key keeps its place
    # the envelope around the document is rendered byte for byte as JSONResponse does
    assert body.startswith(expected[: expected.index(b'"result":') + len(b'"result":')])
    assert body.endswith(b',"links":{"self":"/x"},"tail":[1]}')
    missing = with_document({"job_id": "b"}, "result", "[1,2]")
    assert missing == b'{"job_id":"b","result":[1,2]}'
    assert with_document({"job_id": "b"}, "result", None) == b'{"job_id":"b","result":null}'


def test_with_document_ignores_lookalikes_in_the_envelope() -> None:
    envelope = {"note": "\x00cqox-document-0\x00", "result": None}
    body = with_document(envelope, "result", b"[3]")
    assert json.loads(body) == {"note": "\x00cqox-document-0\x00", "result": [3]}


def test_the_json_column_stores_encoded_text_unchanged_and_the_rest_as_json_dumps() -> None:
    assert column_serializer(JsonText('{"a":1e-7}')) == '{"a":1e-7}'
    assert column_serializer({"a": [1, 2]}) == json.dumps({"a": [1, 2]})


def test_a_job_event_calls_back_once_when_set_and_at_once_when_set_already() -> None:
    from cqox.server.jobs import JobEvent

    event = JobEvent()
    calls: list[str] = []
    event.add_done_callback(lambda: calls.append("early"))

    def broken() -> None:
        raise RuntimeError("a broken callback")

    event.add_done_callback(broken)
    assert calls == []
    event.set()
    event.set()
    assert event.is_set() and calls == ["early"]  # once; the broken one was logged
    event.add_done_callback(lambda: calls.append("late"))
    assert calls == ["early", "late"]


def test_a_waiting_request_wakes_when_its_job_ends_not_at_its_timeout() -> None:
    from cqox.server.jobs import JobEvent
    from cqox.server.routers.analyses import wait_for_job

    event = JobEvent()
    timer = threading.Timer(0.05, event.set)

    async def wait() -> float:
        start = time.monotonic()
        timer.start()
        await wait_for_job(event, 30.0)
        return time.monotonic() - start

    try:
        waited = asyncio.run(wait())
    finally:
        timer.cancel()
    assert event.is_set()
    assert waited < 10.0  # woken by the event, long before the 30 s timeout


def test_a_plain_event_is_polled_and_the_timeout_holds() -> None:
    from cqox.server.routers.analyses import wait_for_job

    plain = threading.Event()

    async def wait(timeout: float) -> float:
        start = time.monotonic()
        await wait_for_job(plain, timeout)
        return time.monotonic() - start

    assert asyncio.run(wait(0.05)) >= 0.05  # not set: waits out its timeout
    plain.set()
    assert asyncio.run(wait(30.0)) < 10.0
