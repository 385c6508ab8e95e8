// One analysis: readable verdict, consensus with agreement, every note beside the
// estimates (warnings, estimators not run, row deletions, inferred roles), the gate
// table with filters, the figures, and the report (download, viewer link).
import { useEffect, useMemo, useState } from "react";
import type { Me } from "../App";
import { api, authFetch, dispositionFilename, errorMessage, toApiError, unwrap, type ApiError } from "../api/client";
import type { AnalysisDetail, AnalysisResult } from "../api/types";
import { ErrorBox, StatusBadge } from "../components/ErrorBox";
import { DesignViews } from "../figures/DesignViews";
import { EffectPaths, ForestPlot, Gallery, QualityRadar } from "../figures/Figures";
import { num, percent, pValue, rolesLine, statusText, when } from "../lib/format";

export function verdictSentence(result: AnalysisResult): string {
  const q = result.quality;
  if (!q) return "No quality assessment.";
  const c = q.counts ?? {};
  const checks = `${c.pass ?? 0} passed, ${c.warn ?? 0} warned, ${c.fail ?? 0} failed of ${q.n_checked} checks on ${q.n_estimates} estimates`;
  const flagged = q.flagged_gates?.length ? `; flagged: ${q.flagged_gates.join(", ")}` : "";
  const lead: Record<string, string> = {
    pass: "Every applicable check passed",
    warn: "Usable, with warnings",
    fail: "At least one check failed: read the flagged gates before using the estimates",
    not_checked: "No check applied to these estimates",
  };
  return `${lead[q.verdict] ?? statusText(q.verdict)} — ${checks}${flagged}.`;
}

/** "rows" for a note about rows left out (missing values, trimming), else "warning". */
function noteKind(text: string): string {
  return /\brows?\b|dropped|deleted|missing/i.test(text) ? "rows" : "warning";
}

/** Everything the engine noted, as lines: estimators not run, warnings, inferred roles. */
export function notesOf(result: AnalysisResult): { kind: string; text: string }[] {
  const out: { kind: string; text: string }[] = [];
  const seen = new Set<string>();
  for (const f of result.failures ?? []) {
    const text = `${f.estimator}: ${f.message}`;
    if (!seen.has(text)) out.push({ kind: "not run", text });
    seen.add(text);
  }
  for (const w of result.warnings ?? []) {
    if (!seen.has(w)) out.push({ kind: noteKind(w), text: w });
    seen.add(w);
  }
  for (const e of result.estimates) {
    for (const w of e.warnings ?? []) {
      const text = `${e.estimator} ${e.estimand}: ${w}`;
      if (!seen.has(w)) out.push({ kind: noteKind(w), text });
      seen.add(w);
    }
  }
  for (const g of result.roles?.inferred ?? []) {
    if (g.source === "inferred") out.push({ kind: "inferred", text: `${g.role} = ${g.column} (${Math.round(100 * g.confidence)}%): ${g.reason}` });
  }
  return out;
}

