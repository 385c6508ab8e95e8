import { useCallback, useEffect, useState } from "react";
import type { Me } from "../App";
import { api, errorMessage, toApiError, unwrap, type ApiError, type Schemas } from "../api/client";
import { ErrorBox } from "../components/ErrorBox";
import { when } from "../lib/format";

type User = Schemas["UserOut"];

export function UsersPage({ me }: { me: Me }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [form, setForm] = useState({ username: "", password: "", role: "analyst" as "admin" | "analyst" | "viewer" });
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState("");
  const load = useCallback(async () => {
    try {
      setUsers(unwrap(await api.GET("/api/users")).users);
    } catch (e) {
      setError(errorMessage(e));
    }
  }, []);
  useEffect(() => void load(), [load]);
  if (me.role !== "admin") return <ErrorBox error={{ code: "FORBIDDEN", message: "only admins manage users" }} />;

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await api.POST("/api/users", { body: form });
    if (!r.response.ok) {
      setError(toApiError(r.error, r.response.status));
      return;
    }
    setStatus(`created ${form.username}`);
    setForm({ username: "", password: "", role: "analyst" });
    await load();
  };
  const remove = async (u: User) => {
    if (!window.confirm(`Delete ${u.username} and all their data sets and analyses?`)) return;
    const r = await api.DELETE("/api/users/{username}", { params: { path: { username: u.username } } });
    if (!r.response.ok) setError(toApiError(r.error, r.response.status));
    else setStatus(`deleted ${u.username}`);
    await load();
  };
  const edit = (patch: Partial<typeof form>) => {
    setForm({ ...form, ...patch });
    setError(null);
  };

  return (
    <>
      <h1 tabIndex={-1}>Users</h1>
      <section className="panel">
        <h2>New user</h2>
        <form className="row" onSubmit={(e) => void create(e)}>
          <label>
            user name
            <input required value={form.username} maxLength={64} onChange={(e) => edit({ username: e.target.value })} autoComplete="off" />
          </label>
          <label>
            password (8+ characters)
            <input required type="password" minLength={8} value={form.password} onChange={(e) => edit({ password: e.target.value })} autoComplete="new-password" />
          </label>
          <label>
            role
            <select value={form.role} onChange={(e) => edit({ role: e.target.value as typeof form.role })}>
              <option value="viewer">viewer</option>
              <option value="analyst">analyst</option>
              <option value="admin">admin</option>
            </select>
          </label>
          <button type="submit">Create user</button>
        </form>
        <p className="muted" role="status">
          {status}
        </p>
        <ErrorBox error={error} />
      </section>
      <section className="panel">
        <h2>All users</h2>
        {users === null ? (
          <p className="muted">loading…</p>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">user</th>
                  <th scope="col">role</th>
                  <th scope="col">created</th>
                  <th scope="col">actions</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.id}>
                    <th scope="row">{u.username}</th>
                    <td>{u.role}</td>
                    <td>{when(u.created_at)}</td>
                    <td>
                      {u.id !== me.id && (
                        <button type="button" className="link danger" onClick={() => void remove(u)} aria-label={`Delete ${u.username}`}>
                          Delete
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
