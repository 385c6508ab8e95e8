"""The estimator registry.

Estimators register themselves with :func:`register` when their module is imported.
:func:`load_all` imports every public module under :mod:`cqox.estimators` once, so a
new estimator is added by adding one module: no list to edit.  Private modules (a
leading underscore) are skipped: they hold compiled kernels, which import Numba, and
listing the registry must not import Numba, LightGBM, scikit-learn or statsmodels
(``tests/unit/test_import_cost.py``).  An estimator that is not finished is not
registered.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any, TypeVar

from cqox.core.design import Design
from cqox.core.roles import Roles
from cqox.errors import EstimatorNotFoundError, closest
from cqox.estimators.base import Estimator

E = TypeVar("E", bound=type[Estimator])

_REGISTRY: dict[str, type[Estimator]] = {}
_LOADED = False


def register(cls: E) -> E:
    """Class decorator: add an estimator to the registry under ``cls.name``."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise RuntimeError(f"estimator name {name!r} registered twice")
    _REGISTRY[name] = cls
    return cls


def load_all() -> None:
    """Import every estimator module once (registration happens on import)."""
    global _LOADED
    if _LOADED:
        return
    import cqox.estimators as pkg

    for info in pkgutil.walk_packages(pkg.__path__, prefix="cqox.estimators."):
        # private modules (compiled kernels: ``_matching_kernels``, ``_qp``, …) register
        # nothing and import Numba; their estimators import them when they run
        if info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        importlib.import_module(info.name)
    _LOADED = True


def get(name: str) -> type[Estimator]:
    """The estimator class registered under ``name``."""
    load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = closest(name, list(_REGISTRY))
        raise EstimatorNotFoundError(
            f"no estimator named '{name}'"
            + (f"; did you mean '{hint}'?" if hint else "")
            + f" (estimators: {', '.join(sorted(_REGISTRY))})",
            details={"estimator": name, "suggestion": hint},
        ) from None


def all_estimators() -> dict[str, type[Estimator]]:
    """Every registered estimator, by name (sorted by family, then name)."""
    load_all()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].family, kv[0])))


def for_designs(
    designs: Iterable[Design | str],
    roles: Roles | None = None,
    *,
    default_only: bool = False,
) -> list[type[Estimator]]:
    """The estimators that serve any of ``designs`` (registry order).

    With ``roles``, only those whose required roles are all given; with
    ``default_only``, only those ``cqox.analyze`` runs unasked (``run_by_default``).
    The composer and the service's worker both choose estimators here.
    """
    wanted = {Design(d) for d in designs}
    return [
        cls
        for cls in all_estimators().values()
        if wanted.intersection(cls.designs)
        and (roles is None or all(getattr(roles, r) is not None for r in cls.requires))
        and (cls.run_by_default or not default_only)
    ]


def list_estimators() -> list[dict[str, Any]]:
    """The registry as a list of dictionaries (name, family, designs, estimands, ...)."""
    return [cls.describe() for cls in all_estimators().values()]
