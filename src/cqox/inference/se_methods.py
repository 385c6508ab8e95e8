"""The variance choices of every estimator, in one table looked up by name.

Every estimator calls its variance choice ``se_method``; its values are names from
:data:`SE_METHODS`, so a value means the same thing wherever it appears (as
linearmodels' ``COVARIANCE_ESTIMATORS`` maps a ``cov_type`` name to one estimator).
Which values an estimator offers, and its default, it declares with
:func:`cqox.estimators.common.se_method_param`.
"""

from __future__ import annotations

#: value of ``se_method`` → what it computes.
SE_METHODS: dict[str, str] = {
    "auto": "chosen from the data and the other parameters (see the estimator)",
    "analytic": "analytic variance of the estimator's influence function (delta method)",
    "bootstrap": "bootstrap over units (multiplier bootstrap of the influence function "
    "where the estimator says so)",
    "fixed_sets": "bootstrap with the matched sets and weights held fixed (PanelMatch)",
    "ai2006": "Abadie–Imbens (2006) matching variance",
    "ai2016": "Abadie–Imbens (2016) matching variance, adjusted for the estimated propensity",
    "unadjusted": "homoskedastic (classical) covariance",
    "robust": "heteroskedasticity-robust sandwich covariance (HC0)",
    "conley": "Conley (1999) spatial-HAC covariance over great-circle distance within "
    "conley_cutoff_km of the lat/lon roles (uniform or Bartlett kernel, no small-sample factor)",
    "clustered": "cluster-robust sandwich covariance over the cluster role",
    "hc0": "heteroskedasticity-robust plug-in residuals, HC0",
    "hc1": "heteroskedasticity-robust plug-in residuals, HC1 (n/(n − k))",
    "hc2": "heteroskedasticity-robust plug-in residuals, HC2 (leverage-adjusted)",
    "hc3": "heteroskedasticity-robust plug-in residuals, HC3 (jackknife-like)",
    "nn": "nearest-neighbour residual variance (Calonico, Cattaneo & Titiunik 2014)",
    "ewc": "equal-weighted cosine long-run variance with fixed-b t critical values "
    "(Lazarus, Lewis, Stock & Watson 2018)",
    "fixed_b": "Newey–West long-run variance with fixed-b critical values (Kiefer & "
    "Vogelsang 2005)",
    "normal": "Newey–West long-run variance with normal critical values (statsmodels HAC)",
    "split_variance": "repeated cross-fitting: median of σ̂²_s + (θ̂_s − θ̂)² over splits "
    "(Chernozhukov et al. 2018, §3.4)",
    "median_ci": "repeated cross-fitting: median standard error over splits (DoubleML's rule)",
    "conformal": "conformal inference by permutation of time (Chernozhukov, Wüthrich & Zhu 2021)",
    "placebo": "in-space placebo quantiles (Abadie, Diamond & Hainmueller 2010)",
}


def describe_se_methods(choices: tuple[str, ...]) -> str:
    """``'name' (meaning); ...`` for the given values, for parameter docs and errors."""
    return "; ".join(f"'{c}': {SE_METHODS[c]}" for c in choices)
