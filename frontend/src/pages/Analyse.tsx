// The analysis form: data preview and profile, every role (inferred ones with their
// confidence and reason), the designs the roles support, per-design fields, estimand
// and estimator parameters checked by the service, then a run with live progress.
import { useEffect, useMemo, useRef, useState } from "react";
import type { Me } from "../App";
import { api, errorMessage, toApiError, unwrap, type ApiError, type Schemas } from "../api/client";
import type { AnalysisDetail, DatasetDetail, DatasetSummary, EstimatorInfo, ProgressEvent } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { num, statusText } from "../lib/format";
import { paramValues } from "../lib/params";
import { buildRequest, emptyForm, formFromAnalysis, type FormState } from "../lib/request";
import { guessesByRole, initialRoles } from "../lib/roles";
import { go } from "../lib/route";
import { followJob } from "../lib/sse";
import { ParamField } from "./ParamField";
import { RoleEditor } from "./RoleEditor";

/** Fields each design needs beyond its roles: estimator parameters shown up front. */
export const DESIGN_FIELDS: Record<string, { estimator: string; param: string }[]> = {
  synthetic_control: [
    { estimator: "synth", param: "treated_unit" },
    { estimator: "synth", param: "treatment_time" },
  ],
  rd: [
    { estimator: "rd", param: "h" },
    { estimator: "rd", param: "kernel" },
  ],
  staggered_did: [
    { estimator: "did_cs", param: "control_group" },
    { estimator: "did_cs", param: "aggregation" },
  ],
  its: [{ estimator: "its", param: "interruption" }],
  panel_matching: [
    { estimator: "panel_match", param: "lags" },
    { estimator: "panel_match", param: "leads" },
  ],
};

const DESIGN_NAMES: Record<string, string> = {
  backdoor: "Backdoor (unconfoundedness)",
  iv: "Instrumental variables",
  rd: "Regression discontinuity",
  did: "Difference-in-differences",
  staggered_did: "Staggered difference-in-differences",
  synthetic_control: "Synthetic control",
  its: "Interrupted time series",
  panel_matching: "Panel matching",
  off_policy: "Off-policy evaluation",
  cate: "Heterogeneous effects (CATE)",
  network: "Network interference",
};

const FAMILY_NAMES: Record<string, string> = {
  backdoor: "Average effects (backdoor)",
  cate: "Heterogeneous effects (CATE)",
  policy: "Policy learning and evaluation",
  bootstrap: "Bootstrap (wraps an estimator)",
  did: "Difference-in-differences",
  iv: "Instrumental variables",
  rd: "Regression discontinuity",
  synthetic_control: "Synthetic control",
  its: "Interrupted time series",
  staggered_did: "Staggered difference-in-differences",
  panel_matching: "Panel matching",
  network: "Network interference",
  off_policy: "Off-policy evaluation",
};

/** Estimators grouped by what they estimate (CATE, policy, bootstrap) or their first design. */
function byFamily(estimators: EstimatorInfo[]): [string, EstimatorInfo[]][] {
  const groups = new Map<string, EstimatorInfo[]>();
  for (const e of estimators) {
    const key = ["cate", "policy", "bootstrap"].includes(e.family) ? e.family : (e.designs[0] ?? e.family);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups.entries()];
}

/** A design the roles support (``POST /api/designs``; named_only: runs only when ticked). */
type DesignInfo = Schemas["DesignInfo"];

interface Preview {
  columns: string[];
  rows: unknown[][];
}

