import { useCallback, useEffect, useState } from "react";
import { api, errorMessage, toApiError, unwrap, type ApiError, type Schemas } from "../api/client";
import { ErrorBox } from "../components/ErrorBox";
import { when } from "../lib/format";

type Key = Schemas["ApiKeyOut"];

export function KeysPage() {
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = useCallback(async () => {
    try {
      setKeys(unwrap(await api.GET("/api/auth/api-keys")).api_keys);
    } catch (e) {
      setError(errorMessage(e));
    }
  }, []);
  useEffect(() => void load(), [load]);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await api.POST("/api/auth/api-keys", { body: { name: name || "api key" } });
    if (!r.response.ok || !r.data) {
      setError(toApiError(r.error, r.response.status));
      return;
    }
    setCreated(r.data.key);
    setName("");
    await load();
  };
  const revoke = async (k: Key) => {
    const r = await api.DELETE("/api/auth/api-keys/{key_id}", { params: { path: { key_id: k.id } } });
    if (!r.response.ok) setError(toApiError(r.error, r.response.status));
    await load();
  };

  return (
    <>
      <h1 tabIndex={-1}>API keys</h1>
      <section className="panel">
        <h2>New key</h2>
        <form className="row" onSubmit={(e) => void create(e)}>
          <label>
            name
            <input value={name} maxLength={128} onChange={(e) => { setName(e.target.value); setError(null); }} placeholder="e.g. notebook" />
          </label>
          <button type="submit">Create key</button>
        </form>
        {created && (
          <p className="share" role="status">
            <label htmlFor="new-key">Your new key (shown once; send it as X-API-Key)</label>
            <input id="new-key" readOnly value={created} onFocus={(e) => e.target.select()} />
          </p>
        )}
        <ErrorBox error={error} />
      </section>
      <section className="panel">
        <h2>Your keys</h2>
        {keys === null ? (
          <p className="muted">loading…</p>
        ) : keys.length === 0 ? (
          <p className="muted">No key yet.</p>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">name</th>
                  <th scope="col">prefix</th>
                  <th scope="col">created</th>
                  <th scope="col">last used</th>
                  <th scope="col">state</th>
                  <th scope="col">actions</th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k.id}>
                    <th scope="row">{k.name}</th>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>{when(k.created_at)}</td>
                    <td>{when(k.last_used_at)}</td>
                    <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : "active"}</td>
                    <td>
                      {!k.revoked_at && (
                        <button type="button" className="link danger" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
