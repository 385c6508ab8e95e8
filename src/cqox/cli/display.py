"""Terminal output of the CLI: progress (standard error) and summary tables (standard output).

Tables adapt to the terminal: below :data:`WIDE` columns the estimates table drops the
standard error and row count and uses a light frame, so that it fits 80 columns
without cutting a number; numbers are printed compactly (``1,794``, ``2.095``,
``0.0565``, ``<0.001``).
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the listing of ``cqox estimators`` needs no Analysis (nor NumPy, pandas)
    from cqox.analysis.analysis import Analysis
    from cqox.core.context import ProgressCallback

STATUS_STYLE = {
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
    "not_applicable": "dim",
    "not_checked": "yellow",
}
#: Terminal width from which the full estimates table (with SE and n) is shown.
WIDE = 100
#: Notes (warnings) shown on the terminal; the rest are in the report and the JSON.
MAX_NOTES = 5
#: Covariate names shown in the roles line before "… (k in all)".
MAX_COVARIATES = 6


def fmt_num(x: float | None) -> str:
    """A number in at most ~9 characters with 4 significant digits (``—`` when missing)."""
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "—"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax < 1e-3 or ax >= 1e6:
        return f"{x:.3g}" if ax >= 1e6 and ax < 1e9 and float(x).is_integer() else f"{x:.3e}"
    digits = max(0, 3 - math.floor(math.log10(ax)))
    return f"{x:,.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals, ``<0.001`` below that."""
    if p is None or not math.isfinite(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_ci(ci: tuple[float, float] | list[float]) -> str:
    """A confidence interval ``[lo, hi]``."""
    return f"[{fmt_num(ci[0])}, {fmt_num(ci[1])}]"


def unique_failures(failures: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(estimator, message) of the estimators that did not run, each once.

    An estimator run once per estimand fails once per estimand for the same reason.
    """
    return list(dict.fromkeys((str(f.get("estimator")), str(f.get("message"))) for f in failures))


def _status(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    shown = status.replace("_", " ")  # "not_checked" reads "not checked"
    return f"[{style}]{shown}[/{style}]" if style else shown


class Display:
    """Writes progress to standard error and results to standard output.

    ``out``/``err``/``width`` let tests capture the output at a chosen width.
    """

    def __init__(
        self,
        quiet: bool = False,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        width: int | None = None,
    ) -> None:
        self.quiet = quiet
        self.out = Console(file=out or sys.stdout, highlight=False, width=width, soft_wrap=False)
        self.err = Console(file=err or sys.stderr, highlight=False, width=width)

    @contextlib.contextmanager
    def progress(self) -> Iterator[ProgressCallback | None]:
        """A progress callback shown on a terminal (silent when piped or quiet)."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task("analysing", total=1.0)

            def update(step: str, fraction: float) -> None:
                bar.update(task, completed=fraction, description=step)

            yield update

    # --- analyze -------------------------------------------------------------------
    def analysis(
        self, an: Analysis, json_path: str | None = None, report_path: str | None = None
    ) -> None:
        """Roles, estimates, consensus, notes and where the outputs went."""
        if self.quiet:
            return
        self.out.print(self.roles_text(an))
        self.out.print(
            f"[bold]Designs[/bold]: {', '.join(d.value for d in an.designs) or 'none'}"
            + (
                f"   [bold]Domain[/bold]: {an.domain.get('domain')}"
                if an.domain.get("domain", "unknown") != "unknown"
                else ""
            )
        )
        self.out.print(self.estimates_table(an))
        if any(e.status == "not_checked" for e in an.estimates):
            self.out.print("[dim]gates —: not checked (no gate applies to that estimate)[/dim]")
        if (baseline := self.baseline_text(an)) is not None:
            self.out.print(baseline)
        if an.consensus:
            self.out.print(self.consensus_table(an))
        for name, message in unique_failures(an.failures):
            self.out.print(f"[yellow]not run[/yellow] {name}: {message}", markup=True)
        notes = list(an.warnings)
        for w in notes[:MAX_NOTES]:
            self.out.print(f"[dim]note:[/dim] {w}")
        if len(notes) > MAX_NOTES:
            self.out.print(f"[dim]note: … and {len(notes) - MAX_NOTES} more (see the report)[/dim]")
        q = an.quality
        counts = q.get("counts", {})
        self.out.print(
            f"[bold]Quality[/bold]: {_status(str(q.get('verdict', '?')))} "
            f"({counts.get('pass', 0)} pass, {counts.get('warn', 0)} warn, "
            f"{counts.get('fail', 0)} fail)"
            + (
                f"; flagged: {', '.join(map(str, flagged))}"
                if (flagged := q.get("flagged_gates"))
                else ""
            )
            + f"   time {an.elapsed_s:.2f} s"
        )
        # a path is printed whole, never wrapped at the terminal's width (it is copied)
        if json_path:
            self.out.print(f"JSON:   {json_path}", soft_wrap=True)
        if report_path:
            self.out.print(f"Report: {report_path}", soft_wrap=True)

    def roles_text(self, an: Analysis) -> str:
        """One line per role group: what plays which role and whether it was inferred."""
        how = {g.role: g for g in an.roles.guesses}
        parts = []
        for role, value in an.roles.given().items():
            if role == "covariates":
                continue
            shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            g = how.get(role)
            mark = (
                "" if g is None or g.source == "explicit" else f" [dim]({g.confidence:.2f})[/dim]"
            )
            parts.append(f"{role}=[bold]{shown}[/bold]{mark}")
        cov = an.roles.covariates
        if isinstance(cov, str):
            cov_text = f"formula {cov}"
        elif cov:
            names = list(cov)
            cov_text = ", ".join(names[:MAX_COVARIATES]) + (
                f", … ({len(names)} in all)" if len(names) > MAX_COVARIATES else ""
            )
        else:
            cov_text = "none"
        g = how.get("covariates")
        if cov and g is not None and g.source != "explicit":
            cov_text += f" [dim]({g.confidence:.2f})[/dim]"
        inferred = any(g.source != "explicit" for g in an.roles.guesses)
        legend = "\n[dim](n.nn): inferred, with its confidence[/dim]" if inferred else ""
        return (
            f"[bold]Roles[/bold]: {'; '.join(parts)}\n[bold]Covariates[/bold]: {cov_text}{legend}"
        )

    def _wide(self) -> bool:
        return self.out.width >= WIDE

    def estimates_table(self, an: Analysis) -> Table:
        """The estimates: full at ``WIDE`` columns and more, compact below."""
        wide = self._wide()
        table = Table(
            title="Estimates",
            box=box.SIMPLE_HEAD if not wide else box.HEAVY_HEAD,
            padding=(0, 1),
            title_justify="left",
            show_edge=wide,
            pad_edge=wide,
        )
        cols = ["estimator", "estimand", "estimate"]
        cols += ["se"] if wide else []
        cols += ["95% CI", "p"]
        cols += ["n"] if wide else []
        cols += ["gates"]
        for col in cols:
            left = col in ("estimator", "estimand", "gates")
            table.add_column(col, justify="left" if left else "right", no_wrap=True)
        for e in an.estimates:
            truth = an.truth.get(e.estimand)
            covers = ""
            if truth is not None and math.isfinite(e.ci[0]):
                covers = " ✓" if e.ci[0] <= truth <= e.ci[1] else " ✗"
            level = f"{e.ci_level:.0%}"
            ci_text = fmt_ci(e.ci) + covers + ("" if level == "95%" else f" ({level})")
            row = [e.estimator, e.estimand, fmt_num(e.estimate)]
            row += [fmt_num(e.se)] if wide else []
            row += [ci_text, fmt_p(e.p_value)]
            row += [str(e.n)] if wide else []
            # "not checked" would widen the narrow table; a dash with a legend line below
            row += ["[yellow]—[/yellow]" if e.status == "not_checked" else _status(e.status)]
            table.add_row(*row)
        b = an.baseline
        if b is not None:
            # the unadjusted contrast, set apart: it is never in the consensus
            table.add_section()
            row = ["[dim]baseline[/dim]", str(b["estimand"])]
            row += [fmt_num(b["estimate"])]
            row += [fmt_num(b["se"])] if wide else []
            row += [fmt_ci(b["ci"]), fmt_p(b.get("p_value"))]
            row += [str(b["n"])] if wide else []
            row += ["[dim]unadj.[/dim]"]
            table.add_row(*row)
        return table

    def baseline_text(self, an: Analysis) -> str | None:
        """The baseline's randomization check and what it means for this analysis."""
        b = an.baseline
        if b is None:
            return None
        check = b.get("randomization_check", {})
        if check.get("ran"):
            p_text = fmt_p(check["p_value"])
            head = (
                f"randomization check (HC1 Wald test, {check['df']} covariates) "
                f"p {p_text if p_text.startswith('<') else '= ' + p_text}"
            )
        else:
            head = f"randomization check not run ({check.get('reason', 'no covariates')})"
        return (
            "[dim]baseline:[/dim] the unadjusted difference in means, never in the consensus; "
            f"{head}; {b['note']}"
        )

    def consensus_table(self, an: Analysis) -> Table:
        """Consensus per estimand (median, range, agreement, truth when known)."""
        table = Table(
            title="Consensus",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            title_justify="left",
            show_edge=False,
            pad_edge=False,
        )
        cols = ["estimand", "median", "range", "estimators", "agreement"]
        if an.truth:
            cols.append("truth")
        for col in cols:
            table.add_column(col, justify="left" if col == "estimand" else "right", no_wrap=True)
        for estimand, c in an.consensus.items():
            row = [
                estimand,
                fmt_num(c.get("estimate")),
                f"{fmt_num(c.get('min'))} … {fmt_num(c.get('max'))}",
                str(c.get("n_estimators", "")),
                f"{c['agreement']:.0%}" if c.get("agreement") is not None else "—",
            ]
            if an.truth:
                row.append(fmt_num(an.truth.get(estimand)))
            table.add_row(*row)
        return table

    # --- estimators -----------------------------------------------------------------
    def estimators(self, entries: list[dict[str, Any]]) -> None:
        """The registry as a table (family and summary columns on wide terminals)."""
        wide = self._wide()
        table = Table(
            title="CQOx estimators", box=box.SIMPLE_HEAD, title_justify="left", show_edge=False
        )
        cols = ["name"] + (["family"] if wide else []) + ["designs", "estimands", "needs"]
        cols += ["summary"] if wide else []
        for col in cols:
            table.add_column(col, no_wrap=col in ("name", "family", "designs"), overflow="fold")
        for e in entries:
            row = [e["name"]] + ([e["family"]] if wide else [])
            row += ["\n".join(e["designs"]), ", ".join(e["estimands"]), ", ".join(e["requires"])]
            if wide:
                row.append(e["summary"])
            table.add_row(*row)
        self.out.print(table)
        self.out.print(
            f"{len(entries)} estimators; 'cqox estimators --json' lists their parameters"
        )
