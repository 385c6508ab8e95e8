"""The ``cqox`` command line: a thin shell around the engine.

Commands: ``analyze``, ``estimators``, ``simulate`` (plus those of :data:`EXTRA_COMMANDS`),
and ``--version``.

Exit status: 0 on success; 2 on bad input (unreadable file, unknown column, bad
parameter, bad flag), with exactly one line on standard error that starts with
``cqox: error:`` and names the column, value or parameter at fault; 1 on an internal
error (also one line; set ``CQOX_DEBUG=1`` for the traceback); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cqox._version import __version__
from cqox.core.roles import ALL_ROLES, role_kind
from cqox.errors import CqoxDeprecationWarning, CqoxError, ParameterError

#: Further subcommands, each a module with ``add_parser(subparsers)`` and ``run(args) -> int``
#: (e.g. the service's ``serve`` and ``users``). Modules that are absent are skipped, so the
#: engine's CLI works without the service installed.
EXTRA_COMMANDS: tuple[str, ...] = (
    "cqox.cli.cate",
    "cqox.cli.serve",
    "cqox.cli.users",
    "cqox.cli.worker",
    "cqox.cli.warm_up",
)

#: Exit status for bad input (as argparse uses for bad flags).
EXIT_BAD_INPUT = 2
#: Exit status for an unexpected internal error.
EXIT_INTERNAL = 1


def _add_role_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per role of :data:`cqox.core.roles.ALL_ROLES`, named as the role.

    ``--logging-propensity`` and ``--logging_propensity`` are the same flag.
    """
    for role in ALL_ROLES:
        flags = [f"--{role.replace('_', '-')}"] + ([f"--{role}"] if "_" in role else [])
        kind = role_kind(role)
        if role == "covariates":
            parser.add_argument(
                *flags,
                dest=role,
                metavar="A,B,...|FORMULA",
                help="covariate columns, comma separated, or a formula such as "
                "'age + I(age**2) + C(educ)'",
            )
        elif kind == "columns":
            parser.add_argument(*flags, dest=role, metavar="C[,C...]", help=f"{role} column(s)")
        elif kind == "value":
            parser.add_argument(
                *flags, dest=role, type=float, metavar="X", help=f"the {role} (a number)"
            )
        else:
            parser.add_argument(*flags, dest=role, metavar="C", help=f"column of the {role} role")


def _role_values(args: argparse.Namespace) -> dict[str, Any]:
    """The roles given on the command line (lists split at commas; covariates as given)."""
    roles: dict[str, Any] = {}
    for role in ALL_ROLES:
        value = getattr(args, role, None)
        if value is None:
            continue
        if role_kind(role) == "columns" and role != "covariates":
            value = [c.strip() for c in str(value).split(",") if c.strip()]
        roles[role] = value
    return roles


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
        found[name.rsplit(".", 1)[1].replace("_", "-")] = module  # warm_up: `warm-up`
    return found


def one_line(message: object) -> str:
    """A message on one line (newlines and runs of spaces collapsed)."""
    return " ".join(str(message).split())


def fail(message: object, status: int = EXIT_BAD_INPUT) -> int:
    """Print ``cqox: error: MESSAGE`` on one line of standard error; return ``status``."""
    print(f"cqox: error: {one_line(message)}", file=sys.stderr)
    return status


class _ArgumentError(Exception):
    """A bad command line (raised instead of argparse's print-usage-and-exit)."""


