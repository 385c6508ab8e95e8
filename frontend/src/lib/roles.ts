// Every role of docs/design.md ("Vocabulary: Roles"), what it means, and which column
// kinds are plausible for it (the kinds are those of cqox.data.profile.column_kind:
// binary, numeric, datetime, categorical, text, empty).
import type { ColumnProfile, RoleGuess } from "../api/types";

export type RoleKind = "column" | "columns" | "value";

export interface RoleDef {
  role: string;
  label: string;
  help: string;
  kind: RoleKind;
  /** Column kinds the picker lists. */
  kinds: string[];
  group: "core" | "panel" | "iv_rd" | "other";
}

const NUM = ["numeric", "binary"];
const ID = ["categorical", "numeric", "text", "binary"];

export const ROLES: RoleDef[] = [
  { role: "outcome", label: "Outcome", help: "the result measured", kind: "column", kinds: NUM, group: "core" },
  { role: "treatment", label: "Treatment", help: "the cause studied (binary, or a few levels)", kind: "column", kinds: ["binary", "categorical", "numeric"], group: "core" },
  { role: "covariates", label: "Covariates", help: "confounders adjusted for (columns, or a formula)", kind: "columns", kinds: ["numeric", "binary", "categorical"], group: "core" },
  { role: "unit", label: "Unit", help: "who is observed repeatedly (panel id)", kind: "column", kinds: ID, group: "panel" },
  { role: "time", label: "Time", help: "the period of each row", kind: "column", kinds: ["numeric", "datetime"], group: "panel" },
  { role: "cohort", label: "Cohort", help: "first treated period (0 = never treated)", kind: "column", kinds: ["numeric"], group: "panel" },
  { role: "instrument", label: "Instrument", help: "shifts the treatment, not the outcome directly", kind: "columns", kinds: NUM, group: "iv_rd" },
  { role: "running", label: "Running variable", help: "assigns treatment at a cutoff", kind: "column", kinds: ["numeric"], group: "iv_rd" },
  { role: "cutoff", label: "Cutoff", help: "threshold of the running variable", kind: "value", kinds: [], group: "iv_rd" },
  { role: "mediator", label: "Mediator", help: "on the path from treatment to outcome", kind: "column", kinds: NUM, group: "other" },
  { role: "dose", label: "Dose", help: "a continuous treatment", kind: "column", kinds: ["numeric"], group: "other" },
  { role: "cluster", label: "Cluster", help: "groups for clustered standard errors", kind: "column", kinds: ID, group: "other" },
  { role: "weight", label: "Weight", help: "sampling weights", kind: "column", kinds: ["numeric"], group: "other" },
  { role: "sample", label: "Sample", help: "source/target indicator (transportability)", kind: "column", kinds: ["binary"], group: "other" },
  { role: "treatment_proxy", label: "Treatment proxy", help: "proximal inference", kind: "column", kinds: NUM, group: "other" },
  { role: "outcome_proxy", label: "Outcome proxy", help: "proximal inference", kind: "column", kinds: NUM, group: "other" },
  { role: "action", label: "Action", help: "logged action (off-policy evaluation)", kind: "column", kinds: ["categorical", "numeric", "binary"], group: "other" },
  { role: "logging_propensity", label: "Logging propensity", help: "probability the logged action was taken", kind: "column", kinds: ["numeric"], group: "other" },
  { role: "reward", label: "Reward", help: "reward of the logged action", kind: "column", kinds: NUM, group: "other" },
];

export const GROUPS: { id: RoleDef["group"]; title: string }[] = [
  { id: "core", title: "Outcome, treatment and covariates" },
  { id: "panel", title: "Panel: unit, time, cohort" },
  { id: "iv_rd", title: "Instrument and discontinuity" },
  { id: "other", title: "Other roles" },
];

/** Role → value as the form holds it: a column, a list of columns, a formula or a number as text. */
export type RoleValues = Record<string, string | string[]>;

/**
 * Columns a picker offers for ``role``: plausible kinds, the inferred candidates first,
 * and the current choice even when its kind is unusual (it was given explicitly).
 */
export function plausibleColumns(
  def: RoleDef,
  profiles: ColumnProfile[],
  candidates: RoleGuess[] = [],
  current: string[] = [],
): string[] {
  const byKind = profiles.filter((p) => def.kinds.includes(p.kind)).map((p) => p.name);
  if (def.role === "logging_propensity") {
    const inUnit = profiles.filter((p) => p.kind === "numeric" && (p.min ?? -1) >= 0 && (p.max ?? 2) <= 1);
    byKind.splice(0, byKind.length, ...inUnit.map((p) => p.name));
  }
  if (def.role === "weight") {
    const nonNegative = new Set(profiles.filter((p) => (p.min ?? -1) >= 0).map((p) => p.name));
    byKind.splice(0, byKind.length, ...byKind.filter((c) => nonNegative.has(c)));
  }
  const first = candidates.map((c) => c.column).filter((c) => byKind.includes(c));
  const ordered = [...new Set([...first, ...byKind])];
  for (const c of current) if (c && !ordered.includes(c)) ordered.push(c);
  return ordered;
}

/** The form's starting values from the roles the service inferred for a data set. */
export function initialRoles(stored: Record<string, unknown>): RoleValues {
  const out: RoleValues = {};
  for (const def of ROLES) {
    const v = stored[def.role];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) out[def.role] = v.map(String);
    else out[def.role] = def.kind === "columns" ? String(v) : String(v);
  }
  return out;
}

/** Confidence and reason of each role the service inferred (role → guess). */
export function guessesByRole(guesses: RoleGuess[] | undefined): Record<string, RoleGuess> {
  const out: Record<string, RoleGuess> = {};
  for (const g of guesses ?? []) if (!(g.role in out)) out[g.role] = g;
  return out;
}
