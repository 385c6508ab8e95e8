"""Time-varying treatment benchmarks: ``msm_iptw`` and ``gformula`` against hand twins.

:func:`timevarying_design` is :func:`cqox.simulate.timevarying.time_varying_feedback`
(treatment–confounder feedback, 4 periods, ``always_vs_never`` = 4.4).  No Python
package fits either estimator on a long panel (zEpid's g-formula classes target other
set-ups and pin an old pandas; R's ``ipw`` and ``gfoRmula`` are R), so each is timed
against the twin of ``tests/reference/test_timevarying_vs_twin.py``, written from
*Causal Inference: What If* ch. 12 and 21:

- ``msm_iptw``: pooled logistic numerator and denominator models (statsmodels ``GLM``),
  stabilised weights as the product over periods, the cumulative-treatment MSM by
  ``WLS`` with ``HC0`` (the book's GEE with weights as known) — the same numbers as
  ``msm_iptw``'s default ``robust`` SE;
- ``gformula``: with linear models the g-formula has a closed form (each ``L_t``'s mean
  under a regime follows the fitted linear recursion; ``E[Y(ā)]`` is the outcome model at
  those means), fitted by statsmodels ``OLS``, with the same number of unit bootstrap
  replicates as ``gformula``'s default (its interval is a bootstrap too; CQOx simulates
  one history per unit instead of using the closed form, which holds only for linear
  models).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.datagen import Design
from benchmarks.harness import Case, Result

TIME_VARYING = ("msm_iptw", "gformula")
PERIODS = 4


def timevarying_design(n: int = 10_000, seed: int = 0) -> Design:
    """:func:`cqox.simulate.timevarying.time_varying_feedback` as a benchmark design."""
    from cqox.simulate.timevarying import time_varying_feedback

    df, truth = time_varying_feedback(n=n, periods=PERIODS, seed=seed)
    return Design(
        "time_varying",
        df,
        {"outcome": "y", "treatment": "a", "unit": "id", "time": "time", "covariates": ["l", "v"]},
        {"always_vs_never": truth["always_vs_never"]},
        notes=f"{n} units × {PERIODS} periods, treatment–confounder feedback; always vs "
        f"never {truth['always_vs_never']:.1f}",
    )


def _arrays(d: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    f = d.frame.sort_values(["id", "time"])
    n, K = f["id"].nunique(), f["time"].nunique()
    A = f["a"].to_numpy(float).reshape(n, K)
    L = f["l"].to_numpy(float).reshape(n, K)
    v = f["v"].to_numpy(float).reshape(n, K)[:, 0]
    y = f.groupby("id")["y"].last().to_numpy(float)
    return A, L, v, y


def _msm_twin(d: Design) -> Callable[[], Result]:
    import statsmodels.api as sm

    def run() -> Result:
        A, L, v, y = _arrays(d)
        n, K = A.shape
        prev = np.column_stack([np.zeros(n), A[:, :-1]]).ravel()
        dummies = np.tile(np.eye(K)[:, 1:], (n, 1))
        one = np.ones(n * K)
        Xn = np.column_stack([one, prev, dummies])
        Xd = np.column_stack([one, L.ravel(), np.repeat(v, K), prev, dummies])
        a = A.ravel()
        binom = sm.families.Binomial()
        pn = sm.GLM(a, Xn, family=binom).fit().fittedvalues
        pd_ = sm.GLM(a, Xd, family=binom).fit().fittedvalues
        ratio = np.where(a == 1, pn / pd_, (1 - pn) / (1 - pd_))
        sw = ratio.reshape(n, K).prod(axis=1)
        B = np.column_stack([np.ones(n), A.sum(axis=1)])
        wls = sm.WLS(y, B, weights=sw).fit(cov_type="HC0")
        est, se = K * float(wls.params[1]), K * float(wls.bse[1])
        return {"estimate": est, "se": se, "ci": [est - 1.959964 * se, est + 1.959964 * se]}

    return run


#: Bootstrap replicates of the g-formula twin: ``gformula``'s default ``n_boot``.
N_BOOT = 200


def _gformula_closed_form(A: np.ndarray, L: np.ndarray, v: np.ndarray, y: np.ndarray) -> float:
    """``E[Y(always)] − E[Y(never)]`` of the linear g-formula, by statsmodels OLS fits."""
    import statsmodels.api as sm

    K = A.shape[1]
    cov = [
        sm.OLS(L[:, t], sm.add_constant(np.column_stack([L[:, t - 1], v, A[:, t - 1]]))).fit()
        for t in range(1, K)
    ]
    p = sm.OLS(y, sm.add_constant(np.column_stack([A, L, v]))).fit().params
    regime = {}
    for a in (0.0, 1.0):
        m, means = float(L[:, 0].mean()), [float(L[:, 0].mean())]
        for t in range(1, K):
            c = cov[t - 1].params
            m = c[0] + c[1] * m + c[2] * v.mean() + c[3] * a
            means.append(m)
        head = p[0] + p[1 : K + 1].sum() * a
        regime[a] = head + p[K + 1 : 2 * K + 1] @ means + p[-1] * v.mean()
    return float(regime[1.0] - regime[0.0])


def _gformula_twin(d: Design) -> Callable[[], Result]:
    def run() -> Result:
        A, L, v, y = _arrays(d)
        est = _gformula_closed_form(A, L, v, y)
        rng = np.random.default_rng(0)
        n = len(y)
        boot = np.empty(N_BOOT)
        for b in range(N_BOOT):
            i = rng.integers(0, n, n)
            boot[b] = _gformula_closed_form(A[i], L[i], v[i], y[i])
        lo, hi = np.quantile(boot, [0.025, 0.975])
        return {"estimate": est, "se": float(boot.std(ddof=1)), "ci": [float(lo), float(hi)]}

    return run


def timevarying_cases(d: Design, quick: bool) -> list[Case]:
    """``always_vs_never`` by each time-varying estimator and by its hand twin."""
    from benchmarks.cases import _cqox, cqox_available, has

    twins = {"msm_iptw": _msm_twin, "gformula": _gformula_twin}
    notes = {
        "msm_iptw": "What If ch. 12 recipe: GLM pooled logits, product weights, WLS HC0",
        "gformula": f"closed-form linear g-formula over statsmodels OLS, {N_BOOT} bootstraps",
    }
    out: list[Case] = []
    for name in TIME_VARYING:
        if not cqox_available(name):
            continue
        out.append(Case(name, "cqox", d.name, "always_vs_never", _cqox(name, d), group=name))
        if has("statsmodels"):
            out.append(
                Case(
                    name,
                    "hand twin (statsmodels)",
                    d.name,
                    "always_vs_never",
                    twins[name](d),
                    note=notes[name],
                    group=name,
                )
            )
    return out
