// Effects over time, read from the tables the estimators publish in the analysis JSON:
// did_cs "event_study" (event time, ATT, interval), synth "path" (treated and synthetic
// series; the effect is their gap), its "fit" (observed against the counterfactual).
import type { Estimate, Row } from "../api/types";

export interface EffectPath {
  /** Which estimate, e.g. "did_cs ATT". */
  label: string;
  /** Axis title of the periods. */
  axis: string;
  periods: number[];
  effect: number[];
  low: (number | null)[];
  high: (number | null)[];
  /** Index of the first treated period (the effect before it is a placebo check). */
  firstPost: number;
  /** Two observed series, when the estimator has them (treated vs synthetic, observed vs counterfactual). */
  series?: { names: [string, string]; a: number[]; b: number[] };
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function firstPostIndex(rows: Row[], periods: number[], key?: string): number {
  if (key) {
    const i = rows.findIndex((r) => r[key] === true);
    return i < 0 ? periods.length : i;
  }
  const i = periods.findIndex((p) => p >= 0);
  return i < 0 ? periods.length : i;
}

export function effectPaths(estimates: Estimate[]): EffectPath[] {
  const out: EffectPath[] = [];
  for (const e of estimates) {
    const label = `${e.estimator} ${e.estimand}`;
    const t = e.tables ?? {};
    if (Array.isArray(t.event_study) && t.event_study.length) {
      const rows = t.event_study.filter((r) => num(r.event_time) !== null && num(r.att) !== null);
      const periods = rows.map((r) => num(r.event_time) as number);
      out.push({
        label,
        axis: "event time (periods since treatment)",
        periods,
        effect: rows.map((r) => num(r.att) as number),
        low: rows.map((r) => num(r.ci_low)),
        high: rows.map((r) => num(r.ci_high)),
        firstPost: firstPostIndex(rows, periods),
      });
    } else if (Array.isArray(t.path) && t.path.length && "synthetic" in t.path[0]) {
      const rows = t.path.filter((r) => num(r.time) !== null && num(r.gap) !== null);
      const periods = rows.map((r) => num(r.time) as number);
      out.push({
        label,
        axis: "period",
        periods,
        effect: rows.map((r) => num(r.gap) as number),
        low: rows.map(() => null),
        high: rows.map(() => null),
        firstPost: firstPostIndex(rows, periods, "post"),
        series: {
          names: ["treated", "synthetic control"],
          a: rows.map((r) => num(r.treated) ?? NaN),
          b: rows.map((r) => num(r.synthetic) ?? NaN),
        },
      });
    } else if (Array.isArray(t.fit) && t.fit.length && "counterfactual" in t.fit[0]) {
      const rows = t.fit.filter((r) => num(r.time) !== null && num(r.observed) !== null);
      const periods = rows.map((r) => num(r.time) as number);
      out.push({
        label,
        axis: "period",
        periods,
        effect: rows.map((r) => (num(r.observed) as number) - (num(r.counterfactual) ?? NaN)),
        low: rows.map(() => null),
        high: rows.map(() => null),
        firstPost: firstPostIndex(rows, periods, "post"),
        series: {
          names: ["observed", "counterfactual"],
          a: rows.map((r) => num(r.observed) ?? NaN),
          b: rows.map((r) => num(r.counterfactual) ?? NaN),
        },
      });
    }
  }
  // one path per estimator and table: an estimator run per estimand repeats its path
  const seen = new Set<string>();
  return out.filter((p) => {
    const key = `${p.label.split(" ")[0]}:${p.periods.join(",")}:${p.effect.join(",")}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
