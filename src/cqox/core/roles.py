"""Roles: which column plays which part in the causal question.

Role names are the same everywhere: Python keywords, CLI flags, JSON keys and HTTP
fields.  Roles may be given explicitly or inferred from the table (see
:mod:`cqox.data.infer`); each inferred role carries a confidence and a reason, and an
explicit role always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cqox.errors import RoleError, closest, warn_deprecated

#: Roles that name a single column.
COLUMN_ROLES: tuple[str, ...] = (
    "outcome",
    "treatment",
    "unit",
    "time",
    "cohort",
    "running",
    "mediator",
    "dose",
    "cluster",
    "weight",
    "sample",
    "treatment_proxy",
    "outcome_proxy",
    "action",
    "logging_propensity",
    "reward",
    "lat",
    "lon",
)
#: Roles that name one column or several.
LIST_ROLES: tuple[str, ...] = ("covariates", "instrument")
#: Roles that are values, not columns.
VALUE_ROLES: tuple[str, ...] = ("cutoff",)
ALL_ROLES: tuple[str, ...] = COLUMN_ROLES + LIST_ROLES + VALUE_ROLES
#: The role names as sets: one hashed lookup per name instead of a scan of the tuple
#: (``cqox.estimate`` tests every keyword and every role it is given).
_ROLE_SET: frozenset[str] = frozenset(ALL_ROLES)
_COLUMN_ROLE_SET: frozenset[str] = frozenset(COLUMN_ROLES)
#: Values whose length 0 means "not given" (a tuple built once, not a union per value).
_SIZED = (str, list, tuple)

#: Deprecated aliases accepted in mappings for one release (earlier API documentation
#: used these keys); each use emits a DeprecationWarning.
ROLE_ALIASES: dict[str, str] = {"y": "outcome", "unit_id": "unit", "d": "treatment"}


def role_kind(role: str) -> str:
    """``"column"``, ``"columns"`` (one or several) or ``"value"``: how a role is given."""
    if role in LIST_ROLES:
        return "columns"
    return "value" if role in VALUE_ROLES else "column"


def split_role_keywords(keywords: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into roles (any name of :data:`ALL_ROLES`) and the rest.

    ``cqox.estimate`` takes every role and every estimator parameter as a keyword; no
    parameter is named like a role (``tests/contract`` checks it).
    """
    roles: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for k, v in keywords.items():
        (roles if k in _ROLE_SET else rest)[k] = v
    return roles, rest


@dataclass(frozen=True)
class RoleGuess:
    """An inferred role: the column, a confidence in [0, 1], and a one-line reason."""

    role: str
    column: str
    confidence: float
    reason: str
    source: str = "inferred"  # "inferred" or "explicit"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "role": self.role,
            "column": self.column,
            "confidence": round(float(self.confidence), 3),
            "reason": self.reason,
            "source": self.source,
        }


@dataclass(frozen=True)
class Roles:
    """The column mapping of an analysis.

    ``covariates`` is a list of column names or a Wilkinson formula string such as
    ``"age + I(age**2) + C(education)"``; ``instrument`` is one column or a list.
    ``cutoff`` is the threshold of the running variable (regression discontinuity).
    ``lat``/``lon`` are each unit's latitude and longitude in decimal degrees (spatial
    designs; Conley standard errors).
    ``guesses`` records how each role was chosen (explicit or inferred).
    """

    outcome: str | None = None
    treatment: str | None = None
    covariates: tuple[str, ...] | str | None = None
    unit: str | None = None
    time: str | None = None
    cohort: str | None = None
    instrument: tuple[str, ...] | None = None
    running: str | None = None
    cutoff: float | None = None
    mediator: str | None = None
    dose: str | None = None
    cluster: str | None = None
    weight: str | None = None
    sample: str | None = None
    treatment_proxy: str | None = None
    outcome_proxy: str | None = None
    action: str | None = None
    logging_propensity: str | None = None
    reward: str | None = None
    lat: str | None = None
    lon: str | None = None
    guesses: tuple[RoleGuess, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        # the documented list (``Roles(covariates=["a", "b"])``) becomes the one form
        # every reader checks for, a tuple (a reader that saw a list as "no covariates"
        # once turned regression adjustment into the naive difference of means)
        for name in ("covariates", "instrument"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None = None, **roles: Any) -> Roles:
        """Build roles from a mapping and/or keywords, accepting the documented aliases.

        Unknown keys raise :class:`cqox.errors.RoleError` naming the key.
        """
        return cls(**normalise_roles({**(mapping or {}), **roles}))

    @classmethod
    def from_normalised(cls, values: Mapping[str, Any]) -> Roles:
        """Roles from the output of :func:`normalise_roles`, without ``__init__``.

        The values are already in their one form (tuples of covariates and instruments,
        a float cutoff), so ``__init__`` and ``__post_init__`` would only store them:
        filling the instance's fields directly gives the equal object (same fields in
        the same order) in a quarter of the time (~1 µs instead of ~3.7 µs), which
        ``cqox.estimate`` pays on every call.
        """
        new = object.__new__(cls)
        fields_of = new.__dict__
        fields_of.update(_DEFAULTS)
        fields_of.update(values)
        return new

    def given(self) -> dict[str, Any]:
        """The roles that are set, as a dictionary (``guesses`` excluded)."""
        out: dict[str, Any] = {}
        # the instance's fields in declaration order (``fields()`` costs ~5× more)
        for name, value in vars(self).items():
            if value is not None and name != "guesses":
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def columns(self) -> list[str]:
        """Every column named by a role, except formula covariates (see the formula)."""
        cols: list[str] = []
        for name in COLUMN_ROLES:
            value = getattr(self, name)
            if value is not None:
                cols.append(value)
        if self.instrument:
            cols.extend(self.instrument)
        if isinstance(self.covariates, tuple):
            cols.extend(self.covariates)
        return list(dict.fromkeys(cols))

    @property
    def covariate_formula(self) -> str | None:
        """The covariate formula, when covariates were given as one."""
        return self.covariates if isinstance(self.covariates, str) else None

    def merge(self, other: Roles) -> Roles:
        """Roles of ``self`` filled in with those of ``other`` where ``self`` has none."""
        values = {k: v for k, v in vars(other).items() if v is not None}
        values.update((k, v) for k, v in vars(self).items() if v is not None)
        values["guesses"] = self.guesses + other.guesses
        return type(self)(**values)

    def with_roles(self, **changes: Any) -> Roles:
        """A copy with some roles replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: the roles, plus how each was chosen."""
        out = self.given()
        out["inferred"] = [g.to_dict() for g in self.guesses]
        return out


#: Every field of :class:`Roles` with its default, in declaration order.
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Roles)}