export function AnalysePage({ datasetId, fromAnalysis, me }: { datasetId: string; fromAnalysis: string | null; me: Me }) {
  const [dataset, setDataset] = useState<DatasetDetail | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [registry, setRegistry] = useState<EstimatorInfo[]>([]);
  const [form, setForm] = useState<FormState>(() => emptyForm(datasetId));
  const [designs, setDesigns] = useState<DesignInfo[]>([]);
  const [designError, setDesignError] = useState<ApiError | null>(null);
  const [paramErrors, setParamErrors] = useState<Record<string, ApiError | null>>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState("");
  const [job, setJob] = useState<{ id: string; event: ProgressEvent | null } | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [others, setOthers] = useState<DatasetSummary[]>([]);

  useEffect(() => {
    let alive = true;
    setDataset(null);
    setError(null);
    setNotice("");
    (async () => {
      try {
        const [d, p, reg] = await Promise.all([
          api.GET("/api/datasets/{dataset_id}", { params: { path: { dataset_id: datasetId } } }).then(unwrap),
          api.GET("/api/datasets/{dataset_id}/preview", { params: { path: { dataset_id: datasetId }, query: { rows: 200 } } }).then(unwrap),
          api.GET("/api/estimators").then(unwrap),
        ]);
        if (!alive) return;
        const detail = d as unknown as DatasetDetail;
        setDataset(detail);
        setPreview(p as unknown as Preview);
        setRegistry(reg.estimators);
        let start = emptyForm(datasetId, initialRoles(detail.roles));
        if (fromAnalysis) {
          const a = unwrap(await api.GET("/api/analyses/{analysis_id}", { params: { path: { analysis_id: fromAnalysis } } }));
          start = { ...formFromAnalysis(a as unknown as AnalysisDetail), datasetId };
        }
        if (alive) setForm(start);
      } catch (e) {
        if (alive) setLoadError(errorMessage(e));
      }
    })();
    return () => {
      alive = false;
    };
  }, [datasetId, fromAnalysis]);

  // the designs of the roles, asked of the service whenever the roles change
  const rolesKey = JSON.stringify([form.roles, form.covariateFormula]);
  useEffect(() => {
    if (!dataset) return;
    const timer = window.setTimeout(async () => {
      const body = buildRequest(form, registry, []);
      const r = await api.POST("/api/designs", { body: { roles: body.roles ?? {} } });
      if (r.response.ok && r.data) {
        setDesigns(r.data.designs);
        setDesignError(null);
      } else {
        setDesigns([]);
        setDesignError(toApiError(r.error, r.response.status));
      }
    }, 250);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rolesKey, dataset]);

  // the edge lists a network design can use: the user's other data sets, listed once it applies
  const networkDesign = designs.some((d) => d.design === "network");
  useEffect(() => {
    if (!networkDesign) return;
    let alive = true;
    void api
      .GET("/api/datasets")
      .then((r) => {
        const all = (unwrap(r) as unknown as { datasets: DatasetSummary[] }).datasets;
        if (alive) setOthers(all.filter((d) => d.dataset_id !== datasetId));
      })
      .catch((e) => alive && setDesignError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [networkDesign, datasetId]);

  // the parameters typed for each estimator, checked by the service (the engine's messages)
  const paramsKey = JSON.stringify(form.params);
  useEffect(() => {
    const timer = window.setTimeout(async () => {
      const next: Record<string, ApiError | null> = {};
      for (const [name, typed] of Object.entries(form.params)) {
        const info = registry.find((e) => e.name === name);
        if (!info) continue;
        const values = paramValues(info.parameters, typed);
        if (!Object.keys(values).length) {
          next[name] = null;
          continue;
        }
        const r = await api.POST("/api/estimators/{name}/check", { params: { path: { name } }, body: { params: values } });
        next[name] = r.response.ok ? null : toApiError(r.error, r.response.status);
      }
      setParamErrors(next);
    }, 350);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [paramsKey, registry]);

  // per-design fields shown up front are not repeated among the estimator's parameters
  const upFront = useMemo(
    () => new Set(designs.flatMap((d) => (DESIGN_FIELDS[d.design] ?? []).map((f) => `${f.estimator}.${f.param}`))),
    [designs],
  );
  const applicable = useMemo(() => [...new Set(designs.flatMap((d) => d.estimators))], [designs]);
  const estimands = useMemo(
    () => [...new Set(registry.filter((e) => applicable.includes(e.name)).flatMap((e) => e.estimands))],
    [registry, applicable],
  );
  const unitValues = useMemo(() => {
    const unit = form.roles.unit;
    if (!preview || typeof unit !== "string" || !unit) return [];
    const i = preview.columns.indexOf(unit);
    return i < 0 ? [] : [...new Set(preview.rows.map((r) => String(r[i])))].slice(0, 100);
  }, [preview, form.roles.unit]);

  const change = (patch: Partial<FormState>) => {
    setForm((f) => ({ ...f, ...patch }));
    setError(null); // a stale error never stays under a changed form
    setNotice("");
  };
  const setParam = (estimator: string, param: string, text: string) =>
    change({ params: { ...form.params, [estimator]: { ...(form.params[estimator] ?? {}), [param]: text } } });

  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  const run = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice("");
    const body = buildRequest(form, registry, applicable);
    const r = await api.POST("/api/analyze/comprehensive", { body });
    const answer = (r.data ?? r.error) as { job_id?: string; analysis_id?: string; status?: string } | undefined;
    if (!r.response.ok) {
      setError(toApiError(r.error, r.response.status));
      return;
    }
    if (r.response.status === 200 && answer?.analysis_id) {
      go(`/result/${answer.analysis_id}`);
      return;
    }
    const jobId = answer?.job_id as string;
    setJob({ id: jobId, event: null });
    abort.current = new AbortController();
    try {
      const last = await followJob(jobId, (event) => setJob({ id: jobId, event }), abort.current.signal);
      setJob(null);
      if (last?.status === "succeeded" && last.analysis_id) go(`/result/${last.analysis_id}`);
      else if (last?.status === "cancelled") setNotice("The analysis was cancelled.");
      else if (last?.error) setError({ code: last.error.code, message: last.error.message, details: last.error.details });
      else setError({ code: "NO_PROGRESS", message: "the progress stream ended before the job did; see Analyses" });
    } catch (err) {
      setJob(null);
      if (!(err instanceof DOMException && err.name === "AbortError")) setError(errorMessage(err));
    }
  };

  const cancel = async () => {
    if (!job) return;
    const r = await api.DELETE("/api/jobs/{job_id}", { params: { path: { job_id: job.id } } });
    if (!r.response.ok) setError(toApiError(r.error, r.response.status));
  };

  if (loadError) return <ErrorBox error={loadError} />;
  if (!dataset) return <p className="muted">loading…</p>;
  const profiles = dataset.statistics.column_profiles ?? [];
  const guesses = guessesByRole(dataset.roles.inferred);
  const running = job !== null;
  const runnable = designs.some((d) => !d.named_only) || form.estimators.length > 0;
  const event = job?.event;
  const percent = event?.percent ?? 0;

  return (
    <>
      <h1 tabIndex={-1}>Analyse {dataset.name}</h1>
      <p className="muted">
        {dataset.rows.toLocaleString()} rows × {dataset.columns} columns · {dataset.format}
        {fromAnalysis ? " · settings of an earlier analysis loaded: change them and run again" : ""}
      </p>

      <section className="panel" aria-labelledby="preview-h">
        <h2 id="preview-h">Data preview</h2>
        {preview && (
          <div className="table-scroll preview" tabIndex={0}>
            <table>
              <caption className="sr-only">First rows of {dataset.name}</caption>
              <thead>
                <tr>
                  {preview.columns.map((c) => (
                    <th scope="col" key={c}>
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {preview.rows.slice(0, 8).map((row, i) => (
                  <tr key={i}>
                    {row.map((cell, j) => (
                      <td key={j}>{typeof cell === "number" ? num(cell, 5) : cell === null ? "—" : String(cell)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <details>
          <summary>Profile of the {profiles.length} columns</summary>
          <div className="table-scroll" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">column</th>
                  <th scope="col">kind</th>
                  <th scope="col" className="n">missing</th>
                  <th scope="col" className="n">unique</th>
                  <th scope="col" className="n">mean</th>
                  <th scope="col" className="n">sd</th>
                  <th scope="col" className="n">min</th>
                  <th scope="col" className="n">max</th>
                </tr>
              </thead>
              <tbody>
                {profiles.map((p) => (
                  <tr key={p.name}>
                    <th scope="row">{p.name}</th>
                    <td>{p.kind}</td>
                    <td className="n">{p.missing}</td>
                    <td className="n">{p.unique}</td>
                    <td className="n">{num(p.mean)}</td>
                    <td className="n">{num(p.sd)}</td>
                    <td className="n">{num(p.min)}</td>
                    <td className="n">{num(p.max)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </section>

      <form onSubmit={(e) => void run(e)} aria-describedby="run-status">
        <section className="panel" aria-labelledby="roles-h">
          <h2 id="roles-h">Roles</h2>
          <p className="muted">Inferred roles show their confidence and reason; every role can be changed.</p>
          <RoleEditor
            values={form.roles}
            formula={form.covariateFormula}
            profiles={profiles}
            candidates={dataset.statistics.candidate_roles ?? {}}
            guesses={guesses}
            onChange={(role, value) => change({ roles: { ...form.roles, [role]: value } })}
            onFormula={(text) => change({ covariateFormula: text })}
          />
        </section>

        <section className="panel" aria-labelledby="designs-h">
          <h2 id="designs-h">Designs these roles support</h2>
          <ErrorBox error={designError} />
          {designs.length === 0 && !designError && <p className="muted">No design yet: give an outcome and a treatment, or the roles of a panel, IV or RD design.</p>}
          <ul className="designs">
            {designs.map((d) => (
              <li key={d.design} data-design={d.design}>
                <strong>{DESIGN_NAMES[d.design] ?? statusText(d.design)}</strong>
                <span className="muted"> · {d.estimators.join(", ") || "no estimator yet"}</span>
                {d.named_only && <span className="muted"> · runs when its estimator is ticked below</span>}
                {d.design === "network" && (
                  <div className="grid">
                    <div className="field">
                      <label htmlFor="network-dataset">Network: edge list</label>
                      <select id="network-dataset" value={form.networkDatasetId} onChange={(e) => change({ networkDatasetId: e.target.value })} aria-describedby="network-dataset-help">
                        <option value="">— no network —</option>
                        {others.map((o) => (
                          <option key={o.dataset_id} value={o.dataset_id}>
                            {o.name} ({o.rows.toLocaleString()} rows)
                          </option>
                        ))}
                      </select>
                      <span className="help" id="network-dataset-help">
                        an uploaded data set of edges (source, target) between the ids of the unit column; the network design then replaces the backdoor one
                      </span>
                    </div>
                  </div>
                )}
                {(DESIGN_FIELDS[d.design] ?? []).length > 0 && (
                  <div className="grid">
                    {DESIGN_FIELDS[d.design].map(({ estimator, param }) => {
                      const info = registry.find((e) => e.name === estimator)?.parameters.find((p) => p.name === param);
                      if (!info) return null;
                      const err = paramErrors[estimator];
                      return (
                        <ParamField
                          key={`${estimator}.${param}`}
                          estimator={estimator}
                          param={info}
                          value={form.params[estimator]?.[param] ?? ""}
                          invalid={Boolean(err && err.details?.parameter === param)}
                          onChange={(t) => setParam(estimator, param, t)}
                          suggestions={param === "treated_unit" ? unitValues : undefined}
                        />
                      );
                    })}
                  </div>
                )}
              </li>
            ))}
          </ul>
        </section>

        <section className="panel" aria-labelledby="est-h">
          <h2 id="est-h">Estimand and estimators</h2>
          <div className="grid">
            <div className="field">
              <label htmlFor="estimand">Estimand</label>
              <select id="estimand" value={form.estimand} onChange={(e) => change({ estimand: e.target.value })}>
                <option value="">each estimator's own (all)</option>
                {estimands.map((e) => (
                  <option key={e} value={e}>
                    {e}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="seed">Seed</label>
              <input id="seed" inputMode="numeric" value={form.seed} onChange={(e) => change({ seed: e.target.value })} />
            </div>
            <div className="field">
              <label className="check">
                <input type="checkbox" checked={form.enforce} onChange={(e) => change({ enforce: e.target.checked })} /> refuse results with a failing gate
              </label>
            </div>
          </div>
          <fieldset className="estimators">
            <legend>Estimators to run (none ticked: every one that applies)</legend>
            {byFamily(registry.filter((e) => applicable.includes(e.name))).map(([family, members]) => (
              <div key={family} className="family">
                <h3>{FAMILY_NAMES[family] ?? statusText(family)}</h3>
                {members.map((e) => {
                const err = paramErrors[e.name];
                return (
                  <div key={e.name} className="estimator">
                    <label className="check">
                      <input
                        type="checkbox"
                        name="estimator"
                        value={e.name}
                        checked={form.estimators.includes(e.name)}
                        onChange={(ev) =>
                          change({ estimators: ev.target.checked ? [...form.estimators, e.name] : form.estimators.filter((x) => x !== e.name) })
                        }
                      />
                      <b>{e.name}</b> <span className="muted">{e.summary}</span>
                    </label>
                    <details>
                      <summary>parameters of {e.name}</summary>
                      <div className="grid">
                        {e.parameters
                          .filter((p) => p.name !== "estimand" && !upFront.has(`${e.name}.${p.name}`))
                          .map((p) => (
                            <ParamField
                              key={p.name}
                              estimator={e.name}
                              param={p}
                              value={form.params[e.name]?.[p.name] ?? ""}
                              invalid={Boolean(err && err.details?.parameter === p.name)}
                              onChange={(t) => setParam(e.name, p.name, t)}
                            />
                          ))}
                      </div>
                    </details>
                    <ErrorBox error={err ?? null} />
                  </div>
                );
              })}
              </div>
            ))}
          </fieldset>
        </section>

        <section className="panel run" aria-labelledby="run-h">
          <h2 id="run-h">Run</h2>
          <div className="row">
            <button type="submit" disabled={running || me.role === "viewer" || !runnable}>
              {running ? "Running…" : "Run analysis"}
            </button>
            {running && (
              <button type="button" className="danger" onClick={() => void cancel()}>
                Cancel
              </button>
            )}
            {me.role === "viewer" && <span className="muted">viewers cannot run analyses</span>}
          </div>
          {running && (
            <div className="progress">
              <progress max={100} value={percent} aria-label="analysis progress" />
              <span>{percent}%</span>
            </div>
          )}
          <p id="run-status" role="status" aria-live="polite" className="muted">
            {running
              ? event
                ? `${statusText(event.stage)}${event.estimator ? ` · ${event.estimator}${event.estimand ? ` ${event.estimand}` : ""}` : ""} · ${percent}%`
                : "queued…"
              : notice}
          </p>
          <ErrorBox error={error} id="run-error" />
        </section>
      </form>
    </>
  );
}
