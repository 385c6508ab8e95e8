import type { Schemas } from "./client";

// Shapes of the analysis JSON (docs/design.md, "Command line": the Analysis JSON) and of
// the list answers.  The service declares these answers as free-form objects in its
// OpenAPI schema, so they are written out here, field for field with the engine.
export type Status = "pass" | "warn" | "fail" | "not_applicable" | "not_checked";

export interface Gate {
  name: string;
  value: number | null;
  threshold: number | null;
  status: Status;
  message: string;
  details?: Record<string, unknown>;
}

export type Row = Record<string, unknown>;

export interface Estimate {
  estimator: string;
  estimand: string;
  estimate: number | null;
  se: number | null;
  ci: [number | null, number | null];
  ci_level?: number;
  p_value: number | null;
  n: number | null;
  n_treated?: number | null;
  n_control?: number | null;
  /** Rows in, rows dropped, units per arm (and per exposure condition for network estimators). */
  counts?: Record<string, number>;
  /** Estimator diagnostics (for CATE estimators: "cate" with n, mean, sd, quantiles). */
  diagnostics?: Record<string, unknown>;
  gates: Gate[];
  tables: Record<string, Row[]>;
  params: Record<string, unknown>;
  warnings: string[];
  method?: string;
  status: Status;
  elapsed_s?: number;
}

export interface Consensus {
  estimate: number;
  min: number;
  max: number;
  n_estimators: number;
  estimators: string[];
  excluded: string[];
  excluded_failed_gates?: string[];
  agreement: number;
  same_sign: boolean;
  n_significant: number;
  method: string;
}

export interface RoleGuess {
  role: string;
  column: string;
  confidence: number;
  reason: string;
  source?: string;
}

export interface Quality {
  verdict: string;
  counts: Record<string, number>;
  n_checked: number;
  n_estimates: number;
  flagged_gates: string[];
  score?: number;
}

export interface AnalysisResult {
  roles: Record<string, unknown> & { inferred?: RoleGuess[] };
  designs: string[];
  estimates: Estimate[];
  consensus: Record<string, Consensus>;
  sensitivity: Record<string, unknown>;
  gates: Gate[];
  quality: Quality;
  failures: { estimator: string; message: string; estimand?: string }[];
  warnings: string[];
  truth?: Record<string, number>;
  elapsed_s: number;
}

export interface AnalysisDetail {
  analysis_id: string;
  kind: string;
  dataset_id: string | null;
  dataset_name?: string | null;
  created_at: string;
  elapsed_s: number;
  verdict: string | null;
  result: AnalysisResult;
  request?: {
    roles?: Record<string, unknown>;
    estimators?: string[] | null;
    params?: Record<string, Record<string, unknown>>;
    quality_gates?: { enforce?: boolean };
    seed?: number;
    network_dataset_id?: string | null;
  };
}

export interface AnalysisSummary {
  analysis_id: string;
  kind: string;
  dataset_id: string | null;
  dataset_name?: string | null;
  created_at: string;
  elapsed_s: number;
  estimates: number;
  consensus: Record<string, Consensus>;
  verdict: string | null;
  roles?: Record<string, unknown>;
}

export interface ColumnProfile {
  name: string;
  dtype: string;
  kind: string;
  missing: number;
  missing_share?: number;
  unique: number;
  mean?: number;
  sd?: number;
  min?: number;
  max?: number;
  median?: number;
  top?: unknown;
}

export interface DatasetSummary {
  dataset_id: string;
  name: string;
  format: string;
  rows: number;
  columns: number;
  size: number;
  created_at: string;
  owner?: string | null;
  roles: Record<string, unknown> & { inferred?: RoleGuess[] };
  domain?: { domain?: string } | null;
}

export interface DatasetDetail extends DatasetSummary {
  schema: { name: string; dtype?: string }[];
  statistics: {
    column_profiles?: ColumnProfile[];
    candidate_roles?: Record<string, RoleGuess[]>;
    complete_rows?: number;
    missing_cells?: number;
  };
}

/** An estimator parameter and a registered estimator, typed by the OpenAPI schema. */
export type Parameter = Schemas["ParameterInfo"];
export type EstimatorInfo = Schemas["EstimatorInfo"];

export interface ProgressEvent {
  job_id: string;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  stage: string;
  step: string;
  estimator: string | null;
  estimand: string | null;
  progress: number;
  percent: number;
  analysis_id: string | null;
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
}

export interface FigureInfo {
  name: string;
  title: string;
  caption: string;
  /** Also served as an animated GIF (``?format=gif``). */
  animated?: boolean;
  json: string;
  png: string;
}
