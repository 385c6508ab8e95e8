"""The CATE contract: unit-level effects of a fitted estimator, and their summary.

An estimator of the ``cate`` family keeps a :class:`UnitEffects` in its
:class:`~cqox.core.estimate.Estimate` (``unit_effects``).  ``est.effects()`` returns
the effects of the fitted rows, each predicted without its own row (out-of-bag for
the forest, cross-fitted for the meta-learners); ``est.effects(new_df)`` rebuilds
the covariate design of ``new_df`` as the fit built it and predicts.  Intervals are
pointwise Wald intervals ``τ̂(x) ± z·se(x)`` where the method has a standard error
(causal forest; DR- and R-learner with a linear final stage), missing elsewhere.

The JSON form of an estimate never carries ``n`` rows: :func:`cate_summary` gives the
distribution of ``τ̂`` (mean, SD, quantiles) and the share of rows whose interval
excludes zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.roles import Roles
from cqox.data.formula import design_from_columns, design_from_formula
from cqox.data.prepare import check_table
from cqox.errors import RoleError, column_not_found

#: ``predict(X_new) -> (cate, se)``, shapes (m,) each (``se`` NaN where unavailable).
Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: Quantiles of τ̂ reported in the JSON summary.
SUMMARY_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def wald_table(cate: np.ndarray, se: np.ndarray, level: float, index: Any = None) -> pd.DataFrame:
    """``cate``, ``se``, ``ci_lower``, ``ci_upper`` with ``ci = cate ± z_{1−α/2}·se``."""
    z = float(special.ndtri(0.5 + level / 2))
    return pd.DataFrame(
        {"cate": cate, "se": se, "ci_lower": cate - z * se, "ci_upper": cate + z * se},
        index=index,
    )


def covariate_matrix(df: pd.DataFrame, roles: Roles, names: list[str]) -> np.ndarray:
    """The covariate design of ``df`` in the column order ``names`` of a fit, shape (m, p).

    Numeric covariates must be present and complete; indicator columns of a text
    covariate whose level does not occur in ``df`` are zero.  A formula is re-applied
    to ``df`` (stateless transforms only: a centring term would use ``df``'s mean).
    """
    df = check_table(df)
    columns = [str(c) for c in df.columns]
    formula = roles.covariate_formula
    cov = list(roles.covariates or ()) if formula is None else None
    if cov is not None:
        for col in cov:
            if col not in columns:
                raise column_not_found("covariates", col, columns)
        missing = [c for c in cov if df[c].isna().any()]
        if missing:
            raise RoleError(
                f"role 'covariates': column '{missing[0]}' has missing values in the "
                "prediction table; CATE predictions need complete covariates",
                details={"role": "covariates", "column": missing[0]},
            )
        design = design_from_columns(cov, df)
    else:
        assert formula is not None
        design = design_from_formula(formula, df)
    have = {name: j for j, name in enumerate(design.names)}
    X = np.zeros((len(df), len(names)))
    for k, name in enumerate(names):
        if name in have:
            X[:, k] = design.X[:, have[name]]
        elif "[" not in name:
            raise column_not_found("covariates", name, columns)
    if not np.isfinite(X).all():
        raise RoleError(
            "role 'covariates': the prediction table has missing or infinite covariate "
            "values; CATE predictions need complete covariates",
            details={"role": "covariates"},
        )
    return X


@dataclass(frozen=True)
class UnitEffects:
    """Unit-level effects of one fit (the ``unit_effects`` of an Estimate).

    Attributes
    ----------
    cate, se : ndarray, shape (n,)
        Out-of-bag / cross-fitted τ̂(x_i) of the fitted rows and its standard error
        (NaN where the method gives none).
    row_index : ndarray, shape (n,)
        Positions of the fitted rows in the caller's table (the index of the table).
    level : float
        Confidence level of the intervals.
    roles : Roles
        The roles of the fit (to rebuild the covariate design of a new table).
    covariate_names : list of str
        Columns of the fitted design matrix.
    predict : callable
        ``predict(X_new) -> (cate, se)`` from the model fitted on all rows.
    x_quantiles : ndarray, shape (3, p)
        5%, 50% and 95% quantiles of each covariate of the fitted rows (the ranges
        and the "others at their medians" of the CATE landscape figures).
    """

    cate: np.ndarray
    se: np.ndarray
    row_index: np.ndarray
    level: float
    roles: Roles
    covariate_names: list[str]
    predict: Predictor
    x_quantiles: np.ndarray | None = None

    def table(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Effects of the fitted rows (``df=None``) or predictions for the rows of ``df``."""
        if df is None:
            return wald_table(self.cate, self.se, self.level, self.row_index)
        X = covariate_matrix(df, self.roles, self.covariate_names)
        cate, se = self.predict(X)
        return wald_table(cate, se, self.level, df.index)

    def grid(self, a: int, b: int, size: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """τ̂ on a ``size × size`` grid of covariates ``a`` and ``b`` (5%–95%), others at medians.

        Returns ``(xa, xb, tau)`` with shapes ``(size,)``, ``(size,)``, ``(size, size)``
        (``tau[i, j]`` at ``xb[i]``, ``xa[j]``).
        """
        assert self.x_quantiles is not None
        q = self.x_quantiles
        xa = np.linspace(q[0, a], q[2, a], size)
        xb = np.linspace(q[0, b], q[2, b], size)
        A, B = np.meshgrid(xa, xb)
        X = np.tile(q[1], (size * size, 1))
        X[:, a], X[:, b] = A.ravel(), B.ravel()
        tau, _ = self.predict(X)
        return xa, xb, tau.reshape(size, size)

    def predict_matrix(self, X: np.ndarray) -> pd.DataFrame:
        """Predictions at covariate values already in the fitted design's column order."""
        cate, se = self.predict(np.asarray(X, dtype=np.float64))
        return wald_table(cate, se, self.level)


def cate_summary(cate: np.ndarray, se: np.ndarray, level: float) -> dict[str, Any]:
    """Compact description of τ̂ over the fitted rows (the JSON never holds n rows).

    Mean, standard deviation, the :data:`SUMMARY_QUANTILES`, and — where pointwise
    standard errors exist — the median SE and the shares of rows whose interval lies
    wholly above or below zero.
    """
    out: dict[str, Any] = {
        "n": len(cate),
        "mean": float(np.mean(cate)),
        "sd": float(np.std(cate, ddof=1)) if len(cate) > 1 else float("nan"),
        "quantiles": {
            f"q{round(100 * q):02d}": float(v)
            for q, v in zip(SUMMARY_QUANTILES, np.quantile(cate, SUMMARY_QUANTILES), strict=True)
        },
    }
    if np.isfinite(se).any():
        z = float(special.ndtri(0.5 + level / 2))
        ok = np.isfinite(se)
        out["median_se"] = float(np.median(se[ok]))
        out["share_ci_above_zero"] = float(np.mean(cate[ok] - z * se[ok] > 0))
        out["share_ci_below_zero"] = float(np.mean(cate[ok] + z * se[ok] < 0))
    return out
