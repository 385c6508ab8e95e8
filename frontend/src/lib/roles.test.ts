import type { ColumnProfile } from "../api/types";
import { ROLES, guessesByRole, initialRoles, plausibleColumns } from "./roles";

const col = (name: string, kind: string, min = 0, max = 1): ColumnProfile => ({ name, kind, dtype: "", missing: 0, unique: 2, min, max });
const profiles = [col("y", "numeric", -5, 9), col("t", "binary"), col("region", "categorical"), col("year", "numeric", 1990, 2000), col("ps", "numeric", 0.1, 0.9), col("note", "text")];
const def = (role: string) => ROLES.find((r) => r.role === role)!;

describe("roles", () => {
  it("lists every role of the design document", () => {
    expect(ROLES.map((r) => r.role).sort()).toEqual(
      ["action", "cluster", "cohort", "covariates", "cutoff", "dose", "instrument", "logging_propensity", "mediator", "outcome", "outcome_proxy", "reward", "running", "sample", "time", "treatment", "treatment_proxy", "unit", "weight"].sort(),
    );
  });

  it("offers plausible columns, inferred candidates first, and keeps the current choice", () => {
    expect(plausibleColumns(def("outcome"), profiles)).toEqual(["y", "t", "year", "ps"]);
    expect(plausibleColumns(def("outcome"), profiles, [{ role: "outcome", column: "ps", confidence: 0.9, reason: "" }])[0]).toBe("ps");
    expect(plausibleColumns(def("running"), profiles)).not.toContain("region");
    expect(plausibleColumns(def("logging_propensity"), profiles)).toEqual(["ps"]);
    expect(plausibleColumns(def("weight"), profiles)).toEqual(["year", "ps"]);
    expect(plausibleColumns(def("sample"), profiles, [], ["note"])).toEqual(["t", "note"]);
  });

  it("starts from the stored roles and keeps one guess per role", () => {
    expect(initialRoles({ outcome: "y", covariates: ["a", "b"], cutoff: 21, inferred: [] })).toEqual({ outcome: "y", covariates: ["a", "b"], cutoff: "21" });
    const g = guessesByRole([
      { role: "outcome", column: "y", confidence: 0.9, reason: "a" },
      { role: "outcome", column: "z", confidence: 0.5, reason: "b" },
    ]);
    expect(g.outcome.column).toBe("y");
  });
});
