"""Refutation tests as gates of a backdoor analysis (the DoWhy refuters).

Each refuter changes the data in a way whose effect on a correct analysis is known,
re-estimates, and compares.  The refuted estimate is the linear-regression effect
(the coefficient of the treatment in an OLS of the outcome on ``[1, t, X]``, DoWhy's
``backdoor.linear_regression``): cheap enough to repeat, and the same for every
analysis.  Definitions follow DoWhy 0.14 (Sharma & Kiciman 2020, arXiv:2011.04216):

* **placebo treatment** (``placebo_type="permute"``): the treatment is permuted across
  rows; the placebo effects should be centred on 0.  Test: is 0 inside their
  distribution?
* **random common cause**: an independent N(0, 1) column is added to the covariates;
  the estimate should not move.  Test: is the original estimate inside the
  distribution of the re-estimates?
* **data subset** (``subset_fraction=0.8``): re-estimated on random 80% subsets
  (without replacement); same test.
* **dummy outcome**: the outcome is replaced by independent noise N(0, sd(y)); the
  effects should be centred on 0.  Test as for the placebo.
* **unobserved common cause** (simulated): DoWhy's ``add_unobserved_common_cause``
  with ``simulation_method="direct-simulation"``: a N(0, 1) confounder ``w`` flips a
  share ``kappa_t`` of a 0/1 treatment (``binary_flip``; ``t + kappa_t·w`` for another
  treatment, ``linear``) and shifts the outcome by ``−kappa_y·w`` (``linear``), with
  ``kappa_y = KAPPA_Y`` standard deviations of the outcome; the effect is re-estimated
  without ``w``.  The gate reports how far the estimate moves, and warns when it
  changes sign (a sensitivity statement, not a test).

The significance test is DoWhy's: with fewer than 100 simulations a normal test
(``z = (θ − mean)/sd`` of the simulations, one tail), otherwise the two-sided
percentile test.  A gate passes when ``p ≥ refute`` (the threshold of the ``refute_*``
gates, default 0.05).  Randomness comes from the analysis seed (one stream per
refuter); the draws differ from DoWhy's, so the reference tests compare within
Monte-Carlo error.

Rows above ``MAX_ROWS`` are subsampled once (seeded) before the refuters run, so the
gates cost a bounded number of small least-squares fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from cqox.compute.executor import current
from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.gate import Gate
from cqox.data.prepare import CausalData
from cqox.nuisance.ols import least_squares

#: Simulations per refuter (DoWhy's default is 100; 20 keep the gates cheap).
N_SIMS = 20
#: Rows used by the refuters (a seeded subsample above this).
MAX_ROWS = 20_000
#: Share of rows in each data subset (DoWhy's default).
SUBSET_FRACTION = 0.8
#: Strength of the simulated unobserved confounder: the share of a 0/1 treatment it flips
#: (the coefficient on a continuous one) and its effect on the outcome, in SDs of the
#: outcome per SD of the confounder (DoWhy's ``effect_strength_on_treatment`` and
#: ``effect_strength_on_outcome``, the latter scaled by sd(y)).
KAPPA_T = 0.1
KAPPA_Y = 0.1
#: Eigenvalues of ``Q_S'Q_S`` (in [0, 1]) below this are directions a data subset does
#: not span (:meth:`_Partial.subset_effect`).
SUBSET_RANK_TOLERANCE = 1e-10
#: Independent random streams of the refuters (offsets of the analysis seed).
_STREAM = {
    "placebo": 9101,
    "common_cause": 9102,
    "subset": 9103,
    "dummy": 9104,
    "unobserved": 9105,
    "rows": 9100,
}


def ols_effect(y: np.ndarray, t: np.ndarray, X: np.ndarray) -> float:
    """Coefficient of ``t`` in the OLS of ``y`` on ``[1, t, X]`` (least squares).

    Householder QR (:func:`cqox.nuisance.ols.least_squares`; the minimum-norm SVD
    solution when the design is rank deficient, as ``numpy.linalg.lstsq``).
    """
    Z = np.column_stack([np.ones(len(y)), t, X])
    beta, _ = least_squares(Z, y)
    return float(beta[1])


class _Partial:
    """Frisch–Waugh–Lovell: residuals on ``[1, X]`` from one QR, shared by the refuters.

    The OLS coefficient of ``t`` in ``y ~ 1 + t + X`` is ``(t̃·ỹ)/(t̃·t̃)`` with ``·̃`` the
    residuals on ``[1, X]``; a permuted treatment, a noise outcome or an added column
    then costs O(n p) instead of a new least-squares fit.
    """

    def __init__(self, X: np.ndarray) -> None:
        Z = np.empty((X.shape[0], X.shape[1] + 1), order="F")
        Z[:, 0] = 1.0
        Z[:, 1:] = X
        # LAPACK on a Fortran-ordered copy: half the time of numpy.linalg.qr's (which
        # transposes a C-ordered array first); the same Householder factorisation
        q, r = linalg.qr(Z, mode="economic", overwrite_a=True, check_finite=False)
        d = np.abs(np.diag(r))
        keep = d > max(Z.shape) * np.finfo(float).eps * (d.max() if d.size else 1.0)
        self.Q = q[:, keep]  # a basis of the column space (dependent columns dropped)

    def resid(self, v: np.ndarray) -> np.ndarray:
        """Residuals on ``[1, X]`` of a vector, or of each column of a matrix (one product)."""
        return np.asarray(v - self.Q @ (self.Q.T @ v))

    @staticmethod
    def effect(t_res: np.ndarray, y_res: np.ndarray) -> float:
        den = float(t_res @ t_res)
        return float(t_res @ y_res) / den if den > 0 else float("nan")

    @staticmethod
    def effects(t_res: np.ndarray, y_res: np.ndarray) -> np.ndarray:
        """:meth:`effect` of each column pair of ``t_res`` and ``y_res`` (shape (n, sims))."""
        den = np.einsum("ij,ij->j", t_res, t_res)
        num = np.einsum("ij,ij->j", t_res, y_res)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def subset_effect(self, t_res: np.ndarray, y_res: np.ndarray, left_out: np.ndarray) -> float:
        """The OLS coefficient of ``t`` on the rows outside ``left_out``, without a refit.

        ``t_res``, ``y_res`` are the residuals on ``[1, X]`` of all rows.  On the kept
        rows ``S`` the residual-maker is that of ``Q_S`` (the kept rows of the basis),
        and ``t`` and ``y`` differ from their full-data residuals by vectors of the
        column space of ``Q``, which it removes; so with ``C`` the left-out rows and
        ``M = Q_S'Q_S = I − Q_C'Q_C``, ``a = Q_S't̃_S = −Q_C't̃_C`` (``Q't̃ = 0``),

            t̃_S·ỹ_S = t̃·ỹ − t̃_C·ỹ_C − a'M⁺b,

        and likewise the denominator: O(|C| p²) per subset instead of a QR of the kept
        rows (FWL, as :meth:`effect`).  ``M⁺`` drops directions the kept rows do not
        span (eigenvalues of ``M`` lie in [0, 1]), where the QR would take the
        minimum-norm solution: the same coefficient of ``t``.
        """
        Qc = self.Q[left_out]
        tc, yc = t_res[left_out], y_res[left_out]
        lam, V = np.linalg.eigh(np.eye(Qc.shape[1]) - Qc.T @ Qc)
        keep = lam > SUBSET_RANK_TOLERANCE * max(float(lam.max(initial=0.0)), 1.0)
        # a'M⁺b for a, b in the eigenbasis of M, over the spanned directions
        a = (V.T @ (Qc.T @ tc))[keep]
        b = (V.T @ (Qc.T @ yc))[keep]
        inv = 1.0 / lam[keep]
        den = float(t_res @ t_res - tc @ tc - a @ (inv * a))
        num = float(t_res @ y_res - tc @ yc - a @ (inv * b))
        return num / den if den > 0 else float("nan")


def significance(value: float, sims: np.ndarray) -> float:
    """DoWhy's ``test_significance``: p-value of ``value`` under the simulations."""
    sims = np.asarray(sims, dtype=np.float64)
    if len(sims) >= 100:
        half = float(np.mean((sims > value) + 0.5 * (sims == value)))
        return 2 * min(half, 1 - half)
    sd = float(np.std(sims))
    mean = float(np.mean(sims))
    if sd == 0.0:
        return 1.0 if np.isclose(value, mean, rtol=1e-12, atol=0.0) else 0.0
    z = (value - mean) / sd
    # the normal tail as scipy.stats.norm.sf/cdf compute it (ndtr), without importing stats
    return float(special.ndtr(-z) if z > 0 else special.ndtr(z))


@dataclass(frozen=True)
class Refutation:
    """One refuter's result: the original estimate, the simulations and the p-value."""

    name: str
    estimate: float
    new_effect: float
    p_value: float
    sims: np.ndarray


def _simulate(n_sims: int, draw: Callable[[int], float]) -> np.ndarray:
    return np.array([draw(k) for k in range(n_sims)])


def refute_placebo(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    rng: np.random.Generator,
    n_sims: int = N_SIMS,
    *,
    est: float | None = None,
    part: _Partial | None = None,
) -> Refutation:
    """Permuted treatment: is 0 inside the placebo effects' distribution.

    ``est`` (``ols_effect(y, t, X)``) and ``part`` (``_Partial(X)``) may be passed
    when several refuters run on the same data, so they are computed once.
    """
    est = ols_effect(y, t, X) if est is None else est
    part = _Partial(X) if part is None else part
    y_res = part.resid(y)
    # all permutations first (the stream of one permutation per simulation), then the
    # residuals of every permuted treatment in one matrix product
    placebos = np.column_stack([t[rng.permutation(len(t))] for _ in range(n_sims)])
    sims = part.effects(part.resid(placebos), np.repeat(y_res[:, None], n_sims, axis=1))
    return Refutation("placebo_treatment", est, float(sims.mean()), significance(0.0, sims), sims)


def refute_random_common_cause(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    rng: np.random.Generator,
    n_sims: int = N_SIMS,
    *,
    est: float | None = None,
    part: _Partial | None = None,
) -> Refutation:
    """An added N(0, 1) covariate: is the estimate inside the re-estimates' distribution."""
    est = ols_effect(y, t, X) if est is None else est
    part = _Partial(X) if part is None else part
    t_res, y_res = part.resid(t), part.resid(y)
    # one N(0, 1) column per simulation (the same stream as drawing them one by one),
    # residualised together; adding w to [1, X] removes its residual from t̃ and ỹ
    W = part.resid(rng.normal(size=(n_sims, len(y))).T)
    ww = np.einsum("ij,ij->j", W, W)
    t_new = t_res[:, None] - W * ((W.T @ t_res) / ww)
    y_new = y_res[:, None] - W * ((W.T @ y_res) / ww)
    sims = part.effects(t_new, y_new)
    return Refutation("random_common_cause", est, float(sims.mean()), significance(est, sims), sims)


def refute_data_subset(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    rng: np.random.Generator,
    n_sims: int = N_SIMS,
    fraction: float = SUBSET_FRACTION,
    *,
    est: float | None = None,
    part: _Partial | None = None,
) -> Refutation:
    """Random subsets of ``fraction`` of the rows: is the estimate inside their distribution.

    Each subset's estimate is the OLS coefficient of ``t`` on its rows, computed from
    the full data's residuals and the left-out rows (:meth:`_Partial.subset_effect`),
    not refitted.
    """
    est = ols_effect(y, t, X) if est is None else est
    part = _Partial(X) if part is None else part
    t_res, y_res = part.resid(t), part.resid(y)
    m = max(3, round(fraction * len(y)))

    def draw(_: int) -> float:
        kept = np.zeros(len(y), bool)
        kept[rng.choice(len(y), m, replace=False)] = True
        return part.subset_effect(t_res, y_res, np.flatnonzero(~kept))

    sims = _simulate(n_sims, draw)
    return Refutation("data_subset", est, float(sims.mean()), significance(est, sims), sims)


def refute_dummy_outcome(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    rng: np.random.Generator,
    n_sims: int = N_SIMS,
    *,
    est: float | None = None,
    part: _Partial | None = None,
) -> Refutation:
    """Outcome replaced by N(0, sd(y)) noise: is 0 inside the dummy effects' distribution."""
    est = ols_effect(y, t, X) if est is None else est
    sd = float(np.std(y)) or 1.0
    part = _Partial(X) if part is None else part
    t_res = part.resid(t)
    dummies = part.resid(rng.normal(0.0, sd, size=(n_sims, len(y))).T)
    sims = part.effects(np.repeat(t_res[:, None], n_sims, axis=1), dummies)
    return Refutation("dummy_outcome", est, float(sims.mean()), significance(0.0, sims), sims)


def refute_unobserved_confounder(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    rng: np.random.Generator,
    kappa_t: float = KAPPA_T,
    kappa_y: float = KAPPA_Y,
    *,
    est: float | None = None,
) -> Refutation:
    """DoWhy's simulated unobserved common cause (``direct-simulation``), one draw.

    ``w ~ N(0, 1)`` per row.  Effect on the treatment: a 0/1 treatment is flipped
    (``1 − t``) where ``w ≥ r``, with ``r`` DoWhy's threshold so that a share ``kappa_t``
    of the rows flips (``binary_flip``); any other treatment becomes ``t + kappa_t·w``
    (``linear``).  Effect on the outcome: ``y − kappa_y·w`` (``linear``; the sign is
    DoWhy's).  The effect is re-estimated on the changed data without ``w``.
    ``kappa_y`` is in the outcome's units (the gate passes ``KAPPA_Y`` · sd(y)).
    """
    est = ols_effect(y, t, X) if est is None else est
    w = rng.normal(size=len(y))
    if set(np.unique(t)) <= {0.0, 1.0}:
        alpha = 2 * kappa_t - 1 if kappa_t >= 0.5 else 1 - 2 * kappa_t
        # scipy.stats.norm.interval(alpha), computed as it does (ndtri of the two tails)
        lo, hi = special.ndtri((1 - alpha) / 2), special.ndtri((1 + alpha) / 2)
        threshold = lo if kappa_t >= 0.5 else hi
        flip = threshold <= w
        t_new = np.where(flip, 1.0 - t, t)
    else:
        t_new = t + kappa_t * w
    new = ols_effect(y - kappa_y * w, t_new, X)
    same_sign = bool(np.sign(new) == np.sign(est))
    return Refutation(
        "unobserved_common_cause", est, new, 1.0 if same_sign else 0.0, np.array([new])
    )


#: The refuters of :func:`refutation_gates`, in the order of its gates (keys of ``_STREAM``).
REFUTERS = ("placebo", "common_cause", "subset", "dummy", "unobserved")


@dataclass(frozen=True)
class _RefuterTask:
    """Run one refuter by name with its generator: ``task((name, rng)) -> Refutation``.

    The refuters are independent of each other (each has its own stream), so they are
    the items an executor spreads (:func:`cqox.compute.current`); the shared linear
    estimate and residual-maker travel with the task, sent once to each worker.
    """

    y: np.ndarray
    t: np.ndarray
    X: np.ndarray
    est: float
    part: _Partial
    n_sims: int
    kappa_y: float

    def __call__(self, job: tuple[str, np.random.Generator]) -> Refutation:
        """The refutation ``job[0]`` drawn from the generator ``job[1]``."""
        name, rng = job
        y, t, X, est, part, n_sims = self.y, self.t, self.X, self.est, self.part, self.n_sims
        if name == "placebo":
            return refute_placebo(y, t, X, rng, n_sims, est=est, part=part)
        if name == "common_cause":
            return refute_random_common_cause(y, t, X, rng, n_sims, est=est, part=part)
        if name == "subset":
            return refute_data_subset(y, t, X, rng, n_sims, est=est, part=part)
        if name == "dummy":
            return refute_dummy_outcome(y, t, X, rng, n_sims, est=est, part=part)
        return refute_unobserved_confounder(y, t, X, rng, KAPPA_T, self.kappa_y, est=est)


def backdoor_refutation_gates(
    data: CausalData | None, designs: Sequence[Design], ctx: Context
) -> list[Gate]:
    """Refutation gates of the analysis's backdoor data (none for other designs)."""
    if (
        data is None
        or Design.BACKDOOR not in designs
        or data.y is None
        or data.t is None
        or len(np.unique(data.t)) < 2
    ):
        return []
    return refutation_gates(data.y, data.t, data.X, ctx)


def refutation_gates(
    y: np.ndarray, t: np.ndarray, X: np.ndarray, ctx: Context, n_sims: int = N_SIMS
) -> list[Gate]:
    """The five refutation gates of a backdoor analysis (see the module docstring)."""
    level = ctx.threshold("refute")
    n = len(y)
    if n < 10:
        return [Gate.not_applicable("refutation", f"{n} rows are too few to refute")]
    if n > MAX_ROWS:
        idx = ctx.rng(_STREAM["rows"]).choice(n, MAX_ROWS, replace=False)
        y, t, X = y[idx], t[idx], X[idx]
    # the linear estimate and the residual-maker of [1, X] are shared by the refuters
    est = ols_effect(y, t, X)
    task = _RefuterTask(y, t, X, est, _Partial(X), n_sims, KAPPA_Y * float(np.std(y)))
    # each refuter draws from its own stream, created here: the same draws whichever
    # process runs it, so the gates are identical on every executor
    jobs = [(name, ctx.rng(_STREAM[name])) for name in REFUTERS]
    executor = current()
    *results, u = [task(job) for job in jobs] if executor is None else executor.map(task, jobs)
    what = {
        "placebo_treatment": "placebo (permuted) treatment: effects centred on 0",
        "random_common_cause": "an added random common cause leaves the estimate in place",
        "data_subset": f"{SUBSET_FRACTION:.0%} data subsets leave the estimate in place",
        "dummy_outcome": "a noise outcome: effects centred on 0",
    }
    gates = []
    for r in results:
        ok = r.p_value >= level
        gates.append(
            Gate(
                f"refute_{r.name}",
                float(r.p_value),
                float(level),
                "pass" if ok else "warn",
                f"{what[r.name]}: linear estimate {r.estimate:.4g}, refuted {r.new_effect:.4g} "
                f"(p = {r.p_value:.3g}, {len(r.sims)} simulations; "
                f"{'ok' if ok else 'check'}: threshold p ≥ {level:g})",
                {"estimate": r.estimate, "new_effect": r.new_effect, "n_sims": len(r.sims)},
            )
        )
    flipped = u.p_value == 0.0
    on_t = (
        f"flipping {KAPPA_T:.0%} of the treatments"
        if set(np.unique(t)) <= {0.0, 1.0}
        else f"{KAPPA_T:g} per SD on the treatment"
    )
    gates.append(
        Gate(
            "refute_unobserved_common_cause",
            float(u.new_effect),
            None,
            "warn" if flipped else "pass",
            f"a simulated confounder ({on_t}, {KAPPA_Y:g} SD of the outcome per SD) moves "
            f"the linear estimate from {u.estimate:.4g} to "
            f"{u.new_effect:.4g}" + (": the sign changes" if flipped else ""),
            {
                "estimate": u.estimate,
                "new_effect": u.new_effect,
                "kappa_t": KAPPA_T,
                "kappa_y": KAPPA_Y,
            },
        )
    )
    return gates


__all__ = [
    "N_SIMS",
    "Refutation",
    "backdoor_refutation_gates",
    "ols_effect",
    "refutation_gates",
    "refute_data_subset",
    "refute_dummy_outcome",
    "refute_placebo",
    "refute_random_common_cause",
    "refute_unobserved_confounder",
    "significance",
]
