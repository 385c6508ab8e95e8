"""Gates: named checks of an identifying assumption or of estimation quality.

A gate is a value, not an exception: it carries the statistic, the threshold it is
compared with, a status (``pass`` / ``warn`` / ``fail`` / ``not_applicable``) and a
one-line message.  Thresholds are documented where each gate is computed and can be
overridden by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "not_applicable"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "not_applicable")


#: Marker of "no details given" for :meth:`Gate.__init__` (never stored).
_FRESH: dict[str, Any] = {}


@dataclass(frozen=True)
class Gate:
    """Result of one check.

    Attributes
    ----------
    name : str
        Stable snake_case name, e.g. ``effective_sample_size``.
    value : float or None
        The statistic that was checked (``None`` when not applicable).
    threshold : float or None
        The value it is compared with.
    status : {"pass", "warn", "fail", "not_applicable"}
        Outcome of the check.
    message : str
        One line a person can act on.
    details : dict
        Optional extra numbers (per-arm values, per-covariate statistics, ...).
    """

    name: str
    value: float | None
    threshold: float | None
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        name: str,
        value: float | None,
        threshold: float | None,
        status: Status,
        message: str,
        details: dict[str, Any] = _FRESH,
    ) -> None:
        # the dataclass's __init__ and __post_init__ written out: one update of the
        # instance's dict instead of six frozen object.__setattr__ calls (~1.0 -> ~0.5
        # µs; an estimate has several gates); details not given: a new empty dict
        if status not in STATUSES:
            raise ValueError(f"Gate status must be one of {STATUSES}; got {status!r}")
        self.__dict__.update(
            {
                "name": name,
                "value": value,
                "threshold": threshold,
                "status": status,
                "message": message,
                "details": {} if details is _FRESH else details,
            }
        )

    @classmethod
    def not_applicable(cls, name: str, because: str) -> Gate:
        """A gate that does not apply, with the reason."""
        return cls(name, None, None, "not_applicable", f"not applicable, because {because}")

    @property
    def passed(self) -> bool:
        """True unless the gate failed."""
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        from cqox.core.jsonable import to_jsonable

        return {
            "name": self.name,
            "value": to_jsonable(self.value),
            "threshold": to_jsonable(self.threshold),
            "status": self.status,
            "message": self.message,
            "details": to_jsonable(self.details),
        }


def threshold_gate(
    name: str,
    value: float,
    threshold: float,
    *,
    higher_is_better: bool,
    label: str,
    fail_threshold: float | None = None,
    details: dict[str, Any] | None = None,
) -> Gate:
    """Compare ``value`` with ``threshold`` and return a gate.

    ``value`` on the good side of ``threshold`` passes; on the bad side it warns, and it
    fails when it is also beyond ``fail_threshold`` (when one is given).
    """
    good = value >= threshold if higher_is_better else value <= threshold
    relation = "≥" if higher_is_better else "≤"
    if good:
        status: Status = "pass"
    elif fail_threshold is not None and (
        value < fail_threshold if higher_is_better else value > fail_threshold
    ):
        status = "fail"
    else:
        status = "warn"
    verdict = "ok" if status == "pass" else "check"
    message = f"{label} = {value:.4g} ({verdict}: threshold {relation} {threshold:.4g})"
    return Gate(name, float(value), float(threshold), status, message, dict(details or {}))
