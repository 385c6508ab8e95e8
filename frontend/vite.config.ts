// Builds the dashboard into the Python package (src/cqox/server/ui), which FastAPI serves.
// Everything, Plotly.js included, is bundled: the page loads nothing from another host,
// and nothing needs an inline script or eval (the service's content security policy).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/cqox/server/ui",
    emptyOutDir: true,
    // Plotly.js alone is ~4.5 MB minified; it is its own chunk, loaded when a figure shows
    chunkSizeWarningLimit: 5000,
    modulePreload: { polyfill: false },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
