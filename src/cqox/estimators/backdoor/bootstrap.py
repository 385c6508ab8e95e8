"""The nonparametric bootstrap of any registered estimator, as an estimator.

``cqox.estimate("bootstrap", df, ..., base_estimator="aipw", base_params={...})``
fits the inner estimator on the data, refits it on ``n_boot`` resamples of the rows
(of whole clusters when a ``cluster`` role is given: the cluster bootstrap), and
reports the inner estimate with the bootstrap standard error (SD of the replicates)
and a percentile or BCa interval (Efron & Tibshirani 1993; Efron 1987,
doi:10.1080/01621459.1987.10478410).  Every nuisance model is refitted on every
resample, so the SE accounts for all estimation steps.  The p-value is the normal
approximation ``2Φ(−|θ̂/SE_boot|)``.  See :mod:`cqox.inference.bootstrap` for the
seeding (one random stream per replicate: results do not depend on the number of
workers), parallelism and the BCa jackknife.

It is not run by ``cqox.analyze`` unless asked for (``estimators=["bootstrap"]``):
it costs ``n_boot`` refits.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.confounded_binary(n=500, seed=1)
>>> est = cqox.estimate("bootstrap", df, outcome="y", treatment="t",
...                     covariates=["x1", "x2", "x3"], base_estimator="ipw",
...                     n_boot=199, seed=2, n_jobs=1)
>>> abs(est.estimate - truth["ATE"]) < 4 * est.se
True
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate, normal_inference
from cqox.core.params import CORES, MAX_SEED, Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import ParameterError
from cqox.estimators import registry
from cqox.estimators.base import Estimator
from cqox.estimators.common import CI_LEVEL
from cqox.estimators.registry import register
from cqox.inference.bootstrap import JACKKNIFE_GROUPS, bootstrap_fitted

#: Seed stream of the resampling when no ``seed`` parameter is given.
_BOOT_STREAM = 4242


def _inner(params: dict[str, Any]) -> Estimator:
    name = params["base_estimator"]
    if name == "bootstrap":
        raise ParameterError(
            "The 'base_estimator' parameter of bootstrap must name another estimator. "
            "Got 'bootstrap' instead.",
            details={"parameter": "base_estimator", "estimator": "bootstrap"},
        )
    cls = registry.get(name)
    given = params["base_params"] or {}
    if isinstance(given, str):  # from the command line: --set bootstrap.base_params='{...}'
        try:
            given = json.loads(given)
        except json.JSONDecodeError:
            given = None
        if not isinstance(given, dict):
            raise ParameterError(
                "The 'base_params' parameter of bootstrap must be a dict (or a JSON "
                f"object). Got {params['base_params']!r} instead.",
                details={"parameter": "base_params", "estimator": "bootstrap"},
            )
    return cls(**dict(given))


@register
class Bootstrap(Estimator):
    """Nonparametric (cluster) bootstrap of any registered estimator."""

    name = "bootstrap"
    family = "bootstrap"
    designs = (Design.BACKDOOR,)
    estimands = ("ATE", "ATT", "ATC")
    default_estimands = ()
    run_by_default = False
    optional_roles = ("covariates", "cluster")
    summary_line = "Nonparametric bootstrap of any estimator: SE, percentile and BCa intervals"
    parameters = (
        Param("base_estimator", "ipw", "str", "registry name of the estimator to bootstrap"),
        Param(
            "base_params",
            None,
            "any",
            "parameters of the bootstrapped estimator",
            nullable=True,
            check=lambda v: isinstance(v, dict | str),
            rule="a dict of parameters (or a JSON object string)",
        ),
        Param("n_boot", 999, "int", "bootstrap replicates", low=20, high=100_000),
        Param(
            "ci_method",
            "percentile",
            "choice",
            "interval from the replicates",
            choices=("percentile", "bca"),
        ),
        Param(
            "seed",
            None,
            "int",
            "seed of the resampling (default: from the analysis seed)",
            nullable=True,
            low=0,
            high=MAX_SEED,
        ),
        Param(
            "n_jobs",
            None,
            "int",
            "worker processes (None: all cores; small jobs run serially)",
            nullable=True,
            high=CORES,
        ),
        Param(
            "jackknife_groups",
            JACKKNIFE_GROUPS,
            "int",
            "BCa jackknife: delete-one up to this many units, else this many groups",
            low=10,
            high=10_000,
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """The inner estimator's data preparation (its roles, its complete cases)."""
        inner = _inner(params)
        return inner.prepare(df, roles, inner.resolved_params())

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        inner = _inner(params)
        seed = params["seed"]
        if seed is None and ctx.seed is not None:
            seed = int(ctx.rng(_BOOT_STREAM).integers(2**31 - 1))
        clusters = data.column("cluster") if data.roles.cluster is not None else None
        full, res = bootstrap_fitted(
            inner,
            data,
            ctx,
            n_boot=params["n_boot"],
            ci_method=params["ci_method"],
            level=params["ci_level"],
            seed=seed,
            clusters=clusters,
            jackknife_groups=params["jackknife_groups"],
            n_jobs=params["n_jobs"],
        )
        _, p_value = normal_inference(res.theta_hat, res.se, params["ci_level"])
        kind = "cluster bootstrap" if clusters is not None else "bootstrap"
        return Estimate(
            estimator=self.name,
            estimand=full.estimand,
            estimate=res.theta_hat,
            se=res.se,
            ci=res.ci,
            p_value=p_value,
            ci_level=params["ci_level"],
            n=full.n,
            n_treated=full.n_treated,
            n_control=full.n_control,
            counts={**full.counts, "n_boot_failed": res.n_failed},
            diagnostics={
                "inner_estimator": inner.name,
                "inner_se": full.se,
                "inner_ci": list(full.ci),
                "n_boot": params["n_boot"],
                "n_failed": res.n_failed,
                "bias": res.bias,
                "z0": res.z0,
                "acceleration": res.acceleration,
                "n_workers": res.n_workers,
                "n_clusters": None if clusters is None else len(set(clusters.tolist())),
                "seed": seed,
            },
            gates=list(full.gates),
            tables={
                "replicates": pd.DataFrame(
                    {"replicate": range(len(res.replicates)), "estimate": res.replicates}
                )
            },
            warnings=list(full.warnings)
            + (
                [
                    f"{res.n_failed} of {params['n_boot']} bootstrap replicates failed "
                    "and were dropped"
                ]
                if res.n_failed
                else []
            ),
            method=f"{kind} of {inner.name} ({params['n_boot']} replicates, "
            f"{params['ci_method']} interval)",
            influence=full.influence,
        )
