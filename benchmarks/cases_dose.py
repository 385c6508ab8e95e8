"""Dose-response and multi-valued benchmark cases: CQOx and the Python peers on the same data.

Estimand ``E[Y(1)]``, the curve at dose 1, on two designs of ``cqox.simulate.dose``:

- ``dose_polynomial`` (``μ(a) = 1 + 2a − 0.5a²``; the outcome is partially linear in
  ``(a, a²)``): ``dose_msm``, ``dose_kernel_dr`` and ``dose_dml`` (its outcome learner
  linear, as the peers').  Peers: the *What If* book's statsmodels recipe for the MSM
  (OLS densities, ``scipy.stats.norm.pdf`` weights, WLS with HC0 treating the weights as
  known); EconML ``LinearDML`` with a ``PolynomialFeatures(2)`` treatment featurizer and
  DoubleML ``DoubleMLPLR`` with the two treatments ``a`` and ``a²`` — both fit the
  partially linear model ``Y = θ₁a + θ₂a² + g(X) + ε`` (correct on this design, a
  parametric curve where CQOx's kernel estimators are nonparametric), and
  ``E[Y(1)] = Ȳ + θ̂'(φ(1) − mean φ(A))``.  EconML and DoubleML have no estimator of
  ``E[Y(a)]`` itself for a continuous treatment, so this is their closest route.
- ``hirano_imbens`` (the GPS outcome model is exact): ``dose_gps`` against Hirano &
  Imbens' three steps by hand with statsmodels (SE by a 200-replicate bootstrap, as
  they do) and causal-curve's ``GPS_Regressor`` (normal GPS, GAM outcome model; its
  ``point_estimate`` fails on NumPy 2 — a ragged array — so the per-dose routine it
  maps over the doses, ``_create_point_estimate``, is called directly).  causal-curve's
  TMLE is not run: 11 s of CPU at n = 2000 on this machine.

Multi-valued: ``multivalued`` (AIPW, three levels) against statsmodels' ``MNLogit`` +
arm-wise OLS done by hand (point estimate only).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

import cqox
from benchmarks.cases import has
from benchmarks.datagen import Design
from benchmarks.harness import Case, Result
from cqox.estimators import registry

#: Bootstrap replicates of the hand-written Hirano–Imbens recipe (their SE).
HI_BOOT = 200


def dose_design(kind: str, n: int, seed: int) -> Design:
    """``dose_polynomial`` (MSM-correct) or ``hirano_imbens`` (GPS-correct) as a Design."""
    from cqox.simulate.dose import dose_polynomial, hirano_imbens_normal

    sim = dose_polynomial if kind == "dose_polynomial" else hirano_imbens_normal
    df, truth = sim(n=n, seed=seed)
    return Design(
        kind,
        df,
        {"outcome": "y", "dose": "a", "covariates": ["x1", "x2"]},
        {"E[Y(1)]": float(truth["curve"](1.0))},
        notes=f"cqox.simulate.dose.{sim.__name__}(n={n}); estimand the curve at dose 1",
    )


def multivalued_design(n: int, seed: int) -> Design:
    """``cqox.simulate.multivalued`` as a Design (ATE of level 1 against level 0)."""
    df, truth = cqox.simulate.multivalued(n=n, seed=seed)
    return Design(
        "multivalued",
        df,
        {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]},
        {"ATE": float(truth["ATE"][1])},
        notes=f"cqox.simulate.multivalued(n={n}); level 1 against level 0",
    )


#: CQOx's dose-response estimators on each design (the one each is correct on).
DOSE_METHODS = {
    "dose_polynomial": ("dose_msm", "dose_kernel_dr", "dose_dml"),
    "hirano_imbens": ("dose_gps",),
}
#: Parameters of the timed CQOx runs: dose_dml with the design's (linear) outcome model,
#: the peers' nuisance class.
DOSE_PARAMS: dict[str, dict[str, Any]] = {"dose_dml": {"outcome_learner": "linear"}}
#: Cross-fitting folds of the DML runs (CQOx's dose_dml default).
DOSE_FOLDS = 5
#: Timed runs of the millisecond cases (dose_msm and the What If recipe, interleaved):
#: a median of 3 wall times of a ~3 ms run moves by more than the difference between them
#: on a loaded machine; 21 cost a tenth of a second.
SMALL_CASE_REPEATS = 21


def _curve_at_one(name: str, d: Design) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(name, d.frame, outcome="y", dose="a", covariates=["x1", "x2"],
                            seed=0, **DOSE_PARAMS.get(name, {}))  # fmt: skip
    row = est.curve([1.0]).iloc[0]
    return {"estimate": float(row["estimate"]), "se": float(row["se"]),
            "ci": [float(row["ci_lower"]), float(row["ci_upper"])]}  # fmt: skip


def _econml_poly(y: np.ndarray, a: np.ndarray, W: np.ndarray) -> Result:
    """EconML ``LinearDML``, treatment featurizer ``(a, a²)``: ``Ȳ + mean_i effect(A_i → 1)``."""
    from econml.dml import LinearDML
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import PolynomialFeatures

    est = LinearDML(model_y=LinearRegression(), model_t=LinearRegression(),
                    treatment_featurizer=PolynomialFeatures(degree=2, include_bias=False),
                    cv=DOSE_FOLDS, random_state=0)  # fmt: skip
    est.fit(y, a.reshape(-1, 1), X=None, W=W)
    effect = est.effect(T0=a.reshape(-1, 1), T1=np.ones((len(a), 1)))
    return {"estimate": float(np.mean(y) + np.mean(effect))}


def _doubleml_poly(y: np.ndarray, a: np.ndarray, W: np.ndarray) -> Result:
    """DoubleML ``DoubleMLPLR`` with the treatments ``a`` and ``a²``: ``Ȳ + θ̂'(φ(1) − φ̄)``."""
    import doubleml
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"y": y, "a": a, "a2": a * a, "x1": W[:, 0], "x2": W[:, 1]})
    data = doubleml.DoubleMLData(frame, "y", ["a", "a2"], ["x1", "x2"])
    model = doubleml.DoubleMLPLR(data, LinearRegression(), LinearRegression(),
                                 n_folds=DOSE_FOLDS)  # fmt: skip
    model.fit()
    theta = np.asarray(model.coef)
    shift = np.array([1.0 - a.mean(), 1.0 - np.mean(a * a)])
    return {"estimate": float(np.mean(y) + theta @ shift)}


