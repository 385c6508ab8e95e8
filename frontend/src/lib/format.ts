// Numbers, sizes and times as the dashboard shows them.
export function num(x: unknown, digits = 4): string {
  if (typeof x !== "number" || !Number.isFinite(x)) return "—";
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

export function pValue(p: unknown): string {
  if (typeof p !== "number" || !Number.isFinite(p)) return "—";
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

export function bytes(n: unknown): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const units = ["B", "kB", "MB", "GB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function when(iso: unknown): string {
  if (typeof iso !== "string" || !iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function percent(x: unknown): string {
  return typeof x === "number" && Number.isFinite(x) ? `${Math.round(100 * x)}%` : "—";
}

/** A status word as people read it ("not_applicable" → "not applicable"). */
export function statusText(s: unknown): string {
  return String(s ?? "—").replace(/_/g, " ");
}

/** Roles as one line: "outcome y · treatment t · covariates x1, x2". */
export function rolesLine(roles: Record<string, unknown> | undefined): string {
  if (!roles) return "—";
  return Object.entries(roles)
    .filter(([k, v]) => k !== "inferred" && v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(", ") : String(v)}`)
    .join(" · ");
}
