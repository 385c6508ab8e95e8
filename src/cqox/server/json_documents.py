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
    placeholder = json.dumps(marker).encode("utf-8")
    head, found, tail = body.partition(placeholder)
    if not found:  # pragma: no cover  (JSONResponse escapes NUL as json.dumps does)
        raise RuntimeError("the document's placeholder is missing from the envelope")
    return head + data + tail
