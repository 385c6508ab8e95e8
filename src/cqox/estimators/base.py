"""The estimator contract.

An estimator is a class registered under a snake_case name.  It declares, as data:
its family, the designs it serves, the roles it needs, its estimands and its
parameters.  Its constructor stores keyword parameters verbatim (so they round-trip);
:meth:`Estimator.fit` validates them, prepares the data and returns one
:class:`~cqox.core.estimate.Estimate`.  The numbers come from plain array functions
in the estimator's module: methods orchestrate, functions compute.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
from threadpoolctl import ThreadpoolController

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param, resolve_params
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import CqoxWarning, ParameterError

_CONTROLLER: tuple[int, ThreadpoolController] | None = None


def thread_limits(n_threads: int | None) -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS/OpenMP threads to ``n_threads`` for the duration of a fit.

    Inspecting the loaded thread pools costs milliseconds, so the controller is built
    once and rebuilt only when new modules (possibly new native libraries) were imported.
    When every pool already runs ``n_threads`` threads (``OMP_NUM_THREADS=1``, or a
    caller's own limit) the limit would set each to what it is: no context then (a
    limit and its restoration cost ~20 µs, a tenth of a small fit; reading the pools'
    thread counts ~1 µs).
    """
    global _CONTROLLER
    if not n_threads:
        return contextlib.nullcontext()
    loaded = len(sys.modules)
    if _CONTROLLER is None or _CONTROLLER[0] != loaded:
        _CONTROLLER = (loaded, ThreadpoolController())
    controller = _CONTROLLER[1]
    for lib in controller.lib_controllers:  # a loop, not all() of a generator (~0.3 µs)
        if lib.num_threads != n_threads:
            return controller.limit(limits=n_threads)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Example:
    """A small, seeded example of an estimator: a simulator of :mod:`cqox.simulate`, roles.

    The contract suite (``tests/contract``) fits every registered estimator on its
    example, so a new family is checked the day it registers.  ``simulator`` is the
    function's name in :mod:`cqox.simulate`; ``args`` its keyword arguments (kept small:
    the suite fits each example several times; ``"network.network_interference"`` names a
    function of a submodule); ``roles`` the role mapping; ``params``
    estimator parameters that keep the example fast (fewer replicates, no placebo refits);
    ``learner_params`` the parameters under which the learner parameters are used
    (``aipw``: ``cross_fit=True``); ``side_tables`` the parameters filled from the
    simulator's further outputs (``{"network": 1}``).
    """

    simulator: str
    args: Mapping[str, Any]
    roles: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    learner_params: Mapping[str, Any] = field(default_factory=dict)
    side_tables: Mapping[str, int] = field(default_factory=dict)

    def _simulate(self) -> tuple[Any, ...]:
        # "network.network_interference": a simulator module not imported by cqox.simulate
        module, _, function = self.simulator.rpartition(".")
        simulate = importlib.import_module("cqox.simulate" + (f".{module}" if module else ""))
        return tuple(getattr(simulate, function)(**self.args))

    def data(self) -> pd.DataFrame:
        """The simulated table (the truth and any side table are dropped)."""
        df: pd.DataFrame = self._simulate()[0]
        return df

    def fit_params(self) -> dict[str, Any]:
        """``params`` plus the side tables (``network``: the simulator's edge table).

        ``side_tables`` maps a parameter name to the position of that table in the
        simulator's output (``network_interference`` returns units, edges, truth).
        """
        out = dict(self.params)
        if self.side_tables:
            outputs = self._simulate()
            out.update({name: outputs[i] for name, i in self.side_tables.items()})
        return out


