import type { Estimate } from "../api/types";
import { effectPaths } from "./paths";

const est = (estimator: string, estimand: string, tables: Estimate["tables"]): Estimate =>
  ({ estimator, estimand, estimate: 0, se: 0, ci: [0, 0], p_value: 0, n: 0, gates: [], tables, params: {}, warnings: [], status: "pass" }) as Estimate;

describe("effectPaths", () => {
  it("reads a Callaway–Sant'Anna event study", () => {
    const rows = [-2, -1, 0, 1].map((t) => ({ event_time: t, att: t / 10, ci_low: t / 10 - 1, ci_high: t / 10 + 1 }));
    const [p] = effectPaths([est("did_cs", "ATT", { event_study: rows })]);
    expect(p.periods).toEqual([-2, -1, 0, 1]);
    expect(p.firstPost).toBe(2);
    expect(p.low[0]).toBeCloseTo(-1.2);
  });

  it("reads a synthetic-control path: the effect is the gap, the series are drawn too", () => {
    const rows = [1968, 1969, 1970, 1971].map((t, i) => ({ time: t, treated: 10 + i, synthetic: 10, gap: i, post: t >= 1970 }));
    const [p] = effectPaths([est("synth", "ATT", { path: rows })]);
    expect(p.effect).toEqual([0, 1, 2, 3]);
    expect(p.firstPost).toBe(2);
    expect(p.series?.names).toEqual(["treated", "synthetic control"]);
  });

  it("draws an estimator's path once even when it ran for two estimands", () => {
    const rows = [{ time: 1, observed: 2, counterfactual: 1, post: true }];
    expect(effectPaths([est("its", "level_change", { fit: rows }), est("its", "slope_change", { fit: rows })])).toHaveLength(1);
    expect(effectPaths([est("ipw", "ATE", {})])).toEqual([]);
  });
});
