import type { AnalysisDetail, EstimatorInfo } from "../api/types";
import { buildRequest, emptyForm, formFromAnalysis, requestRoles } from "./request";

const registry: EstimatorInfo[] = [
  {
    name: "ipw",
    family: "backdoor",
    designs: ["backdoor"],
    estimands: ["ATE", "ATT", "ATC"],
    requires: ["outcome", "treatment"],
    optional_roles: ["covariates"],
    summary: "",
    parameters: [
      { name: "estimand", default: "ATE", rule: "one of 'ATE', 'ATT', 'ATC'", doc: "" },
      { name: "trim", default: 0, rule: "a float in [0, 0.5)", doc: "" },
    ],
  },
  {
    name: "rd",
    family: "rd",
    designs: ["rd"],
    estimands: ["ATE(c)"],
    requires: ["outcome", "running", "cutoff"],
    optional_roles: [],
    summary: "",
    parameters: [{ name: "h", default: null, rule: "a float in (0, inf) or None", doc: "" }],
  },
];

describe("requestRoles", () => {
  it("sends columns, lists, a formula instead of ticked covariates, and the cutoff as a number", () => {
    const form = emptyForm("d1", { outcome: "y", treatment: "", covariates: ["x1", "x2"], instrument: ["z"], cutoff: "21" });
    expect(requestRoles(form)).toEqual({ outcome: "y", covariates: ["x1", "x2"], instrument: ["z"], cutoff: 21 });
    expect(requestRoles({ ...form, covariateFormula: " age + I(age**2) " }).covariates).toBe("age + I(age**2)");
    expect(requestRoles({ ...form, roles: { cutoff: "abc" } }).cutoff).toBe("abc"); // the service names it
  });
});

describe("buildRequest", () => {
  it("applies the estimand to every estimator that offers it and keeps typed parameters", () => {
    const form = { ...emptyForm("d1", { outcome: "y", treatment: "t" }), estimand: "ATT", params: { ipw: { trim: "0.05" }, rd: { h: "" } } };
    const req = buildRequest(form, registry, ["ipw", "rd"]);
    expect(req.options?.params).toEqual({ ipw: { trim: 0.05, estimand: "ATT" } });
    expect(req.estimators).toBeUndefined();
    expect(req.options?.wait_s).toBe(0);
    expect(req.quality_gates).toBeUndefined();
  });

  it("names the ticked estimators, the seed and gate enforcement", () => {
    const form = { ...emptyForm("d1"), estimators: ["rd"], enforce: true, seed: "7" };
    const req = buildRequest(form, registry, ["ipw", "rd"]);
    expect(req.estimators).toEqual(["rd"]);
    expect(req.options?.seed).toBe(7);
    expect(req.quality_gates).toMatchObject({ enforce: true });
  });
});

describe("formFromAnalysis", () => {
  it("turns a stored request back into the form (re-run)", () => {
    const detail = {
      dataset_id: "d9",
      request: {
        roles: { outcome: "y", covariates: "x1 + x2", instrument: ["z1", "z2"], cutoff: 0 },
        estimators: ["ipw"],
        params: { ipw: { trim: 0.01, estimand: "ATT" } },
        quality_gates: { enforce: true },
        seed: 3,
      },
    } as unknown as AnalysisDetail;
    const form = formFromAnalysis(detail);
    expect(form).toMatchObject({
      datasetId: "d9",
      covariateFormula: "x1 + x2",
      estimators: ["ipw"],
      estimand: "ATT",
      params: { ipw: { trim: "0.01" } },
      enforce: true,
      seed: "3",
    });
    expect(form.roles).toEqual({ outcome: "y", instrument: ["z1", "z2"], cutoff: "0" });
    expect(buildRequest(form, registry, ["ipw"]).roles).toEqual(detail.request!.roles);
  });
});
