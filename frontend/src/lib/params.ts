// Estimator parameter fields, built from the registry's JSON (GET /api/estimators, the
// same as `cqox estimators --json`).  Each parameter's ``rule`` text chooses the widget;
// the value is checked by the service (POST /api/estimators/{name}/check), so the form
// shows the engine's own message.
import type { Parameter } from "../api/types";

export type Widget =
  | { type: "select"; options: string[] }
  | { type: "bool" }
  | { type: "number"; integer: boolean; min?: number; max?: number }
  | { type: "text" };

/** The widget a rule asks for: "one of 'a', 'b'", "a bool", "an int in [1, 10]", "a float in (0, 1)". */
export function widgetFor(param: Parameter): Widget {
  const rule = param.rule;
  const oneOf = /^one of (.+?)( or None)?$/.exec(rule);
  if (oneOf) {
    const options = [...oneOf[1].matchAll(/'([^']*)'/g)].map((m) => m[1]);
    if (options.length) return { type: "select", options };
  }
  if (/^a bool( or None)?$/.test(rule)) return { type: "bool" };
  const num = /^an? (int|float) in ([[(])([-\d.e+inf]+), ([-\d.e+inf]+)([\])])( or None)?$/.exec(rule);
  if (num) {
    const bound = (s: string): number | undefined => (/inf/.test(s) ? undefined : Number(s));
    return { type: "number", integer: num[1] === "int", min: bound(num[3]), max: bound(num[4]) };
  }
  if (/^an? (int|float)( or None)?$/.test(rule)) return { type: "number", integer: /int/.test(rule) };
  return { type: "text" };
}

/**
 * The JSON value of what was typed, or ``undefined`` for "leave the default".
 * Numbers stay numbers only when they read as numbers (the service says what is wrong
 * otherwise); text that reads as a JSON list or object is sent as such ("[1, 2]").
 */
export function parseValue(widget: Widget, text: string): unknown {
  const t = text.trim();
  if (t === "") return undefined;
  if (widget.type === "bool") return t === "true";
  if (widget.type === "number") {
    const n = Number(t);
    return Number.isFinite(n) ? n : t;
  }
  if (widget.type === "text" && /^[[{]/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  }
  if (widget.type === "text" && /^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}

/** The values typed for one estimator, without the fields left empty. */
export function paramValues(
  params: Parameter[],
  typed: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of params) {
    const v = parseValue(widgetFor(p), typed[p.name] ?? "");
    if (v !== undefined) out[p.name] = v;
  }
  return out;
}

/** Text of a default value as the form shows it (placeholder). */
export function defaultText(value: unknown): string {
  if (value === null || value === undefined) return "default";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
