"""CQOx: one engine for causal inference.

>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=1000, seed=0)
>>> an = cqox.analyze(df, outcome="y", treatment="t")
>>> sorted(an.consensus)
['ATE', 'ATT']

The public names below are imported on first use (PEP 562), so ``import cqox`` and
``cqox --version`` stay fast: SciPy, pandas and scikit-learn load when an analysis
needs them, not before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cqox._version import __version__
from cqox.core import renderers as _renderers

#: public name → module that defines it (``None``: the name is a submodule of cqox).
_EXPORTS: dict[str, str | None] = {
    "Analysis": "cqox.analysis.analysis",
    "analyze": "cqox.analysis.compose",
    "estimate": "cqox.analysis.compose",
    "Design": "cqox.core.design",
    "designs_for": "cqox.core.design",
    "Estimate": "cqox.core.estimate",
    "Gate": "cqox.core.gate",
    "Roles": "cqox.core.roles",
    "infer_roles": "cqox.data.infer",
    "read_table": "cqox.data.io",
    "profile": "cqox.data.profile",
    "list_estimators": "cqox.estimators.registry",
    "ColumnNotFoundError": "cqox.errors",
    "CqoxDeprecationWarning": "cqox.errors",
    "CqoxError": "cqox.errors",
    "CqoxWarning": "cqox.errors",
    "DataError": "cqox.errors",
    "DesignError": "cqox.errors",
    "EstimationError": "cqox.errors",
    "EstimatorNotFoundError": "cqox.errors",
    "FileFormatError": "cqox.errors",
    "FormulaError": "cqox.errors",
    "NoDataError": "cqox.errors",
    "NoDesignError": "cqox.errors",
    "ParameterError": "cqox.errors",
    "RoleError": "cqox.errors",
    "simulate": None,
    "sensitivity": None,
    "datasets": None,
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cqox' has no attribute {name!r}")
    module = _EXPORTS[name]
    value = (
        importlib.import_module(f"cqox.{name}")
        if module is None
        else getattr(importlib.import_module(module), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def _render_report(analysis: Any) -> str:
    from cqox.report.html import render_report

    return render_report(analysis)


def _render_estimates_table(analysis: Any) -> str:
    from cqox.report.html import estimates_table

    return estimates_table(analysis)


# The analysis layer renders through this plug instead of importing the report layer
# above it (cqox.core.renderers); the report modules load on the first render.
_renderers.plug("report", _render_report)
_renderers.plug("estimates_table", _render_estimates_table)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from cqox import (
        datasets as datasets,
    )
    from cqox import (
        sensitivity as sensitivity,
    )
    from cqox import (
        simulate as simulate,
    )
    from cqox.analysis.analysis import (
        Analysis as Analysis,
    )
    from cqox.analysis.compose import (
        analyze as analyze,
    )
    from cqox.analysis.compose import (
        estimate as estimate,
    )
    from cqox.core.design import (
        Design as Design,
    )
    from cqox.core.design import (
        designs_for as designs_for,
    )
    from cqox.core.estimate import (
        Estimate as Estimate,
    )
    from cqox.core.gate import (
        Gate as Gate,
    )
    from cqox.core.roles import (
        Roles as Roles,
    )
    from cqox.data.infer import (
        infer_roles as infer_roles,
    )
    from cqox.data.io import (
        read_table as read_table,
    )
    from cqox.data.profile import (
        profile as profile,
    )
    from cqox.errors import (
        ColumnNotFoundError as ColumnNotFoundError,
    )
    from cqox.errors import (
        CqoxDeprecationWarning as CqoxDeprecationWarning,
    )
    from cqox.errors import (
        CqoxError as CqoxError,
    )
    from cqox.errors import (
        CqoxWarning as CqoxWarning,
    )
    from cqox.errors import (
        DataError as DataError,
    )
    from cqox.errors import (
        DesignError as DesignError,
    )
    from cqox.errors import (
        EstimationError as EstimationError,
    )
    from cqox.errors import (
        EstimatorNotFoundError as EstimatorNotFoundError,
    )
    from cqox.errors import (
        FileFormatError as FileFormatError,
    )
    from cqox.errors import (
        FormulaError as FormulaError,
    )
    from cqox.errors import (
        NoDataError as NoDataError,
    )
    from cqox.errors import (
        NoDesignError as NoDesignError,
    )
    from cqox.errors import (
        ParameterError as ParameterError,
    )
    from cqox.errors import (
        RoleError as RoleError,
    )
    from cqox.estimators.registry import (
        list_estimators as list_estimators,
    )
