"""The Analysis JSON encoded once, in the worker, and then stored and served as text.

A comprehensive analysis of 10,000 rows is a JSON document of about 1 MB (most of it
the matched pairs of ``psm``).  It used to be encoded and decoded four times on its way
from the worker to the client (pickled dict → ``json.dumps`` into the database →
``json.loads`` out of it → ``json.dumps`` into the response), about 70 ms of CPU per
request.  Now the worker encodes :meth:`cqox.Analysis.to_dict` once with orjson
(:func:`encode`, 1–2 ms instead of 20 ms), the job runner stores that text unchanged
(:class:`JsonText`, passed through by :func:`column_serializer`), and the routes splice
it into their answer (:func:`with_document`) without decoding it.

The document is the same JSON value as ``json.dumps`` gives: the same keys in the same
order, the same strings and the same numbers (orjson writes the shortest text that reads
back as the same double, as Python's ``repr`` does; only the spelling of some exponents
differs: ``1e-7`` for ``1e-07``, ``0.00001`` for ``1e-05``).  NaN and infinities never
reach it: :func:`cqox.core.jsonable.to_jsonable` has made them ``null`` already, as the
contract says (docs/design.md).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

#: Bytes → ``d`` (a digit), ``.`` (a decimal point) or ``x`` (anything else), so that a
#: number of 19 digits or more before any decimal point is ``x`` + 19 ``d``: an integer
#: that orjson may read as a float (see :func:`decode`).  Fractions do not count: orjson
#: writes 1.2e-5 as ``0.000012``, with long runs of digits after the point.
_DIGIT_CLASSES = bytes(
    ord("d") if chr(b).isdigit() and b < 128 else b if b == ord(".") else ord("x")
    for b in range(256)
)
_LONG_INTEGER = b"x" + b"d" * 19


def _has_long_integer(data: bytes) -> bool:
    """True when ``data`` has a run of 19 digits or more not after a decimal point."""
    return (b" " + data).translate(_DIGIT_CLASSES).find(_LONG_INTEGER) >= 0


@dataclass(frozen=True)
class JsonText:
    """A JSON document already encoded: a JSON column stores ``text`` as it is."""

    text: str


def encode(value: Any) -> bytes:
    """``value`` (plain JSON values, as :func:`~cqox.core.jsonable.to_jsonable` gives) as JSON.

    orjson, compact and UTF-8; what orjson refuses (an integer beyond 64 bits) is encoded
    by the standard library instead, with NaN refused as the responses refuse it.
    """
    import orjson

    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8"
        )


def decode(text: str | bytes | memoryview) -> Any:
    """JSON text as Python values: the values ``json.loads`` gives, read by orjson.

    orjson reads a result three to four times faster than ``json.loads``.  Where the two
    would differ, ``json.loads`` reads it: a ``NaN`` or ``Infinity`` literal (orjson
    refuses them) and a number of 19 digits or more before its decimal point (orjson
    reads an integer beyond 64 bits as a float; such a number is rare, and the search
    for one takes about a millisecond per megabyte).
    """
    import orjson

    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if not _has_long_integer(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def column_serializer(value: Any) -> str:
    """The serializer of the database's JSON columns: :class:`JsonText` passes unchanged.

    Everything else is ``json.dumps``, SQLAlchemy's default.
    """
    if isinstance(value, JsonText):
        return value.text
    return json.dumps(value)


def with_document(envelope: dict[str, Any], key: str, document: str | bytes | None) -> bytes:
    """``envelope`` as a ``JSONResponse`` body, with the encoded ``document`` at ``key``.

    The envelope (a few hundred bytes) is rendered exactly as a ``JSONResponse`` renders
    it; ``key`` keeps its place in it (it is added last when missing), and its value is
    the document's text, not decoded and encoded again.  ``None``: ``key`` is ``null``.
    """
    from starlette.responses import JSONResponse

    if document is None:
        return bytes(JSONResponse({**envelope, key: None}).body)
    data = document.encode("utf-8") if isinstance(document, str) else document
    # a string no envelope holds: NUL is escaped in JSON text (``\u0000``), and the
    # random part makes a collision with a value of the envelope impossible in practice
    marker = f"\x00cqox-document-{uuid.uuid4().hex}\x00"
    body = bytes(JSONResponse({**envelope, key: marker}).body)
    marker_text = json.dumps(marker).encode("utf-8")
    head, found, tail = body.partition(marker_text)
    if not found:  # pragma: no cover  (JSONResponse escapes NUL as json.dumps does)
        raise RuntimeError("the document's marker is missing from the rendered envelope")
    return head + data + tail
