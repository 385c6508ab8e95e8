"""Role inference: which column is the outcome, the treatment, the unit, the time, ...

Each guess combines the column's **name** (a synonym list per role, matched on the
lower-cased name with ``.``, ``-`` and spaces read as ``_``) and its **data**: binary
0/1 columns for a treatment, integer years or dates for time, a column that together
with time identifies the rows for the unit of a panel, a time-invariant column of
adoption periods for the cohort.  A guess carries a confidence in [0, 1] and a
one-line reason.  Explicit roles always win; inference only fills gaps, and never
reuses a column that already plays a role.  A time column without a usual time name is
kept only when it forms a panel with a unit; an outcome without a usual outcome name is
guessed (confidence 0.5) only when it is the single non-binary measurement left.

Columns that look like oracle or counterfactual values of simulated benchmarks
(``y_cfactual``, ``mu0``, ``mu1``, ``y0``, ``y1``, ``ite``, ...) are never chosen as the
outcome nor used as covariates.  Covariates are the remaining usable columns, minus
identifiers, recodings of the treatment or the outcome (``mbsmoke`` beside
``mbsmoke_``), columns that determine the treatment, and monotone transformations or
thresholds of the outcome (``wage`` beside ``lwage``, ``lbweight`` beside ``bweight``);
each exclusion is named in the covariates' reason.  The rules of
:mod:`cqox.data.exclusions` also refuse columns that determine the outcome (leakage),
post-treatment columns, codings of a given instrument and columns whose missing values
would drop more than 5% of the rows.

Roles that change the estimand, the inference or the design (``instrument``,
``cluster``, ``weight``, ``sample``) are **suggested, never applied**: the guess has
source ``suggested`` and its reason gives the flag that applies it (``--weight
weight``); the column is then left out of the covariates.

The RD **cutoff** is a value, not a column, and is never guessed from the data
distribution; the only cutoff inferred is ``0`` for a running variable whose name says
it is a margin or is centred (``margin``, ``vote_margin``, ``centered``) and whose
values lie on both sides of 0 — the usual coding of close elections and of running
variables already centred at their threshold.

Example
-------
>>> import pandas as pd
>>> from cqox.data.infer import infer_roles
>>> df = pd.DataFrame({"treated": [0, 1, 0, 1], "outcome": [1.0, 2.5, 0.5, 3.0],
...                    "age": [30, 40, 35, 50]})
>>> r = infer_roles(df)
>>> r.treatment, r.outcome, r.covariates
('treated', 'outcome', ('age',))
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from cqox.core.roles import RoleGuess, Roles
from cqox.data.design_detect import find_fuzzy, find_threshold
from cqox.data.exclusions import (
    LEAKAGE_R2,
    instrument_like_columns,
    leakage_columns,
    missing_value_columns,
    post_treatment_columns,
)

#: Name synonyms per role: exact matches score 1.0 (first tuple) or 0.8 (second tuple).
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
        "lwage",
        "log_wage",
        "lemp",
        "earnings",
        "sales",
        "revenue",
        "conversion",
        "converted",
        "vote",
        "voteshare",
        "vote_share",
        "l_homicide",
        "gdpcap",
        "gdp",
        "cong_mesg",
    ),
    "treatment": (
        "t",
        "d",
        "w",
        "treat",
        "treated",
        "treatment",
        "trt",
        "tr",
        "intervention",
        "exposure",
        "exposed",
        "assigned",
        "assignment",
        "program",
        "participation",
        "participant",
        "mbsmoke",
        "mbsmoke_",
        "smoker",
        "any",
    ),
    "unit": (
        "id",
        "unit",
        "unit_id",
        "entity",
        "firm",
        "firm_id",
        "state",
        "sid",
        "county",
        "countyreal",
        "country",
        "region",
        "regionno",
        "person",
        "person_id",
        "individual",
        "customer_id",
        "user_id",
        "patient_id",
        "code",
        "fips",
    ),
    "time": (
        "time",
        "year",
        "period",
        "date",
        "month",
        "week",
        "quarter",
        "t_period",
        "wave",
        "day",
    ),
    "cohort": (
        "cohort",
        "first_treated",
        "first_treat",
        "first_treatment",
        "g",
        "gname",
        "group_first_treated",
        "treat_year",
        "treatment_year",
        "adoption_year",
        "adopt_year",
    ),
    "instrument": (
        "z",
        "instrument",
        "iv",
        "nearc4",
        "lottery",
        "draft",
        "draft_lottery",
        "encouragement",
        "offer",
        "offered",
    ),
    "running": (
        "running",
        "running_variable",
        "forcing",
        "forcing_variable",
        "margin",
        "vote_margin",
        "agecell",
        "x_rd",
    ),
    "mediator": ("mediator", "m", "med"),
    "dose": ("dose", "dosage", "intensity"),
    # not "school": in survey tables it is years of schooling (NHEFS), a confounder
    "cluster": ("cluster", "cluster_id", "school_id", "village", "villnum"),
    "weight": ("weight", "weights", "wt", "popwt", "sampling_weight", "pweight", "sw"),
    "sample": ("sample", "in_trial", "is_target", "source_sample", "trial_member"),
    "treatment_proxy": ("treatment_proxy", "z_proxy", "negative_control_exposure"),
    "outcome_proxy": ("outcome_proxy", "w_proxy", "negative_control_outcome"),
    "action": ("action", "chosen_action", "arm"),
    "reward": ("reward", "rewards"),
    "logging_propensity": (
        "logging_propensity",
        "propensity",
        "pscore",
        "behavior_propensity",
        "behaviour_propensity",
        "logging_prob",
    ),
}
#: Weaker name hints: a whole-word part of the name (``log_earnings``) or these words.
WEAK_SYNONYMS: dict[str, tuple[str, ...]] = {
    "outcome": ("wage", "income", "employment", "emp", "mortality", "death", "score_post"),
    "treatment": ("smoke", "smoking", "training", "campaign", "coupon", "policy", "reform"),
    "instrument": ("near", "distance_to"),
    "running": ("score", "running", "distance", "centered", "centred"),
    "unit": ("id", "code", "no", "num", "key"),
    "time": ("yr", "t"),
}
#: Roles whose weak hints also count inside a word (``mbsmoke`` holds ``smoke``).
SUBSTRING_ROLES = frozenset({"treatment", "outcome", "instrument"})
#: Names of oracle / counterfactual columns in simulated benchmarks (never an outcome or
#: covariate): potential outcomes, their expectations, individual effects, fitted values.
ORACLE_NAME = re.compile(
    r"^(y_?cf|y_?cfactual|cfactual|counterfactual|y_?counterfactual|mu_?[01]|y_?[01]"
    r"|y0_?hat|y1_?hat|ite|tau|true_?(effect|ite|cate|tau)|cate_?true|.*_fitted|.*fitted)$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
#: Roles that inference fills (the rest need the user's say).
INFERRED_ROLES = (
    "outcome",
    "treatment",
    "unit",
    "time",
    "cohort",
    "instrument",
    "running",
    "cutoff",
    "mediator",
    "dose",
    "cluster",
    "weight",
    "sample",
    "treatment_proxy",
    "outcome_proxy",
    "action",
    "reward",
    "logging_propensity",
    "covariates",
)
#: Minimum score for a guess to be used.
MIN_SCORE = 0.5
#: Names this short (``m``) are weak evidence of a mediator on their own.
SHORT_NAME_LENGTH = 2
#: Confidence of a mediator guessed from a short name and the data's evidence.
SHORT_MEDIATOR_SCORE = 0.6
#: Largest p-value of the treatment–column association that counts as that evidence.
MEDIATOR_EVIDENCE_P = 0.001
#: Share of rows on each side of 0 for a margin-type running variable to get cutoff 0.
MIN_SIDE_SHARE = 0.05
#: Largest table on which pairs of few-level covariates are checked for determining the
#: treatment together (the check is exact, so it does not subsample).
MAX_PAIR_ROWS = 200_000
#: Most levels of a covariate in that pair check.
MAX_PAIR_LEVELS = 10
#: Roles that change the estimand or the inference (weighted estimand, clustered SEs,
#: a target population) or the design (an instrument): inference suggests a column for
#: them, with the flag that applies it, but never applies it (issue #11).
SUGGESTED_ROLES = ("instrument", "cluster", "weight", "sample")
#: Why each suggested role is not applied without the user's say.
SUGGESTED_WHY = {
    "instrument": "an instrument changes the design (IV) and the estimand (LATE)",
    "cluster": "clustering changes the standard errors",
    "weight": "weights change the estimand (a weighted population)",
    "sample": "a sample indicator changes the target population",
}


@dataclass(frozen=True)
class Candidate:
    """A candidate column for a role, with its score and reason."""

    role: str
    column: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary."""
        return {
            "role": self.role,
            "column": self.column,
            "confidence": round(min(self.score, 0.99), 3),
            "reason": self.reason,
        }