function GateTable({ result }: { result: AnalysisResult }) {
  const [status, setStatus] = useState("");
  const [text, setText] = useState("");
  const rows = useMemo(
    () => [
      ...result.estimates.flatMap((e) => e.gates.map((g) => ({ what: `${e.estimator} ${e.estimand}`, g }))),
      // gates of the analysis as a whole (raw balance, collinearity, refutations)
      ...(result.gates ?? []).map((g) => ({ what: "analysis", g })),
    ],
    [result],
  );
  const shown = rows.filter(
    ({ what, g }) =>
      (!status || g.status === status) &&
      (!text || `${what} ${g.name} ${g.message}`.toLowerCase().includes(text.toLowerCase())),
  );
  return (
    <>
      <div className="row filters">
        <label>
          status
          <select value={status} onChange={(e) => setStatus(e.target.value)} aria-controls="gate-table">
            <option value="">all</option>
            {["pass", "warn", "fail", "not_applicable"].map((s) => (
              <option key={s} value={s}>
                {statusText(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          search
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="gate, estimator or message" aria-controls="gate-table" />
        </label>
        <span className="muted" role="status">
          {shown.length} of {rows.length} gates
        </span>
      </div>
      <div className="table-scroll" tabIndex={0}>
        <table id="gate-table">
          <thead>
            <tr>
              <th scope="col">estimate</th>
              <th scope="col">gate</th>
              <th scope="col" className="n">value</th>
              <th scope="col" className="n">threshold</th>
              <th scope="col">status</th>
              <th scope="col">message</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(({ what, g }, i) => (
              <tr key={i}>
                <td>{what}</td>
                <td>{g.name}</td>
                <td className="n">{num(g.value)}</td>
                <td className="n">{num(g.threshold)}</td>
                <td>
                  <StatusBadge status={g.status} />
                </td>
                <td className="wrap">{g.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function ConsensusTable({ result }: { result: AnalysisResult }) {
  const entries = Object.entries(result.consensus ?? {});
  if (!entries.length)
    return <p className="muted">No consensus: no estimand has a usable estimate (estimates without an interval, or with failing gates, are left out).</p>;
  return (
    <div className="table-scroll" tabIndex={0}>
      <table>
        <thead>
          <tr>
            <th scope="col">estimand</th>
            <th scope="col" className="n">consensus</th>
            <th scope="col" className="n">range</th>
            <th scope="col" className="n">estimators</th>
            <th scope="col" className="n">agreement</th>
            <th scope="col">same sign</th>
            <th scope="col" className="n">significant</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(([estimand, c]) => (
            <tr key={estimand}>
              <th scope="row">{estimand}</th>
              <td className="n">{num(c.estimate)}</td>
              <td className="n">
                {num(c.min)} … {num(c.max)}
              </td>
              <td className="n">{c.n_estimators}</td>
              <td className="n">{percent(c.agreement)}</td>
              <td>{c.same_sign ? "yes" : "no"}</td>
              <td className="n">
                {c.n_significant} of {c.n_estimators}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ReportActions({ analysisId }: { analysisId: string }) {
  const [link, setLink] = useState<{ url: string; expires_at: string } | null>(null);
  const [hours, setHours] = useState("72");
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState("");

  const download = async () => {
    setError(null);
    const r = await authFetch(`/api/analyses/${encodeURIComponent(analysisId)}/report?download=true`);
    if (!r.ok) {
      setError(toApiError(await r.json().catch(() => undefined), r.status));
      return;
    }
    const name = dispositionFilename(r.headers.get("Content-Disposition")) ?? `cqox-report-${analysisId}.html`;
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    setStatus(`saved ${name}`);
  };

  const share = async () => {
    setError(null);
    const r = await api.POST("/api/analyses/{analysis_id}/share", {
      params: { path: { analysis_id: analysisId } },
      body: { hours: Number(hours) },
    });
    if (!r.response.ok || !r.data) {
      setError(toApiError(r.error, r.response.status));
      return;
    }
    const body = r.data;
    setLink({ url: `${window.location.origin}${body.url}`, expires_at: body.expires_at });
  };

  return (
    <div className="report-actions">
      <div className="row">
        <button type="button" onClick={() => void download()}>
          Download report
        </button>
        <label>
          link valid for (hours)
          <input className="short" inputMode="numeric" value={hours} onChange={(e) => { setHours(e.target.value); setError(null); }} />
        </label>
        <button type="button" className="secondary" onClick={() => void share()}>
          Create viewer link
        </button>
      </div>
      <p className="muted" role="status">
        {status}
      </p>
      {link && (
        <p className="share">
          <label htmlFor="share-url">Viewer link (no login needed) until {when(link.expires_at)}</label>
          <input id="share-url" readOnly value={link.url} onFocus={(e) => e.target.select()} />
          <a href={link.url} target="_blank" rel="noopener noreferrer">
            open
          </a>
        </p>
      )}
      <ErrorBox error={error} />
    </div>
  );
}

export function ResultPage({ analysisId, me }: { analysisId: string; me: Me }) {
  const [detail, setDetail] = useState<AnalysisDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let alive = true;
    setDetail(null);
    api
      .GET("/api/analyses/{analysis_id}", { params: { path: { analysis_id: analysisId } } })
      .then((r) => alive && setDetail(unwrap(r) as unknown as AnalysisDetail))
      .catch((e) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [analysisId]);
  const skip = useMemo(() => ["forest"], []);
  if (error) return <ErrorBox error={error} />;
  if (!detail) return <p className="muted">loading…</p>;
  const result = detail.result;
  const notes = notesOf(result);
  const verdict = result.quality?.verdict ?? "not_checked";

  return (
    <>
      <h1 tabIndex={-1}>Analysis of {detail.dataset_name ?? "a deleted data set"}</h1>
      <p className="muted">
        {when(detail.created_at)} · designs: {result.designs.join(", ") || "none"} · {num(result.elapsed_s, 3)} s · {rolesLine(result.roles)}
      </p>
      <div className={`verdict ${verdict}`} role="region" aria-label="verdict">
        <StatusBadge status={verdict} /> <span>{verdictSentence(result)}</span>
      </div>
      <div className="row actions-bar">
        {me.role !== "viewer" && detail.dataset_id && (
          <a className="button secondary" href={`#/analyse/${detail.dataset_id}?from=${analysisId}`}>
            Re-run with changes
          </a>
        )}
      </div>
      <ReportActions analysisId={analysisId} />

      <div className="result-grid">
        <section className="panel" aria-labelledby="consensus-h">
          <h2 id="consensus-h">Consensus</h2>
          <ConsensusTable result={result} />
          <h2 id="estimates-h">Estimates</h2>
          <div className="table-scroll" tabIndex={0}>
            <table id="estimates-table" aria-labelledby="estimates-h">
              <thead>
                <tr>
                  <th scope="col">estimator</th>
                  <th scope="col">estimand</th>
                  <th scope="col" className="n">estimate</th>
                  <th scope="col" className="n">SE</th>
                  <th scope="col" className="n">CI</th>
                  <th scope="col" className="n">p</th>
                  <th scope="col" className="n">n</th>
                  <th scope="col">gates</th>
                </tr>
              </thead>
              <tbody>
                {result.estimates.map((e, i) => (
                  <tr key={i}>
                    <th scope="row">{e.estimator}</th>
                    <td>{e.estimand}</td>
                    <td className="n" data-value={e.estimate ?? ""}>
                      {num(e.estimate)}
                    </td>
                    <td className="n">{num(e.se)}</td>
                    <td className="n">
                      [{num(e.ci[0])}, {num(e.ci[1])}]
                    </td>
                    <td className="n">{pValue(e.p_value)}</td>
                    <td className="n">{e.n ?? "—"}</td>
                    <td>
                      <StatusBadge status={e.status} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <aside className="panel notes" aria-labelledby="notes-h">
          <h2 id="notes-h">Notes ({notes.length})</h2>
          {notes.length === 0 ? (
            <p className="muted">No warnings, skipped estimators or row deletions.</p>
          ) : (
            <ul>
              {notes.map((n, i) => (
                <li key={i} className={`note ${n.kind.replace(" ", "-")}`}>
                  <span className="tag">{n.kind}</span> {n.text}
                </li>
              ))}
            </ul>
          )}
        </aside>
      </div>

      <DesignViews result={result} id={analysisId} />

      <section className="panel" aria-labelledby="gates-h">
        <h2 id="gates-h">Quality gates</h2>
        <GateTable result={result} />
      </section>

      <section className="panel figures" aria-labelledby="fig-h">
        <h2 id="fig-h">Figures</h2>
        <QualityRadar result={result} id={analysisId} />
        <ForestPlot result={result} id={analysisId} />
        <EffectPaths result={result} id={analysisId} />
        <Gallery analysisId={analysisId} skip={skip} />
      </section>
    </>
  );
}

