// Result views of two designs whose answer is not one number: heterogeneous effects
// (distribution of τ̂(x), GATES, targeting) and network interference (exposure
// conditions, direct / spillover / total effects).  Read from the analysis JSON
// (lib/designs.ts); every figure has the PNG/SVG export of <Plot>.
import { useMemo } from "react";
import type { Data, Layout } from "plotly.js";
import type { AnalysisResult } from "../api/types";
import { Plot } from "../components/Plot";
import { num } from "../lib/format";
import { cateViews, networkViews, type CateView, type NetworkView } from "../lib/designs";

const BLUE = "#2456a6";
const ORANGE = "#b35c00";
const GREY = "#666";

const slug = (s: string): string => s.replace(/\W+/g, "-");

function distributionFigure(v: CateView): { data: Data[]; layout: Partial<Layout> } | null {
  const d = v.distribution;
  if (!d || d.quantiles.length < 3) return null;
  const at = (p: number): number | undefined => d.quantiles.find((q) => Math.abs(q.p - p) < 1e-9)?.value;
  const lo = d.quantiles[0].value;
  const hi = d.quantiles[d.quantiles.length - 1].value;
  return {
    data: [
      {
        // a box drawn from the published quantiles (whiskers: the outermost ones)
        type: "box",
        orientation: "h",
        name: "τ̂(x)",
        y: ["τ̂(x)"],
        q1: [at(0.25) ?? lo],
        median: [at(0.5) ?? (lo + hi) / 2],
        q3: [at(0.75) ?? hi],
        lowerfence: [lo],
        upperfence: [hi],
        mean: d.mean === null ? undefined : [d.mean],
        sd: d.sd === null ? undefined : [d.sd],
        boxmean: d.sd === null ? true : "sd",
        marker: { color: BLUE },
        hoverinfo: "x",
      } as unknown as Data,
      {
        type: "scatter",
        mode: "markers",
        x: d.quantiles.map((q) => q.value),
        y: d.quantiles.map(() => "τ̂(x)"),
        text: d.quantiles.map((q) => `${Math.round(100 * q.p)}% quantile`),
        hovertemplate: "%{text}: %{x:.4g}<extra></extra>",
        marker: { color: ORANGE, symbol: "line-ns-open", size: 18 },
        name: "quantiles",
      } as Data,
    ],
    layout: {
      height: 220,
      margin: { l: 60, r: 20, t: 10, b: 45 },
      xaxis: { title: { text: "unit-level effect τ̂(x)" }, zeroline: true },
      yaxis: { showticklabels: false },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      shapes:
        v.estimate.estimate === null
          ? []
          : [{ type: "line", x0: v.estimate.estimate, x1: v.estimate.estimate, yref: "paper", y0: 0, y1: 1, line: { dash: "dash", color: GREY } }],
    },
  };
}

function gatesFigure(v: CateView): { data: Data[]; layout: Partial<Layout> } {
  const x = v.gates.map((g) => `G${g.group}`);
  return {
    data: [
      {
        type: "scatter",
        mode: "markers",
        name: "group effect (GATES) and 95% CI",
        x,
        y: v.gates.map((g) => g.estimate),
        error_y: {
          type: "data",
          symmetric: false,
          array: v.gates.map((g) => (g.high === null ? 0 : g.high - g.estimate)),
          arrayminus: v.gates.map((g) => (g.low === null ? 0 : g.estimate - g.low)),
          color: BLUE,
        },
        customdata: v.gates.map((g) => g.n ?? 0),
        hovertemplate: "%{x}: %{y:.4g} (n = %{customdata})<extra></extra>",
        marker: { color: BLUE, size: 9 },
      } as Data,
      {
        type: "scatter",
        mode: "markers",
        name: "mean predicted τ̂(x)",
        x,
        y: v.gates.map((g) => g.predicted),
        hovertemplate: "%{x}: predicted %{y:.4g}<extra></extra>",
        marker: { color: ORANGE, symbol: "diamond-open", size: 9 },
      } as Data,
    ],
    layout: {
      height: 300,
      margin: { l: 60, r: 20, t: 10, b: 50 },
      xaxis: { title: { text: "group, by predicted effect (lowest first)" } },
      yaxis: { title: { text: "effect" }, zeroline: true },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      shapes:
        v.estimate.estimate === null
          ? []
          : [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: v.estimate.estimate, y1: v.estimate.estimate, line: { dash: "dash", color: GREY } }],
    },
  };
}

