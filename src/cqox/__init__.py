"""CQOx: one engine for causal inference.

>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=1000, seed=0)
>>> an = cqox.analyze(df, outcome="y", treatment="t")
>>> sorted(an.consensus)
['ATE', 'ATT']
"""

from cqox import simulate
from cqox._version import __version__
from cqox.analysis.analysis import Analysis
from cqox.analysis.compose import analyze, estimate
from cqox.core.design import Design, designs_for
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.roles import Roles
from cqox.data.infer import infer_roles
from cqox.data.io import read_table
from cqox.data.profile import profile
from cqox.errors import (
    ColumnNotFoundError,
    CqoxError,
    CqoxWarning,
    DataError,
    DesignError,
    EstimationError,
    EstimatorNotFoundError,
    FileFormatError,
    FormulaError,
    NoDataError,
    ParameterError,
    RoleError,
)
from cqox.estimators.registry import list_estimators

__all__ = [
    "Analysis",
    "ColumnNotFoundError",
    "CqoxError",
    "CqoxWarning",
    "DataError",
    "Design",
    "DesignError",
    "Estimate",
    "EstimationError",
    "EstimatorNotFoundError",
    "FileFormatError",
    "FormulaError",
    "Gate",
    "NoDataError",
    "ParameterError",
    "RoleError",
    "Roles",
    "__version__",
    "analyze",
    "designs_for",
    "estimate",
    "infer_roles",
    "list_estimators",
    "profile",
    "read_table",
    "simulate",
]
