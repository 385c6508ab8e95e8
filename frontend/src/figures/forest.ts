// The forest plot's figure, for 1 to a few hundred estimates: one row per estimate
// (grouped by estimand), its interval, coloured by gate status, and the consensus of
// each estimand.  Rows get a fixed height, so one estimate is not stretched and two
// hundred do not overlap; labels take the margin they need; the legend sits above.
import type { Data, Layout } from "plotly.js";
import type { Consensus, Estimate } from "../api/types";

export const ROW_PX = 26;
export const FRAME_PX = 130;
export const MIN_PX = 240;

const COLOURS: Record<string, string> = {
  pass: "#1b7f3b",
  warn: "#b35c00",
  fail: "#c62828",
  not_checked: "#5f6b7a",
  not_applicable: "#5f6b7a",
};

export function forestHeight(rows: number): number {
  return Math.max(MIN_PX, FRAME_PX + ROW_PX * Math.max(1, rows));
}

export function forestFigure(
  estimates: Estimate[],
  consensus: Record<string, Consensus>,
  truth: Record<string, number> = {},
): { data: Data[]; layout: Partial<Layout> } {
  const rows = [...estimates].sort((a, b) =>
    a.estimand === b.estimand ? a.estimator.localeCompare(b.estimator) : a.estimand.localeCompare(b.estimand),
  );
  const labels = rows.map((e) => `${e.estimator} · ${e.estimand}`);
  const data: Data[] = [];
  for (const status of ["pass", "warn", "fail", "not_checked", "not_applicable"]) {
    const sel = rows.map((e, i) => (e.status === status ? i : -1)).filter((i) => i >= 0);
    if (!sel.length) continue;
    const finite = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? x : null);
    data.push({
      type: "scatter",
      mode: "markers",
      name: `gates ${status.replace(/_/g, " ")}`,
      x: sel.map((i) => finite(rows[i].estimate)),
      y: sel.map((i) => labels[i]),
      marker: { color: COLOURS[status], size: 9 },
      error_x: {
        type: "data",
        symmetric: false,
        array: sel.map((i) => {
          const e = rows[i];
          return finite(e.ci[1]) !== null && finite(e.estimate) !== null ? (e.ci[1] as number) - (e.estimate as number) : null;
        }) as number[],
        arrayminus: sel.map((i) => {
          const e = rows[i];
          return finite(e.ci[0]) !== null && finite(e.estimate) !== null ? (e.estimate as number) - (e.ci[0] as number) : null;
        }) as number[],
        color: COLOURS[status],
      },
      customdata: sel.map((i) => [finite(rows[i].ci[0]), finite(rows[i].ci[1]), finite(rows[i].p_value)]) as unknown as number[],
      hovertemplate:
        "%{y}<br>estimate %{x:.4g}<br>CI [%{customdata[0]:.4g}, %{customdata[1]:.4g}]<br>p = %{customdata[2]:.3g}<extra></extra>",
    } as Data);
  }
  for (const [what, values, line] of [
    ["consensus", Object.fromEntries(Object.entries(consensus).map(([k, c]) => [k, c.estimate])), { dash: "dash", color: "#555" }],
    ["truth", truth, { color: "#000", width: 2 }],
  ] as const) {
    for (const [estimand, value] of Object.entries(values)) {
      const ys = labels.filter((_, i) => rows[i].estimand === estimand);
      if (!ys.length || typeof value !== "number") continue;
      data.push({
        type: "scatter",
        mode: "lines",
        name: `${what} ${estimand}`,
        x: ys.map(() => value),
        y: ys,
        line,
        hovertemplate: `${what} ${estimand}: %{x:.4g}<extra></extra>`,
      } as Data);
    }
  }
  const layout: Partial<Layout> = {
    height: forestHeight(rows.length),
    margin: { l: 10, r: 20, t: 40, b: 50 },
    xaxis: { title: { text: "estimate with confidence interval" }, zeroline: true, automargin: true },
    yaxis: {
      automargin: true,
      categoryorder: "array",
      categoryarray: [...labels].reverse(),
      range: [-0.6, labels.length - 0.4],
      fixedrange: true,
    },
    legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" },
    hovermode: "closest",
  };
  return { data, layout };
}
