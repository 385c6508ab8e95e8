"""Dose-response and multi-valued benchmark cases: CQOx and the Python recipe they replace.

No Python library fits a stabilised-weight MSM for a continuous dose or Hirano & Imbens'
GPS curve (EconML's and DoubleML's continuous-treatment estimators target a constant
marginal effect, a different estimand), so the peer rows are the recipes an analyst
writes by hand with statsmodels — the *What If* book's Python code for the MSM
(OLS densities, ``scipy.stats.norm.pdf`` weights, WLS with robust SEs treating the
weights as known) and Hirano & Imbens' three steps for the GPS (SE by a 200-replicate
bootstrap, as they do).  Estimand: ``E[Y(1)]``, the curve at dose 1.  Multi-valued:
``multivalued`` (AIPW, three levels) against statsmodels' ``MNLogit`` + arm-wise OLS
done by hand (point estimate only).
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


def _curve_at_one(name: str, d: Design) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(name, d.frame, outcome="y", dose="a", covariates=["x1", "x2"], seed=0)
    row = est.curve([1.0]).iloc[0]
    return {"estimate": float(row["estimate"]), "se": float(row["se"]),
            "ci": [float(row["ci_lower"]), float(row["ci_upper"])]}  # fmt: skip


def dose_cases(d: Design, quick: bool) -> list[Case]:
    """``dose_msm`` or ``dose_gps`` against the statsmodels recipe on its design."""
    df = d.frame
    y, a = df["y"].to_numpy(), df["a"].to_numpy()
    Z = np.column_stack([np.ones(len(df)), df[["x1", "x2"]].to_numpy()])
    name = "dose_msm" if d.name == "dose_polynomial" else "dose_gps"
    cases: list[Case] = []
    if name in registry.all_estimators():
        cases.append(Case(name, "cqox", d.name, "E[Y(1)]", lambda: _curve_at_one(name, d),
                          note="analytic stacked M-estimation SE; + uniform band and optimum "
                          "(2000 draws)"))  # fmt: skip
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
        W = np.column_stack([np.ones(len(idx)), a[idx], a[idx] ** 2, r, r * r, a[idx] * r])
        alpha = sm.OLS(y[idx], W).fit().params
        r1 = stats.norm.pdf(1.0, Z[idx] @ den.params, sd)
        W1 = np.column_stack([np.ones(len(idx)), np.ones(len(idx)), np.ones(len(idx)), r1,
                              r1 * r1, r1])  # fmt: skip
        return float(np.mean(W1 @ alpha))

    def hi_recipe() -> Result:
        rng = np.random.default_rng(0)
        n = len(y)
        boot = [hi_once(rng.integers(0, n, n)) for _ in range(HI_BOOT)]
        return {"estimate": hi_once(np.arange(n)), "se": float(np.std(boot, ddof=1))}

    if name == "dose_msm":
        cases.append(Case(name, "statsmodels (What If recipe)", d.name, "E[Y(1)]", msm_recipe,
                          note="weights as known, HC0"))  # fmt: skip
    else:
        cases.append(Case(name, "statsmodels (Hirano–Imbens recipe)", d.name, "E[Y(1)]",
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
                          note="AIPW, M-estimation SE"))  # fmt: skip
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
                          by_hand, note="AIPW point estimate, no SE"))  # fmt: skip
    return cases
