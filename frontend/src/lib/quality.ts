// The quality radar's five dimensions, each a documented function of the gates
// (docs/dashboard.md, "Quality radar").  A gate scores 1 when it passes, ½ when it warns
// and 0 when it fails; gates that do not apply are left out.  A dimension is the mean
// score of its gates over every estimate, or null ("not checked") when none of its
// gates ran.  Interpretability is the share of estimates with at least one gate checked.
import type { Estimate, Gate } from "../api/types";

export const DIMENSIONS = ["validity", "precision", "robustness", "interpretability", "scalability"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Gates of estimation quality: weights, collinearity, segment length. */
const PRECISION = new Set(["max_weight_ratio", "vif", "its_segment_length", "variance_ratio", "variance_ratio_low", "variance_ratio_high"]);
/** Gates that perturb the analysis: placebos, donuts, refutations, over-identification. */
const ROBUSTNESS = new Set(["placebo_cutoffs", "donut", "refute", "overidentification", "anderson_rubin", "dag_independences"]);
/** Gates of how much of the sample the estimate carries. */
const SCALABILITY = new Set(["effective_sample_size", "matched_share", "common_support_extreme"]);

/** The dimension a gate counts towards (every other gate checks an identifying assumption). */
export function dimensionOf(gate: string): Exclude<Dimension, "interpretability"> {
  if (PRECISION.has(gate)) return "precision";
  if (ROBUSTNESS.has(gate) || gate.startsWith("refute")) return "robustness";
  if (SCALABILITY.has(gate)) return "scalability";
  return "validity";
}

const SCORE: Record<string, number> = { pass: 1, warn: 0.5, fail: 0 };

export interface DimensionScore {
  dimension: Dimension;
  score: number | null;
  gates: number;
  flagged: string[];
}

/**
 * The five scores from the gates of every estimate and the analysis-level gates
 * (``analysisGates``: raw balance, collinearity, refutations), which count towards their
 * dimensions but not towards interpretability (a share of estimates).
 */
export function qualityScores(estimates: Estimate[], analysisGates: Gate[] = []): DimensionScore[] {
  const sums: Record<string, { total: number; n: number; flagged: Set<string> }> = {};
  for (const d of DIMENSIONS) sums[d] = { total: 0, n: 0, flagged: new Set() };
  let checked = 0;
  const groups: { gates: Gate[]; estimate: boolean }[] = [
    ...estimates.map((e) => ({ gates: e.gates ?? [], estimate: true })),
    { gates: analysisGates, estimate: false },
  ];
  for (const group of groups) {
    const applied = group.gates.filter((g: Gate) => g.status in SCORE);
    if (applied.length && group.estimate) checked += 1;
    for (const g of applied) {
      const s = sums[dimensionOf(g.name)];
      s.total += SCORE[g.status];
      s.n += 1;
      if (g.status !== "pass") s.flagged.add(g.name);
    }
  }
  return DIMENSIONS.map((d) => {
    if (d === "interpretability") {
      return {
        dimension: d,
        score: estimates.length ? checked / estimates.length : null,
        gates: checked,
        flagged: [],
      };
    }
    const s = sums[d];
    return { dimension: d, score: s.n ? s.total / s.n : null, gates: s.n, flagged: [...s.flagged] };
  });
}
