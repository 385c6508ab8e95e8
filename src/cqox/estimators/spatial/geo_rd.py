"""Geographic regression discontinuity along a boundary (``geo_rd``; Keele & Titiunik 2015).

When a treatment applies on one side of a border (a policy in one state, a school
district, a media market), places just across the border are the comparison.  Keele &
Titiunik (2015, "Geographic Boundaries as Regression Discontinuities", *Political
Analysis* 23(1), doi:10.1093/pan/mpu014) treat the border as the cutoff of a
regression discontinuity; with one scalar score, the running variable is each place's
signed great-circle distance to the border, positive on the treated side
(:mod:`cqox.data.boundary`), and the cutoff is 0.  The estimate is then
exactly the ``rd`` estimator's (local polynomial, MSE/CER-optimal bandwidths in km, robust
bias-corrected interval, density/covariate/placebo/donut gates) on that running variable:
the average effect at the border, weighted by where along it the places lie.

The treated side is ``treated_side``: ``left`` or ``right`` of the border walked from its
first point to its last, or ``auto`` — the side where the ``treatment`` role is more
often 1.  With a ``treatment`` that is 1 exactly on the treated side the design is sharp;
otherwise fuzzy (``LATE(c)``), as in ``rd``.

Standard errors: ``rd``'s, or with ``se_method="conley"`` (and ``conley_cutoff_km``,
``conley_kernel``) Conley's (1999) spatial-HAC variance of the local-polynomial fit: the
estimate is a kernel-weighted sum over the places of both sides, and the sandwich
correlates the weighted scores of places within the cutoff, on either side of the
border (:func:`cqox.estimators.rd.local_poly.conley_variances`).

Assumptions (Keele & Titiunik 2015): potential outcomes continuous in location at the
border (no other policy changes along the same line, no sorting across it — the density
gate checks the latter in distance); the effect estimated is an average along the
border, which hides variation along it.  Places whose nearest border point is an end
of the line lie beyond the border's extent: their side comes from the line extended, and
the estimator warns with their count.

Example
-------
>>> import cqox
>>> from cqox.simulate.spatial import boundary_rd
>>> df, truth = boundary_rd(n=2000, seed=1)
>>> est = cqox.estimate("geo_rd", df, outcome="y", treatment="t", lat="lat", lon="lon",
...                     boundary=truth["boundary"])
>>> est.ci[0] < truth["ATE(c)"] < est.ci[1]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.boundary import (
    BOUNDARY_RULE,
    parse_boundary,
    signed_distance_km,
)
from cqox.data.prepare import CausalData
from cqox.errors import DesignError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.rd.estimator import PARAMETERS as RD_PARAMETERS
from cqox.estimators.rd.estimator import RegressionDiscontinuity, prepare_with_riding_covariates
from cqox.estimators.registry import register
from cqox.inference.spatial_hac import check_coordinates

#: Name of the computed running variable (suffixed with ``_`` while it clashes).
RUNNING = "distance_to_boundary_km"


def _boundary_ok(value: Any) -> bool:
    try:
        parse_boundary(value)
    except ParameterError:
        return False
    return True


def running_column(columns: list[str]) -> str:
    """:data:`RUNNING`, with underscores appended until no column of the table has it."""
    name = RUNNING
    while name in columns:
        name += "_"
    return name


@register
class GeographicRD(Estimator):
    """Regression discontinuity in the signed distance to a border (``rd`` on it)."""

    name = "geo_rd"
    family = "spatial"
    designs = (Design.SPATIAL,)
    estimands = ("ATE(c)", "LATE(c)")
    requires = ("outcome", "lat", "lon")
    optional_roles = ("treatment", "covariates")
    binary_treatment = False
    # needs a boundary: runs when named, with ``boundary`` given
    run_by_default = False
    summary_line = (
        "Geographic RD (Keele & Titiunik 2015): rd on the signed great-circle distance to a border"
    )
    example = Example(
        "spatial.boundary_rd",
        {"n": 800, "seed": 1},
        {"outcome": "y", "treatment": "t", "lat": "lat", "lon": "lon"},
        params={
            # the simulator's border (boundary_rd's defaults)
            "boundary": [
                [10.0636, 44.4604],
                [9.9364, 44.6403],
                [10.0636, 44.8201],
                [9.9364, 45.0],
                [10.0636, 45.1799],
                [9.9364, 45.3597],
                [10.0636, 45.5396],
            ],
            "gates": False,
        },
    )
    parameters = (
        Param(
            "boundary",
            None,
            "any",
            "the border as [[lon, lat], …] (GeoJSON order) or a GeoJSON LineString",
            nullable=True,
            check=lambda v: v is None or _boundary_ok(v),
            rule=BOUNDARY_RULE,
        ),
        Param(
            "treated_side",
            "auto",
            "choice",
            "side of the border (walked from its first point) that is treated: 'left', "
            "'right', or 'auto' (where the treatment role is more often 1)",
            choices=("auto", "left", "right"),
        ),
        *RD_PARAMETERS,
    )

    def fit(
        self,
        df: pd.DataFrame,
        roles: Roles,
        context: Context | None = None,
        data: CausalData | None = None,
    ) -> Estimate:
        """As :meth:`Estimator.fit`; the boundary is summarised in ``params``."""
        est = super().fit(df, roles, context, data)
        params = dict(est.params)
        if params.get("boundary") is not None:
            params["boundary"] = f"line of {len(parse_boundary(params['boundary']))} points"
        return est.with_updates(params=params)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Check the coordinate roles and keep complete outcome, treatment and coordinates.

        As in ``rd``, covariates do not enter the estimate: they ride along (with missing
        values) for its continuity gate.
        """
        for role in ("lat", "lon"):
            if getattr(roles, role) is None:
                raise RoleError(
                    f"role '{role}' is required by geo_rd but was not given; name the "
                    "latitude and longitude columns (decimal degrees)",
                    details={"role": role},
                )
        return prepare_with_riding_covariates(df, roles, self.requires)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        r = data.roles
        assert r.lat is not None and r.lon is not None and r.outcome is not None
        if params["boundary"] is None:
            raise ParameterError(
                "geo_rd needs the parameter 'boundary': the border as [[lon, lat], …] "
                "points or a GeoJSON LineString",
                details={"parameter": "boundary", "estimator": self.name},
            )
        line = parse_boundary(params["boundary"], self.name)
        lat, lon = check_coordinates(data.column("lat"), data.column("lon"), r.lat, r.lon)
        dist = signed_distance_km(lat, lon, line)
        side = self._treated_side(params["treated_side"], dist.signed_km, data)
        running = dist.signed_km if side == "left" else -dist.signed_km
        column = running_column([str(c) for c in data.frame.columns])
        table = data.frame.assign(**{column: running})
        rd_params = {p.name: params[p.name] for p in RD_PARAMETERS}
        rd_roles = Roles(
            outcome=r.outcome,
            treatment=r.treatment,
            covariates=r.covariates,
            running=column,
            cutoff=0.0,
            # the places' coordinates, for se_method="conley"
            lat=r.lat,
            lon=r.lon,
        )
        est = RegressionDiscontinuity(**rd_params).fit(table, rd_roles, ctx)
        notes = list(est.warnings)
        n_beyond = int(dist.beyond_end.sum())
        if n_beyond:
            notes.append(
                f"{n_beyond} of {len(running)} places lie beyond the ends of the boundary "
                "(their nearest border point is its first or last point); their side comes "
                "from the border extended in a straight line"
            )
        return est.with_updates(
            estimator=self.name,
            warnings=notes,
            diagnostics={
                **est.diagnostics,
                "treated_side": side,
                "boundary_points": len(line),
                "n_beyond_ends": n_beyond,
                "running": column,
            },
            tables={
                **est.tables,
                "distance": pd.DataFrame(
                    {"lat": lat, "lon": lon, "distance_km": running, "segment": dist.segment}
                ),
            },
            method="geographic RD on the signed great-circle distance to the boundary (km); "
            + est.method,
        )

    @staticmethod
    def _treated_side(choice: str, signed: np.ndarray, data: CausalData) -> str:
        if choice != "auto":
            return choice
        if data.t is None:
            raise ParameterError(
                "The 'treated_side' parameter of geo_rd is 'auto', which needs the "
                "'treatment' role; give the treatment or treated_side='left'/'right'",
                details={"parameter": "treated_side", "estimator": "geo_rd"},
            )
        left, right = data.t[signed >= 0], data.t[signed < 0]
        if len(left) == 0 or len(right) == 0:
            raise DesignError(
                "every place lies on one side of the boundary; check the boundary's "
                "coordinates ([lon, lat], GeoJSON order)",
                details={"parameter": "boundary"},
            )
        return "left" if left.mean() >= right.mean() else "right"


__all__ = ["GeographicRD", "running_column"]
