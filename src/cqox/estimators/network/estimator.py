"""The ``network_exposure`` estimator: effects under interference via exposure mappings.

Estimands (Aronow & Samii 2017, doi:10.1214/16-AOAS1005), each a contrast of mean
potential outcomes of exposure conditions (see
:mod:`cqox.estimators.network.exposure`) over the units that can be in both:

* ``direct``: treated, not exposed − control, not exposed;
* ``spillover``: control, exposed − control, not exposed;
* ``total``: treated, exposed − control, not exposed.

Interface: roles ``outcome``, ``treatment`` (0/1) and ``unit``; the parameter
``network`` is the edge table (``source``, ``target``, optional weights in the column
named by ``edge_weight``)::

    cqox.estimate("network_exposure", df, outcome="y", treatment="t",
                  roles={"unit": "id"}, network=edges, estimand="spillover")

Probabilities: exact under ``design="complete"`` (``m`` = observed number treated) and
``"bernoulli"`` (``treat_probability``) for unweighted graphs; Monte Carlo (``n_draws``)
for weighted graphs, ``"cluster"`` randomisation (``cluster`` role, observed number of treated
clusters) and ``"custom"`` (``assign(rng, size)`` returning ``(n, size)`` 0/1 draws).
Inference: the conservative Aronow–Samii variance (see
:mod:`cqox.estimators.network.horvitz_thompson` for the pair approximation), a normal
interval, and a randomization-inference p-value for the sharp null of no effect of any
assignment (``n_perm`` re-draws from the design; 0 turns it off and reports the normal
p-value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cqox._lazy import scipy_stats as stats
from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, prepare
from cqox.errors import (
    DataError,
    DesignError,
    LimitExceededError,
    ParameterError,
    RoleError,
)
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, _doc, estimand_param
from cqox.estimators.network.exposure import CONDITIONS, CONTRASTS, ExposureMapping, conditions
from cqox.estimators.network.graph_input import build_graph, exposure_matrix
from cqox.estimators.network.horvitz_thompson import (
    aronow_samii_variance,
    dependent_pairs,
    hajek_residuals,
    kish,
    point_estimates,
)
from cqox.estimators.network.probabilities import (
    BLOCK,
    Draw,
    bernoulli_draw,
    chunks,
    cluster_draw,
    complete_draw,
    draw_bits,
    exact_bernoulli,
    exact_complete,
    exposure_words,
    monte_carlo_joint,
    unpack,
)
from cqox.estimators.registry import register

ESTIMANDS = ("direct", "spillover", "total")
#: Kish effective size of a condition below which the interval is flagged: the
#: coverage study measured the corrected Hájek interval down to ~20 (docs/validation_network.md).
SMALL_EFFECTIVE = 15
#: Most ordered unit pairs sharing a neighbour (the variance's pairs, ~16 bytes each
#: plus their Monte Carlo counts): a hub of degree 10⁵ would make 10¹⁰ of them.
MAX_PAIRS = 100_000_000


def prepare_every_unit(
    df: pd.DataFrame, roles: Roles, requires: Any, name: str, needed: str
) -> CausalData:
    """Prepare a network table, refusing incomplete rows instead of dropping them.

    Units in the network still expose their neighbours, so a row with a missing value
    cannot be dropped the way the cross-sectional estimators drop it.
    """
    data = prepare(df, roles, require=requires, binary_treatment=True)
    if data.n < data.n_input:
        raise DataError(
            f"{name} needs {needed} for every unit; "
            f"{data.n_input - data.n} row(s) have missing values (units in the network "
            "still expose their neighbours, so rows cannot be dropped)",
            details={"role": "outcome"},
        )
    return data


@register
class NetworkExposure(Estimator):
    """Horvitz–Thompson / Hájek exposure contrasts with the Aronow–Samii variance."""

    name = "network_exposure"
    family = "network"
    designs = (Design.NETWORK,)
    estimands = ESTIMANDS
    default_estimands = ESTIMANDS
    requires = ("outcome", "treatment", "unit")
    optional_roles = ("cluster",)
    run_by_default = False
    summary_line = "Network interference: exposure mappings, HT/Hájek, Aronow–Samii variance"
    example = Example(
        "network.network_interference",
        {"n": 300, "mean_degree": 2.0, "seed": 1},
        {"outcome": "y", "treatment": "t", "unit": "id"},
        params={"n_draws": 200, "n_perm": 50},
        side_tables={"network": 1},
    )
    parameters = (
        estimand_param(ESTIMANDS, "direct"),
        Param(
            "network",
            None,
            "any",
            "edge table (DataFrame) with source, target and optional weight columns",
            check=lambda v: isinstance(v, pd.DataFrame),
            rule="a DataFrame of edges",
        ),
        Param("source", "source", "str", "edge-table column of the source unit id"),
        Param("target", "target", "str", "edge-table column of the target unit id"),
        # not "weight": that is the role of unit weights, and cqox.estimate routes role
        # names to roles
        Param("edge_weight", None, "str", "edge-table column of edge weights", nullable=True),
        Param("directed", False, "bool", "source → target reaches only the target"),
        Param(
            "mapping",
            "count",
            "choice",
            "exposure by treated-neighbour 'count' or 'share'",
            choices=("count", "share"),
        ),
        Param(
            "threshold",
            1.0,
            "float",
            "exposed when count ≥ threshold (count) or share ≥ threshold (share, in (0, 1])",
            low=0.0,
            closed="neither",
        ),
        Param(
            "design",
            "complete",
            "choice",
            "assignment design behind the probabilities",
            choices=("complete", "bernoulli", "cluster", "custom"),
        ),
        Param(
            "treat_probability",
            None,
            "float",
            "treatment probability of the Bernoulli design (default: observed share)",
            low=0.0,
            high=1.0,
            closed="neither",
            nullable=True,
        ),
        Param(
            "assign",
            None,
            "any",
            "design='custom': function (rng, size) → (n, size) 0/1 assignments",
            nullable=True,
            check=callable,
            rule="a function (rng, size) -> array",
        ),
        Param(
            "weighting",
            "hajek",
            "choice",
            _doc("weighting", "by the exposure probabilities"),
            choices=("hajek", "horvitz_thompson"),
        ),
        Param(
            "n_draws",
            4000,
            "int",
            "Monte Carlo draws for joint (and non-exact) probabilities",
            low=200,
            high=1_000_000,
        ),
        Param(
            "n_perm",
            1000,
            "int",
            "randomization-inference re-draws (0: normal p-value)",
            low=0,
            high=100_000,
        ),
        CI_LEVEL,
    )

    def fit(
        self,
        df: pd.DataFrame,
        roles: Roles,
        context: Context | None = None,
        data: CausalData | None = None,
    ) -> Estimate:
        """As :meth:`Estimator.fit`; the edge table is summarised in ``params``."""
        est = super().fit(df, roles, context, data)
        params = dict(est.params)
        net = params.get("network")
        if isinstance(net, pd.DataFrame):
            params["network"] = f"edge table ({len(net)} edges)"
        if params.get("assign") is not None:
            params["assign"] = getattr(params["assign"], "__name__", "function")
        return est.with_updates(params=params)

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Every unit must be complete: a missing treatment would hide exposures."""
        return prepare_every_unit(df, roles, self.requires, self.name, "outcome and treatment")

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        r = data.roles
        assert data.y is not None and data.t is not None and r.unit is not None
        if params["network"] is None:
            raise ParameterError(
                "network_exposure needs the parameter 'network': a table of edges "
                "(source, target, optional weight)",
                details={"parameter": "network"},
            )
        mapping = ExposureMapping(params["mapping"], params["threshold"])
        if mapping.kind == "share" and mapping.threshold > 1:
            raise ParameterError(
                f"The 'threshold' parameter of network_exposure must be in (0, 1] with "
                f"mapping='share'. Got {mapping.threshold!r} instead.",
                details={"parameter": "threshold"},
            )
        ids = data.frame[r.unit].tolist()
        graph = build_graph(
            params["network"],
            ids,
            source=params["source"],
            target=params["target"],
            weight=params["edge_weight"],
            directed=params["directed"],
        )
        weighted = params["edge_weight"] is not None
        adj = exposure_matrix(graph, ids, weighted=weighted)
        y, z = data.y, data.t
        n = z.size
        m = int(z.sum())
        if m == 0 or m == n:
            raise DesignError(
                f"role 'treatment': column '{r.treatment}' must have treated and control units",
                details={"role": "treatment"},
            )
        draw, pi, how, groups = self._design(data, params, adj, mapping, weighted, n, m)
        obs = conditions(adj, z, mapping)
        a, b = CONTRASTS[params["estimand"]]
        rng = ctx.rng(0)

        # joint probabilities from Monte Carlo (and marginals when not exact)
        check_pairs(adj, groups)
        pair_i, pair_j = dependent_pairs(adj, groups)
        cond_i = obs.astype(np.int64)
        other = np.where(cond_i == a, b, a)
        pi_i = np.concatenate([pair_i, pair_i])
        pj = np.concatenate([pair_j, pair_j])
        same = np.concatenate([np.ones(pair_i.size, bool), np.zeros(pair_i.size, bool)])
        cj = np.where(same, cond_i[pi_i], other[pi_i])
        keep = np.isin(cond_i[pi_i], (a, b))
        pi_i, pj, same, cj = pi_i[keep], pj[keep], same[keep], cj[keep]
        joint, _, marg = monte_carlo_joint(
            adj, mapping, draw, params["n_draws"], rng, pi_i, pj, cond_i, cj
        )
        if pi is None:
            pi = marg
        pop = (pi[:, a] > 0) & (pi[:, b] > 0)
        # pairs whose second member is outside the population do not enter the estimand
        inpop = pop[pi_i] & pop[pj]
        pi_i, pj, same, joint = pi_i[inpop], pj[inpop], same[inpop], joint[inpop]
        n_pop = int(pop.sum())
        in_a = pop & (obs == a)
        in_b = pop & (obs == b)
        if not in_a.any() or not in_b.any():
            raise DesignError(
                f"estimand '{params['estimand']}': no unit is observed in condition "
                f"'{CONDITIONS[a] if not in_a.any() else CONDITIONS[b]}' under this "
                "exposure mapping; change 'threshold' or 'mapping'",
                details={"parameter": "threshold"},
            )
        pi_obs = pi[np.arange(n), cond_i]
        ht_a, ht_b, hj_a, hj_b, w_a, w_b = point_estimates(y, obs, pi_obs, pop, a, b)
        sign = np.where(in_a, 1.0, np.where(in_b, -1.0, 0.0))
        if params["weighting"] == "hajek":
            mean_a, mean_b = hj_a, hj_b
            e, df = hajek_residuals(y, pi_obs, in_a, in_b, hj_a, hj_b, w_a, w_b, n_pop)
        else:
            mean_a, mean_b = ht_a, ht_b
            e, df = y, float("inf")
        tau = mean_a - mean_b
        var = aronow_samii_variance(
            e, obs, sign, pi_obs, marg[np.arange(n), cond_i], pi_i, pj, same, joint, n_pop
        )
        se = float(np.sqrt(var))
        level = params["ci_level"]
        ref = stats.t(df) if np.isfinite(df) else stats.norm()
        q = float(ref.ppf(0.5 + level / 2))
        p_normal = float(2 * ref.sf(abs(tau) / se)) if se > 0 else float("nan")
        p_value = p_normal
        p_ri = None
        if params["n_perm"] > 0:
            null = randomization_distribution(
                adj,
                mapping,
                draw,
                params["n_perm"],
                ctx.rng(1),
                y,
                pi,
                pop,
                a,
                b,
                params["weighting"],
            )
            p_ri = float((1 + np.count_nonzero(np.abs(null) >= abs(tau) - 1e-12)) / (1 + null.size))
            p_value = p_ri
        notes: list[str] = []
        if n_pop < n:
            notes.append(
                f"{n - n_pop} unit(s) cannot be in both conditions of '{params['estimand']}' "
                "(e.g. units without neighbours); the estimand is over the other "
                f"{n_pop} units"
            )
        eff = {c: kish(pi_obs[m_]) for c, m_ in ((a, in_a), (b, in_b))}
        thin = min(eff, key=lambda c: eff[c])
        if eff[thin] < SMALL_EFFECTIVE:
            notes.append(
                f"condition '{CONDITIONS[thin]}' has {int((obs[pop] == thin).sum())} unit(s) "
                f"but an effective size of only {eff[thin]:.1f} (unequal probabilities): "
                "the interval rests on a few heavily weighted units and was validated down "
                "to effective sizes of about 20 (docs/validation_network.md); prefer the "
                "randomization p-value"
            )
        counts_by = np.bincount(obs, minlength=4)
        return Estimate(
            estimator=self.name,
            estimand=params["estimand"],
            estimate=float(tau),
            se=se,
            ci=(float(tau - q * se), float(tau + q * se)),
            p_value=p_value,
            ci_level=level,
            n=n,
            n_treated=m,
            n_control=n - m,
            counts={
                "n_edges": int(graph.number_of_edges()),
                "n_population": n_pop,
                **{f"n_{name}": int(c) for name, c in zip(CONDITIONS, counts_by, strict=True)},
            },
            diagnostics={
                "probabilities": how,
                "mean_" + CONDITIONS[a]: float(mean_a),
                "mean_" + CONDITIONS[b]: float(mean_b),
                "p_value_normal": p_normal,
                "df": df if np.isfinite(df) else None,
                "n_effective_" + CONDITIONS[a]: eff[a],
                "n_effective_" + CONDITIONS[b]: eff[b],
                "p_value_randomization": p_ri,
                "n_dependent_pairs": int(pair_i.size // 2) if pair_i.size else 0,
                "min_probability": float(pi_obs[in_a | in_b].min()),
            },
            tables={
                "probabilities": pd.DataFrame(
                    {"unit": ids, "condition": [CONDITIONS[c] for c in obs]}
                    | {f"p_{name}": pi[:, k] for k, name in enumerate(CONDITIONS)}
                    | {
                        "in_population": pop,
                        # the unit's term of the HT/Hájek sum: s_i y_i / (N π_i(o_i))
                        "contribution": np.where(
                            in_a | in_b, sign * y / np.where(in_a | in_b, pi_obs, 1.0), 0.0
                        )
                        / n_pop,
                    }
                ),
                "network_sample": network_sample(adj, ids),
            },
            warnings=notes,
            method=(
                f"{'Hájek' if params['weighting'] == 'hajek' else 'Horvitz–Thompson'} contrast "
                f"of exposure conditions ({mapping.kind} ≥ {mapping.threshold:g}), "
                f"{how} probabilities, Aronow–Samii conservative SE"
                + (
                    f" with the small-sample Hájek corrections, t({df:.1f}) interval"
                    if np.isfinite(df)
                    else ""
                )
                + (
                    f", randomization p-value ({params['n_perm']} draws)"
                    if p_ri is not None
                    else ""
                )
            ),
        )

    def _design(
        self,
        data: CausalData,
        params: dict[str, Any],
        adj: sp.csr_array,
        mapping: ExposureMapping,
        weighted: bool,
        n: int,
        m: int,
    ) -> tuple[Draw, np.ndarray | None, str, sp.csr_array | None]:
        """The design's draw function, exact probabilities (or None) and their label."""
        degree = np.diff(adj.indptr)
        design = params["design"]
        groups = None
        if design == "complete":
            draw = complete_draw(n, m)
            pi = None if weighted else exact_complete(degree, m, mapping)
        elif design == "bernoulli":
            p = params["treat_probability"] if params["treat_probability"] is not None else m / n
            draw = bernoulli_draw(n, p)
            pi = None if weighted else exact_bernoulli(degree, p, mapping)
        elif design == "cluster":
            col = data.roles.cluster
            if col is None:
                raise RoleError(
                    "design='cluster' needs the 'cluster' role (the randomised clusters)",
                    details={"role": "cluster"},
                )
            codes, _ = pd.factorize(data.frame[col])
            z = data.t
            assert z is not None
            per = pd.Series(z).groupby(codes).agg(["min", "max"])
            if (per["min"] != per["max"]).any():
                raise DesignError(
                    f"design='cluster': treatment '{data.roles.treatment}' varies within a "
                    f"cluster of '{col}'",
                    details={"role": "cluster", "column": col},
                )
            draw = cluster_draw(codes, int(per["max"].sum()))
            groups = sp.csr_array(
                (np.ones(n), (np.arange(n), codes)), shape=(n, int(codes.max()) + 1)
            )
            pi = None
        else:
            fn = params["assign"]
            if fn is None:
                raise ParameterError(
                    "design='custom' needs the parameter 'assign': a function "
                    "(rng, size) returning (n, size) 0/1 assignments",
                    details={"parameter": "assign"},
                )
            draw = fn
            pi = None
        how = "exact" if pi is not None else f"Monte Carlo ({params['n_draws']} draws)"
        return draw, pi, how, groups


#: Units of the subgraph kept for the network figures (a breadth-first sample).
FIGURE_UNITS = 300


def network_sample(adj: sp.csr_array, ids: list[Any], size: int = FIGURE_UNITS) -> pd.DataFrame:
    """Edges among up to ``size`` units reached breadth-first from the best-connected one.

    The figures draw this subgraph (a force-directed layout of 50,000 units would be
    unreadable and slow); columns ``source``, ``target`` (unit ids; ``target`` is
    missing for a sampled unit without a sampled neighbour).
    """
    from scipy.sparse.csgraph import breadth_first_order

    n = adj.shape[0]
    sym = ((adj + adj.T) != 0).astype(np.int8).tocsr()
    degree = np.diff(sym.indptr)
    chosen: list[int] = []
    seen = np.zeros(n, dtype=bool)
    for start in np.argsort(-degree, kind="stable"):
        if len(chosen) >= size:
            break
        if seen[start]:
            continue
        order = breadth_first_order(sym, int(start), directed=False, return_predecessors=False)
        seen[order] = True
        chosen.extend(order[: size - len(chosen)].tolist())
    keep = np.array(sorted(chosen), dtype=np.int64)
    sub = sp.triu(sym[keep][:, keep], k=1).tocoo()
    touched = np.zeros(keep.size, dtype=bool)
    touched[sub.row] = touched[sub.col] = True
    id_arr = np.asarray(ids, dtype=object)
    src = np.concatenate([id_arr[keep[sub.row]], id_arr[keep[~touched]]])
    tgt = np.concatenate([id_arr[keep[sub.col]], np.full((~touched).sum(), None, dtype=object)])
    return pd.DataFrame({"source": src, "target": tgt})


def check_pairs(adj: sp.csr_array, groups: sp.csr_array | None) -> None:
    """Refuse a network whose dependent pairs would exceed :data:`MAX_PAIRS`.

    Unit (or cluster) ``k`` links the ``c_k`` units it reaches (itself included), which
    makes at most ``c_k²`` ordered pairs; the bound is counted before any pair is formed.
    """
    n = adj.shape[0]
    reach = np.bincount(adj.indices, minlength=n).astype(np.float64) + 1.0
    if groups is not None:
        # a cluster reaches every unit its members reach
        reach = np.asarray(groups.T @ reach).ravel()
    bound = float(np.sum(reach**2))
    if bound > MAX_PAIRS:
        raise LimitExceededError(
            f"network: the variance would visit up to {bound:.3g} unit pairs that share a "
            f"neighbour{' or cluster' if groups is not None else ''}, more than the limit "
            f"of {MAX_PAIRS:.3g}; the largest unit reaches {int(reach.max()) - 1} others "
            "(a hub): drop its edges or analyse a sparser network",
            details={"parameter": "network", "pairs": bound, "limit": MAX_PAIRS},
        )


def randomization_distribution(
    adj: sp.csr_array,
    mapping: ExposureMapping,
    draw: Draw,
    n_perm: int,
    rng: np.random.Generator,
    y: np.ndarray,
    pi: np.ndarray,
    pop: np.ndarray,
    a: int,
    b: int,
    weighting: str,
) -> np.ndarray:
    """The estimator under re-drawn assignments with outcomes held fixed (sharp null)."""
    out: list[np.ndarray] = []
    n_pop = float(pop.sum())
    ya = np.where(pop & (pi[:, a] > 0), y / np.where(pi[:, a] > 0, pi[:, a], 1.0), 0.0)
    yb = np.where(pop & (pi[:, b] > 0), y / np.where(pi[:, b] > 0, pi[:, b], 1.0), 0.0)
    wa = np.where(pop, 1 / np.where(pi[:, a] > 0, pi[:, a], 1.0), 0.0)
    wb = np.where(pop, 1 / np.where(pi[:, b] > 0, pi[:, b], 1.0), 0.0)
    n = adj.shape[0]
    for size in chunks(n_perm, BLOCK):
        z = draw_bits(draw, rng, n, size)
        e = exposure_words(adj, mapping, z)
        c = 2 * unpack(z, size) + unpack(e, size)
        ia, ib = (c == a).astype(np.float64), (c == b).astype(np.float64)
        if weighting == "hajek":
            with np.errstate(invalid="ignore", divide="ignore"):
                stat = ya @ ia / (wa @ ia) - yb @ ib / (wb @ ib)
        else:
            stat = (ya @ ia - yb @ ib) / n_pop
        out.append(stat)
    res = np.concatenate(out)
    return res[np.isfinite(res)]