def normalise_name(name: str) -> str:
    """Lower-case, with ``.``, ``-`` and whitespace read as ``_``."""
    return re.sub(r"[.\-\s]+", "_", str(name).strip().lower())


@functools.lru_cache(maxsize=8192)
def name_score(name: str, role: str) -> float:
    """1.0 for an exact synonym, 0.8 for a synonym as a whole word, 0.6 for a weak hint."""
    low = normalise_name(name)
    syns = SYNONYMS.get(role, ())
    if low in syns:
        return 1.0
    parts = [p for p in re.split(r"_+", low) if p]
    if any(s in parts for s in syns if len(s) > 3):
        return 0.8
    weak = WEAK_SYNONYMS.get(role, ())
    if low in weak or any(w in parts for w in weak if len(w) > 2):
        return 0.6
    if role in SUBSTRING_ROLES and any(len(w) > 3 and w in low for w in weak):
        return 0.55
    return 0.0


def is_oracle(name: str) -> bool:
    """Whether a column name looks like an oracle/counterfactual value of a benchmark."""
    return bool(ORACLE_NAME.match(normalise_name(name)))


def is_binary(s: pd.Series) -> bool:
    """Two distinct values that read as 0/1, booleans, or treated/control labels."""
    values = s.dropna().unique()
    if len(values) != 2:
        return False
    if pd.api.types.is_bool_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s):
        return {float(v) for v in values} == {0.0, 1.0}
    labels = {str(v).strip().lower() for v in values}
    from cqox.data.prepare import CONTROL_LABELS, TREATED_LABELS

    return bool(labels & TREATED_LABELS) and bool(labels & CONTROL_LABELS)


