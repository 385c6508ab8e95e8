"""Columns that covariate inference refuses to adjust for, each with its reason.

Adjusting for the wrong column is worse than adjusting for too few: it can make an
estimate exactly zero with a confident interval.  Role inference
(:mod:`cqox.data.infer`) proposes as covariates the usable columns that are left, minus
those these rules exclude (a covariate given explicitly is always used):

* **leakage** — a set of candidate columns that (nearly) determines the outcome: the
  cross-fitted R² of the outcome on the candidates within treatment arms is ≥
  ``LEAKAGE_R2`` (an exact linear identity such as a change score beside both of its
  levels gives R² = 1).  Greedy forward selection names the smallest set that reaches
  the threshold; those columns are excluded (:func:`leakage_columns`).
* **post-treatment** — columns whose name places them after the treatment: a year in
  the name at or after the outcome's year (``wt82`` beside the outcome ``wt82_71``), or a
  name of a later event (``death``, ``yrdth``, ``dropout``, ``follow_up``, ``attrition``,
  ``censored``); in a panel, a column constant within every treated unit before its
  first treated period and varying after it (:func:`post_treatment_columns`); and, in
  a panel whose treatment changes within units, every column that varies within a unit
  over time (:func:`time_varying_columns`): measured in the treated periods it can be
  a consequence of the treatment (a "bad control", Angrist & Pischke 2009, §3.2.3;
  Caetano et al. 2022), and the parallel-trends assumption of a difference in
  differences needs no covariate.  Only baseline (unit-constant) columns are inferred;
  a time-varying control is used when named.  Finally, a column **computed from the
  treatment**: an exact quadratic function of the treatment, alone or with one other
  candidate, that is not a function of that other candidate alone (``expersq`` =
  (``age`` − ``educ`` − 6)² beside the treatment ``educ``): it is a consequence of the
  treatment, or, read the other way, it leaves the treatment no variation to compare
  (:func:`treatment_function_columns`).
* **instrument-like** — with an instrument: a column named like it (same stem:
  ``nearc2`` beside ``nearc4``), correlated with it at ``|r| ≥ INSTRUMENT_CORR``, or a
  coding of it (the instrument is a function of the column, or the column of the
  instrument): it is never an exogenous control (:func:`instrument_like_columns`).
* **missing values** — a column whose missing values alone would drop more than
  ``MAX_DROPPED_SHARE`` of the rows, and the columns that, added in order of their
  missing share, would push the rows dropped by listwise deletion past that share
  (:func:`missing_value_columns`).

References
----------
Rosenbaum, P. R. (1984). The consequences of adjustment for a concomitant variable that
has been affected by the treatment. *JRSS A* 147(5):656–666. doi:10.2307/2981697
(post-treatment adjustment).
Angrist, J. D. & Pischke, J.-S. (2009). *Mostly Harmless Econometrics*, §3.2.3 (bad
control).
Caetano, C., Callaway, B., Payne, S. & Rodrigues, H. S. (2022). Difference in
differences with time-varying covariates. arXiv:2202.02903.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from cqox.nuisance.ols import QR_RANK_TOLERANCE, least_squares, r_factor, stack_r

#: Cross-fitted R² of the outcome on candidate columns, within arms, from which the
#: candidates are taken to determine the outcome (leakage, issue #11).
LEAKAGE_R2 = 0.99
#: Folds of the cross-fitting of the leakage check.
LEAKAGE_FOLDS = 5
#: Rows used by the leakage check (a seeded subsample above this).
LEAKAGE_MAX_ROWS = 20_000
#: Largest set that forward selection names as the leak before it stops.
LEAKAGE_MAX_SET = 8
#: |Pearson correlation| with an instrument from which a column is a coding of it.
INSTRUMENT_CORR = 0.7
#: Share of rows listwise deletion may drop for inferred covariates.
MAX_DROPPED_SHARE = 0.05

#: Names of events that happen after a treatment (death and its date, attrition, ...).
_LATER_EVENT = re.compile(
    r"(^|_)(death|deaths|died|dead|dropout|drop_out|dropped_out|attrition|attrited|"
    r"follow_?up|followup|fu|censor|censored|exit|lost_to_follow_?up|post_?treatment)(_|$)"
    r"|(^|_)(yr|mo|da|day|year|month|date)?_?dth($|_)"
)
#: A year at the end of a name: ``re78``, ``wt82_71``, ``hiv2004``, ``price71_82``.
_YEAR_SUFFIX = re.compile(
    r"^(?P<stem>[a-z][a-z_]*?)_?(?P<a>(19|20)\d{2}|\d{2})(_(?P<b>(19|20)\d{2}|\d{2}))?$"
)


def _norm(name: str) -> str:
    return re.sub(r"[.\-\s]+", "_", str(name).strip().lower())


def _year(token: str | None) -> int | None:
    if token is None:
        return None
    v = int(token)
    if len(token) == 4:
        return v
    return 1900 + v if v >= 30 else 2000 + v


def name_years(name: str) -> tuple[int, ...]:
    """Years written at the end of a column name (``wt82_71`` → (1982, 1971)).

    Two-digit years count only after a stem of two letters or more, so ``x25`` of a
    benchmark's numbered covariates is not read as 2025.
    """
    m = _YEAR_SUFFIX.match(_norm(name))
    if m is None:
        return ()
    stem = m.group("stem").strip("_")
    if len(stem) < 2 and len(m.group("a")) == 2:
        return ()
    return tuple(y for y in (_year(m.group("a")), _year(m.group("b"))) if y is not None)


def post_treatment_columns(
    df: pd.DataFrame,
    candidates: Sequence[str],
    *,
    outcome: str | None,
    treatment: str | None,
    unit: str | None = None,
    time: str | None = None,
) -> dict[str, str]:
    """Candidate columns that are measured after the treatment, with the reason.

    Three signs, by name or by data (see the module docstring): a year at or after the
    outcome's (latest) year; a later-event name; in a panel, constant within each
    treated unit before its first treated period and varying after it.
    """
    out: dict[str, str] = {}
    y_years = name_years(outcome) if outcome else ()
    t_years = name_years(treatment) if treatment else ()
    if y_years:
        after, what = max(y_years), f"the outcome '{outcome}'"
    elif t_years:
        after, what = max(t_years) + 1, f"the treatment '{treatment}'"
    else:
        after, what = None, ""
    for c in candidates:
        years = name_years(c)
        if after is not None and years and max(years) >= after:
            out[c] = (
                f"post-treatment: its name holds year {max(years)}, not earlier than {what} "
                f"({after if y_years else after - 1})"
            )
        elif _LATER_EVENT.search(_norm(c)):
            out[c] = "post-treatment: its name is that of a later event (death, dropout, follow-up)"
    if unit and time and treatment and unit in df and time in df and treatment in df:
        out.update(
            _panel_post_treatment(
                df, [c for c in candidates if c not in out], unit, time, treatment
            )
        )
        out.update(
            time_varying_columns(df, [c for c in candidates if c not in out], unit, time, treatment)
        )
    if treatment and treatment in df:
        out.update(
            treatment_function_columns(df, [c for c in candidates if c not in out], treatment)
        )
    return out


#: R² from which a column counts as an exact function (rounding of stored values only).
EXACT_R2 = 1.0 - 1e-9
#: Rows used by :func:`treatment_function_columns` (a seeded subsample above this).
FUNCTION_MAX_ROWS = 5000


#: Rows of the screening regressions of :func:`treatment_function_columns`.
SCREEN_ROWS = 200
#: R² a pair must reach on the screening rows to be regressed on all rows: looser than
#: :data:`EXACT_R2`, so rounding that a subsample happens to make worse loses no column.
SCREEN_R2 = 1.0 - 1e-6


def _r2_all(B: np.ndarray, C: np.ndarray, constant: float = 0.0) -> np.ndarray:
    """R² of each column of ``C`` on the columns of ``B`` (least squares, rank-safe).

    A column without variation gets ``constant`` (tested on the values themselves: the
    sum of squares of a constant column is a rounding error, not 0).
    """
    beta, *_ = np.linalg.lstsq(B, C, rcond=None)
    ssr = ((C - B @ beta) ** 2).sum(axis=0)
    sst = ((C - C.mean(axis=0)) ** 2).sum(axis=0)
    varies = np.ptp(C, axis=0) > 0 if len(C) else np.zeros(C.shape[1], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2: np.ndarray = np.where(varies & (sst > 0), 1.0 - ssr / sst, constant)
    return r2


def treatment_function_columns(
    df: pd.DataFrame, candidates: Sequence[str], treatment: str, seed: int = 0
) -> dict[str, str]:
    """Candidates that are an exact quadratic function of the treatment (and one other).

    For the treatment ``t`` alone and for each other numeric candidate ``o``, every
    candidate ``c`` is regressed on ``[1, t, t², o, o², t·o]`` and on ``[1, o, o²]``;
    ``c`` is flagged when the first R² is ≥ ``EXACT_R2`` and the second is not (so a
    square of another covariate, ``mage2`` beside ``mage``, stays).  An identity among
    three columns (``age`` = ``educ`` + ``exper`` + 6) makes each of ``age`` and ``exper``
    a function of the treatment and the other; the partner ``o`` must come before ``c``
    in the table and be kept itself, so the first column of the identity stays (derived
    columns are written after their sources).
    """
    numeric = [
        c
        for c in candidates
        if c != treatment
        and c in df
        and (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    t_all = pd.to_numeric(df[treatment], errors="coerce")
    if not numeric or not t_all.notna().any():
        return {}
    block = pd.concat([t_all.rename("__t__"), df[numeric].astype(float)], axis=1).dropna()
    if len(block) > FUNCTION_MAX_ROWS:
        block = block.sample(FUNCTION_MAX_ROWS, random_state=seed)
    if len(block) < 10:
        return {}
    t = block["__t__"].to_numpy(np.float64)
    C = block[numeric].to_numpy(np.float64)
    # centred and scaled, so that squares and products stay well conditioned
    sd = C.std(axis=0)
    C = (C - C.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    t = (t - t.mean()) / (float(t.std()) or 1.0)
    ones = np.ones(len(t))
    out: dict[str, str] = {}
    alone = _r2_all(np.column_stack([ones, t, t**2]), C)
    for j in np.flatnonzero(alone >= EXACT_R2):
        out[numeric[j]] = f"computed from the treatment '{treatment}' (an exact function of it)"
    # An exact function is exact on any subset of rows, so the pairs are screened on a
    # few rows first and only the survivors are regressed on all of them (k² small
    # regressions instead of k² on 5,000 rows).
    screen = np.random.default_rng(seed).permutation(len(t))[:SCREEN_ROWS]
    for i, other in enumerate(numeric):
        if other in out:
            continue  # a partner must itself be kept; its own partners come before it
        later = np.arange(i + 1, len(numeric))
        if not len(later):
            break
        o = C[:, i]
        with_ = np.column_stack([ones, t, t**2, o, o**2, t * o])
        if len(t) > 2 * SCREEN_ROWS:
            maybe = _r2_all(with_[screen], C[np.ix_(screen, later)], constant=1.0) >= SCREEN_R2
            later = later[maybe]
            if not len(later):
                continue
        r2_with = _r2_all(with_, C[:, later])
        r2_without = _r2_all(np.column_stack([ones, o, o**2]), C[:, later])
        for j in later[(r2_with >= EXACT_R2) & (r2_without < EXACT_R2)]:
            c = numeric[j]
            if c not in out:
                out[c] = (
                    f"computed from the treatment '{treatment}': an exact function of it and "
                    f"'{other}' (a consequence of the treatment, or no variation left in it)"
                )
    return out


def time_varying_columns(
    df: pd.DataFrame, candidates: Sequence[str], unit: str, time: str, treatment: str
) -> dict[str, str]:
    """In a panel whose treatment changes within units: the columns that change too.

    A column with more than one value within some unit varies over the periods, some of
    which are treated, so it may be affected by the treatment; it is not inferred as a
    covariate (see the module docstring).  Nothing is returned when the treatment is
    constant within every unit (a cross-section repeated over time).
    """
    cols = [c for c in candidates if c in df and c not in (unit, time, treatment)]
    if not cols or unit not in df or treatment not in df:
        return {}
    groups = df.groupby(df[unit].to_numpy(), sort=False)
    if not bool((groups[treatment].nunique(dropna=True) > 1).any()):
        return {}
    varies = groups[cols].nunique(dropna=True).gt(1).any()
    return {
        c: f"time-varying in the panel ('{unit}' × '{time}'): it may be affected by the "
        "treatment; name it as a covariate to adjust for it"
        for c in cols
        if bool(varies[c])
    }


def _panel_post_treatment(
    df: pd.DataFrame, candidates: Sequence[str], unit: str, time: str, treatment: str
) -> dict[str, str]:
    """Columns constant before treatment and varying after it, within treated units.

    Also constant within every never-treated unit: a column that varies there over the
    same calendar periods (a year dummy) is not a consequence of the treatment.
    """
    t = pd.to_numeric(df[treatment], errors="coerce")
    if not set(t.dropna().unique()) <= {0.0, 1.0} or not (t == 1).any():
        return {}
    frame = df[[unit, time]].assign(__t__=t)
    first = frame[frame["__t__"] == 1].groupby(unit)[time].min().rename("__first__")
    frame = frame.join(first, on=unit)
    treated = frame["__first__"].notna()
    post = treated & (frame[time] >= frame["__first__"])
    pre = treated & (frame[time] < frame["__first__"])
    if not pre.any() or not post.any():
        return {}
    never = ~treated
    cols = list(candidates)
    if not cols:
        return {}

    def levels(mask: pd.Series) -> pd.DataFrame:
        return df.loc[mask, cols].groupby(frame.loc[mask, unit].to_numpy()).nunique(dropna=True)

    before, later, untreated = levels(pre), levels(post), levels(never)
    # a calendar effect (a year dummy) also varies within never-treated units; a
    # consequence of the treatment does not
    flagged = (
        (before <= 1).all()
        & (later > 1).any()
        & ((untreated <= 1).all() if len(untreated) else True)
    )
    return {
        c: "post-treatment: constant within treated units before their first treated "
        "period, varying after it (and constant in never-treated units)"
        for c in cols
        if bool(flagged[c])
    }


def instrument_like_columns(
    df: pd.DataFrame, candidates: Sequence[str], instruments: Sequence[str]
) -> dict[str, str]:
    """Candidate columns that are codings of an instrument, never exogenous controls."""
    out: dict[str, str] = {}
    for z in instruments:
        if z not in df:
            continue
        z_stem = re.sub(r"[\d_]+$", "", _norm(z))
        zv = pd.to_numeric(df[z], errors="coerce")
        for c in candidates:
            if c in out or c == z:
                continue
            c_stem = re.sub(r"[\d_]+$", "", _norm(c))
            if len(z_stem) >= 3 and (c_stem == z_stem or _norm(c).startswith(_norm(z))):
                out[c] = f"named like the instrument '{z}'"
                continue
            cv = pd.to_numeric(df[c], errors="coerce")
            ok = zv.notna() & cv.notna()
            if ok.sum() < 3 or zv[ok].nunique() < 2 or cv[ok].nunique() < 2:
                continue
            r = float(np.corrcoef(zv[ok].to_numpy(float), cv[ok].to_numpy(float))[0, 1])
            if abs(r) >= INSTRUMENT_CORR:
                out[c] = f"a coding of the instrument '{z}' (correlation {r:+.2f})"
            elif _is_function(zv[ok], cv[ok]) or _is_function(cv[ok], zv[ok]):
                out[c] = f"a coding of the instrument '{z}' (one determines the other)"
    return out


def _is_function(a: pd.Series, b: pd.Series) -> bool:
    """Whether ``b`` takes one value per level of ``a`` (``a`` with few levels)."""
    if a.nunique() > 50 or a.nunique() >= len(a) // 2:
        return False
    return bool((b.groupby(a.to_numpy()).nunique() <= 1).all())


def missing_value_columns(
    df: pd.DataFrame, candidates: Sequence[str], max_share: float = MAX_DROPPED_SHARE
) -> dict[str, str]:
    """Candidates whose missing values would drop more than ``max_share`` of the rows.

    Columns are added in order of their missing share; a column is refused when the
    rows missing in it, or in it together with the columns kept before it, exceed the
    share (listwise deletion drops a row missing in any covariate).
    """
    n = len(df)
    if n == 0:
        return {}
    out: dict[str, str] = {}
    dropped = np.zeros(n, dtype=bool)
    shares = {c: float(df[c].isna().mean()) for c in candidates}
    for c in sorted(candidates, key=lambda c: shares[c]):
        if shares[c] == 0:
            continue
        miss = df[c].isna().to_numpy()
        if shares[c] > max_share:
            out[c] = (
                f"missing in {shares[c]:.0%} of the rows (more than {max_share:.0%} would be "
                "dropped); give it explicitly to use it"
            )
            continue
        together = dropped | miss
        if together.mean() > max_share:
            out[c] = (
                f"missing values: with the covariates before it, {together.mean():.0%} of the "
                f"rows would be dropped (more than {max_share:.0%})"
            )
            continue
        dropped = together
    return out


# --- leakage ---------------------------------------------------------------------------
def _fold_r2(groups: list[tuple[np.ndarray, np.ndarray]], cols: Sequence[int], seed: int) -> float:
    """Cross-fitted R² pooled over groups: 1 − Σ SSR_cv / Σ SST (within-group means).

    Each fold's least-squares fit on the other folds comes from the R factors of the
    folds' ``[Z, y]`` (one Householder QR pass over the rows; the R factor of a union
    of row sets is the R factor of theirs stacked, :func:`cqox.nuisance.ols.stack_r`)
    instead of a QR of the training rows per fold; a rank-deficient training design
    falls back to :func:`cqox.nuisance.ols.least_squares` on its rows (minimum norm).
    """
    ssr = sst = 0.0
    for X, y in groups:
        n = len(y)
        rng = np.random.default_rng(seed)
        folds = rng.permutation(n) % LEAKAGE_FOLDS
        Z = np.column_stack([np.ones(n), X[:, list(cols)]]) if cols else np.ones((n, 1))
        width = Z.shape[1]
        cells = [np.flatnonzero(folds == k) for k in range(LEAKAGE_FOLDS)]
        factors = [r_factor(Z[rows], y[rows]) for rows in cells]
        pred = np.empty(n)
        for k, test in enumerate(cells):
            R = stack_r([f for j, f in enumerate(factors) if j != k], width + 1)
            r = R[:width, :width]
            d = np.abs(np.diag(r))
            if d.max() > 0 and d.min() > QR_RANK_TOLERANCE * d.max():
                beta = solve_triangular(r, R[:width, width])
            else:
                train = folds != k
                beta, _ = least_squares(Z[train], y[train])
            pred[test] = Z[test] @ beta
        ssr += float(np.sum((y - pred) ** 2))
        sst += float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ssr / sst if sst > 0 else 0.0


def leakage_columns(
    df: pd.DataFrame,
    outcome: str,
    treatment: str | None,
    candidates: Sequence[str],
    seed: int = 0,
) -> tuple[list[str], float]:
    """The candidate columns that (nearly) determine the outcome, and their R².

    The cross-fitted (``LEAKAGE_FOLDS``-fold) R² of an OLS of the outcome on the
    numeric candidates is computed within treatment arms (a binary treatment) or with
    the treatment as a regressor (otherwise).  Below ``LEAKAGE_R2`` nothing is excluded
    (``[]``).  Otherwise forward selection adds, one at a time, the column that raises
    the R² most until it reaches the threshold; that set is returned (at most
    ``LEAKAGE_MAX_SET`` columns).
    """
    numeric = [
        c
        for c in candidates
        if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
    ]
    if not numeric or outcome not in df:
        return [], 0.0
    use = [outcome, *numeric] + ([treatment] if treatment else [])
    sub = df[use]
    numeric_block = all(
        pd.api.types.is_numeric_dtype(sub[c]) or pd.api.types.is_bool_dtype(sub[c]) for c in use
    )
    # column by column only when a column needs parsing (a text treatment, say)
    block = (
        sub.astype(np.float64) if numeric_block else sub.apply(pd.to_numeric, errors="coerce")
    ).dropna()
    if len(block) > LEAKAGE_MAX_ROWS:
        block = block.sample(LEAKAGE_MAX_ROWS, random_state=seed)
    if len(block) < 4 * LEAKAGE_FOLDS:
        return [], 0.0
    X = block[numeric].to_numpy(dtype=np.float64)
    y = block[outcome].to_numpy(dtype=np.float64)
    groups: list[tuple[np.ndarray, np.ndarray]]
    if treatment:
        t = block[treatment].to_numpy(dtype=np.float64)
        levels = np.unique(t)
        if len(levels) == 2:
            groups = [(X[t == v], y[t == v]) for v in levels if (t == v).sum() >= 2 * LEAKAGE_FOLDS]
        else:
            X = np.column_stack([X, t])
            groups = [(X, y)]
    else:
        groups = [(X, y)]
    if not groups:
        return [], 0.0
    k = len(numeric)
    full = _fold_r2(groups, list(range(X.shape[1])), seed)
    if full < LEAKAGE_R2:
        return [], full
    chosen: list[int] = []
    base = [X.shape[1] - 1] if X.shape[1] > k else []  # a continuous treatment stays in
    r2 = 0.0
    while len(chosen) < LEAKAGE_MAX_SET:
        best, best_r2 = -1, -np.inf
        for j in range(k):
            if j in chosen:
                continue
            v = _fold_r2(groups, [*base, *chosen, j], seed)
            if v > best_r2:
                best, best_r2 = j, v
        if best < 0:
            break
        chosen.append(best)
        r2 = best_r2
        if r2 >= LEAKAGE_R2:
            break
    return [numeric[j] for j in chosen], (r2 if r2 >= LEAKAGE_R2 else full)


__all__ = [
    "INSTRUMENT_CORR",
    "LEAKAGE_R2",
    "MAX_DROPPED_SHARE",
    "instrument_like_columns",
    "leakage_columns",
    "missing_value_columns",
    "name_years",
    "post_treatment_columns",
    "time_varying_columns",
    "treatment_function_columns",
]
