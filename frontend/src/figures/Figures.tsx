// The headline figures, drawn in the browser from the analysis JSON: quality radar,
// forest plot, effect paths (event study, synthetic control, ITS) and the effect
// animation over periods; then the gallery of every figure the server registers.
import { useEffect, useMemo, useState } from "react";
import type { Data, Layout } from "plotly.js";
import { api, downloadFile, errorMessage, unwrap } from "../api/client";
import type { AnalysisResult, FigureInfo } from "../api/types";
import { Plot } from "../components/Plot";
import { num } from "../lib/format";
import { effectPaths, type EffectPath } from "../lib/paths";
import { DIMENSIONS, qualityScores } from "../lib/quality";
import { forestFigure } from "./forest";

export function QualityRadar({ result, id }: { result: AnalysisResult; id: string }) {
  const scores = useMemo(() => qualityScores(result.estimates, result.gates ?? []), [result]);
  const data = useMemo<Data[]>(() => {
    const r = scores.map((s) => s.score ?? 0);
    const labels = scores.map((s) => s.dimension);
    return [
      {
        type: "scatterpolar",
        r: [...r, r[0]],
        theta: [...labels, labels[0]],
        fill: "toself",
        name: "quality",
        line: { color: "#2456a6" },
        customdata: [...scores, scores[0]].map((s) => (s.score === null ? "not checked" : `${Math.round(100 * s.score)}% of ${s.gates} gate(s)`)),
        hovertemplate: "%{theta}: %{customdata}<extra></extra>",
      } as Data,
    ];
  }, [scores]);
  const layout = useMemo<Partial<Layout>>(
    () => ({ height: 340, margin: { l: 60, r: 60, t: 30, b: 30 }, polar: { radialaxis: { range: [0, 1], tickvals: [0, 0.5, 1], ticktext: ["0", "50%", "100%"], angle: 90, tickangle: 90 } }, showlegend: false }),
    [],
  );
  return (
    <figure className="figure">
      <figcaption>
        <h3>Quality radar</h3>
        <p className="muted">
          Each axis is a function of the gates (pass 1, warn ½, fail 0; see the dashboard documentation).
        </p>
      </figcaption>
      <Plot data={data} layout={layout} label="Quality radar of five dimensions" filename={`cqox-${id}-quality`} />
      <div className="table-scroll" tabIndex={0}>
      <table className="compact" aria-label="quality dimensions">
        <thead>
          <tr>
            <th scope="col">dimension</th>
            <th scope="col">score</th>
            <th scope="col">gates</th>
            <th scope="col">flagged</th>
          </tr>
        </thead>
        <tbody>
          {scores.map((s) => (
            <tr key={s.dimension}>
              <th scope="row">{s.dimension}</th>
              <td>{s.score === null ? "not checked" : `${Math.round(100 * s.score)}%`}</td>
              <td>{s.gates}</td>
              <td className="wrap">{s.flagged.join(", ") || "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </figure>
  );
}

export function ForestPlot({ result, id }: { result: AnalysisResult; id: string }) {
  const { data, layout } = useMemo(() => forestFigure(result.estimates, result.consensus, result.truth ?? {}), [result]);
  if (!result.estimates.length) return null;
  return (
    <figure className="figure">
      <figcaption>
        <h3>Estimator comparison</h3>
        <p className="muted">Each estimate with its confidence interval, coloured by its gates; dashed: the consensus.</p>
      </figcaption>
      <div className="forest-scroll">
        <Plot data={data} layout={layout} label={`Forest plot of ${result.estimates.length} estimates`} filename={`cqox-${id}-forest`} />
      </div>
    </figure>
  );
}

function pathFigure(p: EffectPath, upTo: number): { data: Data[]; layout: Partial<Layout> } {
  const x = p.periods.slice(0, upTo);
  const data: Data[] = [];
  const hasBand = p.low.some((v) => v !== null);
  if (hasBand) {
    data.push({
      type: "scatter",
      mode: "lines",
      x: [...x, ...[...x].reverse()],
      y: [...p.high.slice(0, upTo), ...[...p.low.slice(0, upTo)].reverse()] as number[],
      fill: "toself",
      fillcolor: "rgba(36,86,166,0.15)",
      line: { width: 0 },
      name: "confidence interval",
      hoverinfo: "skip",
    } as Data);
  }
  data.push({
    type: "scatter",
    mode: "lines+markers",
    x,
    y: p.effect.slice(0, upTo),
    name: "effect",
    line: { color: "#2456a6" },
    hovertemplate: "%{x}: %{y:.4g}<extra></extra>",
  } as Data);
  const cut = p.periods[p.firstPost];
  const layout: Partial<Layout> = {
    height: 340,
    margin: { l: 60, r: 20, t: 20, b: 50 },
    xaxis: { title: { text: p.axis }, range: [Math.min(...p.periods) - 0.5, Math.max(...p.periods) + 0.5] },
    yaxis: { title: { text: "effect" }, zeroline: true, range: paddedRange([...p.effect, ...(p.low.filter((v) => v !== null) as number[]), ...(p.high.filter((v) => v !== null) as number[])]) },
    shapes:
      cut !== undefined
        ? [{ type: "line", x0: cut - 0.5, x1: cut - 0.5, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#777" } }]
        : [],
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
  };
  return { data, layout };
}

function paddedRange(values: number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return [-1, 1];
  const lo = Math.min(0, ...finite);
  const hi = Math.max(0, ...finite);
  const pad = (hi - lo || 1) * 0.08;
  return [lo - pad, hi + pad];
}

function seriesFigure(p: EffectPath): { data: Data[]; layout: Partial<Layout> } {
  const s = p.series!;
  return {
    data: [
      { type: "scatter", mode: "lines", x: p.periods, y: s.a, name: s.names[0], line: { color: "#2456a6" } } as Data,
      { type: "scatter", mode: "lines", x: p.periods, y: s.b, name: s.names[1], line: { color: "#b35c00", dash: "dash" } } as Data,
    ],
    layout: {
      height: 320,
      margin: { l: 60, r: 20, t: 20, b: 50 },
      xaxis: { title: { text: p.axis } },
      yaxis: { title: { text: "outcome" } },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      shapes: [
        { type: "line", x0: p.periods[p.firstPost] - 0.5, x1: p.periods[p.firstPost] - 0.5, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#777" } },
      ],
    },
  };
}

/** Saves an animated figure as a GIF rendered by the service (one frame per period). */
function GifButton({ analysisId, name, what }: { analysisId: string; name: string; what: string }) {
  const [status, setStatus] = useState("");
  const save = async () => {
    setStatus("rendering the GIF…");
    try {
      const file = await downloadFile(
        `/api/analyses/${encodeURIComponent(analysisId)}/figures/${encodeURIComponent(name)}?format=gif`,
        `cqox-${name}.gif`,
      );
      setStatus(`saved ${file}`);
    } catch (e) {
      setStatus(`GIF not saved: ${errorMessage(e).message}`);
    }
  };
  return (
    <span className="gif-export">
      <button type="button" className="secondary small" onClick={() => void save()} aria-label={`Save ${what} as an animated GIF`}>
        GIF
      </button>
      <span className="muted" role="status">
        {status}
      </span>
    </span>
  );
}

/** The effect over periods, played period by period (play/pause and a slider). */
export function EffectAnimation({ path, id }: { path: EffectPath; id: string }) {
  const n = path.periods.length;
  const [upTo, setUpTo] = useState(n);
  const [playing, setPlaying] = useState(false);
  useEffect(() => {
    if (!playing) return;
    const timer = window.setInterval(() => {
      setUpTo((k) => {
        if (k >= n) {
          setPlaying(false);
          return n;
        }
        return k + 1;
      });
    }, 600);
    return () => window.clearInterval(timer);
  }, [playing, n]);
  const fig = useMemo(() => pathFigure(path, Math.max(1, upTo)), [path, upTo]);
  const sliderId = `slider-${id}-${path.label.replace(/\W+/g, "-")}`;
  return (
    <div className="animation">
      <Plot data={fig.data} layout={fig.layout} label={`Effect of ${path.label} by ${path.axis}`} filename={`cqox-${id}-${path.label.replace(/\W+/g, "-")}-effect`} />
      <div className="controls">
        <button
          type="button"
          onClick={() => {
            if (!playing && upTo >= n) setUpTo(1);
            setPlaying(!playing);
          }}
          aria-pressed={playing}
        >
          {playing ? "Pause" : "Play"}
        </button>
        <label htmlFor={sliderId}>periods shown</label>
        <input
          id={sliderId}
          type="range"
          min={1}
          max={n}
          value={upTo}
          onChange={(e) => {
            setPlaying(false);
            setUpTo(Number(e.target.value));
          }}
          aria-valuetext={`up to ${path.periods[Math.max(0, upTo - 1)]}`}
        />
        <output aria-live="polite">
          up to {path.periods[Math.max(0, upTo - 1)]}: effect {num(path.effect[Math.max(0, upTo - 1)])}
        </output>
        <GifButton analysisId={id} name={`effect_animation_${path.label.split(" ")[0]}`} what={`the effect of ${path.label} over time`} />
      </div>
    </div>
  );
}

export function EffectPaths({ result, id }: { result: AnalysisResult; id: string }) {
  const paths = useMemo(() => effectPaths(result.estimates), [result]);
  if (!paths.length) return null;
  return (
    <>
      {paths.map((p) => (
        <figure className="figure" key={p.label}>
          <figcaption>
            <h3>Effect over time: {p.label}</h3>
            <p className="muted">
              {p.series ? `${p.series.names[0]} against ${p.series.names[1]}; below, their gap` : "event-study effects with their intervals"}; the dotted line marks the first treated period.
            </p>
          </figcaption>
          {p.series && <PathSeries path={p} id={id} />}
          <EffectAnimation path={p} id={id} />
        </figure>
      ))}
    </>
  );
}

function PathSeries({ path, id }: { path: EffectPath; id: string }) {
  const fig = useMemo(() => seriesFigure(path), [path]);
  return <Plot data={fig.data} layout={fig.layout} label={`${path.series!.names.join(" and ")} over time`} filename={`cqox-${id}-paths`} />;
}

/** Figures the server registers (cqox.report.gallery): every spec drops in here. */
export function Gallery({ analysisId, skip }: { analysisId: string; skip: string[] }) {
  const [figures, setFigures] = useState<FigureInfo[] | null>(null);
  useEffect(() => {
    let alive = true;
    void api
      .GET("/api/analyses/{analysis_id}/figures", { params: { path: { analysis_id: analysisId } } })
      .then((r) => {
        // the effect animations are drawn above (EffectPaths), with their GIF button
        const all = (unwrap(r) as { figures: FigureInfo[] }).figures ?? [];
        if (alive) setFigures(all.filter((f) => !skip.includes(f.name) && !f.name.startsWith("effect_animation_")));
      })
      .catch(() => alive && setFigures([]));
    return () => {
      alive = false;
    };
  }, [analysisId, skip]);
  if (figures === null) return <p className="muted">loading figures…</p>;
  return (
    <>
      {figures.map((f) => (
        <GalleryFigure key={f.name} info={f} analysisId={analysisId} />
      ))}
    </>
  );
}

function GalleryFigure({ info, analysisId }: { info: FigureInfo; analysisId: string }) {
  const [fig, setFig] = useState<{ data: Data[]; layout: Partial<Layout> } | null>(null);
  useEffect(() => {
    let alive = true;
    void api
      .GET("/api/analyses/{analysis_id}/figures/{name}", {
        params: { path: { analysis_id: analysisId, name: info.name }, query: { format: "json" } },
      })
      .then((r) => {
        const f = unwrap(r) as { data: Data[]; layout: Partial<Layout> & { title?: unknown } };
        // the heading above shows the title: drawing it in the plot too would show it twice
        const layout = { ...f.layout, title: undefined, margin: { t: 30, ...(f.layout.margin ?? {}) } };
        if (alive) setFig({ data: f.data, layout });
      })
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, [analysisId, info.name]);
  return (
    <figure className="figure" data-figure={info.name}>
      <figcaption>
        <h3>{info.title}</h3>
        {info.caption && <p className="muted">{info.caption}</p>}
      </figcaption>
      {fig ? <Plot data={fig.data} layout={fig.layout} label={info.title} filename={`cqox-${analysisId}-${info.name}`} /> : <p className="muted">loading…</p>}
      {info.animated && (
        <div className="controls">
          <GifButton analysisId={analysisId} name={info.name} what={info.title} />
        </div>
      )}
    </figure>
  );
}

export { DIMENSIONS };
