import { useState } from "react";
import { api, toApiError, tokens, type ApiError } from "../api/client";
import { ErrorBox } from "../components/ErrorBox";

export function LoginPage({ onLoggedIn }: { onLoggedIn: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const r = await api.POST("/api/auth/login", { body: { username, password } });
    setBusy(false);
    if (!r.response.ok || !r.data) {
      setError(toApiError(r.error, r.response.status));
      return;
    }
    setError(null);
    tokens.save(r.data);
    await onLoggedIn();
  };

  return (
    <section className="panel narrow">
      <h1 tabIndex={-1}>Log in</h1>
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          User name
          <input name="username" autoComplete="username" required value={username} onChange={(e) => { setUsername(e.target.value); setError(null); }} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => { setPassword(e.target.value); setError(null); }} />
        </label>
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
