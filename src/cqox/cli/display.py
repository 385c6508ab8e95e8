"""Terminal output of the CLI: progress and summary tables (rich)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cqox.analysis.analysis import Analysis
from cqox.core.context import ProgressCallback

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "not_applicable": "dim"}


class Display:
    """Writes progress to standard error and results to standard output."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.out = Console(file=sys.stdout, highlight=False)
        self.err = Console(file=sys.stderr, highlight=False)

    @contextlib.contextmanager
    def progress(self) -> Iterator[ProgressCallback | None]:
        """A progress callback shown on a terminal (silent when piped or quiet)."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        with Progress(
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

    def analysis(
        self, an: Analysis, json_path: str | None = None, report_path: str | None = None
    ) -> None:
        """Roles, estimates, consensus and where the outputs went."""
        if self.quiet:
            return
        roles = ", ".join(
            f"{k}={v if not isinstance(v, list) else ','.join(map(str, v))}"
            for k, v in an.roles.given().items()
            if k != "covariates"
        )
        cov = an.roles.covariates
        ncov = len(cov) if isinstance(cov, tuple) else (cov or "none")
        self.out.print(f"[bold]Roles[/bold]: {roles}; covariates: {ncov}")
        self.out.print(f"[bold]Designs[/bold]: {', '.join(d.value for d in an.designs) or 'none'}")
        table = Table(title="Estimates", show_lines=False)
        for col in ("estimator", "estimand", "estimate", "se", "95% CI", "p", "n", "gates"):
            table.add_column(
                col, justify="right" if col not in ("estimator", "estimand") else "left"
            )
        for e in an.estimates:
            style = STATUS_STYLE.get(e.status, "")
            table.add_row(
                e.estimator,
                e.estimand,
                f"{e.estimate:.4g}",
                f"{e.se:.4g}",
                f"[{e.ci[0]:.4g}, {e.ci[1]:.4g}]",
                f"{e.p_value:.3g}",
                str(e.n),
                f"[{style}]{e.status}[/{style}]",
            )
        self.out.print(table)
        for estimand, c in an.consensus.items():
            truth = f"; truth {an.truth[estimand]:.4g}" if estimand in an.truth else ""
            self.out.print(
                f"Consensus {estimand}: {c['estimate']:.4g} (range {c['min']:.4g} … "
                f"{c['max']:.4g}; {c['n_estimators']} estimators; agreement "
                f"{c['agreement']:.0%}{truth})"
            )
        for f in an.failures:
            self.out.print(f"[yellow]not run[/yellow] {f['estimator']}: {f['message']}")
        q = an.quality
        self.out.print(
            f"Quality: {q.get('verdict', '?')} ({q.get('counts', {})})  time {an.elapsed_s:.2f} s"
        )
        if json_path:
            self.out.print(f"JSON:   {json_path}")
        if report_path:
            self.out.print(f"Report: {report_path}")

    def estimators(self, entries: list[dict[str, Any]]) -> None:
        """The registry as a table."""
        table = Table(title="CQOx estimators")
        for col in ("name", "family", "designs", "estimands", "needs", "summary"):
            table.add_column(col)
        for e in entries:
            table.add_row(
                e["name"],
                e["family"],
                ", ".join(e["designs"]),
                ", ".join(e["estimands"]),
                ", ".join(e["requires"]),
                e["summary"],
            )
        self.out.print(table)
