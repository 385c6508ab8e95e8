import { useCallback, useEffect, useState } from "react";
import type { Me } from "../App";
import { api, authFetch, errorMessage, toApiError, unwrap, type ApiError } from "../api/client";
import type { DatasetSummary } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { bytes, when } from "../lib/format";
import { go } from "../lib/route";

const ACCEPT = ".csv,.tsv,.txt,.parquet,.pq,.xlsx,.xls,.json,.ndjson,.jsonl,.gz";

export function DataPage({ me }: { me: Me }) {
  const [datasets, setDatasets] = useState<DatasetSummary[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const canWrite = me.role !== "viewer";

  const load = useCallback(async () => {
    try {
      const body = unwrap(await api.GET("/api/datasets")) as unknown as { datasets: DatasetSummary[] };
      setDatasets(body.datasets);
    } catch (e) {
      setError(errorMessage(e));
    }
  }, []);
  useEffect(() => void load(), [load]);

  const upload = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setStatus(`uploading ${file.name}…`);
    const form = new FormData();
    form.append("file", file);
    const r = await authFetch("/api/upload", { method: "POST", body: form });
    const body = await r.json().catch(() => undefined);
    if (!r.ok) {
      setStatus("");
      setError(toApiError(body, r.status));
      return;
    }
    const d = body as DatasetSummary;
    setStatus(`uploaded ${d.name}: ${d.rows} rows × ${d.columns} columns`);
    (e.target as HTMLFormElement).reset();
    setFile(null);
    go(`/analyse/${d.dataset_id}`);
  };

  const remove = async (d: DatasetSummary) => {
    if (!window.confirm(`Delete the data set ${d.name}? Its analyses stay.`)) return;
    try {
      unwrap(await api.DELETE("/api/datasets/{dataset_id}", { params: { path: { dataset_id: d.dataset_id } } }));
      setStatus(`deleted ${d.name}`);
      await load();
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>Data sets</h1>
      {canWrite && (
        <section className="panel" aria-labelledby="upload-h">
          <h2 id="upload-h">Upload a table</h2>
          <form onSubmit={(e) => void upload(e)} className="row">
            <label>
              Table (CSV, Parquet, Excel, JSON)
              <input
                type="file"
                name="file"
                accept={ACCEPT}
                required
                onChange={(e) => {
                  setFile(e.target.files?.[0] ?? null);
                  setError(null);
                  setStatus("");
                }}
              />
            </label>
            <button type="submit" disabled={!file}>
              Upload
            </button>
          </form>
          <p className="muted" role="status">
            {status}
          </p>
          <ErrorBox error={error} />
        </section>
      )}
      {!canWrite && <ErrorBox error={error} />}
      <section className="panel" aria-labelledby="list-h">
        <h2 id="list-h">Your data sets</h2>
        {datasets === null ? (
          <p className="muted">loading…</p>
        ) : datasets.length === 0 ? (
          <p className="muted">No data set yet: upload a table above.</p>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <table>
              <caption className="sr-only">Data sets with their size, upload time and owner</caption>
              <thead>
                <tr>
                  <th scope="col">name</th>
                  <th scope="col" className="n">rows</th>
                  <th scope="col" className="n">columns</th>
                  <th scope="col" className="n">size</th>
                  <th scope="col">uploaded</th>
                  <th scope="col">owner</th>
                  <th scope="col">domain</th>
                  <th scope="col">actions</th>
                </tr>
              </thead>
              <tbody>
                {datasets.map((d) => (
                  <tr key={d.dataset_id}>
                    <th scope="row" className="wrap">{d.name}</th>
                    <td className="n">{d.rows.toLocaleString()}</td>
                    <td className="n">{d.columns}</td>
                    <td className="n">{bytes(d.size)}</td>
                    <td>{when(d.created_at)}</td>
                    <td>{d.owner ?? "—"}</td>
                    <td>{d.domain?.domain ?? "unknown"}</td>
                    <td className="actions">
                      <a href={`#/analyse/${d.dataset_id}`} aria-label={`Analyse ${d.name}`}>
                        Analyse
                      </a>
                      {canWrite && (
                        <button type="button" className="link danger" onClick={() => void remove(d)} aria-label={`Delete ${d.name}`}>
                          Delete
                        </button>
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
