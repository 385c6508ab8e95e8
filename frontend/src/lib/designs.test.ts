import type { Estimate } from "../api/types";
import { cateViews, networkViews, quantilesOf } from "./designs";

const base = { se: 1, ci: [0, 2], p_value: 0.1, n: 10, gates: [], params: {}, warnings: [], status: "pass" } as const;
const est = (over: Partial<Estimate>): Estimate => ({ ...base, estimator: "x", estimand: "ATE", estimate: 1, tables: {}, ...over }) as Estimate;

describe("CATE views", () => {
  it("orders the quantiles by probability and skips what is not a number", () => {
    expect(quantilesOf({ q95: 3, q05: 1, q50: 2, bad: "x", q25: null })).toEqual([
      { p: 0.05, value: 1 },
      { p: 0.5, value: 2 },
      { p: 0.95, value: 3 },
    ]);
  });

  it("reads distribution, GATES and the targeting curve of a CATE estimate", () => {
    const e = est({
      estimator: "dr_learner",
      diagnostics: { cate: { n: 747, mean: 4, sd: 0.8, quantiles: { q05: 2.5, q50: 4.1, q95: 5.1 } } },
      tables: {
        gates: [
          { group: 1, n: 150, cate_mean: 2.9, estimate: 3.1, ci_lower: 2.5, ci_upper: 3.7 },
          { group: 2, n: 149, cate_mean: 3.9, estimate: null, ci_lower: null, ci_upper: null },
        ],
        uplift: [{ share_treated: 0, uplift: 0, random: 0, toc: null }, { share_treated: 0.5, uplift: 2.4, random: 2, toc: 0.4 }],
        targeting: [{ coverage: 0.05, n_treated: 37, gain: 0.22 }],
      },
    });
    const [v] = cateViews([e, est({ estimator: "ipw" })]);
    expect(v.label).toBe("dr_learner ATE");
    expect(v.distribution?.n).toBe(747);
    expect(v.distribution?.quantiles.map((q) => q.p)).toEqual([0.05, 0.5, 0.95]);
    expect(v.gates).toEqual([{ group: 1, n: 150, estimate: 3.1, low: 2.5, high: 3.7, predicted: 2.9 }]);
    expect(v.curve[1]).toEqual({ share: 0.5, uplift: 2.4, random: 2, toc: 0.4 });
    expect(v.targeting).toHaveLength(1);
  });

  it("has no view for an estimate without heterogeneity", () => {
    expect(cateViews([est({ estimator: "ipw", tables: { balance: [] } })])).toEqual([]);
  });
});

describe("network views", () => {
  it("groups direct, spillover and total by estimator, with the exposure counts", () => {
    const counts = { n_control_unexposed: 18, n_control_exposed: 132, n_treated_unexposed: 27, n_treated_exposed: 123, n_edges: 585 };
    const views = networkViews([
      est({ estimator: "network_exposure", estimand: "total", estimate: 1.5, counts }),
      est({ estimator: "network_exposure", estimand: "direct", estimate: 1.6, counts }),
      est({ estimator: "network_exposure", estimand: "spillover", estimate: 0.4, counts }),
      est({ estimator: "ipw", estimand: "ATE" }),
    ]);
    expect(views).toHaveLength(1);
    expect(views[0].effects.map((e) => e.estimand)).toEqual(["direct", "spillover", "total"]);
    expect(views[0].exposure.map((c) => c.n)).toEqual([18, 132, 27, 123]);
    expect(views[0].edges).toBe(585);
  });
});