function targetingFigure(v: CateView): { data: Data[]; layout: Partial<Layout> } {
  const share = v.curve.map((c) => c.share);
  return {
    data: [
      { type: "scatter", mode: "lines", name: "treat the highest τ̂(x) first", x: share, y: v.curve.map((c) => c.uplift), line: { color: BLUE } } as Data,
      { type: "scatter", mode: "lines", name: "treat at random", x: share, y: v.curve.map((c) => c.random), line: { color: GREY, dash: "dash" } } as Data,
    ],
    layout: {
      height: 300,
      margin: { l: 60, r: 20, t: 10, b: 50 },
      xaxis: { title: { text: "share treated" }, tickformat: ".0%" },
      yaxis: { title: { text: "cumulative gain per unit" }, zeroline: true },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    },
  };
}

function CatePanel({ view, id }: { view: CateView; id: string }) {
  const dist = useMemo(() => distributionFigure(view), [view]);
  const gates = useMemo(() => gatesFigure(view), [view]);
  const targeting = useMemo(() => targetingFigure(view), [view]);
  const d = view.distribution;
  const file = `cqox-${id}-${slug(view.label)}`;
  return (
    <section className="panel design-view" aria-labelledby={`cate-${slug(view.label)}`} data-view="cate">
      <h2 id={`cate-${slug(view.label)}`}>Heterogeneous effects: {view.label}</h2>
      {d && (
        <p>
          τ̂(x) of {d.n ?? "?"} units: mean <b>{num(d.mean)}</b>, standard deviation {num(d.sd)}
          {d.quantiles.length > 0 && (
            <>
              ; from {num(d.quantiles[0].value)} ({Math.round(100 * d.quantiles[0].p)}%) to {num(d.quantiles[d.quantiles.length - 1].value)} (
              {Math.round(100 * d.quantiles[d.quantiles.length - 1].p)}%)
            </>
          )}
          .
        </p>
      )}
      <div className="figure-grid">
        {dist && (
          <figure className="figure">
            <figcaption>
              <h3>Distribution of τ̂(x)</h3>
              <p className="muted">Box from the published quantiles; dashed: the average effect.</p>
            </figcaption>
            <Plot data={dist.data} layout={dist.layout} label={`Distribution of the unit-level effects of ${view.label}`} filename={`${file}-distribution`} />
          </figure>
        )}
        {view.gates.length > 0 && (
          <figure className="figure">
            <figcaption>
              <h3>Group effects (GATES)</h3>
              <p className="muted">Units sorted into groups by predicted effect; each group's effect with its interval. Rising groups mean the heterogeneity is real.</p>
            </figcaption>
            <Plot data={gates.data} layout={gates.layout} label={`Group effects of ${view.label}`} filename={`${file}-gates`} />
            <div className="table-scroll" tabIndex={0}>
              <table className="compact" aria-label={`group effects of ${view.label}`}>
                <thead>
                  <tr>
                    <th scope="col">group</th>
                    <th scope="col" className="n">n</th>
                    <th scope="col" className="n">effect</th>
                    <th scope="col" className="n">CI</th>
                    <th scope="col" className="n">predicted</th>
                  </tr>
                </thead>
                <tbody>
                  {view.gates.map((g) => (
                    <tr key={g.group}>
                      <th scope="row">G{g.group}</th>
                      <td className="n">{g.n ?? "—"}</td>
                      <td className="n" data-value={g.estimate}>
                        {num(g.estimate)}
                      </td>
                      <td className="n">
                        [{num(g.low)}, {num(g.high)}]
                      </td>
                      <td className="n">{num(g.predicted)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </figure>
        )}
        {view.curve.length > 0 && (
          <figure className="figure">
            <figcaption>
              <h3>Targeting</h3>
              <p className="muted">Gain of treating the units with the highest predicted effect first, against treating at random.</p>
            </figcaption>
            <Plot data={targeting.data} layout={targeting.layout} label={`Targeting curve of ${view.label}`} filename={`${file}-targeting`} />
            {view.targeting.length > 0 && (
              <div className="table-scroll" tabIndex={0}>
                <table className="compact" aria-label={`targeting rules of ${view.label}`}>
                  <thead>
                    <tr>
                      <th scope="col" className="n">coverage</th>
                      <th scope="col" className="n">units treated</th>
                      <th scope="col" className="n">gain</th>
                    </tr>
                  </thead>
                  <tbody>
                    {view.targeting
                      .filter((_, i) => i % 4 === 3 || i === 0)
                      .map((r, i) => (
                        <tr key={i} className={r.optimal ? "best" : undefined}>
                          <td className="n">{typeof r.coverage === "number" ? `${Math.round(100 * r.coverage)}%` : "—"}</td>
                          <td className="n">{num(r.n_treated)}</td>
                          <td className="n">{num(r.gain)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </div>
            )}
          </figure>
        )}
      </div>
    </section>
  );
}

function exposureFigure(v: NetworkView): { data: Data[]; layout: Partial<Layout> } {
  return {
    data: [
      {
        type: "bar",
        orientation: "h",
        x: v.exposure.map((c) => c.n),
        y: v.exposure.map((c) => c.label),
        marker: { color: v.exposure.map((c) => (c.key.startsWith("treated") ? BLUE : ORANGE)) },
        hovertemplate: "%{y}: %{x} units<extra></extra>",
        name: "units",
      } as Data,
    ],
    layout: {
      height: 240,
      margin: { l: 190, r: 20, t: 10, b: 45 },
      xaxis: { title: { text: "units" } },
      yaxis: { automargin: true },
      showlegend: false,
    },
  };
}

function effectsFigure(v: NetworkView): { data: Data[]; layout: Partial<Layout> } {
  const finite = (x: number | null): number => (x === null ? 0 : x);
  return {
    data: [
      {
        type: "bar",
        x: v.effects.map((e) => e.estimand),
        y: v.effects.map((e) => finite(e.estimate)),
        error_y: {
          type: "data",
          symmetric: false,
          array: v.effects.map((e) => (e.ci[1] === null || e.estimate === null ? 0 : e.ci[1] - e.estimate)),
          arrayminus: v.effects.map((e) => (e.ci[0] === null || e.estimate === null ? 0 : e.estimate - e.ci[0])),
          color: "#222",
        },
        marker: { color: [BLUE, ORANGE, "#4a7a3a"] },
        hovertemplate: "%{x}: %{y:.4g}<extra></extra>",
        name: "effect",
      } as Data,
    ],
    layout: {
      height: 280,
      margin: { l: 60, r: 20, t: 10, b: 45 },
      yaxis: { title: { text: "effect" }, zeroline: true },
      showlegend: false,
    },
  };
}

function NetworkPanel({ view, id }: { view: NetworkView; id: string }) {
  const exposure = useMemo(() => exposureFigure(view), [view]);
  const effects = useMemo(() => effectsFigure(view), [view]);
  const byName = Object.fromEntries(view.effects.map((e) => [e.estimand, e]));
  const file = `cqox-${id}-${view.estimator}`;
  return (
    <section className="panel design-view" aria-labelledby={`network-${view.estimator}`} data-view="network">
      <h2 id={`network-${view.estimator}`}>Network interference: {view.estimator}</h2>
      <p>
        Direct effect <b>{num(byName.direct?.estimate)}</b> (own treatment, no treated neighbour), spillover <b>{num(byName.spillover?.estimate)}</b> (a treated
        neighbour, untreated oneself), total <b>{num(byName.total?.estimate)}</b>
        {view.edges !== null ? ` · ${view.edges.toLocaleString()} edges` : ""}.
      </p>
      <div className="figure-grid">
        <figure className="figure">
          <figcaption>
            <h3>Direct, spillover and total effects</h3>
            <p className="muted">Each effect with its interval.</p>
          </figcaption>
          <Plot data={effects.data} layout={effects.layout} label={`Direct, spillover and total effects of ${view.estimator}`} filename={`${file}-spillover`} />
        </figure>
        {view.exposure.length > 0 && (
          <figure className="figure">
            <figcaption>
              <h3>Exposure conditions</h3>
              <p className="muted">Units by own treatment and whether a neighbour is treated: the contrasts behind the effects.</p>
            </figcaption>
            <Plot data={exposure.data} layout={exposure.layout} label={`Units by exposure condition, ${view.estimator}`} filename={`${file}-exposure`} />
          </figure>
        )}
      </div>
    </section>
  );
}

/** The design-specific views of an analysis (none when no estimate calls for one). */
export function DesignViews({ result, id }: { result: AnalysisResult; id: string }) {
  const cate = useMemo(() => cateViews(result.estimates), [result]);
  const network = useMemo(() => networkViews(result.estimates), [result]);
  return (
    <>
      {cate.map((v) => (
        <CatePanel key={v.label} view={v} id={id} />
      ))}
      {network.map((v) => (
        <NetworkPanel key={v.estimator} view={v} id={id} />
      ))}
    </>
  );
}
