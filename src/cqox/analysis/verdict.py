"""Honest verdicts: what an analysis may claim about its own quality.

Three rules, the same on every surface (library, command line, service, dashboard):

* **No design, no analysis.**  Roles that support no design raise
  :class:`cqox.errors.NoDesignError` whose ``details["suggestions"]`` say which role to
  give (with candidate columns and the command-line flag); an analysis where every
  estimator refused raises too.  Nothing is ever reported as an empty "pass".
* **Not checked is not pass.**  The verdict is ``not_checked`` when no gate produced a
  pass/warn/fail status (gates that do not apply do not count as checks).
* **Degenerate estimates are named.**  An estimate whose standard error is ≈ 0 relative
  to the outcome's spread comes from a perfect fit (the outcome is a function of the
  regressors: leakage); :func:`degenerate_reason` says so and the consensus leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.roles import Roles
from cqox.errors import DesignError, NoDesignError, list_columns

#: A standard error below this share of the outcome's standard deviation is ≈ 0: the
#: outcome was fitted perfectly (residual variance at round-off level), so the interval
#: says nothing about the effect.  Round-off of a double is ~1e-16; 1e-8 leaves room
#: for the squares in variance formulas while staying far below any real SE.
DEGENERATE_SE_SHARE = 1e-8
#: Statuses that count as a check having been made.
CHECKED = ("pass", "warn", "fail")


def quality_assessment(estimates: Sequence[Estimate], gates: Sequence[Gate]) -> dict[str, Any]:
    """Counts of gate statuses and an overall verdict.

    The verdict is ``fail`` > ``warn`` > ``pass`` over the gates that ran, and
    ``not_checked`` when none did (no gate, or only gates that do not apply): an
    analysis that checked nothing does not pass.  Without any estimate the verdict is
    never ``pass`` either: gates that passed on the data say nothing about estimates
    that do not exist (``fail`` if a gate failed, else ``not_checked``).
    """
    all_gates = list(gates) + [g for e in estimates for g in e.gates]
    counts = {
        s: sum(g.status == s for g in all_gates) for s in ("pass", "warn", "fail", "not_applicable")
    }
    checked = sum(counts[s] for s in CHECKED)
    if checked == 0:
        verdict = "not_checked"
    else:
        verdict = "fail" if counts["fail"] else ("warn" if counts["warn"] else "pass")
    if not estimates and verdict in ("pass", "warn"):
        verdict = "not_checked"
    failing = sorted({g.name for g in all_gates if g.status in ("fail", "warn")})
    return {
        "verdict": verdict,
        "counts": counts,
        "n_checked": checked,
        "n_estimates": len(estimates),
        "flagged_gates": failing,
        "score": float(np.round(counts["pass"] / max(1, checked), 3)) if checked else None,
    }


def degenerate_reason(e: Estimate, y_scale: float | None) -> str | None:
    """Why an estimate is degenerate (``None`` when it is not).

    Degenerate: not finite, or a standard error ≤ ``DEGENERATE_SE_SHARE`` × sd(outcome)
    (a perfect fit; with an estimate within that distance of 0 it is the signature of a
    covariate set that determines the outcome, e.g. both levels of a change score).
    """
    if not (np.isfinite(e.estimate) and np.isfinite(e.se)):
        return "the estimate or its standard error is not finite"
    scale = y_scale if y_scale is not None and np.isfinite(y_scale) and y_scale > 0 else None
    if scale is None:
        return None
    tol = DEGENERATE_SE_SHARE * scale
    if e.se <= tol:
        near_zero = abs(e.estimate) <= tol
        return (
            f"standard error {e.se:.3g} ≈ 0 (≤ {DEGENERATE_SE_SHARE:g} × sd of the outcome)"
            + (", estimate ≈ 0" if near_zero else "")
            + ": a perfect fit, the covariates determine the outcome"
        )
    return None


# --- no design ------------------------------------------------------------------------
def _suggestion(role: str, columns: Sequence[str], reason: str) -> dict[str, Any]:
    return {"role": role, "flag": f"--{role}", "columns": list(columns), "reason": reason}


def design_suggestions(df: pd.DataFrame, roles: Roles) -> list[dict[str, Any]]:
    """What to give so that the roles support a design, best candidates first."""
    from cqox.data.infer import candidate_roles, is_binary

    given = roles.given()
    cands = candidate_roles(df)

    def named(role: str) -> list[str]:
        return [str(c["column"]) for c in cands.get(role, []) if c["column"] not in given.values()]

    out: list[dict[str, Any]] = []
    if "outcome" not in given:
        out.append(_suggestion("outcome", named("outcome"), "every design needs an outcome"))
    t = given.get("treatment")
    if "running" in given and "cutoff" not in given:
        # a regression discontinuity needs the cutoff, not a treatment
        out.append(
            _suggestion(
                "cutoff",
                [],
                f"the threshold of the running variable '{given['running']}' "
                "(regression discontinuity)",
            )
        )
    elif t is None and "cohort" not in given:
        binary = [
            str(c)
            for c in df.columns
            if str(c) not in given.values() and is_binary(df[c]) and str(c) not in named("outcome")
        ]
        first = named("treatment")
        columns = first + [c for c in binary if c not in first]
        panel = "unit" in given and "time" in given
        out.append(
            _suggestion(
                "treatment",
                columns[:5],
                "a 0/1 indicator of the treated unit-periods (difference in differences, "
                "synthetic control)"
                if panel
                else "the 0/1 (or continuous) treatment whose effect is wanted",
            )
        )
        if panel:
            out.append(
                _suggestion(
                    "cohort",
                    named("cohort"),
                    "or the first treated period of each unit (staggered adoption)",
                )
            )
    if t is not None and "outcome" in given and "instrument" not in given:
        inst = named("instrument")
        if inst:
            out.append(
                _suggestion("instrument", inst, "instrument-like names (instrumental variables)")
            )
    return out


def no_design_error(df: pd.DataFrame, roles: Roles) -> NoDesignError:
    """The error for roles that support no design, with what to give."""
    given = roles.given()
    suggestions = design_suggestions(df, roles)
    shown = ", ".join(f"{k}={v}" for k, v in given.items() if k != "covariates") or "none"

    def one(s: dict[str, Any]) -> str:
        cols = f" (e.g. {', '.join(s['columns'][:3])})" if s["columns"] else ""
        return f"{s['flag']}{cols}: {s['reason']}"

    hint = "; ".join(one(s) for s in suggestions) or "the roles of a design"
    return NoDesignError(
        f"no design found: the roles ({shown}) support no design; give {hint} "
        f"(columns: {list_columns([str(c) for c in df.columns])})",
        details={
            "roles": {k: v for k, v in given.items() if k != "covariates"},
            "suggestions": suggestions,
            "missing": [s["role"] for s in suggestions],
        },
    )


def nothing_ran_error(
    df: pd.DataFrame, roles: Roles, designs: Sequence[Design], failures: Sequence[dict[str, Any]]
) -> DesignError:
    """The error for an analysis with designs where no estimate could be made."""
    if failures:
        first = failures[0]
        return DesignError(
            f"no estimator could run: {first['estimator']}: {first['message']}",
            details={"failures": list(failures)},
        )
    names = ", ".join(d.value for d in designs)
    given = roles.given()
    err = no_design_error(df, roles)
    return NoDesignError(
        f"no registered estimator applies to the design(s) {names} with roles "
        f"{', '.join(k for k in given if k != 'covariates')}",
        details={"designs": [d.value for d in designs], **err.details},
    )


__all__ = [
    "DEGENERATE_SE_SHARE",
    "degenerate_reason",
    "design_suggestions",
    "no_design_error",
    "nothing_ran_error",
    "quality_assessment",
]
