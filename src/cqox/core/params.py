"""Estimator parameters declared as data and checked at fit time.

Each estimator declares its parameters as :class:`Param` objects.  Constructors store
keyword arguments verbatim; :func:`resolve_params` fills in defaults and checks every
value against its rule with one message template::

    The 'trim' parameter of ipw must be a float in [0, 0.5). Got 0.7 instead.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cqox.errors import ParameterError, closest, warn_deprecated

#: Longest repr of a refused value shown in an error message.
MAX_SHOWN = 200
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = MAX_SHOWN
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 20
#: Largest seed (NumPy seeds are unsigned; the service's request seed has the same bound).
MAX_SEED = 2**32 - 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


#: CPU cores this process may use: the most worker processes (``n_jobs``) an estimator
#: may ask for.
CORES = _cores()


@dataclass(frozen=True)
class Param:
    """One parameter: its name, default, rule and a short description.

    ``kind`` is one of ``"float"``, ``"int"``, ``"bool"``, ``"choice"``, ``"str"``,
    ``"any"``.  ``low``/``high`` bound numbers (``closed`` says which ends are
    included: ``"both"``, ``"left"``, ``"right"``, ``"neither"``); ``choices`` lists
    allowed values; ``nullable`` allows ``None``.  ``check`` is an extra predicate
    with ``rule`` as its description.  ``formula`` marks a parameter that accepts a
    covariate formula (the service checks it against the formula language on arrival).
    ``aliases`` are deprecated former names: they keep working for one release and emit
    a :class:`DeprecationWarning`.
    """

    name: str
    default: Any
    kind: str
    doc: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    choices: Sequence[Any] | None = None
    nullable: bool = False
    check: Callable[[Any], bool] | None = None
    rule: str | None = None
    formula: bool = False
    aliases: tuple[str, ...] = ()

    def describe(self) -> str:
        """The rule in words, for error messages and ``cqox estimators``."""
        if self.rule:
            text = self.rule
        elif self.kind == "choice" and self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind in ("float", "int") and (self.low is not None or self.high is not None):
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            text = f"{'an int' if self.kind == 'int' else 'a float'} in {left}{lo}, {hi}{right}"
        else:
            text = {"float": "a float", "int": "an int", "bool": "a bool", "str": "a string"}.get(
                self.kind, "a value"
            )
        return text + (" or None" if self.nullable else "")

    def coerce(self, value: Any, owner: str) -> Any:
        """Check ``value`` (coercing CLI strings) and return it, or raise ParameterError."""
        if value is None:
            if self.nullable:
                return None
            self._fail(value, owner)
        if isinstance(value, str) and self.kind in ("float", "int", "bool"):
            value = _parse_text(value, self.kind)
        if isinstance(value, str) and self.nullable and value.lower() in ("none", "null"):
            return None
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._fail(value, owner)
            value = float(value)
            if not math.isfinite(value) or not self._in_range(value):
                self._fail(value, owner)
        elif self.kind == "int":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            ):
                self._fail(value, owner)
            value = int(value)
            if not self._in_range(value):
                self._fail(value, owner)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                self._fail(value, owner)
        elif self.kind == "choice":
            assert self.choices is not None
            matches = [
                c
                for c in self.choices
                if c == value
                or (isinstance(c, str) and isinstance(value, str) and c.lower() == value.lower())
            ]
            if not matches:
                self._fail(value, owner)
            value = matches[0]
        elif self.kind == "str" and not isinstance(value, str):
            self._fail(value, owner)
        if self.check is not None and not self.check(value):
            self._fail(value, owner)
        return value

    def _in_range(self, value: float) -> bool:
        lo_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        hi_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high
        )
        return lo_ok and hi_ok

    def _fail(self, value: Any, owner: str) -> None:
        # a list of a million items is neither echoed back (messages go to logs and HTTP
        # bodies) nor rendered in full first
        shown = _SHORT_REPR.repr(value)
        if len(shown) > MAX_SHOWN:
            shown = shown[: MAX_SHOWN - 1] + "…"
        raise ParameterError(
            f"The '{self.name}' parameter of {owner} must be {self.describe()}. "
            f"Got {shown} instead.",
            details={"parameter": self.name, "estimator": owner, "value": shown},
        )


def _parse_text(text: str, kind: str) -> Any:
    """Parse a CLI string (``--set ipw.trim=0.05``) into the parameter's type."""
    t = text.strip()
    if kind == "bool":
        low = t.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        return text
    try:
        return int(t) if kind == "int" and t.lstrip("+-").isdigit() else float(t)
    except ValueError:
        return text


