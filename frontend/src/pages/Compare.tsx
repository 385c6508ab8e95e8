import { useEffect, useState } from "react";
import { api, errorMessage, unwrap, type ApiError } from "../api/client";
import type { AnalysisDetail } from "../api/types";
import { ErrorBox, StatusBadge } from "../components/ErrorBox";
import { num, percent, rolesLine, when } from "../lib/format";
import { ConsensusTable, verdictSentence } from "./Result";

export function ComparePage({ a, b }: { a: string; b: string }) {
  const [pair, setPair] = useState<[AnalysisDetail, AnalysisDetail] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    const get = (id: string) =>
      api.GET("/api/analyses/{analysis_id}", { params: { path: { analysis_id: id } } }).then((r) => unwrap(r) as unknown as AnalysisDetail);
    Promise.all([get(a), get(b)])
      .then((p) => setPair(p))
      .catch((e) => setError(errorMessage(e)));
  }, [a, b]);
  if (error) return <ErrorBox error={error} />;
  if (!pair) return <p className="muted">loading…</p>;
  const estimands = [...new Set(pair.flatMap((d) => Object.keys(d.result.consensus ?? {})))];
  return (
    <>
      <h1 tabIndex={-1}>Compare two analyses</h1>
      <section className="panel">
        <h2>Consensus side by side</h2>
        <div className="table-scroll" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">estimand</th>
                <th scope="col" className="n">A</th>
                <th scope="col" className="n">B</th>
                <th scope="col" className="n">B − A</th>
                <th scope="col" className="n">agreement A / B</th>
              </tr>
            </thead>
            <tbody>
              {estimands.map((k) => {
                const [ca, cb] = pair.map((d) => d.result.consensus?.[k]);
                return (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td className="n">{num(ca?.estimate)}</td>
                    <td className="n">{num(cb?.estimate)}</td>
                    <td className="n">{ca && cb ? num(cb.estimate - ca.estimate) : "—"}</td>
                    <td className="n">
                      {percent(ca?.agreement)} / {percent(cb?.agreement)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
      <div className="compare">
        {pair.map((d, i) => (
          <section className="panel" key={d.analysis_id} aria-label={`analysis ${i === 0 ? "A" : "B"}`}>
            <h2>
              {i === 0 ? "A" : "B"}: {d.dataset_name ?? "(deleted data set)"}
            </h2>
            <p className="muted">
              {when(d.created_at)} · {d.result.designs.join(", ") || "estimators named"} · {rolesLine(d.result.roles)}
            </p>
            <p>
              <StatusBadge status={d.result.quality?.verdict} /> {verdictSentence(d.result)}
            </p>
            <ConsensusTable result={d.result} />
            <p>
              <a href={`#/result/${d.analysis_id}`}>Open {i === 0 ? "A" : "B"}</a>
            </p>
          </section>
        ))}
      </div>
    </>
  );
}
