import type { ApiError } from "../api/client";

interface Suggestion {
  role: string;
  columns?: string[];
  reason: string;
}

/** An error in error style: the service's message, and the roles to give for NO_DESIGN. */
export function ErrorBox({ error, id }: { error: ApiError | null; id?: string }) {
  if (!error) return null;
  const suggestions = (error.details?.suggestions as Suggestion[] | undefined) ?? [];
  return (
    <div className="error-box" role="alert" id={id} data-testid="error">
      <strong>{error.message}</strong>
      {error.code && <span className="code"> ({error.code})</span>}
      {suggestions.length > 0 && (
        <ul>
          {suggestions.map((s) => (
            <li key={s.role}>
              give <b>{s.role}</b>
              {s.columns?.length ? ` (e.g. ${s.columns.slice(0, 3).join(", ")})` : ""}: {s.reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status ?? "not_checked";
  return <span className={`badge ${s}`}>{s.replace(/_/g, " ")}</span>;
}
