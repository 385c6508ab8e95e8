// Every role of the design, its inferred column with confidence and reason, editable.
import type { ColumnProfile, RoleGuess } from "../api/types";
import { GROUPS, ROLES, plausibleColumns, type RoleDef, type RoleValues } from "../lib/roles";

interface Props {
  values: RoleValues;
  formula: string;
  profiles: ColumnProfile[];
  candidates: Record<string, RoleGuess[]>;
  guesses: Record<string, RoleGuess>;
  onChange: (role: string, value: string | string[]) => void;
  onFormula: (text: string) => void;
}

function Inferred({ guess, value, onAccept }: { guess?: RoleGuess; value: string | string[] | undefined; onAccept: () => void }) {
  if (!guess) return null;
  const shown = Array.isArray(value) ? value.join(", ") : value;
  if (guess.source === "suggested") {
    // a suggestion changes the design, the inference or the estimand: applied only on request
    if (shown === guess.column) return <span className="hint">suggestion applied</span>;
    return (
      <span className="hint suggestion">
        <span className="confidence mid">suggested · not applied</span> {guess.reason}{" "}
        <button type="button" className="link" onClick={onAccept} aria-label={`Apply the suggested ${guess.role} ${guess.column}`}>
          Apply {guess.column}
        </button>
      </span>
    );
  }
  if (shown !== guess.column) return <span className="hint">changed from the inferred {guess.column}</span>;
  const pct = Math.round(100 * guess.confidence);
  return (
    <span className="hint">
      <span className={`confidence ${pct >= 80 ? "high" : pct >= 50 ? "mid" : "low"}`}>{guess.source === "explicit" ? "given" : `inferred · ${pct}%`}</span>{" "}
      {guess.reason}
    </span>
  );
}

function ColumnsPicker({ def, options, value, onChange }: { def: RoleDef; options: string[]; value: string[]; onChange: (v: string[]) => void }) {
  return (
    <fieldset className="columns-picker">
      <legend>{def.label}</legend>
      <div className="checks" role="group">
        {options.length === 0 && <span className="muted">no plausible column</span>}
        {options.map((c) => (
          <label key={c} className="check">
            <input
              type="checkbox"
              checked={value.includes(c)}
              onChange={(e) => onChange(e.target.checked ? [...value, c] : value.filter((x) => x !== c))}
            />
            {c}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

export function RoleEditor({ values, formula, profiles, candidates, guesses, onChange, onFormula }: Props) {
  const field = (def: RoleDef) => {
    const id = `role-${def.role}`;
    const value = values[def.role];
    if (def.kind === "value") {
      return (
        <div className="field" key={def.role}>
          <label htmlFor={id}>{def.label}</label>
          <input id={id} name={def.role} inputMode="decimal" value={typeof value === "string" ? value : ""} onChange={(e) => onChange(def.role, e.target.value)} aria-describedby={`${id}-help`} />
          <span className="help" id={`${id}-help`}>
            {def.help}
          </span>
          <Inferred guess={guesses[def.role]} value={value} onAccept={() => onChange(def.role, guesses[def.role].column)} />
        </div>
      );
    }
    const current = Array.isArray(value) ? value : typeof value === "string" && value ? value.split(",").map((s) => s.trim()) : [];
    const options = plausibleColumns(def, profiles, candidates[def.role], current);
    if (def.kind === "columns") {
      return (
        <div className="field wide" key={def.role}>
          <ColumnsPicker def={def} options={options} value={current} onChange={(v) => onChange(def.role, v)} />
          {def.role === "covariates" && (
            <>
              <label htmlFor="covariate-formula">or a covariate formula</label>
              <input
                id="covariate-formula"
                name="covariate_formula"
                placeholder="age + I(age**2) + C(education)"
                value={formula}
                onChange={(e) => onFormula(e.target.value)}
                aria-describedby="covariate-formula-help"
              />
              <span className="help" id="covariate-formula-help">
                A formula replaces the ticked columns; it is parsed, never evaluated.
              </span>
            </>
          )}
          <span className="help">{def.help}</span>
          <Inferred guess={guesses[def.role]} value={current} onAccept={() => onChange(def.role, [...current, guesses[def.role].column])} />
        </div>
      );
    }
    return (
      <div className="field" key={def.role}>
        <label htmlFor={id}>{def.label}</label>
        <select id={id} name={def.role} value={current[0] ?? ""} onChange={(e) => onChange(def.role, e.target.value)} aria-describedby={`${id}-help`}>
          <option value="">— none —</option>
          {options.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <span className="help" id={`${id}-help`}>
          {def.help}
        </span>
        <Inferred guess={guesses[def.role]} value={current[0]} onAccept={() => onChange(def.role, guesses[def.role].column)} />
      </div>
    );
  };

  return (
    <>
      {GROUPS.map((g) => {
        const defs = ROLES.filter((r) => r.group === g.id);
        const used = defs.some((d) => {
          const v = values[d.role];
          return Array.isArray(v) ? v.length > 0 : Boolean(v);
        });
        // a group holding a suggestion is open, so that the suggestion is seen
        const suggested = defs.some((d) => guesses[d.role]?.source === "suggested");
        return (
          <details key={g.id} open={g.id === "core" || used || suggested} className="role-group">
            <summary>{g.title}</summary>
            <div className="grid">{defs.map(field)}</div>
          </details>
        );
      })}
    </>
  );
}
