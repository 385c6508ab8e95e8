// A Plotly figure, drawn from JSON.  Plotly.js is bundled (no CDN) and loaded on first
// use, so pages without figures do not wait for it.  Only SVG trace types are used: the
// WebGL ones would need 'unsafe-eval' under the service's content security policy.
// The box is a labelled figure (not an image): Plotly's toolbar buttons live inside it.
import { useEffect, useRef } from "react";
import type { Config, Data, Layout } from "plotly.js";

type PlotlyApi = typeof import("plotly.js");
let loading: Promise<PlotlyApi> | null = null;

export function loadPlotly(): Promise<PlotlyApi> {
  loading ??= import("plotly.js-dist-min").then((m) => (m.default ?? m) as unknown as PlotlyApi);
  return loading;
}

export interface PlotProps {
  data: Data[];
  layout: Partial<Layout>;
  /** What the figure shows, for screen readers. */
  label: string;
  /** File name (without extension) of the PNG/SVG exports. */
  filename: string;
  config?: Partial<Config>;
  className?: string;
}

export function Plot({ data, layout, label, filename, config, className }: PlotProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let alive = true;
    void loadPlotly().then((P) => {
      if (!alive || !ref.current) return;
      void P.react(ref.current, data, { autosize: true, ...layout }, {
        responsive: true,
        displaylogo: false,
        toImageButtonOptions: { filename },
        ...config,
      });
    });
    return () => {
      alive = false;
    };
  }, [data, layout, config, filename]);
  useEffect(() => {
    const node = ref.current;
    return () => {
      if (node) void loadPlotly().then((P) => P.purge(node));
    };
  }, []);

  const download = (format: "png" | "svg") => {
    const node = ref.current;
    if (!node) return;
    void loadPlotly().then((P) =>
      P.downloadImage(node, { format, filename, width: node.clientWidth || 900, height: node.clientHeight || 500 }),
    );
  };

  return (
    <div className={`plot-box ${className ?? ""}`}>
      <div
        ref={ref}
        className="plot"
        role="figure"
        aria-label={label}
        data-testid={`plot-${filename}`}
        style={layout.height ? { minHeight: `${layout.height}px` } : undefined}
      />
      <div className="plot-actions">
        <button type="button" className="secondary small" onClick={() => download("png")}>
          PNG
        </button>
        <button type="button" className="secondary small" onClick={() => download("svg")}>
          SVG
        </button>
      </div>
    </div>
  );
}