class Estimator(ABC):
    """Base class of every registered estimator.

    Subclasses set the class attributes and implement :meth:`_fit`.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    designs: ClassVar[tuple[Design, ...]]
    estimands: ClassVar[tuple[str, ...]]
    requires: ClassVar[tuple[str, ...]] = ("outcome", "treatment")
    optional_roles: ClassVar[tuple[str, ...]] = ("covariates",)
    binary_treatment: ClassVar[bool] = True
    parameters: ClassVar[tuple[Param, ...]] = ()
    summary_line: ClassVar[str] = ""
    #: Estimands run by default in ``cqox.analyze`` (a subset of ``estimands``).
    default_estimands: ClassVar[tuple[str, ...]] = ()
    #: Whether ``cqox.analyze`` runs it when no estimator list is given (False for
    #: costly wrappers such as ``bootstrap``, which run only when named).
    run_by_default: ClassVar[bool] = True
    #: Sensitivity analyses the composer adds to this estimator's estimates beyond the
    #: E-value: ``"ovb"`` (Cinelli–Hazlett robustness values of the outcome regression of
    #: the covariates).  Rosenbaum bounds need no declaration: they follow a published
    #: ``matched_pairs`` table (:data:`cqox.sensitivity.rosenbaum.MATCHED_PAIRS_TABLE`).
    sensitivity: ClassVar[tuple[str, ...]] = ()
    #: A small seeded example (simulator + roles) every contract test runs on.
    example: ClassVar[Example | None] = None
    #: Whether its identifying assumption holds only given covariates the analyst names
    #: (an instrument valid given controls; sequential ignorability given pre-treatment
    #: confounders).  ``cqox.analyze`` then does not run it on *inferred* covariates:
    #: inferred columns may be consequences of the treatment (bad controls), which no
    #: rule on names or data can rule out, and they move these estimates (issue #11).
    needs_named_covariates: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params

    @classmethod
    def unused_params(cls, params: Mapping[str, Any]) -> frozenset[str]:
        """Parameters the resolved ``params`` leave unused (``n_boot`` without a bootstrap).

        The service's work budget (:mod:`cqox.server.budget`) does not count a replicate
        parameter the chosen method does not use; estimators whose replicates depend on
        another parameter (``se_method``) override this.
        """
        return frozenset()

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to the constructor."""
        return dict(self.params)

    def resolved_params(self) -> dict[str, Any]:
        """Parameters with defaults filled in and every value checked."""
        params = resolve_params(self.parameters, self.params, self.name)
        if "estimand" in params and params["estimand"] not in self.estimands:
            raise ParameterError(
                f"The 'estimand' parameter of {self.name} must be one of "
                f"{', '.join(self.estimands)}. Got {params['estimand']!r} instead.",
                details={"parameter": "estimand", "estimator": self.name},
            )
        return params

    @classmethod
    def prepare_key(cls, df: pd.DataFrame, roles: Roles) -> tuple[Any, ...]:
        """Which estimators can share one :meth:`prepare` within an analysis.

        Estimators with equal keys get the same :class:`CausalData` (one copy of the
        covariate matrix, one propensity cache entry).  The default is the preparation
        method, the required roles and whether the treatment is coded 0/1.
        """
        return (cls.prepare, cls.requires, cls.binary_treatment)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate roles and build the complete-case data this estimator needs."""
        return prepare(df, roles, require=self.requires, binary_treatment=self.binary_treatment)

    def fit(
        self,
        df: pd.DataFrame,
        roles: Roles,
        context: Context | None = None,
        data: CausalData | None = None,
    ) -> Estimate:
        """Estimate on ``df`` with ``roles``; ``data`` reuses an earlier preparation."""
        ctx = context or Context()
        params = self.resolved_params()
        start = time.perf_counter()
        with thread_limits(ctx.n_threads), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CqoxWarning)
            if data is None:
                data = self.prepare(df, roles, params)
            est = self._fit(data, params, ctx)
        notes = list(
            dict.fromkeys(
                [str(w.message) for w in caught if issubclass(w.category, CqoxWarning)]
                + data.warnings
                + est.warnings
            )
            if caught or data.warnings
            else dict.fromkeys(est.warnings)  # the usual fit: nothing else to merge
        )
        counts = {**data.counts(), **est.counts}
        return est.with_updates(
            params=params, elapsed_s=time.perf_counter() - start, warnings=notes, counts=counts
        )

    @abstractmethod
    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        """Compute the estimate from prepared data (implemented by each estimator)."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Registry entry: name, family, designs, estimands, roles and parameters."""
        return {
            "name": cls.name,
            "family": cls.family,
            "designs": [d.value for d in cls.designs],
            "estimands": list(cls.estimands),
            "requires": list(cls.requires),
            "optional_roles": list(cls.optional_roles),
            "summary": cls.summary_line,
            "parameters": [
                {"name": p.name, "default": p.default, "rule": p.describe(), "doc": p.doc}
                for p in cls.parameters
            ],
        }
