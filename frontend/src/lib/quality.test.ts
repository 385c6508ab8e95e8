import type { Estimate, Gate } from "../api/types";
import { dimensionOf, qualityScores } from "./quality";

const gate = (name: string, status: Gate["status"]): Gate => ({ name, status, value: 0, threshold: 0, message: "" });
const est = (gates: Gate[]): Estimate =>
  ({ estimator: "e", estimand: "ATE", estimate: 1, se: 1, ci: [0, 2], p_value: 0.1, n: 10, gates, tables: {}, params: {}, warnings: [], status: "pass" }) as Estimate;

describe("quality radar", () => {
  it("sorts gates into their documented dimensions", () => {
    expect(dimensionOf("covariate_balance")).toBe("validity");
    expect(dimensionOf("pretrend_wald")).toBe("validity");
    expect(dimensionOf("max_weight_ratio")).toBe("precision");
    expect(dimensionOf("placebo_cutoffs")).toBe("robustness");
    expect(dimensionOf("effective_sample_size")).toBe("scalability");
    expect(dimensionOf("refute_placebo_treatment")).toBe("robustness");
    expect(dimensionOf("a_gate_added_later")).toBe("validity");
  });

  it("scores pass 1, warn ½, fail 0, leaves out what does not apply, and says not checked", () => {
    const scores = Object.fromEntries(
      qualityScores([
        est([gate("covariate_balance", "pass"), gate("common_support", "warn"), gate("max_weight_ratio", "fail")]),
        est([gate("density", "not_applicable")]),
      ]).map((s) => [s.dimension, s]),
    );
    expect(scores.validity.score).toBe(0.75);
    expect(scores.validity.flagged).toEqual(["common_support"]);
    expect(scores.precision.score).toBe(0);
    expect(scores.robustness.score).toBeNull();
    expect(scores.scalability.score).toBeNull();
    expect(scores.interpretability.score).toBe(0.5); // one of two estimates had a gate checked
  });

  it("counts the analysis-level gates in their dimensions", () => {
    const [validity, , robustness, interpretability] = qualityScores(
      [est([gate("covariate_balance", "pass")])],
      [gate("covariate_balance_raw", "warn"), gate("refute_data_subset", "pass")],
    );
    expect(validity.score).toBe(0.75);
    expect(robustness.score).toBe(1);
    expect(interpretability.score).toBe(1);
  });
});