#: Values checked first by :func:`_integer_valued`: a continuous column shows a fraction
#: among them, so the whole column is scanned only when it may be integer-valued.
_INTEGER_PROBE = 64


def _integer_valued(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    if pd.api.types.is_integer_dtype(s):
        return True
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    head = v[:_INTEGER_PROBE]
    head = head[~np.isnan(head)]
    if len(head) and not (np.all(np.isfinite(head)) and np.all(head == np.round(head))):
        return False
    v = v[~np.isnan(v)]
    return bool(len(v) and np.all(np.isfinite(v)) and np.all(v == np.round(v)))


def is_time_like(s: pd.Series) -> bool:
    """Dates (also ISO-8601 text such as ``2020-03-31``), or integer years in 1800–2200."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if _integer_valued(s):
        v = s.dropna()
        return bool(len(v) and ((v >= 1800) & (v <= 2200)).all() and v.nunique() > 1)
    if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
        sample = s.dropna().astype(str).str.strip().head(200)
        if sample.empty or not sample.str.match(_ISO_DATE).all():
            return False
        parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
        return bool(parsed.notna().all() and parsed.nunique() > 1)
    return False


def _is_id_like(s: pd.Series, n: int, nunique: int | None = None) -> bool:
    """Unique per row and integer-valued or text: an identifier, not a measurement."""
    if nunique is None:
        nunique = int(s.nunique(dropna=True))
    if n < 2 or nunique != n:
        return False
    return _integer_valued(s) or not pd.api.types.is_numeric_dtype(s)


def _numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


class _Inference:
    """Working state of one inference: the table, roles chosen and columns taken."""

    def __init__(
        self, df: pd.DataFrame, given: Roles, nunique: dict[str, int] | None = None
    ) -> None:
        self.df = df
        self.cols = [str(c) for c in df.columns]
        self.n = len(df)
        self.explicit = given.given()
        self.taken: set[str] = set(given.columns())
        self.chosen: dict[str, str] = {}
        self.guesses: list[RoleGuess] = [
            RoleGuess(
                role,
                ", ".join(map(str, v)) if isinstance(v, list) else str(v),
                1.0,
                "given explicitly",
                "explicit",
            )
            for role, v in self.explicit.items()
        ]
        # each column once: a pandas column lookup costs more than most checks below
        self.col: dict[str, pd.Series] = {c: df[c] for c in self.cols}
        self.nunique = nunique or {c: int(self.col[c].nunique(dropna=True)) for c in self.cols}
        self._intval: dict[str, bool] = {}
        self._time_like: dict[str, bool] = {}
        self.suggested: dict[str, str] = {}
        self._binary = {c: self.nunique[c] == 2 and is_binary(df[c]) for c in self.cols}

    def intval(self, c: str) -> bool:
        """Whether column ``c`` is integer-valued (computed once per inference)."""
        if c not in self._intval:
            self._intval[c] = _integer_valued(self.col[c])
        return self._intval[c]

    def time_like(self, c: str) -> bool:
        """Whether column ``c`` holds years or dates (computed once per inference)."""
        if c not in self._time_like:
            self._time_like[c] = is_time_like(self.col[c])
        return self._time_like[c]

    def id_like(self, c: str) -> bool:
        """:func:`_is_id_like` of column ``c``, from the counts and checks already made."""
        if self.n < 2 or self.nunique[c] != self.n:
            return False
        return self.intval(c) or not pd.api.types.is_numeric_dtype(self.col[c])

    def role(self, name: str) -> str | None:
        value = self.explicit.get(name, self.chosen.get(name))
        return value if isinstance(value, str) else None

    def pick(self, role: str, candidates: list[Candidate]) -> Candidate | None:
        if role in self.explicit:
            return None
        usable = [c for c in candidates if c.column not in self.taken and c.score >= MIN_SCORE]
        if not usable:
            return None
        best = max(usable, key=lambda c: c.score)
        self.chosen[role] = best.column
        self.taken.add(best.column)
        self.guesses.append(
            RoleGuess(role, best.column, round(min(best.score, 0.99), 2), best.reason)
        )
        return best

    def named(self, role: str, columns: list[str] | None = None) -> list[Candidate]:
        out = []
        for c in columns if columns is not None else self.cols:
            s = name_score(c, role)
            if s > 0:
                how = "a usual" if s >= 1.0 else "like a"
                out.append(Candidate(role, c, s, f"name '{c}' is {how} {role} name"))
        return out

    # --- roles -------------------------------------------------------------------
    def treatment(self) -> None:
        binary = [c for c in self.cols if self._binary[c] and not is_oracle(c)]
        cands = []
        for cand in self.named("treatment", binary):
            cands.append(
                Candidate("treatment", cand.column, min(cand.score, 0.98), cand.reason + "; binary")
            )
        self.pick("treatment", cands)

    def time(self) -> None:
        cands = []
        for c in self.cols:
            s = name_score(c, "time")
            like = self.time_like(c)
            if like and s:
                cands.append(Candidate("time", c, min(s + 0.2, 0.99), f"name '{c}'; years/dates"))
            elif s >= 0.8 and self.intval(c) and self.nunique[c] > 1:
                cands.append(Candidate("time", c, s * 0.8, f"name '{c}'; integer periods"))
            elif like:
                cands.append(Candidate("time", c, 0.55, f"'{c}' holds years/dates"))
        self.pick("time", cands)

    def confirm_time(self) -> None:
        """Keep a time guessed without a usual time name only when it forms a panel.

        A ``birth_year`` in a cross-section is a covariate, not the time axis.
        """
        t_col = self.chosen.get("time")
        if t_col is None or name_score(t_col, "time") >= 1.0 or self.role("unit") is not None:
            return
        del self.chosen["time"]
        self.taken.discard(t_col)
        self.guesses = [g for g in self.guesses if g.role != "time"]

    def unit(self) -> None:
        t_col = self.role("time")
        cands = []
        for c in self.cols:
            if c in self.taken or c == t_col:
                continue
            s = self.col[c]
            name = name_score(c, "unit")
            if pd.api.types.is_float_dtype(s) and not _integer_valued(s):
                continue
            nunique = self.nunique[c]
            if (
                t_col is not None
                and 2 < nunique <= self.n // 2
                and not self.df.duplicated([c, t_col]).any()
            ):
                why = f"('{c}', '{t_col}') identifies the rows: a panel"
                score = name + 0.3 if name else 0.45
                cands.append(Candidate("unit", c, score, f"name '{c}'; {why}" if name else why))
                continue
            if nunique == self.n and self.n > 1 and name:
                cands.append(Candidate("unit", c, name, f"name '{c}'; unique per row"))
        self.pick("unit", cands)

    def cohort(self) -> str | None:
        """Cohort (first treated period); returns a note on an ever-treated dummy."""
        u, t = self.role("unit"), self.role("time")
        cands = []
        for c in self.cols:
            if c in self.taken or not _numeric(self.col[c]) or self._binary[c]:
                continue
            name = name_score(c, "cohort")
            if not name:
                continue
            reason = f"name '{c}' is a usual cohort name"
            if u is not None and t is not None and self._constant_within(c, u):
                times = set(pd.unique(self.col[t].dropna()))
                vals = set(pd.unique(self.col[c].dropna())) - {0, np.inf}
                if vals <= times or vals <= {float(x) for x in times}:
                    reason += f"; constant within '{u}', values are '{t}' periods (0 = never)"
                    name += 0.1
            cands.append(Candidate("cohort", c, name, reason))
        best = self.pick("cohort", cands)
        if best is None or "treatment" in self.explicit:
            return None
        treat = self.chosen.get("treatment")
        if treat is not None and u is not None and self._constant_within(treat, u):
            # an ever-treated dummy is not the period treatment of a staggered design
            del self.chosen["treatment"]
            self.taken.discard(treat)
            self.guesses = [g for g in self.guesses if g.role != "treatment"]
            return (
                f"'{treat}' is constant within '{u}' (ever treated), so it is not used as "
                f"the treatment of the staggered design given by '{best.column}'"
            )
        return None

    def simple(self, role: str, numeric: bool = True) -> None:
        # only columns whose name suggests the role can be picked (``named``), so the
        # data checks below run on those alone
        cols = [
            c
            for c in self.cols
            if c not in self.taken
            and name_score(c, role) > 0
            and (not numeric or _numeric(self.col[c]))
            and not is_oracle(c)
        ]
        if role in ("dose", "running"):
            cols = [c for c in cols if not self._binary[c] and self.nunique[c] > 2]
        if role == "sample":
            cols = [c for c in cols if self._binary[c]]
        if role == "logging_propensity":
            cols = [
                c for c in cols if ((self.col[c].dropna() > 0) & (self.col[c].dropna() <= 1)).all()
            ]
        if role == "cluster":
            cols = [
                c
                for c in cols
                if (self.intval(c) or not pd.api.types.is_numeric_dtype(self.col[c]))
                and 1 < self.nunique[c] < self.n
            ]
        if role == "weight":
            cols = [
                c
                for c in cols
                if _numeric(self.col[c])
                and (self.col[c].dropna() >= 0).all()
                and not self._binary[c]
            ]
        cands = self.named(role, cols)
        if role == "mediator":
            cands = [c for c in map(self._mediator_evidence, cands) if c is not None]
        self.pick(role, cands)

    def _mediator_evidence(self, cand: Candidate) -> Candidate | None:
        """A mediator guessed from a short name needs the data's evidence too.

        Taking a column as the mediator adds a design and removes it from the
        covariates, so a one- or two-letter name (``m``) is not enough on its own: the
        treatment must predict the column (a mediator is moved by the treatment), by the
        correlation test ``|r|·√((n − 2)/(1 − r²))`` against the normal at
        :data:`MEDIATOR_EVIDENCE_P`; the guess then has confidence
        :data:`SHORT_MEDIATOR_SCORE`, not that of a usual name.
        """
        if len(normalise_name(cand.column)) > SHORT_NAME_LENGTH:
            return cand
        treat = self.role("treatment")
        if treat is None:
            return None
        pair = self.df[[treat, cand.column]].apply(pd.to_numeric, errors="coerce").dropna()
        n = len(pair)
        if n < 10 or pair.nunique().min() < 2:
            return None
        r = float(np.corrcoef(pair.to_numpy(np.float64).T)[0, 1])
        stat = abs(r) * np.sqrt((n - 2) / max(1.0 - r * r, 1e-12))
        p = float(2.0 * ndtr(-stat))
        if not p < MEDIATOR_EVIDENCE_P:
            return None
        return Candidate(
            "mediator",
            cand.column,
            SHORT_MEDIATOR_SCORE,
            f"name '{cand.column}' is short (weak evidence alone) and the treatment "
            f"'{treat}' predicts it (r = {r:.2f}, p = {p:.2g})",
        )

    def suggest(self, role: str) -> None:
        """Name the best column for a role that is never applied without the user's say."""
        if role in self.explicit:
            return
        before = dict(self.chosen), set(self.taken), list(self.guesses)
        self.simple(role)
        col = self.chosen.get(role)
        self.chosen, self.taken, self.guesses = dict(before[0]), set(before[1]), before[2]
        if col is None:
            return
        score = max((c.score for c in self.named(role, [col])), default=MIN_SCORE)
        flag = f"--{role} {col}"
        value = [col] if role == "instrument" else col
        self.suggested[role] = col
        self.guesses.append(
            RoleGuess(
                role,
                col,
                round(min(score, 0.99), 2),
                f"name '{col}' is like a {role} name; suggested, not applied: "
                f"{SUGGESTED_WHY[role]}. To apply it: {flag} "
                f"(Python: roles={{'{role}': {value!r}}})",
                "suggested",
            )
        )

    def cutoff(self) -> None:
        running = self.role("running")
        if running is None or "cutoff" in self.explicit:
            return
        low = normalise_name(running)
        if not any(w in low for w in ("margin", "centered", "centred")):
            return
        v = self.col[running].dropna().to_numpy(dtype=np.float64)
        if len(v) == 0:
            return
        below, above = float(np.mean(v < 0)), float(np.mean(v > 0))
        if min(below, above) >= MIN_SIDE_SHARE:
            self.chosen["cutoff"] = "0"
            self.guesses.append(
                RoleGuess(
                    "cutoff",
                    "0",
                    0.8,
                    f"'{running}' is a margin centred at 0 ({below:.0%} below, {above:.0%} "
                    "above); the cutoff is 0",
                )
            )

    def rd_from_threshold(self) -> None:
        """A binary treatment that is ``1[x ≥ c]`` makes ``x`` the running variable.

        With a running variable but no cutoff, the cutoff is read from the treatment the
        same way.  Both are stated in the guesses (see :mod:`cqox.data.design_detect`).
        """
        t_col = self.role("treatment")
        if t_col is None or not self._binary[t_col] or "cutoff" in self.explicit:
            return
        running = self.role("running")
        if running is not None and "cutoff" in self.chosen:
            return
        y_col = self.role("outcome")
        if running is not None:
            cands = [running]
        else:
            cands = [
                c
                for c in self.cols
                if c not in self.taken
                and c != y_col
                and not is_oracle(c)
                and not self._binary[c]
                and not self.time_like(c)
                and not self.id_like(c)
            ]
        found = find_threshold(self.df, t_col, cands, self.nunique)
        if found is None:
            fuzzy = find_fuzzy(
                self.df,
                t_col,
                [
                    c
                    for c in self.cols
                    if self._binary[c] and c not in self.taken and c != y_col and not is_oracle(c)
                ],
                cands,
                self.nunique,
            )
            if fuzzy is None:
                return
            found = fuzzy.threshold
            self.taken.add(fuzzy.assignment)  # the assignment is the RD's, not a covariate
            why = fuzzy.reason(t_col)
        else:
            why = found.reason(t_col)
        if running is None:
            self.chosen["running"] = found.running
            self.taken.add(found.running)
            self.guesses.append(RoleGuess("running", found.running, 0.9, why))
        self.chosen["cutoff"] = repr(found.cutoff)
        self.guesses.append(RoleGuess("cutoff", f"{found.cutoff:g}", 0.9, why))

    def dose_from_treatment(self) -> None:
        """A continuous treatment is also the dose of the dose-response design."""
        t_col = self.role("treatment")
        if t_col is None or "dose" in self.explicit or "dose" in self.chosen:
            return
        s = self.col[t_col]
        if self._binary[t_col] or not _numeric(s) or self.nunique[t_col] <= 2:
            return
        self.chosen["dose"] = t_col
        self.guesses.append(
            RoleGuess(
                "dose",
                t_col,
                0.8,
                f"the treatment '{t_col}' is continuous ({self.nunique[t_col]} values): "
                "the dose-response design applies; binary-treatment estimators do not",
            )
        )

    def outcome(self, by_name_only: bool) -> None:
        if "outcome" in self.explicit or "outcome" in self.chosen:
            return
        cols = [
            c
            for c in self.cols
            if c not in self.taken and _numeric(self.col[c]) and not is_oracle(c)
        ]
        cands = self.named("outcome", cols)
        u = self.role("unit")
        if cands:
            ranked = []
            for cand in cands:
                score = cand.score
                if u is not None and self._constant_within(cand.column, u):
                    score -= 0.3  # an outcome of a panel varies over time
                ranked.append(Candidate("outcome", cand.column, score, cand.reason))
            if self.pick("outcome", ranked) is not None or by_name_only:
                return
        if by_name_only or (self.role("treatment") is None and self.role("cohort") is None):
            return
        rest = [
            c
            for c in cols
            if not self._binary[c]
            and not self.id_like(c)
            and self.nunique[c] > 2
            and not self.time_like(c)
            and (u is None or not self._constant_within(c, u))
        ]
        if len(rest) == 1:
            # one measurement besides the treatment: it must be the outcome; with several,
            # guessing would analyse a covariate, so the user is asked instead
            why = (
                "the only non-binary measurement that varies within units"
                if u
                else ("the only non-binary measurement besides the roles")
            )
            self.pick("outcome", [Candidate("outcome", rest[0], 0.5, why + " (low confidence)")])

    def covariates(self) -> None:
        if "covariates" in self.explicit or self.role("treatment") is None:
            return
        t_col = self.role("treatment")
        y_col = self.role("outcome")
        excluded: dict[str, str] = {}
        keep: list[str] = []
        seen_codes: dict[bytes, str] = {}
        if t_col is not None:
            seen_codes[_codes_key(self.col[t_col])] = t_col
        y = self.col[y_col] if y_col is not None and _numeric(self.col[y_col]) else None
        for c in self.cols:
            if c in self.taken:
                continue
            s = self.col[c]
            if is_oracle(c):
                excluded[c] = "a counterfactual/oracle column"
                continue
            nunique = self.nunique[c]
            if not _usable_covariate(s, self.n, nunique):
                continue
            if c in self.suggested.values():
                role = next(r for r, col in self.suggested.items() if col == c)
                excluded[c] = f"suggested as the {role} role"
                continue
            categorical = self._binary[c] or not _numeric(s)
            if (
                not categorical
                and t_col is not None
                and self._binary[t_col]
                and 2 < nunique <= min(20, self.n // 5)
                and _integer_valued(s)
                and _determines(s, self.col[t_col])
            ):
                # a numeric condition code (framing's 'cond') that fixes the treatment
                excluded[c] = "it determines the treatment"
                continue
            if categorical and nunique <= 50:
                # 1:1 recodings of a category (text beside 0/1); a numeric transformation
                # such as a square is a real covariate and stays
                key = _codes_key(s)
                if key in seen_codes:
                    other = seen_codes[key]
                    excluded[c] = (
                        "a recoding of the treatment"
                        if other == t_col
                        else f"a recoding of '{other}'"
                    )
                    continue
                seen_codes[key] = c
                if (
                    t_col is not None
                    and self._binary[t_col]
                    and nunique <= min(20, self.n // 5)
                    and _determines(s, self.col[t_col])
                ):
                    excluded[c] = "it determines the treatment"
                    continue
            if y is not None and _function_of_outcome(s, y, self._binary[c]):
                excluded[c] = "a transformation or threshold of the outcome"
                continue
            keep.append(c)
        for rule in (self._post_treatment, self._instrument_like, self._missing):
            for c, why in rule(keep).items():
                excluded[c] = why
                keep.remove(c)
        if t_col is not None and self._binary[t_col] and self.n <= MAX_PAIR_ROWS:
            for c, other in _pairs_determining(self.df, t_col, keep, self.nunique):
                excluded[c] = f"with '{other}' it determines the treatment (no overlap)"
                keep.remove(c)
        if t_col is not None:
            for c in _dependent_columns(self.df, t_col, keep):
                excluded[c] = "linearly dependent on the treatment and earlier covariates"
                keep.remove(c)
        if y_col is not None and y is not None:
            for _ in range(3):  # a second leak can hide behind the first (copies)
                leak, r2 = leakage_columns(self.df, y_col, t_col, keep)
                if not leak:
                    break
                for c in leak:
                    excluded[c] = (
                        f"leakage: {', '.join(leak)} determine the outcome '{y_col}' "
                        f"(cross-fitted R² {r2:.3f} ≥ {LEAKAGE_R2} within arms)"
                    )
                    keep.remove(c)
        if not keep:
            return
        self.chosen["covariates"] = ",".join(keep)
        reason = "remaining usable columns (numeric, binary or few-level categorical)"
        if excluded:
            by_why: dict[str, list[str]] = {}
            for col, why in excluded.items():
                by_why.setdefault(why, []).append(col)
            reason += "; excluded " + "; ".join(
                f"{', '.join(cols)} ({why})" for why, cols in by_why.items()
            )
        self.guesses.append(RoleGuess("covariates", ", ".join(keep), 0.6, reason))
        self._covariates = keep

    def _post_treatment(self, keep: list[str]) -> dict[str, str]:
        return post_treatment_columns(
            self.df,
            keep,
            outcome=self.role("outcome"),
            treatment=self.role("treatment"),
            unit=self.role("unit"),
            time=self.role("time"),
        )

    def _instrument_like(self, keep: list[str]) -> dict[str, str]:
        inst = self.explicit.get("instrument")
        if not inst:
            return {}
        return instrument_like_columns(self.df, keep, [str(z) for z in inst])

    def _missing(self, keep: list[str]) -> dict[str, str]:
        return missing_value_columns(self.df, keep)

    def _constant_within(self, col: str, unit: str) -> bool:
        sub = self.df[[unit, col]].dropna()
        if sub.empty:
            return False
        return bool((sub.groupby(unit, sort=False)[col].nunique() <= 1).all())

    def result(self) -> Roles:
        roles_map: dict[str, object] = {
            k: v for k, v in self.chosen.items() if k not in ("covariates", "cutoff")
        }
        if "instrument" in self.chosen:
            roles_map["instrument"] = [self.chosen["instrument"]]
        if "cutoff" in self.chosen:
            roles_map["cutoff"] = float(self.chosen["cutoff"])
        if "covariates" in self.chosen:
            roles_map["covariates"] = list(getattr(self, "_covariates", []))
        roles_map.update(self.explicit)
        return Roles.from_mapping(roles_map).with_roles(guesses=tuple(self.guesses))


def _dependent_columns(df: pd.DataFrame, t_col: str, columns: list[str]) -> list[str]:
    """Numeric columns that are exact linear combinations of the treatment and earlier ones.

    On the rows complete in all of them, a pivot-free QR of ``[1, t, X]`` (columns
    standardised) marks column ``j`` dependent when ``|R_jj|`` is negligible, so of a
    dependent set the later column goes (``exper = age − educ − 6`` beside ``educ`` and
    ``age``; the last of a full set of region dummies).
    """
    numeric = [c for c in columns if _numeric(df[c])]
    t = df[t_col]
    if not numeric or not (_numeric(t) or is_binary(t)):
        return []
    t_values = (
        pd.Series(pd.factorize(t)[0], index=t.index).where(t.notna()) if not _numeric(t) else t
    )
    block = pd.concat([t_values.rename("__t__"), df[numeric]], axis=1).dropna()
    if len(block) <= len(numeric) + 2:
        return []
    Z = block.to_numpy(dtype=np.float64)
    sd = Z.std(axis=0)
    keep_cols = sd > 0
    Z = (Z[:, keep_cols] - Z[:, keep_cols].mean(axis=0)) / sd[keep_cols]
    names = [n for n, k in zip(["__t__", *numeric], keep_cols, strict=True) if k]
    Z = np.column_stack([np.ones(len(Z)), Z])
    r = np.linalg.qr(Z, mode="r")
    diag = np.abs(np.diag(r))
    tol = max(Z.shape) * np.finfo(float).eps * diag.max() * 1e3
    return [
        names[j - 1] for j in range(1, Z.shape[1]) if diag[j] <= tol and names[j - 1] != "__t__"
    ]


def _pairs_determining(
    df: pd.DataFrame, t_col: str, columns: list[str], nunique: dict[str, int]
) -> list[tuple[str, str]]:
    """Few-level columns that, with an earlier one, determine the binary treatment.

    A 2×2 experiment's factors (``tone``, ``eth``) with ``treat = tone · eth``: each
    alone leaves both arms in every level, the pair fixes the arm in every cell, so
    adjusting for both leaves no overlap.  The later column of such a pair is returned
    with the earlier one; it is then no longer a candidate for later pairs.
    """
    few = [c for c in columns if 2 <= nunique[c] <= MAX_PAIR_LEVELS]
    if len(few) < 2:
        return []
    tc = pd.factorize(df[t_col])[0]
    codes = {c: pd.factorize(df[c])[0] for c in few}
    out: list[tuple[str, str]] = []
    dropped: set[str] = set()
    for j, b in enumerate(few):
        for a in few[:j]:
            if a in dropped:
                continue
            ok = (codes[a] >= 0) & (codes[b] >= 0) & (tc >= 0)
            cell = codes[a][ok] * (nunique[b] + 1) + codes[b][ok]
            count = np.bincount(cell)
            treated = np.bincount(cell, weights=tc[ok].astype(np.float64))
            present = count > 0
            if np.all((treated[present] == 0) | (treated[present] == count[present])):
                out.append((b, a))
                dropped.add(b)
                break
    return out


def _codes_key(s: pd.Series) -> bytes:
    """Level codes in order of first appearance: equal for 1:1 recodings of a column."""
    codes, _ = pd.factorize(s, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64).tobytes()


def _determines(s: pd.Series, t: pd.Series) -> bool:
    """Whether every level of ``s`` has a single treatment value (``t`` is a function of ``s``).

    ``t`` is binary here; per level of ``s``, the count of treated rows is 0 or all.
    """
    sc = pd.factorize(s)[0]
    tc = pd.factorize(t)[0]
    ok = (sc >= 0) & (tc >= 0)
    if not ok.any():
        return False
    sc, tc = sc[ok], tc[ok]
    if sc.max() < 1:
        return False
    count = np.bincount(sc)
    treated = np.bincount(sc, weights=tc.astype(np.float64))
    present = count > 0
    return bool(np.all((treated[present] == 0) | (treated[present] == count[present])))


def _function_of_outcome(s: pd.Series, y: pd.Series, binary: bool) -> bool:
    """A monotone transformation of the outcome, or a 0/1 threshold of it.

    Exact check: sorted by the outcome (ties broken by ``s``), ``s`` never decreases
    (or never increases).  A random subsample is checked first, so the common case
    (no relation) costs O(k) instead of a sort of the whole column.
    """
    if not _numeric(s) and not binary:
        return False
    sv = pd.Series(pd.factorize(s)[0], index=s.index).where(s.notna()) if binary else s
    a = np.asarray(sv, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3:
        return False
    rng = np.random.default_rng(0)
    if len(a) > 2000:
        idx = rng.choice(len(a), 2000, replace=False)
        if not _monotone(a[idx], b[idx]):
            return False
    return _monotone(a, b)


def _monotone(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` is a non-decreasing or non-increasing function of ``b`` (and varies)."""
    if np.ptp(a) == 0:
        return False
    up = np.diff(a[np.lexsort((a, b))])
    if np.all(up >= 0):
        return True
    down = np.diff(a[np.lexsort((-a, b))])
    return bool(np.all(down <= 0))


def _usable_covariate(s: pd.Series, n: int, nunique: int) -> bool:
    if nunique <= 1:
        return False
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        # a numeric id (unique integers) is not a covariate
        return not (_is_id_like(s, n, nunique) and n > 20)
    if pd.api.types.is_datetime64_any_dtype(s):
        return False
    return bool(nunique <= min(20, max(2, n // 10)))


def infer_roles(
    df: pd.DataFrame, given: Roles | None = None, nunique: dict[str, int] | None = None
) -> Roles:
    """Infer the roles the table can fill; roles in ``given`` are kept and always win.

    ``nunique`` (distinct non-missing values per column) is computed when not given;
    an analysis computes it once for the inference and the profile.

    Returns roles whose ``guesses`` record every role (explicit ones with confidence 1
    and source ``explicit``), with a confidence and a one-line reason for each inferred
    one.  See the module docstring for the rules.
    """
    state = _Inference(df, given or Roles(), nunique)
    state.treatment()
    state.outcome(by_name_only=True)
    state.time()
    state.unit()
    state.confirm_time()
    note = state.cohort()
    if note is not None:
        state.guesses = [
            g
            if g.role != "cohort"
            else RoleGuess(g.role, g.column, g.confidence, f"{g.reason}; {note}")
            for g in state.guesses
        ]
    state.suggest("instrument")
    state.simple("running")
    state.cutoff()
    state.rd_from_threshold()
    state.dose_from_treatment()
    for role in ("dose", "mediator"):
        state.simple(role)
    for role in ("cluster", "weight", "sample"):
        state.suggest(role)
    for role in ("treatment_proxy", "outcome_proxy", "action", "reward"):
        state.simple(role, numeric=role != "action")
    state.simple("logging_propensity")
    state.outcome(by_name_only=False)
    state.covariates()
    return state.result()


def inference_notes(roles: Roles) -> list[str]:
    """Notes for the report on what inference refused or only suggested.

    One note per suggested role (with the flag that applies it) and one for the
    covariates that inference excluded, with the reasons.
    """
    notes = []
    for g in roles.guesses:
        if g.source == "suggested":
            notes.append(f"role {g.role} '{g.column}': {g.reason}")
        elif g.role == "covariates" and g.source == "inferred" and "; excluded " in g.reason:
            notes.append("covariates " + g.reason[g.reason.index("excluded ") :])
    return notes


def candidate_roles(
    df: pd.DataFrame, per_role: int = 3, nunique: dict[str, int] | None = None
) -> dict[str, list[dict[str, object]]]:
    """For each role, the best-scoring columns by name and data (not mutually exclusive).

    Used by the profile to show alternatives beside the chosen roles; ``nunique``
    (distinct values per column) saves recounting when the caller has it.
    """
    state = _Inference(df, Roles(), nunique)
    out: dict[str, list[dict[str, object]]] = {}
    for role in (
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
    ):
        cands = []
        for cand in state.named(role):
            s = df[cand.column]
            if role == "treatment" and not state._binary[cand.column]:
                continue
            if role == "outcome" and (is_oracle(cand.column) or not _numeric(s)):
                continue
            if role == "time" and is_time_like(s):
                cand = Candidate(
                    role, cand.column, min(cand.score + 0.2, 0.99), cand.reason + "; years/dates"
                )
            cands.append(cand)
        if role == "time":
            named = {c.column for c in cands}
            cands += [
                Candidate("time", c, 0.45, f"'{c}' holds years/dates")
                for c in state.cols
                if c not in named and is_time_like(df[c])
            ]
        cands.sort(key=lambda c: -c.score)
        if cands:
            out[role] = [c.to_dict() for c in cands[:per_role]]
    return out


__all__ = [
    "INFERRED_ROLES",
    "SYNONYMS",
    "Candidate",
    "candidate_roles",
    "infer_roles",
    "inference_notes",
    "is_binary",
    "is_oracle",
    "is_time_like",
    "name_score",
]
