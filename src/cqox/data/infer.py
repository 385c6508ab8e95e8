"""Role inference: which column is the outcome, the treatment, the unit, the time.

Each guess comes from the column's name (a synonym list per role) and its data
(binary, unique per row, time-like, a panel).  A guess carries a confidence in [0, 1]
and a one-line reason.  Explicit roles always win; inference only fills gaps.
"""

from __future__ import annotations

import re

import pandas as pd

from cqox.core.roles import RoleGuess, Roles

#: Name patterns per role (matched against the lower-cased column name, whole word).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "outcome": (
        "y",
        "outcome",
        "target",
        "response",
        "y_factual",
        "yobs",
        "y_obs",
        "result",
        "re78",
        "bweight",
        "earnings",
        "sales",
        "revenue",
        "conversion",
        "score_outcome",
    ),
    "treatment": (
        "t",
        "d",
        "w",
        "z_treat",
        "treat",
        "treated",
        "treatment",
        "trt",
        "tr",
        "intervention",
        "exposure",
        "assigned",
        "policy",
        "program",
        "mbsmoke_",
    ),
    "unit": (
        "id",
        "unit",
        "unit_id",
        "entity",
        "firm",
        "state",
        "sid",
        "county",
        "country",
        "region",
        "regionno",
        "person",
        "individual",
        "customer_id",
        "user_id",
        "patient_id",
        "countyreal",
        "code",
    ),
    "time": ("time", "year", "period", "date", "month", "week", "quarter", "t_period", "wave"),
    "cohort": (
        "cohort",
        "first_treated",
        "first_treat",
        "g",
        "group_first_treated",
        "treat_year",
        "adoption_year",
        "gname",
    ),
    "instrument": ("z", "instrument", "iv", "nearc4", "lottery", "draft", "encouragement"),
    "running": (
        "running",
        "score",
        "running_variable",
        "forcing",
        "margin",
        "distance",
        "agecell",
        "x_rd",
    ),
    "mediator": ("mediator", "m", "med"),
    "dose": ("dose", "dosage", "intensity", "amount"),
    "cluster": ("cluster", "school", "village", "cluster_id"),
    "weight": ("weight", "weights", "wt", "popwt", "sampling_weight", "pweight"),
}

#: Roles that inference fills (the rest need the user's say).
INFERRED_ROLES = (
    "outcome",
    "treatment",
    "unit",
    "time",
    "cohort",
    "instrument",
    "running",
    "mediator",
    "dose",
    "cluster",
    "weight",
)


def _name_score(name: str, role: str) -> float:
    low = name.lower().strip()
    syns = SYNONYMS.get(role, ())
    if low in syns:
        return 1.0
    parts = set(re.split(r"[_\W]+", low))
    if any(s in parts for s in syns if len(s) > 2):
        return 0.7
    return 0.0


def _is_binary(s: pd.Series) -> bool:
    values = s.dropna().unique()
    if len(values) != 2:
        return False
    if pd.api.types.is_bool_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s):
        return set(float(v) for v in values) == {0.0, 1.0}
    labels = {str(v).strip().lower() for v in values}
    from cqox.data.prepare import CONTROL_LABELS, TREATED_LABELS

    return bool(labels & TREATED_LABELS) and bool(labels & CONTROL_LABELS)