def _causal_curve_gps(y: np.ndarray, a: np.ndarray, W: np.ndarray) -> Result:
    """causal-curve ``GPS_Regressor`` (normal GPS, GAM in the dose and the GPS) at dose 1."""
    import pandas as pd
    from causal_curve import GPS_Regressor

    model = GPS_Regressor(gps_family="normal", verbose=False)
    model.fit(T=pd.Series(a), X=pd.DataFrame(W), y=pd.Series(y))
    # point_estimate maps this over the doses; on NumPy 2 the map fails (ragged array)
    return {"estimate": float(np.asarray(model._create_point_estimate(1.0)).ravel()[0])}


def dose_cases(d: Design, quick: bool) -> list[Case]:
    """Each dose-response estimator of the design against the Python peers on the same data."""
    df = d.frame
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    W = df[["x1", "x2"]].to_numpy()
    Z = np.column_stack([np.ones(len(df)), W])
    cases: list[Case] = []
    notes = {
        "dose_msm": "analytic stacked M-estimation SE; + uniform band and optimum (2000 draws)",
        "dose_gps": "analytic stacked M-estimation SE; + uniform band and optimum (2000 draws)",
        "dose_kernel_dr": "local linear, leave-one-out bandwidth; Theorem 3 SE, band, optimum",
        "dose_dml": f"linear outcome learner, {DOSE_FOLDS} folds; IF SE, band, optimum",
    }
    for name in DOSE_METHODS[d.name]:
        if name not in registry.all_estimators():
            continue
        cases.append(Case(name, "cqox", d.name, "E[Y(1)]",
                          lambda name=name: _curve_at_one(name, d), note=notes[name],
                          repeats=SMALL_CASE_REPEATS if name == "dose_msm" else 3))  # fmt: skip
        if name == "dose_gps":
            if has("causal_curve"):
                cases.append(Case(name, "causal-curve GPS_Regressor", d.name, "E[Y(1)]",
                                  lambda: _causal_curve_gps(y, a, W),
                                  note="normal GPS, GAM outcome model; no interval"))  # fmt: skip
            continue
        if has("econml"):
            cases.append(Case(name, "econml LinearDML (poly featurizer)", d.name, "E[Y(1)]",
                              lambda: _econml_poly(y, a, W),
                              note="partially linear in (a, a²), OLS nuisances; level by "
                              "Ȳ + mean effect"))  # fmt: skip
        if has("doubleml"):
            cases.append(Case(name, "doubleml PLR (a, a²)", d.name, "E[Y(1)]",
                              lambda: _doubleml_poly(y, a, W),
                              note="partially linear in (a, a²), OLS nuisances"))  # fmt: skip
    if not has("statsmodels"):
        return cases
    import statsmodels.api as sm

    def msm_recipe() -> Result:
        den = sm.OLS(a, Z).fit()
        num = sm.OLS(a, np.ones((len(a), 1))).fit()
        sw = stats.norm.pdf(a, num.fittedvalues, np.sqrt(num.scale)) / stats.norm.pdf(
            a, den.fittedvalues, np.sqrt(den.scale)
        )
        B = np.column_stack([np.ones(len(a)), a, a * a])
        fit = sm.WLS(y, B, weights=sw).fit(cov_type="HC0")
        b1 = np.array([1.0, 1.0, 1.0])
        se = float(np.sqrt(b1 @ fit.cov_params() @ b1))
        return {"estimate": float(b1 @ fit.params), "se": se}

    def hi_once(idx: np.ndarray) -> float:
        den = sm.OLS(a[idx], Z[idx]).fit()
        sd = np.sqrt(den.scale)
        r = stats.norm.pdf(a[idx], den.fittedvalues, sd)
        V = np.column_stack([np.ones(len(idx)), a[idx], a[idx] ** 2, r, r * r, a[idx] * r])
        alpha = sm.OLS(y[idx], V).fit().params
        r1 = stats.norm.pdf(1.0, Z[idx] @ den.params, sd)
        V1 = np.column_stack([np.ones(len(idx)), np.ones(len(idx)), np.ones(len(idx)), r1,
                              r1 * r1, r1])  # fmt: skip
        return float(np.mean(V1 @ alpha))

    def hi_recipe() -> Result:
        rng = np.random.default_rng(0)
        n = len(y)
        boot = [hi_once(rng.integers(0, n, n)) for _ in range(HI_BOOT)]
        return {"estimate": hi_once(np.arange(n)), "se": float(np.std(boot, ddof=1))}

    if d.name == "dose_polynomial":
        cases.append(Case("dose_msm", "statsmodels (What If recipe)", d.name, "E[Y(1)]",
                          msm_recipe, note="weights as known, HC0",
                          repeats=SMALL_CASE_REPEATS))  # fmt: skip
    else:
        cases.append(Case("dose_gps", "statsmodels (Hirano–Imbens recipe)", d.name, "E[Y(1)]",
                          hi_recipe, note=f"bootstrap SE, {HI_BOOT} replicates"))  # fmt: skip
    return cases


