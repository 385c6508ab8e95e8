// The analysis form's state, and the request it sends (AnalyzeRequest of the OpenAPI schema).
import type { AnalyzeRequest } from "../api/client";
import type { AnalysisDetail, EstimatorInfo } from "../api/types";
import { paramValues } from "./params";
import { ROLES, type RoleValues } from "./roles";

export interface FormState {
  datasetId: string;
  roles: RoleValues;
  /** A Wilkinson formula for the covariates; when given it replaces the ticked columns. */
  covariateFormula: string;
  /** Estimators to run; empty: every one that applies. */
  estimators: string[];
  /** One estimand for every estimator that offers it; empty: each estimator's own. */
  estimand: string;
  /** Parameter text as typed, per estimator. */
  params: Record<string, Record<string, string>>;
  enforce: boolean;
  seed: string;
  /** An uploaded edge list (source, target) linking the unit ids: network interference. */
  networkDatasetId: string;
}

export function emptyForm(datasetId: string, roles: RoleValues = {}): FormState {
  return {
    datasetId,
    roles,
    covariateFormula: "",
    estimators: [],
    estimand: "",
    params: {},
    enforce: false,
    seed: "0",
    networkDatasetId: "",
  };
}

/** The roles as the service takes them: columns, column lists, a formula, a cutoff number. */
export function requestRoles(state: FormState): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  for (const def of ROLES) {
    const v = state.roles[def.role];
    if (def.role === "covariates") {
      const formula = state.covariateFormula.trim();
      if (formula) out.covariates = formula;
      else if (Array.isArray(v) && v.length) out.covariates = v;
      else if (typeof v === "string" && v.trim()) out.covariates = v.trim();
      continue;
    }
    if (v === undefined) continue;
    if (def.kind === "columns") {
      const list = (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
      if (list.length) out[def.role] = list;
    } else if (def.kind === "value") {
      const text = String(v).trim();
      if (text) out[def.role] = Number.isFinite(Number(text)) ? Number(text) : text;
    } else if (typeof v === "string" && v.trim()) {
      out[def.role] = v.trim();
    }
  }
  return out;
}

/**
 * The request: roles, the estimators chosen, their parameters (the estimand applied to
 * every estimator that offers it, among ``applicable``), gate options and the seed.
 */
export function buildRequest(
  state: FormState,
  registry: EstimatorInfo[],
  applicable: string[],
): AnalyzeRequest {
  const byName = new Map(registry.map((e) => [e.name, e]));
  const params: Record<string, Record<string, unknown>> = {};
  for (const [name, typed] of Object.entries(state.params)) {
    const info = byName.get(name);
    if (!info) continue;
    const values = paramValues(info.parameters, typed);
    if (Object.keys(values).length) params[name] = values;
  }
  if (state.estimand) {
    const targets = state.estimators.length ? state.estimators : applicable;
    for (const name of targets) {
      const info = byName.get(name);
      if (info && info.estimands.includes(state.estimand) && info.parameters.some((p) => p.name === "estimand")) {
        params[name] = { ...(params[name] ?? {}), estimand: state.estimand };
      }
    }
  }
  const seed = Number(state.seed);
  const request: AnalyzeRequest = {
    dataset_id: state.datasetId,
    roles: requestRoles(state),
    options: { params, seed: Number.isInteger(seed) && seed >= 0 ? seed : 0, wait_s: 0 },
  };
  if (state.estimators.length) request.estimators = state.estimators;
  if (state.networkDatasetId) request.network_dataset_id = state.networkDatasetId;
  if (state.enforce) request.quality_gates = { enforce: true, fail_on: "fail", thresholds: {} };
  return request;
}

/** The form of an earlier analysis, to run it again with changes. */
export function formFromAnalysis(detail: AnalysisDetail): FormState {
  const req = detail.request ?? {};
  const roles: RoleValues = {};
  let formula = "";
  for (const [role, value] of Object.entries(req.roles ?? {})) {
    if (role === "covariates" && typeof value === "string") formula = value;
    else if (Array.isArray(value)) roles[role] = value.map(String);
    else if (value !== null && value !== undefined) roles[role] = String(value);
  }
  const params: Record<string, Record<string, string>> = {};
  let estimand = "";
  for (const [name, values] of Object.entries(req.params ?? {})) {
    for (const [key, value] of Object.entries(values)) {
      if (key === "estimand") {
        estimand = String(value);
        continue;
      }
      params[name] = { ...(params[name] ?? {}), [key]: typeof value === "object" ? JSON.stringify(value) : String(value) };
    }
  }
  return {
    datasetId: detail.dataset_id ?? "",
    roles,
    covariateFormula: formula,
    estimators: req.estimators ?? [],
    estimand,
    params,
    enforce: Boolean(req.quality_gates?.enforce),
    seed: String(req.seed ?? 0),
    networkDatasetId: req.network_dataset_id ?? "",
  };
}
