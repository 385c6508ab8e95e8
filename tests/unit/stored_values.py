"""Numbers stored from an older commit, and how the old-code equality tests compare them.

The ``test_*_old_code_values`` tests store every number an estimator gave before a
speed change (one JSON object per design: ``{name: number | [numbers] | text}``) and
require the new code to give the same numbers to a relative tolerance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

Value = float | list[float] | str


def load(path: Path) -> dict[str, dict[str, Value]]:
    """The stored numbers: ``{design id: {name: value}}``."""
    values: dict[str, dict[str, Value]] = json.loads(path.read_text())
    return values


def write(path: Path, values: Mapping[str, Mapping[str, Value]]) -> None:
    """Store ``values`` (compact, sorted: a regenerated file diffs by design)."""
    path.write_text(json.dumps(values, indent=0, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{len(values)} cases written to {path}")


def close(got: float, want: float, rtol: float, atol: float) -> bool:
    """``|got − want| ≤ rtol·|want| + atol``; NaN and ±inf must match exactly."""
    if math.isnan(want) or math.isinf(want):
        return got == want or (math.isnan(got) and math.isnan(want))
    return abs(got - want) <= rtol * abs(want) + atol


def mismatches(
    got: Mapping[str, Value], want: Mapping[str, Value], rtol: float, atol: float
) -> list[tuple[str, object, object]]:
    """``(name, got, want)`` of every number or text that differs (texts exactly)."""
    bad: list[tuple[str, object, object]] = []
    for key, w in want.items():
        g = got[key]
        if isinstance(w, str) or isinstance(g, str):
            if g != w:
                bad.append((key, g, w))
        elif isinstance(w, list) or isinstance(g, list):
            if not (isinstance(g, list) and isinstance(w, list) and len(g) == len(w)):
                bad.append((key, g, w))
                continue
            pairs = enumerate(zip(g, w, strict=True))
            bad += [(f"{key}[{i}]", a, b) for i, (a, b) in pairs if not close(a, b, rtol, atol)]
        elif isinstance(g, bool) or not isinstance(g, float | int) or not close(g, w, rtol, atol):
            bad.append((key, g, w))
    return bad


def assert_equal(
    got: Mapping[str, Value], want: Mapping[str, Value], rtol: float, atol: float
) -> None:
    """The same names, and every value equal (:func:`mismatches`); the first ten shown."""
    assert sorted(got) == sorted(want)
    bad = mismatches(got, want, rtol, atol)
    assert not bad, bad[:10]
