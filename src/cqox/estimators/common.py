"""Parameters shared by many estimators."""

from __future__ import annotations

from cqox.core.params import Param

CI_LEVEL = Param(
    "ci_level",
    0.95,
    "float",
    "confidence level of the interval",
    low=0.0,
    high=1.0,
    closed="neither",
)


def estimand_param(choices: tuple[str, ...], default: str) -> Param:
    """The ``estimand`` parameter over ``choices``."""
    return Param("estimand", default, "choice", "target population of the effect", choices=choices)
