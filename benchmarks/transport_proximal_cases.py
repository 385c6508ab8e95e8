"""Transport and proximal benchmarks.

- :func:`transport_design` (:func:`cqox.simulate.transport.nested_trial`): a trial nested
  in a target sample; ``transport_om``, ``transport_iosw`` and ``transport_dr`` for the
  TATE.  No Python package transports a trial's effect, so each is timed against its
  hand twin: the estimator's formula (Dahabreh et al. 2020) over statsmodels fits
  (logits of ``S`` on every row and of ``A`` in the trial, least squares by trial arm),
  point estimate only.
- :func:`proximal_design` (:func:`cqox.simulate.proximal.proximal_bridges`, ATE 2):
  ``proximal_2sls`` against linearmodels' ``IV2SLS`` (``W`` instrumented by ``Z``, robust
  covariance), which computes proximal 2SLS's closed form, and ``proximal_dr`` against
  its hand-written twin of ``tests/reference/test_proximal_vs_peers.py``: the stacked
  estimating equations of both bridges and ψ (Cui et al. 2023) solved by delicatessen's
  ``MEstimator``, with its numerical sandwich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.datagen import Design
from benchmarks.harness import SMALL_CASE_REPEATS, Case, Result

TRANSPORT = ("transport_om", "transport_iosw", "transport_dr")
PROXIMAL = ("proximal_2sls", "proximal_dr")


def transport_design(n: int = 10_000, seed: int = 0) -> Design:
    """:func:`cqox.simulate.transport.nested_trial` as a benchmark design."""
    from cqox.simulate.transport import nested_trial

    df, truth = nested_trial(n=n, kappa=0.5, seed=seed)
    return Design(
        "transport",
        df,
        {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]},
        {"TATE": truth["TATE"]},
        notes=f"{n} rows (≈ 31 % in the trial), effect modified by x1, x2; TATE "
        f"{truth['TATE']:.3f}",
    )


def proximal_design(n: int = 10_000, seed: int = 0) -> Design:
    """:func:`cqox.simulate.proximal.proximal_bridges` as a benchmark design."""
    from cqox.simulate.proximal import proximal_bridges

    df, truth = proximal_bridges(n=n, seed=seed)
    return Design(
        "proximal",
        df,
        {
            "outcome": "y",
            "treatment": "t",
            "treatment_proxy": "z",
            "outcome_proxy": "w",
            "covariates": ["x"],
        },
        {"ATE": truth["ATE"]},
        notes=f"{n} rows, unmeasured confounder with a treatment and an outcome proxy; ATE 2",
    )


def transport_cases(d: Design, quick: bool) -> list[Case]:
    """The TATE by each transport estimator and by its hand twin."""
    from benchmarks.cases import _cqox, cqox_available, has

    out: list[Case] = []
    for name in TRANSPORT:
        if not cqox_available(name):
            continue
        out.append(Case(name, "cqox", d.name, "TATE", _cqox(name, d, "TATE"), group="transport",
                        repeats=SMALL_CASE_REPEATS))  # fmt: skip
        if has("statsmodels"):
            out.append(
                Case(
                    name,
                    "hand twin (statsmodels)",
                    d.name,
                    "TATE",
                    _transport_twin(d, name),
                    note="the estimator's formula over statsmodels Logit/OLS fits; no SE",
                    group="transport",
                    repeats=SMALL_CASE_REPEATS,
                )
            )
    return out


def _transport_twin(d: Design, name: str) -> Callable[[], Result]:
    """The TATE of ``name`` by hand: statsmodels nuisance fits and the estimator's formula.

    ``ψ(a)``: ``mean_target ĝ_a(X)`` (om), ``Σ w_a Y / Σ w_a`` with
    ``w_a = S 1{A=a} (1 − p)/(p e_a)`` (iosw), their augmented sum (dr).
    """
    import numpy as np
    import statsmodels.api as sm

    df = d.frame
    covs = list(d.roles["covariates"])

    def run() -> Result:
        X = sm.add_constant(df[covs].to_numpy(float))
        s = df["s"].to_numpy(float)
        trial = s == 1
        p = sm.Logit(s, X).fit(disp=0).predict(X)
        a, y, Xt = df["t"].to_numpy(float)[trial], df["y"].to_numpy(float)[trial], X[trial]
        e1 = sm.Logit(a, Xt).fit(disp=0).predict(Xt)
        odds = ((1 - p) / p)[trial]
        psi = []
        for arm, e_a in ((1.0, e1), (0.0, 1 - e1)):
            ols = sm.OLS(y[a == arm], Xt[a == arm]).fit()
            om = float(np.mean(ols.predict(X[~trial])))
            w = (a == arm) * odds / e_a
            if name == "transport_om":
                psi.append(om)
            elif name == "transport_iosw":
                psi.append(float(w @ y / w.sum()))
            else:
                psi.append(om + float(w @ (y - ols.predict(Xt)) / w.sum()))
        return {"estimate": psi[0] - psi[1]}

    return run


def _iv2sls(d: Design) -> Callable[[], Result]:
    import pandas as pd
    from linearmodels.iv import IV2SLS

    df = d.frame
    exog = pd.concat([pd.Series(1.0, index=df.index, name="const"), df[["t", "x"]]], axis=1)

    def run() -> Result:
        res = IV2SLS(df["y"], exog, df[["w"]], df[["z"]]).fit(cov_type="robust", debiased=False)
        lo, hi = res.conf_int().loc["t"]
        return {"estimate": float(res.params["t"]), "se": float(res.std_errors["t"]),
                "ci": [float(lo), float(hi)]}  # fmt: skip

    return run


def delicatessen_proximal_dr(df: Any) -> Result:
    """``proximal_dr``'s estimating equations, stacked by hand and solved by delicatessen.

    Columns ``t``, ``y``, ``z`` (treatment proxy), ``w`` (outcome proxy), ``x``; the
    reference test (tests/reference/test_proximal_vs_peers.py) checks CQOx against it.
    """
    import numpy as np
    from delicatessen import MEstimator

    n = len(df)
    one = np.ones(n)
    a, y = df["t"].to_numpy(float), df["y"].to_numpy(float)
    G = np.column_stack([one, a, df["z"], df["x"]])
    D = np.column_stack([one, a, df["w"], df["x"]])
    B = np.column_stack([one, df["w"], df["x"]])
    sign = 2 * a - 1

    def psi(theta: np.ndarray) -> np.ndarray:
        b, t, mu = theta[:4], theta[4:8], theta[8]
        resid = y - D @ b
        q = 1 + np.exp(-sign * (G @ t))
        return np.vstack(
            [
                (G * resid[:, None]).T,
                ((sign * q)[:, None] * B).T,
                (q - 2)[None, :],
                (sign * q * resid + b[1] - mu)[None, :],
            ]
        )

    # start from the outcome bridge by 2SLS: the root finder needs a nearby start
    b0 = np.linalg.solve(G.T @ D, G.T @ y)
    est = MEstimator(psi, init=[*b0, 0.0, 0.0, 0.0, 0.0, float(b0[1])])
    est.estimate(solver="lm")
    lo, hi = est.confidence_intervals()[8]
    return {"estimate": float(est.theta[8]), "se": float(np.sqrt(est.variance[8, 8])),
            "ci": [float(lo), float(hi)]}  # fmt: skip


def _delicatessen_dr(d: Design) -> Callable[[], Result]:
    """The delicatessen twin of ``proximal_dr`` on the design's table."""
    return lambda: delicatessen_proximal_dr(d.frame)


def proximal_cases(d: Design, quick: bool) -> list[Case]:
    """The ATE by each proximal estimator, linearmodels' IV2SLS and the DR twin."""
    from benchmarks.cases import _cqox, cqox_available, has

    out: list[Any] = [
        Case(name, "cqox", d.name, "ATE", _cqox(name, d), group="proximal")
        for name in PROXIMAL
        if cqox_available(name)
    ]
    if has("linearmodels"):
        out.append(
            Case(
                "proximal_2sls",
                "linearmodels",
                d.name,
                "ATE",
                _iv2sls(d),
                note="IV2SLS, W instrumented by Z, robust",
                group="proximal",
            )
        )
    if has("delicatessen") and cqox_available("proximal_dr"):
        out.append(
            Case(
                "proximal_dr",
                "hand twin (delicatessen)",
                d.name,
                "ATE",
                _delicatessen_dr(d),
                note="stacked bridge and ψ equations by hand, MEstimator (lm), numerical sandwich",
                group="proximal",
            )
        )
    return out
