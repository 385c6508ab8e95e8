"""The Analysis: everything one run of ``cqox.analyze`` found."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cqox._version import __version__
from cqox.core import renderers
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.jsonable import to_jsonable
from cqox.core.roles import Roles


@dataclass
class Analysis:
    """Result of :func:`cqox.analyze`.

    Attributes
    ----------
    profile : dict
        Rows, columns, dtypes, missingness and statistics of the input table.
    roles : Roles
        The roles used, with how each was chosen.
    designs : list of Design
        Designs the roles support.
    estimates : list of Estimate
        One per estimator and estimand that ran.
    failures : list of dict
        Estimators that could not run here, with the reason.
    consensus : dict
        Per estimand: median estimate, range, agreement (never across estimands).
    sensitivity : dict
        Sensitivity analyses (E-values, ...), per estimate.
    gates : list of Gate
        Data-level gates (overlap, balance, ...) not tied to one estimator.
    quality : dict
        Counts of gate statuses and an overall verdict.
    domain : dict
        Detected domain (labels only, never changes an estimate).
    truth : dict
        Known true values by estimand (simulated data only), shown beside the estimates.
    elapsed_s : float
    figures : dict
        Figure data keyed by name (propensity scores by arm, ...), for the report.
    graph : dict or None
        The causal graph given (``dot``, ``edges``, ``nodes``) and what it identifies.
    compute : dict
        Where the parallel loops ran: ``backend`` (``local``, ``serial``,
        ``processes``, ``dask``), ``scheduler`` (the Dask address) and ``workers``
        (:mod:`cqox.compute`).
    baseline : dict or None
        A binary-treatment backdoor analysis: the unadjusted difference in means (never
        in the consensus) and the randomization check (:mod:`cqox.analysis.baseline`).
    """

    profile: dict[str, Any]
    roles: Roles
    designs: list[Design]
    estimates: list[Estimate]
    failures: list[dict[str, Any]] = field(default_factory=list)
    consensus: dict[str, dict[str, Any]] = field(default_factory=dict)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    domain: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    seed: int | None = None
    figure_data: dict[str, Any] = field(default_factory=dict, repr=False)
    graph: dict[str, Any] | None = None
    compute: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the documented ``--json`` layout)."""
        return {
            "cqox_version": __version__,
            "roles": self.roles.to_dict(),
            "designs": [d.value for d in self.designs],
            "estimates": [e.to_dict() for e in self.estimates],
            "consensus": to_jsonable(self.consensus),
            "sensitivity": to_jsonable(self.sensitivity),
            "gates": [g.to_dict() for g in self.gates],
            "quality": to_jsonable(self.quality),
            "failures": to_jsonable(self.failures),
            "profile": to_jsonable(self.profile),
            "domain": to_jsonable(self.domain),
            "truth": to_jsonable(self.truth),
            "warnings": list(self.warnings),
            "seed": self.seed,
            "elapsed_s": round(self.elapsed_s, 6),
            **({"compute": dict(self.compute)} if self.compute else {}),
            **({"dag": to_jsonable(self.graph)} if self.graph is not None else {}),
            **({"baseline": to_jsonable(self.baseline)} if self.baseline is not None else {}),
        }

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The Analysis as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def report(self, path: str | Path | None = None) -> str:
        """Render the self-contained HTML report; write it to ``path`` when given."""
        page = renderers.render("report", self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def estimate_for(self, estimator: str, estimand: str | None = None) -> Estimate:
        """The estimate of ``estimator`` (for ``estimand``, if it ran several)."""
        for e in self.estimates:
            if e.estimator == estimator and (estimand is None or e.estimand == estimand):
                return e
        raise KeyError(f"no estimate from '{estimator}'" + (f" for {estimand}" if estimand else ""))

    def summary(self) -> str:
        """A text table of all estimates and the consensus."""
        lines = [
            f"{'estimator':<24}{'estimand':<10}{'estimate':>12}{'se':>11}{'95% CI':>26}"
            f"{'gates':>13}"
        ]
        for e in self.estimates:
            ci = f"[{e.ci[0]:.4g}, {e.ci[1]:.4g}]"
            lines.append(
                f"{e.estimator:<24}{e.estimand:<10}{e.estimate:>12.4g}{e.se:>11.4g}"
                f"{ci:>26}{e.status:>13}"
            )
        if not self.estimates:
            lines.append("no estimates")
        for estimand, c in self.consensus.items():
            truth = f"  (truth {self.truth[estimand]:.4g})" if estimand in self.truth else ""
            lines.append(
                f"consensus {estimand}: {c['estimate']:.4g} "
                f"(range {c['min']:.4g} … {c['max']:.4g}, "
                f"{c['n_estimators']} estimators){truth}"
            )
        if self.baseline is not None:
            b = self.baseline
            lines.append(
                f"baseline (difference in means, unadjusted): {b['estimate']:.4g} "
                f"(SE {b['se']:.4g}); {b['note']}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return renderers.render("estimates_table", self)
