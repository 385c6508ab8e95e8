"""Modules imported on first attribute access, so that importing CQOx stays cheap.

``scipy.stats`` alone takes about 0.25 s to import (it pulls in ``scipy.optimize``,
``scipy.interpolate``, …), as long as the rest of ``cqox estimators``.  Modules that
need a distribution only when they compute an interval write::

    from cqox._lazy import scipy_stats as stats

and use ``stats.norm.ppf(...)`` unchanged: the import happens at the first call.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for the module ``name`` that imports it when an attribute is read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        # only reached for attributes not set in __init__, i.e. the module's own names
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


#: ``scipy.stats``, imported on first use.
scipy_stats = LazyModule("scipy.stats")
#: ``scipy.optimize``, imported on first use.
scipy_optimize = LazyModule("scipy.optimize")