def multivalued_cases(d: Design, quick: bool) -> list[Case]:
    """``multivalued`` AIPW against MNLogit + arm-wise OLS by hand (statsmodels)."""
    df = d.frame
    cases: list[Case] = []
    if "multivalued" in registry.all_estimators():

        def run() -> Result:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = cqox.estimate("multivalued", df, outcome="y", treatment="t",
                                  covariates=["x1", "x2"])  # fmt: skip
            return {"estimate": e.estimate, "se": e.se, "ci": list(e.ci)}

        cases.append(Case("multivalued", "cqox", d.name, "ATE", run,
                          repeats=SMALL_CASE_REPEATS, note="AIPW, M-estimation SE"))  # fmt: skip
    if has("statsmodels"):
        import statsmodels.api as sm

        y, t = df["y"].to_numpy(), df["t"].to_numpy().astype(int)
        Z = np.column_stack([np.ones(len(df)), df[["x1", "x2"]].to_numpy()])

        def by_hand() -> Result:
            p = np.asarray(sm.MNLogit(t, Z).fit(disp=False).predict(Z))
            mu: list[float] = []
            for j in (0, 1):
                m = Z @ sm.OLS(y[t == j], Z[t == j]).fit().params
                mu.append(float(np.mean(m + (t == j) * (y - m) / p[:, j])))
            out: dict[str, Any] = {"estimate": mu[1] - mu[0]}
            return out

        cases.append(Case("multivalued", "statsmodels (MNLogit + OLS by hand)", d.name, "ATE",
                          by_hand, repeats=SMALL_CASE_REPEATS,
                          note="AIPW point estimate, no SE"))  # fmt: skip
    return cases