def _time_like(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if pd.api.types.is_integer_dtype(s) and len(s.dropna()):
        v = s.dropna()
        return bool(v.nunique() <= max(200, len(v) // 2) and ((v >= 1900) & (v <= 2100)).all())
    return False


def infer_roles(df: pd.DataFrame, given: Roles | None = None) -> Roles:
    """Infer roles the table can fill; roles in ``given`` are kept and win.

    Returns roles with ``guesses`` recording every chosen role (explicit ones with
    confidence 1 and source ``explicit``).
    """
    given = given or Roles()
    explicit = given.given()
    taken = set(given.columns())
    guesses: list[RoleGuess] = [
        RoleGuess(
            role,
            ", ".join(v) if isinstance(v, list) else str(v),
            1.0,
            "given explicitly",
            "explicit",
        )
        for role, v in explicit.items()
        if role != "cutoff"
    ]
    chosen: dict[str, str] = {}
    cols = [str(c) for c in df.columns]
    n = len(df)

    def pick(role: str, candidates: list[tuple[float, str, str]]) -> None:
        if role in explicit or not candidates:
            return
        candidates.sort(key=lambda c: -c[0])
        score, col, reason = candidates[0]
        if score < 0.5 or col in taken:
            return
        chosen[role] = col
        taken.add(col)
        guesses.append(RoleGuess(role, col, round(min(score, 0.99), 2), reason))

    def scored(
        role: str, extra: dict[str, tuple[float, str]] | None = None
    ) -> list[tuple[float, str, str]]:
        out = []
        for c in cols:
            if c in taken:
                continue
            s = _name_score(c, role)
            reason = f"name '{c}' is a usual {role} name" if s else ""
            if extra and c in extra:
                bonus, why = extra[c]
                s = s + bonus if s else (bonus if bonus >= 0.5 else 0.0)
                reason = f"{reason}; {why}" if reason else why
            if s > 0:
                out.append((s, c, reason))
        return out

    # treatment: binary columns named like a treatment; else a lone binary column
    binary = {c: (0.25, "binary 0/1") for c in cols if _is_binary(df[c])}
    pick(
        "treatment",
        [(min(s, 0.98), c, r) for s, c, r in scored("treatment", binary) if c in binary],
    )
    # unit and time: a panel if (unit, time) identify rows
    time_cols = {c: (0.3, "integer years / dates") for c in cols if _time_like(df[c])}
    pick("time", scored("time", time_cols))
    unit_extra: dict[str, tuple[float, str]] = {}
    t_col = explicit.get("time") or chosen.get("time")
    for c in cols:
        s = df[c]
        if c == t_col or pd.api.types.is_float_dtype(s):
            continue
        if t_col is not None and s.nunique() < n and not df.duplicated([c, t_col]).any():
            unit_extra[c] = (0.3, f"('{c}', '{t_col}') identifies rows: a panel")
        elif s.nunique() == n and n > 1:
            unit_extra[c] = (0.1, "unique per row")
    pick("unit", scored("unit", unit_extra))
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(df[c]) and c not in taken]
    for role in ("cohort", "instrument", "running", "mediator", "dose", "cluster", "weight"):
        pick(role, [c for c in scored(role) if c[1] in numeric])
    # outcome: a name match, else the numeric non-binary column with the most distinct values
    out_cands = [c for c in scored("outcome") if c[1] in numeric]
    if not out_cands and "outcome" not in explicit:
        rest = [c for c in numeric if c not in taken and not _is_binary(df[c])]
        if rest and ("treatment" in explicit or "treatment" in chosen):
            best = max(rest, key=lambda c: df[c].nunique())
            out_cands = [(0.5, best, "numeric with the most distinct values")]
    pick("outcome", out_cands)

    roles_map = {**chosen, **explicit}
    if "instrument" in chosen:
        roles_map["instrument"] = [chosen["instrument"]]
    if "covariates" not in explicit:
        cov = [c for c in cols if c not in taken and _usable_covariate(df[c], n)]
        if cov and roles_map.get("treatment"):
            roles_map["covariates"] = cov
            guesses.append(
                RoleGuess(
                    "covariates",
                    ", ".join(cov),
                    0.6,
                    "remaining usable columns (numeric, binary or few-level categorical)",
                )
            )
    roles = Roles.from_mapping(roles_map)
    return roles.with_roles(guesses=tuple(guesses))


def _usable_covariate(s: pd.Series, n: int) -> bool:
    if s.isna().all() or s.nunique(dropna=True) <= 1:
        return False
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        # a numeric id (unique integers) is not a covariate
        return not (pd.api.types.is_integer_dtype(s) and s.nunique() == n and n > 20)
    return bool(s.nunique() <= min(20, max(2, n // 10)))


def missing_share(df: pd.DataFrame) -> dict[str, float]:
    """Share of missing values per column."""
    return {str(c): float(v) for c, v in df.isna().mean().items() if v > 0}


__all__ = ["INFERRED_ROLES", "SYNONYMS", "infer_roles", "missing_share"]
