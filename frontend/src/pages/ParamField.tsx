import type { Parameter } from "../api/types";
import { defaultText, widgetFor } from "../lib/params";

interface Props {
  estimator: string;
  param: Parameter;
  value: string;
  invalid: boolean;
  onChange: (text: string) => void;
  suggestions?: string[];
}

/** One estimator parameter: the widget its rule asks for, its default as placeholder. */
export function ParamField({ estimator, param, value, invalid, onChange, suggestions }: Props) {
  const id = `param-${estimator}-${param.name}`;
  const widget = widgetFor(param);
  const described = `${id}-doc`;
  let input: JSX.Element;
  if (widget.type === "select" || widget.type === "bool") {
    const options = widget.type === "bool" ? ["true", "false"] : widget.options;
    input = (
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={invalid || undefined} aria-describedby={described}>
        <option value="">default ({defaultText(param.default)})</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else {
    input = (
      <>
        <input
          id={id}
          value={value}
          inputMode={widget.type === "number" ? "decimal" : undefined}
          placeholder={defaultText(param.default)}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={invalid || undefined}
          aria-describedby={described}
          list={suggestions?.length ? `${id}-list` : undefined}
        />
        {suggestions?.length ? (
          <datalist id={`${id}-list`}>
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        ) : null}
      </>
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>
        {param.name} <span className="muted">({estimator})</span>
      </label>
      {input}
      <span className="help" id={described}>
        {param.doc} — {param.rule}
      </span>
    </div>
  );
}
