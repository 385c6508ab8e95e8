"""``cqox cate``: heterogeneous effects — who benefits, and by how much.

Runs one CATE estimator (default ``causal_forest``) and prints the average effect,
the heterogeneity tests and the covariates the effect varies with; writes the unit
effects (``--effects``), predictions for a grid of covariate values (``--grid`` →
``--predictions``) and the estimate as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: Estimators ``cqox cate --method`` accepts.
CATE_METHODS: tuple[str, ...] = (
    "causal_forest",
    "dr_learner",
    "r_learner",
    "x_learner",
    "t_learner",
    "s_learner",
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``cate`` to the ``cqox`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "cate",
        help="heterogeneous (unit-level) effects with one CATE estimator",
        description="Estimate τ(x) with a causal forest or a meta-learner: the average "
        "effect, tests of heterogeneity (calibration, BLP, GATES, RATE), targeting, and "
        "unit effects with intervals.",
    )
    p.add_argument("data", help="CSV/TSV, Parquet, Excel, JSON or NDJSON file")
    p.add_argument("--outcome", required=True, metavar="C")
    p.add_argument("--treatment", required=True, metavar="C")
    p.add_argument("--covariates", required=True, metavar="A,B,...|FORMULA")
    p.add_argument("--method", default="causal_forest", choices=CATE_METHODS)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        dest="settings",
        help="parameter of the method (e.g. n_trees=500, min_leaf_size=10); repeatable",
    )
    p.add_argument("--effects", metavar="OUT.csv", help="write the unit effects of the rows")
    p.add_argument("--grid", metavar="GRID.csv", help="covariate values to predict τ(x) at")
    p.add_argument("--predictions", metavar="OUT.csv", help="where to write the grid predictions")
    p.add_argument("--json", metavar="OUT.json", help="write the estimate as JSON ('-': stdout)")
    p.add_argument("--seed", type=int, default=0, metavar="N")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the ``cate`` command; returns the exit status."""
    from cqox.analysis.compose import estimate
    from cqox.data.io import read_table
    from cqox.errors import ParameterError

    params: dict[str, Any] = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ParameterError(
                f"--set expects PARAM=VALUE (e.g. n_trees=500); got {item!r}",
                details={"value": item},
            )
        params[key.strip()] = value.strip()
    if args.grid and not args.predictions and args.json is None:
        raise ParameterError(
            "--grid needs --predictions OUT.csv (or --json) to write the predictions to",
            details={"parameter": "predictions"},
        )
    covariates: Any = args.covariates
    if "~" not in covariates and "+" not in covariates and "(" not in covariates:
        covariates = [c.strip() for c in covariates.split(",") if c.strip()]
    table = read_table(args.data).frame
    est = estimate(
        args.method,
        table,
        outcome=args.outcome,
        treatment=args.treatment,
        covariates=covariates,
        seed=args.seed,
        **params,
    )
    out = est.to_dict()
    if args.effects:
        est.effects().to_csv(args.effects, index_label="row")
    if args.grid:
        grid = read_table(args.grid).frame
        pred = est.effects(grid)
        both = grid.reset_index(drop=True).join(pred.reset_index(drop=True))
        if args.predictions:
            both.to_csv(args.predictions, index=False)
        out["cate_predictions"] = both.to_dict(orient="records")
    if args.json == "-":
        sys.stdout.write(json.dumps(_clean(out), allow_nan=False) + "\n")
        return 0
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_clean(out), fh, allow_nan=False, indent=1)
    print(summary(est))
    return 0


def _clean(obj: Any) -> Any:
    from cqox.core.jsonable import to_jsonable

    return to_jsonable(obj)


def summary(est: Any) -> str:
    """The estimate, the heterogeneity gates and the leading covariates as text."""
    lines = [est.summary(), "", "  effect distribution (unit effects of the rows):"]
    q = est.diagnostics["cate"]["quantiles"]
    lines.append("    " + "  ".join(f"{k} {v:.4g}" for k, v in q.items()))
    imp = est.diagnostics.get("feature_importance")
    if imp:
        top = list(imp.items())[:8]
        lines += ["", "  variable importance (split frequency):"]
        lines += [f"    {name:<20}{value:8.3f}" for name, value in top]
    return "\n".join(lines)
