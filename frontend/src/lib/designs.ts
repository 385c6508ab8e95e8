// What the design-specific result views draw, read from the analysis JSON:
// - CATE estimators (dr_learner, causal_forest, …): the distribution of the unit-level
//   effects τ̂(x) (diagnostics.cate: n, mean, sd and quantiles), the sorted group
//   effects GATES (tables.gates: group, n, cate_mean, estimate, ci_lower, ci_upper;
//   Chernozhukov, Demirer, Duflo & Fernández-Val 2018) and the targeting curves
//   (tables.uplift: share treated, uplift, random, TOC; tables.targeting: coverage,
//   units treated, gain; Yadlowsky et al. 2021 for the TOC).
// - network estimators (network_exposure, network_regression): the units by exposure
//   condition (counts.n_{control,treated}_{unexposed,exposed}; Aronow & Samii 2017) and
//   the direct, spillover and total effects with their intervals.
import type { Estimate, Row } from "../api/types";

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export interface Quantile {
  /** Probability of the quantile, e.g. 0.05. */
  p: number;
  value: number;
}

export interface GroupEffect {
  group: number;
  n: number | null;
  estimate: number;
  low: number | null;
  high: number | null;
  /** Mean of the predicted τ̂(x) in the group (how the groups were sorted). */
  predicted: number | null;
}

export interface CurvePoint {
  share: number;
  uplift: number | null;
  random: number | null;
  toc: number | null;
}

export interface CateView {
  label: string;
  estimate: Estimate;
  distribution: { n: number | null; mean: number | null; sd: number | null; quantiles: Quantile[] } | null;
  gates: GroupEffect[];
  curve: CurvePoint[];
  targeting: Row[];
}

/** Quantiles "q05" … "q95" of diagnostics.cate, in order of their probability. */
export function quantilesOf(raw: unknown): Quantile[] {
  if (!raw || typeof raw !== "object") return [];
  return Object.entries(raw as Record<string, unknown>)
    .map(([k, v]) => ({ p: Number(k.replace(/^q/, "")) / 100, value: num(v) }))
    .filter((q): q is Quantile => Number.isFinite(q.p) && q.value !== null)
    .sort((a, b) => a.p - b.p);
}

/** The CATE view of every estimate that publishes unit-level heterogeneity. */
export function cateViews(estimates: Estimate[]): CateView[] {
  const out: CateView[] = [];
  for (const e of estimates) {
    const t = e.tables ?? {};
    const cate = (e.diagnostics ?? {}).cate as Record<string, unknown> | undefined;
    if (!Array.isArray(t.gates) && !cate) continue;
    const gates = (t.gates ?? [])
      .map((r) => ({
        group: num(r.group) ?? 0,
        n: num(r.n),
        estimate: num(r.estimate),
        low: num(r.ci_lower),
        high: num(r.ci_upper),
        predicted: num(r.cate_mean),
      }))
      .filter((g): g is GroupEffect => g.estimate !== null);
    const curve = (t.uplift ?? []).flatMap((r) => {
      const share = num(r.share_treated);
      return share === null ? [] : [{ share, uplift: num(r.uplift), random: num(r.random), toc: num(r.toc) }];
    });
    out.push({
      label: `${e.estimator} ${e.estimand}`,
      estimate: e,
      distribution: cate
        ? { n: num(cate.n), mean: num(cate.mean), sd: num(cate.sd), quantiles: quantilesOf(cate.quantiles) }
        : null,
      gates,
      curve,
      targeting: t.targeting ?? [],
    });
  }
  return out;
}

export const EXPOSURE_CONDITIONS = [
  ["control_unexposed", "control, no treated neighbour"],
  ["control_exposed", "control, a treated neighbour"],
  ["treated_unexposed", "treated, no treated neighbour"],
  ["treated_exposed", "treated, a treated neighbour"],
] as const;

export interface NetworkView {
  estimator: string;
  /** Units in each exposure condition (condition key → count), when the estimator reports them. */
  exposure: { key: string; label: string; n: number }[];
  /** The direct, spillover and total effects of this estimator, in that order. */
  effects: Estimate[];
  edges: number | null;
}

const NETWORK_ESTIMANDS = ["direct", "spillover", "total"];

/** One view per network estimator: its exposure counts and its three effects. */
export function networkViews(estimates: Estimate[]): NetworkView[] {
  const byEstimator = new Map<string, Estimate[]>();
  for (const e of estimates) {
    if (!NETWORK_ESTIMANDS.includes(e.estimand)) continue;
    byEstimator.set(e.estimator, [...(byEstimator.get(e.estimator) ?? []), e]);
  }
  return [...byEstimator.entries()].map(([estimator, effects]) => {
    const counts = effects.find((e) => e.counts)?.counts ?? {};
    const exposure = EXPOSURE_CONDITIONS.flatMap(([key, label]) => {
      const n = num(counts[`n_${key}`]);
      return n === null ? [] : [{ key, label, n }];
    });
    effects.sort((a, b) => NETWORK_ESTIMANDS.indexOf(a.estimand) - NETWORK_ESTIMANDS.indexOf(b.estimand));
    return { estimator, exposure, effects, edges: num(counts.n_edges) };
  });
}
