"""The ``cqox`` command line: a thin shell around the engine.

Bad input exits with status 2 and one line on standard error that names the column,
value or parameter at fault.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cqox._version import __version__
from cqox.errors import CqoxError, ParameterError

#: Further subcommands, each a module with ``add_parser(subparsers)`` and ``run(args) -> int``
#: (e.g. the service's ``serve`` and ``users``). Modules that are absent are skipped, so the
#: engine's CLI works without the service installed.
EXTRA_COMMANDS: tuple[str, ...] = ("cqox.cli.serve", "cqox.cli.users")


def _extra_commands() -> dict[str, Any]:
    import importlib

    found: dict[str, Any] = {}
    for name in EXTRA_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found[name.rsplit(".", 1)[1]] = module
    return found


def _parse_set(items: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """``EST.PARAM=VALUE`` items into per-estimator params and gate thresholds."""
    params: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        est, dot, name = key.partition(".")
        if not sep or not dot or not est or not name:
            raise ParameterError(
                f"--set expects ESTIMATOR.PARAM=VALUE (e.g. ipw.trim=0.01); got {item!r}",
                details={"value": item},
            )
        if est == "gates":
            try:
                thresholds[name] = float(value)
            except ValueError:
                raise ParameterError(
                    f"--set {key}: threshold must be a number; got {value!r}",
                    details={"parameter": key},
                ) from None
        else:
            params.setdefault(est, {})[name] = value
    return params, thresholds


def _parse_truth(text: str | None) -> dict[str, float]:
    """``--truth`` as a JSON file or ``ATE=2.0,ATT=2.3``."""
    if not text:
        return {}
    path = Path(text)
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    out: dict[str, float] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ParameterError(
                f"--truth expects ESTIMAND=VALUE or a JSON file; got {part!r}",
                details={"value": part},
            ) from None
        if not sep:
            raise ParameterError(f"--truth expects ESTIMAND=VALUE; got {part!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (shared with the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="cqox", description="CQOx: causal inference from a table, end to end."
    )
    parser.add_argument("--version", action="version", version=f"cqox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("analyze", help="run every applicable estimator on a data file")
    a.add_argument("data", help="CSV/TSV, Parquet, Excel or JSON file")
    for role in (
        "outcome",
        "treatment",
        "unit",
        "time",
        "cohort",
        "running",
        "mediator",
        "dose",
        "cluster",
        "weight",
    ):
        a.add_argument(f"--{role}", metavar="C", help=f"column of the {role} role")
    a.add_argument(
        "--covariates",
        metavar="A,B,...|FORMULA",
        help="covariate columns, comma separated, or a formula such as 'age + I(age**2) + C(educ)'",
    )
    a.add_argument("--instrument", metavar="C[,C...]", help="instrument column(s)")
    a.add_argument("--cutoff", type=float, metavar="X", help="cutoff of the running variable")
    a.add_argument(
        "--estimators", metavar="a,b,...", help="estimators to run (default: all that apply)"
    )
    a.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="EST.PARAM=VALUE",
        dest="settings",
        help="estimator parameter (or gates.NAME=THRESHOLD); repeatable",
    )
    a.add_argument("--no-infer", action="store_true", help="do not infer missing roles")
    a.add_argument("--json", metavar="OUT.json", help="write the Analysis as JSON")
    a.add_argument("--report", metavar="OUT.html", help="write the HTML report")
    a.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    a.add_argument("--truth", metavar="FILE|EST=V", help="known true values (simulated data)")
    a.add_argument("--quiet", action="store_true", help="print nothing but errors")

    sub.add_parser("estimators", help="list the registered estimators")

    s = sub.add_parser("simulate", help="write a simulated data set with a known effect")
    s.add_argument("--out", required=True, metavar="OUT.csv")
    s.add_argument("--truth-out", metavar="TRUTH.json")
    s.add_argument("--n", type=int, default=2000)
    s.add_argument("--p", type=int, default=5)
    s.add_argument("--effect", type=float, default=2.0)
    s.add_argument("--seed", type=int, default=0)
    for module in _extra_commands().values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cqox`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "estimators":
            return _estimators()
        if args.command == "simulate":
            return _simulate(args)
        extra = _extra_commands()
        if args.command in extra:
            return int(extra[args.command].run(args))
    except CqoxError as exc:
        print(f"cqox: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cqox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cqox: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


def _analyze(args: argparse.Namespace) -> int:
    from cqox.analysis.compose import analyze
    from cqox.cli.display import Display

    params, thresholds = _parse_set(args.settings)
    roles: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "unit",
            "time",
            "cohort",
            "running",
            "mediator",
            "dose",
            "cluster",
            "weight",
            "cutoff",
        )
        if getattr(args, k) is not None
    }
    if args.instrument:
        roles["instrument"] = [c.strip() for c in args.instrument.split(",") if c.strip()]
    estimators = (
        [e.strip() for e in args.estimators.split(",") if e.strip()] if args.estimators else None
    )
    display = Display(quiet=args.quiet)
    with display.progress() as progress:
        an = analyze(
            args.data,
            outcome=args.outcome,
            treatment=args.treatment,
            covariates=args.covariates,
            roles=roles,
            estimators=estimators,
            params=params,
            thresholds=thresholds,
            infer=not args.no_infer,
            seed=args.seed,
            truth=_parse_truth(args.truth),
            progress=progress,
        )
    if args.json:
        an.to_json(args.json)
    if args.report:
        an.report(args.report)
    display.analysis(an, json_path=args.json, report_path=args.report)
    return 0


def _estimators() -> int:
    from cqox.cli.display import Display
    from cqox.estimators.registry import list_estimators

    Display().estimators(list_estimators())
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from cqox.simulate import confounded_binary

    df, truth = confounded_binary(n=args.n, p=args.p, effect=args.effect, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    if args.truth_out:
        Path(args.truth_out).write_text(
            json.dumps({"ATE": truth["SATE"], "ATT": truth["SATT"]}, indent=2), encoding="utf-8"
        )
    print(
        f"wrote {len(df)} rows to {args.out} (sample ATE {truth['SATE']:.4f}, "
        f"ATT {truth['SATT']:.4f})"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
