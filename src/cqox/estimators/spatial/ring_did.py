"""Difference-in-differences with treatment-distance rings (``ring_did``; Butts 2021).

When a treatment reaches untreated places nearby (a new plant raises wages in the next
towns too), the two-way fixed-effects DiD that counts those places as controls is biased
and the spillover is lost.  Butts (2021, "Difference-in-Differences Estimation with
Spatial Spillovers", arXiv:2105.03737) adds indicators of being untreated within each
distance band ("ring") of a treated place::

    y_it = α_i + λ_t + τ·D_it + Σ_k δ_k·R_k,it + X_it'β + ε_it

``R_k,it = 1`` when place ``i`` is untreated in ``t`` and the nearest place treated in
``t`` is at a great-circle distance in ring ``k`` — ``[0, e_1]``, ``(e_1, e_2]``, … of the
outer edges ``ring_edges_km`` (:mod:`cqox.estimators.spatial.rings`).  The identifying
comparison is then with the "pure" controls beyond the last edge: ``τ`` is the
``direct`` effect on the treated and ``δ_k`` the ``spillover`` effect on untreated places
in ring ``k``.  Fixed effects are absorbed and the SEs are CR1 clustered by place (or the
``cluster`` role) with fixest's small-sample factor, exactly as ``did_twfe``
(:func:`cqox.estimators.did.twfe.twfe_fit`), which pyfixest reproduces on the same ring
indicators (``tests/reference/test_ring_did_vs_pyfixest.py``).

Assumptions (Butts 2021, Assumptions 1–3): parallel trends between the treated, each
ring and the pure controls; spillovers vanish beyond the last edge (if they do not, the
pure controls are contaminated — the ``ring_outer_spillover`` gate warns when the
outermost ring still shows a significant effect, suggesting the rings stop too soon);
spillovers depend on the distance to the nearest treated place only; and with staggered
adoption, effects that do not change over time or cohorts (else see ``did_cs``).  The
direct effect includes any spillover treated places receive from each other.

Example
-------
>>> import cqox
>>> from cqox.simulate.spatial import ring_spillover_panel
>>> df, truth = ring_spillover_panel(n_units=400, seed=1)
>>> est = cqox.estimate("ring_did", df, outcome="y", treatment="d", estimand="spillover",
...                     roles={"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"},
...                     ring_edges_km=[1, 2, 3])
>>> abs(est.estimate - truth["spillover"][0]) < 4 * est.se
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    estimand_param,
    se_method_param,
)
from cqox.estimators.did.panel import build_panel, constant_within_unit, prepare_panel
from cqox.estimators.did.twfe import treatment_in_period, twfe_conley_vcov, twfe_fit
from cqox.estimators.registry import register
from cqox.estimators.spatial.rings import (
    MAX_RINGS,
    RING_EDGES_RULE,
    RingDesign,
    default_ring_edges,
    distance_to_treated,
    parse_ring_edges,
    ring_design,
)
from cqox.inference.spatial_hac import check_coordinates

#: Estimands: the effect on the treated and the spillover on one ring.
ESTIMANDS = ("direct", "spillover")
#: Rings of the data-driven default edges.
DEFAULT_N_RINGS = 3


def _edges_ok(value: Any) -> bool:
    try:
        parse_ring_edges(value)
    except ParameterError:
        return False
    return True


@register
class RingDiD(Estimator):
    """DiD with treatment-distance rings: direct and by-ring spillover effects."""

    name = "ring_did"
    family = "spatial"
    designs = (Design.SPATIAL,)
    estimands = ESTIMANDS
    default_estimands = ESTIMANDS
    requires = ("outcome", "unit", "time", "lat", "lon")
    optional_roles = ("treatment", "cohort", "covariates", "weight", "cluster")
    binary_treatment = False
    summary_line = (
        "Spatial DiD with treatment-distance rings (Butts 2021): direct effect and "
        "spillover by distance band, CR1 cluster SE"
    )
    example = Example(
        "spatial.ring_spillover_panel",
        {"n_units": 300, "n_periods": 4, "cohorts": (3,), "seed": 1},
        {
            "outcome": "y",
            "treatment": "d",
            "unit": "unit",
            "time": "time",
            "lat": "lat",
            "lon": "lon",
        },
        params={"ring_edges_km": [1.0, 2.0, 3.0]},
    )
    parameters = (
        estimand_param(ESTIMANDS, "direct"),
        Param(
            "ring_edges_km",
            None,
            "any",
            "outer edges (km) of the rings [0, e1], (e1, e2], …; untreated places beyond "
            "the last are the pure controls. None: three equal rings out to the median "
            "distance of untreated places to the nearest treated one",
            nullable=True,
            check=_edges_ok,
            rule=RING_EDGES_RULE,
        ),
        Param(
            "ring",
            1,
            "int",
            "the ring whose spillover is reported for estimand 'spillover' (1 = innermost)",
            low=1,
            high=MAX_RINGS,
        ),
        CI_LEVEL,
        se_method_param(
            ("clustered", "conley"),
            "clustered",
            "'clustered' is CR1 with fixest's small-sample factor; 'conley' correlates "
            "places within conley_cutoff_km in each period and the periods of each unit",
        ),
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
    )

    def resolved_params(self) -> dict[str, Any]:
        """As :meth:`Estimator.resolved_params`, with the edges as a list of floats."""
        params = super().resolved_params()
        edges = parse_ring_edges(params["ring_edges_km"], self.name)
        params["ring_edges_km"] = None if edges is None else list(edges)
        if edges is not None and params["ring"] > len(edges):
            raise ParameterError(
                f"The 'ring' parameter of {self.name} must be at most the number of rings "
                f"({len(edges)} from ring_edges_km). Got {params['ring']!r} instead.",
                details={"parameter": "ring", "estimator": self.name},
            )
        return params

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate the panel and coordinate roles and drop incomplete rows."""
        for role in ("lat", "lon"):
            if getattr(roles, role) is None:
                raise RoleError(
                    f"role '{role}' is required by ring_did but was not given; name the "
                    "latitude and longitude columns (decimal degrees) of each place",
                    details={"role": role},
                )
        return prepare_panel(df, roles, require_treatment=False)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        check_conley_params(params, self.name)
        r = data.roles
        assert r.lat is not None and r.lon is not None
        panel, derived = treatment_in_period(build_panel(data, need_cohort=True), r)
        assert panel.d is not None and panel.cohort is not None
        lat, lon = check_coordinates(data.column("lat"), data.column("lon"), r.lat, r.lon)
        lat_u = constant_within_unit(lat, panel.unit, panel.unit_labels, "lat", r.lat)
        lon_u = constant_within_unit(lon, panel.unit, panel.unit_labels, "lon", r.lon)
        dist, treated_row = distance_to_treated(
            lat_u, lon_u, panel.cohort, panel.unit, panel.time, panel.times
        )
        notes = [derived] if derived else []
        edges = params["ring_edges_km"]
        if edges is None:
            edges = list(default_ring_edges(dist, treated_row, DEFAULT_N_RINGS))
            notes.append(
                "ring_edges_km chosen from the data (three equal rings out to the median "
                f"distance to treatment: {', '.join(f'{e:.3g}' for e in edges)} km); give "
                "edges from subject knowledge, the estimates depend on them"
            )
        if params["ring"] > len(edges):
            raise ParameterError(
                f"The 'ring' parameter of {self.name} must be at most the number of rings "
                f"({len(edges)}). Got {params['ring']!r} instead.",
                details={"parameter": "ring", "estimator": self.name},
            )
        design = ring_design(dist, treated_row, edges)
        self._check_rings(design, edges, panel.unit)
        K = len(edges)
        D = np.column_stack([panel.d, design.rings, panel.X])
        res = twfe_fit(panel.y, D, panel.unit, panel.time, panel.cluster, panel.weight)
        if not res.kept[: K + 1].all():
            k = int(np.flatnonzero(~res.kept[: K + 1])[0])
            what = "the treatment" if k == 0 else f"ring {k} ({_band(edges, k)})"
            raise DesignError(
                f"{what} is collinear with the unit and period effects (every one of its "
                "rows is explained by place and period alone); change ring_edges_km",
                details={"parameter": "ring_edges_km", "ring": k},
            )
        coef, se = res.coef[: K + 1], res.se[: K + 1]
        method = (
            "two-way fixed effects with treatment-distance ring indicators (Butts 2021), "
            "CR1 cluster-robust SE (fixest small-sample factor)"
        )
        spatial: dict[str, Any] = {}
        if params["se_method"] == "conley":
            cutoff, kernel = float(params["conley_cutoff_km"]), params["conley_kernel"]
            vcov = twfe_conley_vcov(
                res, panel.weight, lat, lon, panel.unit, panel.time, cutoff, kernel
            )
            spatial = {"se_cr1": se.tolist(), "conley_cutoff_km": cutoff, "conley_kernel": kernel}
            se = np.sqrt(np.diag(vcov))[: K + 1]
            method = (
                "two-way fixed effects with treatment-distance ring indicators (Butts 2021), "
                f"Conley spatial-HAC SE ({kernel} kernel, cutoff {cutoff:g} km, within "
                "periods; serial within places)"
            )
        rings = self._rings_table(coef, se, edges, design.ring_of_row, panel.unit, params)
        j = 0 if params["estimand"] == "direct" else int(params["ring"])
        gates = [self._outer_gate(rings, ctx)]
        last = panel.time == panel.n_times - 1
        units = pd.DataFrame(
            {
                "unit": panel.unit_labels[panel.unit[last]],
                "lat": lat_u[panel.unit[last]],
                "lon": lon_u[panel.unit[last]],
                "cohort": panel.cohort[panel.unit[last]],
                "ring": design.ring_of_row[last],
                "distance_km": design.distance_km[last],
            }
        )
        n_pure = int((design.ring_of_row == K + 1).sum())
        return Estimate.from_se(
            self.name,
            params["estimand"],
            float(coef[j]),
            float(se[j]),
            params["ci_level"],
            n=panel.n,
            n_treated=int(treated_row.sum()),
            n_control=n_pure,
            counts={
                "n_units": panel.n_units,
                "n_clusters": res.n_clusters,
                "n_exposed": int(((design.ring_of_row >= 1) & (design.ring_of_row <= K)).sum()),
            },
            diagnostics={
                "ring_edges_km": [float(e) for e in edges],
                "ring": int(params["ring"]) if j else None,
                "direct": float(coef[0]),
                "spillover": [float(c) for c in coef[1:]],
                "n_periods": panel.n_times,
                "df_k": res.df_k,
                "balanced": panel.balanced,
                **spatial,
            },
            gates=gates,
            tables={"rings": rings, "unit_rings": units},
            warnings=notes,
            method=method,
        )

    @staticmethod
    def _check_rings(design: RingDesign, edges: list[float], unit: np.ndarray) -> None:
        """Every ring and the pure controls need rows (else the design cannot separate them)."""
        K = len(edges)
        counts = np.bincount(design.ring_of_row, minlength=K + 2)
        for k in range(1, K + 1):
            if counts[k] == 0:
                raise DesignError(
                    f"ring {k} ({_band(edges, k)}) holds no untreated place-period; widen "
                    "or merge the rings (parameter 'ring_edges_km')",
                    details={"parameter": "ring_edges_km", "ring": k},
                )
        # pure controls while something is treated (before, every place is one)
        pure = (design.ring_of_row == K + 1) & np.isfinite(design.distance_km)
        if len(np.unique(unit[pure])) < 2:
            raise DesignError(
                f"fewer than two places lie beyond the last ring edge ({edges[-1]:g} km) "
                "while others are treated: no pure controls are left; lower the edges "
                "(parameter "
                "'ring_edges_km')",
                details={"parameter": "ring_edges_km", "n_pure_controls": int(pure.sum())},
            )

    @staticmethod
    def _rings_table(
        coef: np.ndarray,
        se: np.ndarray,
        edges: list[float],
        ring_of_row: np.ndarray,
        unit: np.ndarray,
        params: dict[str, Any],
    ) -> pd.DataFrame:
        z = float(stats.norm.ppf(0.5 + params["ci_level"] / 2))
        inner = [0.0, *edges[:-1]]
        rows = []
        for k in range(len(coef)):
            here = ring_of_row == k
            rows.append(
                {
                    "effect": "direct" if k == 0 else "spillover",
                    "ring": k,
                    "inner_km": None if k == 0 else inner[k - 1],
                    "outer_km": None if k == 0 else edges[k - 1],
                    "estimate": float(coef[k]),
                    "se": float(se[k]),
                    "ci_lower": float(coef[k] - z * se[k]),
                    "ci_upper": float(coef[k] + z * se[k]),
                    "p_value": float(2 * stats.norm.sf(abs(coef[k] / se[k]))),
                    "n_rows": int(here.sum()),
                    "n_units": len(np.unique(unit[here])),
                }
            )
        return pd.DataFrame(rows)

    @staticmethod
    def _outer_gate(rings: pd.DataFrame, ctx: Context) -> Gate:
        outer = rings.iloc[-1]
        if len(rings) < 2:
            return Gate.not_applicable("ring_outer_spillover", "no ring")
        return threshold_gate(
            "ring_outer_spillover",
            float(outer["p_value"]),
            ctx.threshold("ring_outer_spillover"),
            higher_is_better=True,
            label=(
                f"p-value of the spillover in the outermost ring ({outer['inner_km']:.3g}–"
                f"{outer['outer_km']:.3g} km); a small one suggests spillovers reach past "
                "the rings into the pure controls"
            ),
            details={"estimate": float(outer["estimate"]), "se": float(outer["se"])},
        )


def _band(edges: list[float], k: int) -> str:
    lo = 0.0 if k == 1 else edges[k - 2]
    return f"{lo:g}–{edges[k - 1]:g} km"


__all__ = ["ESTIMANDS", "RingDiD"]
