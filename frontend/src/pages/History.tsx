import { useEffect, useState } from "react";
import type { Me } from "../App";
import { api, errorMessage, unwrap, type ApiError } from "../api/client";
import type { AnalysisSummary } from "../api/types";
import { ErrorBox, StatusBadge } from "../components/ErrorBox";
import { num, rolesLine, when } from "../lib/format";
import { go } from "../lib/route";

export function HistoryPage({ me }: { me: Me }) {
  const [rows, setRows] = useState<AnalysisSummary[] | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    api
      .GET("/api/analyses", { params: { query: { limit: 100 } } })
      .then((r) => setRows((unwrap(r) as unknown as { analyses: AnalysisSummary[] }).analyses))
      .catch((e) => setError(errorMessage(e)));
  }, []);
  const toggle = (id: string, on: boolean) =>
    setPicked((p) => (on ? [...p.filter((x) => x !== id), id].slice(-2) : p.filter((x) => x !== id)));

  return (
    <>
      <h1 tabIndex={-1}>Analyses</h1>
      <ErrorBox error={error} />
      <section className="panel">
        <div className="row">
          <button type="button" disabled={picked.length !== 2} onClick={() => go(`/compare/${picked[0]}/${picked[1]}`)}>
            Compare the two ticked
          </button>
          <span className="muted" role="status">
            {picked.length} of 2 ticked
          </span>
        </div>
        {rows === null ? (
          <p className="muted">loading…</p>
        ) : rows.length === 0 ? (
          <p className="muted">No analysis yet.</p>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <table>
              <caption className="sr-only">Earlier analyses with their data set, roles and verdict</caption>
              <thead>
                <tr>
                  <th scope="col">compare</th>
                  <th scope="col">when</th>
                  <th scope="col">data set</th>
                  <th scope="col">roles</th>
                  <th scope="col">consensus</th>
                  <th scope="col">verdict</th>
                  <th scope="col">actions</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((a) => (
                  <tr key={a.analysis_id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`compare the analysis of ${a.dataset_name ?? "a deleted data set"} from ${when(a.created_at)}`}
                        checked={picked.includes(a.analysis_id)}
                        onChange={(e) => toggle(a.analysis_id, e.target.checked)}
                      />
                    </td>
                    <td>{when(a.created_at)}</td>
                    <td className="wrap">{a.dataset_name ?? "(deleted)"}</td>
                    <td className="wrap">{rolesLine(a.roles)}</td>
                    <td className="wrap">
                      {Object.entries(a.consensus ?? {})
                        .map(([k, c]) => `${k} ${num(c.estimate)}`)
                        .join(" · ") || "—"}
                    </td>
                    <td>
                      <StatusBadge status={a.verdict} />
                    </td>
                    <td className="actions">
                      <a href={`#/result/${a.analysis_id}`}>Open</a>
                      {me.role !== "viewer" && a.dataset_id && a.dataset_name && (
                        <a href={`#/analyse/${a.dataset_id}?from=${a.analysis_id}`}>Re-run</a>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