def normalise_roles(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The roles of ``mapping`` as :class:`Roles` takes them (see :meth:`Roles.from_mapping`).

    Aliases renamed (with a DeprecationWarning), empty values left out, covariates and
    instruments as tuples (or a formula), the cutoff a float; an unknown role or a
    column role given several columns raises :class:`cqox.errors.RoleError`.
    """
    merged: dict[str, Any] = {}
    for key, value in mapping.items():
        name = key
        if key not in _ROLE_SET:  # an alias or an unknown name (no alias is a role)
            name = ROLE_ALIASES.get(key, key)
            if key in ROLE_ALIASES:
                warn_deprecated(
                    f"role alias '{key}' is deprecated and will be removed in the next "
                    f"release; use '{name}'"
                )
            if name not in _ROLE_SET:
                hint = closest(key, ALL_ROLES)
                raise RoleError(
                    f"unknown role '{key}'"
                    + (f"; did you mean '{hint}'?" if hint else "")
                    + f" (roles: {', '.join(ALL_ROLES)})",
                    details={"role": key},
                )
        if value is None or (isinstance(value, _SIZED) and len(value) == 0):
            continue
        merged[name] = value
    if "covariates" in merged:
        merged["covariates"] = normalise_covariates(merged["covariates"])
    if "instrument" in merged:
        inst = merged["instrument"]
        merged["instrument"] = (inst,) if isinstance(inst, str) else tuple(inst)
    if "cutoff" in merged:
        try:
            merged["cutoff"] = float(merged["cutoff"])
        except (TypeError, ValueError):
            raise RoleError(
                f"role 'cutoff' must be a number; got {merged['cutoff']!r}",
                details={"role": "cutoff"},
            ) from None
    for key, value in merged.items():
        if key in _COLUMN_ROLE_SET and not isinstance(value, str):
            _several_columns(merged)
    return merged


def _several_columns(merged: Mapping[str, Any]) -> None:
    """Raise for the first column role (in the order of the roles) not given as one name."""
    for name in COLUMN_ROLES:
        if name in merged and not isinstance(merged[name], str):
            raise RoleError(
                f"role '{name}' must name one column; got {merged[name]!r}",
                details={"role": name},
            )


def normalise_covariates(value: Any) -> tuple[str, ...] | str:
    """Covariates as a tuple of column names, or a formula string.

    A string with formula syntax (``+ * : ( ~``) stays a formula; a comma-separated
    string is split into names; a list is kept as names.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("~"):
            text = text[1:].strip()
        if any(ch in text for ch in "+*:()~^"):
            return text
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if isinstance(value, list | tuple):
        names = []
        for v in value:
            if not isinstance(v, str):
                raise RoleError(
                    f"role 'covariates': each covariate must be a column name; got {v!r}",
                    details={"role": "covariates"},
                )
            names.append(v)
        return tuple(names)
    raise RoleError(
        f"role 'covariates' must be a list of columns or a formula; got {value!r}",
        details={"role": "covariates"},
    )