@dataclass(frozen=True)
class _SpecTables:
    """The look-up tables of one tuple of parameter specs, built once per tuple."""

    by_name: dict[str, Param]
    by_alias: dict[str, str]
    #: name → default, in the order of the specs (the order of the resolved dict)
    defaults: dict[str, Any]
    #: name → position in the specs (values are checked in this order)
    order: dict[str, int]


#: id(specs) → (specs, tables), for tuples of specs.  An estimator's specs are one tuple
#: for the life of the process, so the tables are built once instead of on every fit (~2 µs for ten
#: parameters); the specs are kept so that an id is never reused while cached.
_TABLES: dict[int, tuple[Sequence[Param], _SpecTables]] = {}
#: Entries kept at most (specs built on the fly, e.g. in tests, must not accumulate).
_MAX_TABLES = 1024


def _tables(specs: Sequence[Param]) -> _SpecTables:
    entry = _TABLES.get(id(specs))
    if entry is not None and entry[0] is specs:
        return entry[1]
    tables = _SpecTables(
        by_name={p.name: p for p in specs},
        by_alias={a: p.name for p in specs for a in p.aliases},
        defaults={p.name: p.default for p in specs},
        order={p.name: i for i, p in enumerate(specs)},
    )
    if type(specs) is tuple:  # a list could change after it was cached
        if len(_TABLES) >= _MAX_TABLES:
            _TABLES.clear()
        _TABLES[id(specs)] = (specs, tables)
    return tables


def resolve_params(specs: Sequence[Param], given: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Fill defaults and validate ``given`` against ``specs``; unknown names are errors.

    A deprecated alias (``Param.aliases``) is renamed to its parameter with a
    :class:`DeprecationWarning`; giving both the alias and the parameter is an error.
    The values given are checked in the order of ``specs`` (the first bad one is the
    one reported); the result lists every parameter in that order.
    """
    tables = _tables(specs)
    by_name, by_alias = tables.by_name, tables.by_alias
    named: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in given.items():
        if key in by_name:
            new = key
        elif key in by_alias:
            new = by_alias[key]
            warn_deprecated(
                f"The '{key}' parameter of {owner} is deprecated and will be removed in the "
                f"next release; use '{new}' instead."
            )
        else:
            hint = closest(key, [*by_name, *by_alias])
            hint = by_alias.get(hint, hint) if hint else hint
            known = ", ".join(by_name) or "none"
            raise ParameterError(
                f"{owner} has no parameter '{key}'"
                + (f"; did you mean '{hint}'?" if hint else "")
                + f" (parameters: {known})",
                details={"parameter": key, "estimator": owner},
            )
        if new in named:
            alias = key if key != new else spelled[new]
            raise ParameterError(
                f"{owner} got both '{new}' and its deprecated alias '{alias}'; give '{new}' only",
                details={"parameter": new, "estimator": owner},
            )
        named[new], spelled[new] = value, key
    # the defaults' dict copied, the given values checked and put in their places: the
    # dict ``{p.name: coerce or default for p in specs}`` without a pass over every spec
    out = dict(tables.defaults)
    names = sorted(named, key=tables.order.__getitem__) if len(named) > 1 else named
    for name in names:
        out[name] = by_name[name].coerce(named[name], owner)
    return out


def canonical_params(specs: Sequence[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` with deprecated aliases renamed to their parameters (no checks, no warning)."""
    by_alias = {a: p.name for p in specs for a in p.aliases}
    return {by_alias.get(k, k): v for k, v in given.items()}
