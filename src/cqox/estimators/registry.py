"""The estimator registry.

Estimators register themselves with :func:`register` when their module is imported.
:func:`load_all` imports every public module under :mod:`cqox.estimators` once, so a
new estimator is added by adding one module: no list to edit.  Private modules (a
leading underscore) are skipped: they hold compiled kernels, which import Numba, and
listing the registry must not import Numba, LightGBM, scikit-learn or statsmodels
(``tests/unit/test_import_cost.py``).  An estimator that is not finished is not
registered.

Choosing estimators for designs (:func:`for_designs`) imports only the families
(subpackages) that can serve them: :data:`FAMILY_DESIGNS` says which designs each
family's estimators serve, and a family missing from it is always imported.  Importing
every module costs about 0.35 s of CPU in a fresh process (SciPy's ``stats`` and
``optimize`` among them), a tenth of which a backdoor analysis needs.  :func:`get` of a
name not yet loaded loads everything.  ``tests/unit/test_registry_lazy.py`` checks the
table against the estimators' own ``designs``.
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
#: Families (subpackages of :mod:`cqox.estimators`) imported so far.
_FAMILIES_LOADED: set[str] = set()

#: The designs the estimators of each family (subpackage) serve.  An estimator serving a
#: design its family does not list here would be missed by :func:`for_designs` in a
#: fresh process (the unit test fails); a family not listed is always imported.
FAMILY_DESIGNS: dict[str, frozenset[str]] = {
    "backdoor": frozenset({"backdoor"}),
    "cate": frozenset({"backdoor", "cate", "off_policy"}),
    "did": frozenset({"did", "staggered_did"}),
    "dose": frozenset({"dose_response"}),
    "frontdoor": frozenset({"frontdoor"}),
    "its": frozenset({"its"}),
    "iv": frozenset({"iv"}),
    "mediation": frozenset({"mediation"}),
    "network": frozenset({"network"}),
    "panel_match": frozenset({"panel_matching"}),
    "proximal": frozenset({"proximal"}),
    "rd": frozenset({"rd"}),
    "spatial": frozenset({"spatial"}),
    "synth": frozenset({"synthetic_control"}),
    "timevarying": frozenset({"time_varying"}),
    "transport": frozenset({"transportability"}),
}


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

    _import_public(pkg.__path__, "cqox.estimators.")
    _FAMILIES_LOADED.update(_families())
    _LOADED = True


def _import_public(path: Iterable[str], prefix: str) -> None:
    for info in pkgutil.walk_packages(path, prefix=prefix):
        # private modules (compiled kernels: ``_matching_kernels``, ``_qp``, …) register
        # nothing and import Numba; their estimators import them when they run
        if info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        importlib.import_module(info.name)


def _families() -> list[str]:
    """The families: the public subpackages of :mod:`cqox.estimators`."""
    import cqox.estimators as pkg

    return [
        info.name
        for info in pkgutil.iter_modules(pkg.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]


def load_for(designs: Iterable[Design | str]) -> None:
    """Import the families that may serve ``designs`` (and every unlisted family)."""
    if _LOADED:
        return
    wanted = {str(Design(d)) for d in designs}
    for family in _families():
        serves = FAMILY_DESIGNS.get(family)
        if family in _FAMILIES_LOADED or (serves is not None and not serves & wanted):
            continue
        module = importlib.import_module(f"cqox.estimators.{family}")
        _import_public(module.__path__, f"{module.__name__}.")
        _FAMILIES_LOADED.add(family)


def is_registered(name: str) -> bool:
    """Whether an estimator is registered under ``name``."""
    if name not in _REGISTRY:
        load_all()
    return name in _REGISTRY


def get(name: str) -> type[Estimator]:
    """The estimator class registered under ``name``."""
    if name not in _REGISTRY:
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
    return {cls.name: cls for cls in _in_order(_REGISTRY)}


def _in_order(registry: dict[str, type[Estimator]]) -> list[type[Estimator]]:
    """Registry order: by family, then name."""
    return [cls for _, cls in sorted(registry.items(), key=lambda kv: (kv[1].family, kv[0]))]


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
    load_for(wanted)
    return [
        cls
        for cls in _in_order(_REGISTRY)
        if wanted.intersection(cls.designs)
        and (roles is None or all(getattr(roles, r) is not None for r in cls.requires))
        and (cls.run_by_default or not default_only)
    ]


def list_estimators() -> list[dict[str, Any]]:
    """The registry as a list of dictionaries (name, family, designs, estimands, ...)."""
    return [cls.describe() for cls in all_estimators().values()]