class CliParser(argparse.ArgumentParser):
    """An argument parser whose errors become one ``cqox: error:`` line (exit status 2).

    ``epilog_factory``, when set, builds the epilog the first time help is printed, so
    that a costly epilog (``cqox serve``'s settings, which import the service) is not
    built by every command (``cqox --version`` must not import FastAPI).
    """

    epilog_factory: Callable[[], str] | None = None

    def format_help(self) -> str:
        """The help text, with the epilog built on first use."""
        if self.epilog is None and self.epilog_factory is not None:
            self.epilog = self.epilog_factory()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting (``main`` prints one line)."""
        raise _ArgumentError(f"{message} (see '{self.prog} --help')")


def _parse_set(items: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """``EST.PARAM=VALUE`` items into per-estimator params and gate thresholds."""
    params: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        est, dot, name = key.strip().partition(".")
        if not sep or not dot or not est or not name or not value.strip():
            raise ParameterError(
                f"--set expects ESTIMATOR.PARAM=VALUE (e.g. ipw.trim=0.01); got {item!r}",
                details={"value": item},
            )
        value = value.strip()
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {str(k): float(v) for k, v in data.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ParameterError(
                f"--truth: '{path}' is not a JSON object of numbers ({exc})",
                details={"value": str(path)},
            ) from None
    out: dict[str, float] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise ParameterError(
                f"--truth expects ESTIMAND=VALUE or a JSON file; got {part!r}",
                details={"value": part},
            )
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ParameterError(
                f"--truth expects ESTIMAND=VALUE or a JSON file; got {part!r}",
                details={"value": part},
            ) from None
    return out


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (shared with the docs and tests)."""
    parser = CliParser(prog="cqox", description="CQOx: causal inference from a table, end to end.")
    parser.add_argument("--version", action="version", version=f"cqox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "analyze",
        help="run every applicable estimator on a data file",
        description="Infer the roles that are not given, find the designs they support, "
        "run every applicable estimator, and print a summary (optionally JSON and an "
        "HTML report).",
    )
    a.add_argument("data", help="CSV/TSV, Parquet, Excel, JSON or NDJSON file")
    _add_role_flags(a)
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
    a.add_argument(
        "--heterogeneity",
        action="store_true",
        help="also estimate unit-level effects (causal_forest, dr_learner) and a policy tree",
    )
    a.add_argument("--no-infer", action="store_true", help="do not infer missing roles")
    a.add_argument(
        "--dag",
        metavar="FILE",
        help="a causal graph in DOT (digraph { x -> t; x -> y; t -> y }): its adjustment set, "
        "instruments and testable independences are used",
    )
    a.add_argument(
        "--network",
        metavar="EDGES",
        help="an edge table (CSV, Parquet, ...; columns source, target[, weight]) linking the "
        "ids of the unit role: network interference (network_exposure; set its columns with "
        "--set network_exposure.source=COL)",
    )
    a.add_argument("--json", metavar="OUT.json", help="write the Analysis as JSON ('-': stdout)")
    a.add_argument("--report", metavar="OUT.html", help="write the HTML report")
    a.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    a.add_argument("--truth", metavar="FILE|EST=V", help="known true values (simulated data)")
    a.add_argument("--quiet", action="store_true", help="print nothing but errors")
    a.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the parallel loops (bootstrap replicates, ...) on a Dask cluster "
        "(tcp://host:8786; default: $CQOX_DASK_SCHEDULER), or 'processes[:N]' / 'serial'",
    )

    e = sub.add_parser("estimators", help="list the registered estimators")
    e.add_argument(
        "--json", action="store_true", help="print the registry (with parameters) as JSON"
    )

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
    """Entry point of the ``cqox`` command; returns the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        return fail(exc)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            # warnings are reported in the summary and the report, never as stray lines;
            # only CQOx's own deprecations (renamed parameters, thresholds, roles) are
            # printed, once each, so that scripts learn the new names
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", CqoxDeprecationWarning)
            status = _run(args)
        for message in dict.fromkeys(str(w.message) for w in caught):
            print(f"cqox: deprecated: {message}", file=sys.stderr)
        return status
    except CqoxError as exc:
        return fail(exc)
    except (OSError, json.JSONDecodeError, UnicodeError) as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("cqox: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("CQOX_DEBUG"):
            raise
        return fail(
            f"internal error: {type(exc).__name__}: {exc} (set CQOX_DEBUG=1 for the traceback "
            "and please report it)",
            EXIT_INTERNAL,
        )


#: Commands that run estimators, hence compiled kernels.
KERNEL_COMMANDS = ("analyze", "cate")


def _run(args: argparse.Namespace) -> int:
    if args.command in KERNEL_COMMANDS:
        # a pre-built kernel cache (the container image's) is copied into a private
        # Numba cache first, as the service does for each worker
        from cqox.analysis.kernel_cache import use_installed

        use_installed()
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "estimators":
        return _estimators(args.json)
    if args.command == "simulate":
        return _simulate(args)
    extra = _extra_commands()
    if args.command in extra:
        return int(extra[args.command].run(args))
    return fail(f"unknown command {args.command!r}")


def compute_executor(spec: str | None) -> Any:
    """The executor context of ``--dask`` (nothing to change without it)."""
    import contextlib

    if not spec:
        return contextlib.nullcontext()
    from cqox.compute import use

    return use(spec)


def _analyze(args: argparse.Namespace) -> int:
    from cqox.analysis.compose import analyze
    from cqox.cli.display import Display
    from cqox.data.io import read_table

    params, thresholds = _parse_set(args.settings)
    roles = _role_values(args)
    estimators = (
        [e.strip() for e in args.estimators.split(",") if e.strip()] if args.estimators else None
    )
    truth = _parse_truth(args.truth)
    to_stdout = args.json == "-"
    display = Display(quiet=args.quiet or to_stdout)
    with display.progress() as progress, compute_executor(args.dask):
        if progress is not None:
            progress("reading the data", 0.0)
        table = read_table(args.data)
        edges = read_table(args.network) if args.network else None
        if progress is not None:
            progress("inferring roles", 0.0)
        an = analyze(
            table.frame,
            roles=roles,
            estimators=estimators,
            params=params,
            thresholds=thresholds,
            infer=not args.no_infer,
            dag=_read_dag(args.dag),
            network=edges.frame if edges is not None else None,
            seed=args.seed,
            truth=truth,
            heterogeneity=args.heterogeneity,
            progress=progress,
        )
        # how the file was read (decimal commas converted, ...) belongs with the results
        an.warnings = [*table.notes, *(edges.notes if edges else []), *an.warnings]
        if args.report:
            if progress is not None:
                progress("writing the report", 1.0)
            an.report(args.report)
    if to_stdout:
        sys.stdout.write(an.to_json() + "\n")
    elif args.json:
        an.to_json(args.json)
    display.analysis(an, json_path=None if to_stdout else args.json, report_path=args.report)
    return 0


def _read_dag(path: str | None) -> str | None:
    """The DOT text of ``--dag FILE`` (``None`` without the flag)."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(
            f"--dag: cannot read '{path}': {exc}", details={"parameter": "dag"}
        ) from None


def _estimators(as_json: bool = False) -> int:
    from cqox.cli.display import Display

    # the cached listing (cqox.estimators.listing): no estimator module, no NumPy/pandas
    from cqox.estimators.listing import listing

    entries = listing()
    if as_json:
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
    else:
        Display().estimators(entries)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from cqox.simulate import confounded_binary

    if args.n < 10:
        raise ParameterError(f"--n must be at least 10; got {args.n}", details={"value": args.n})
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
