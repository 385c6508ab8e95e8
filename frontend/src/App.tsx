import { useCallback, useEffect, useRef, useState } from "react";
import { api, setLoggedOutHandler, tokens, type Schemas } from "./api/client";
import { useRoute } from "./lib/route";
import { AnalysePage } from "./pages/Analyse";
import { ComparePage } from "./pages/Compare";
import { DataPage } from "./pages/Data";
import { HistoryPage } from "./pages/History";
import { KeysPage } from "./pages/Keys";
import { LoginPage } from "./pages/Login";
import { ResultPage } from "./pages/Result";
import { UsersPage } from "./pages/Users";

/** The logged-in user, as ``GET /api/auth/me`` answers (typed by the OpenAPI schema). */
export type Me = Schemas["UserOut"];

const NAV = [
  { page: "data", label: "Data sets" },
  { page: "history", label: "Analyses" },
  { page: "keys", label: "API keys" },
  { page: "users", label: "Users", admin: true },
];

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checked, setChecked] = useState(false);
  const route = useRoute();
  const mainRef = useRef<HTMLElement>(null);

  const loadMe = useCallback(async () => {
    if (!tokens.access()) {
      setMe(null);
      setChecked(true);
      return;
    }
    const r = await api.GET("/api/auth/me");
    setMe(r.response.ok && r.data ? r.data : null);
    setChecked(true);
  }, []);

  useEffect(() => {
    setLoggedOutHandler(() => setMe(null));
    void loadMe();
  }, [loadMe]);

  // a page change moves focus to the page (screen readers announce the new heading)
  useEffect(() => {
    mainRef.current?.querySelector<HTMLElement>("h1")?.focus();
  }, [route.page, route.args.join("/")]);

  const logout = async () => {
    await api.POST("/api/auth/logout", { body: { refresh_token: tokens.refresh() } });
    tokens.clear();
    setMe(null);
  };

  let page: JSX.Element;
  if (!checked) page = <p className="muted">loading…</p>;
  else if (!me) page = <LoginPage onLoggedIn={loadMe} />;
  else {
    switch (route.page) {
      case "analyse":
        page = <AnalysePage datasetId={route.args[0]} fromAnalysis={route.query.get("from")} me={me} />;
        break;
      case "result":
        page = <ResultPage analysisId={route.args[0]} me={me} />;
        break;
      case "history":
        page = <HistoryPage me={me} />;
        break;
      case "compare":
        page = <ComparePage a={route.args[0]} b={route.args[1]} />;
        break;
      case "keys":
        page = <KeysPage />;
        break;
      case "users":
        page = <UsersPage me={me} />;
        break;
      default:
        page = <DataPage me={me} />;
    }
  }

  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>
        Skip to content
      </a>
      <header className="top">
        <span className="brand">CQOx</span>
        {me && (
          <nav aria-label="main">
            <ul>
              {NAV.filter((n) => !n.admin || me.role === "admin").map((n) => (
                <li key={n.page}>
                  <a href={`#/${n.page}`} aria-current={route.page === n.page ? "page" : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {me && (
          <div className="who">
            <span>
              {me.username} <span className="role">({me.role})</span>
            </span>
            <button type="button" className="secondary small" onClick={() => void logout()}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {page}
      </main>
      <footer className="muted">
        API documentation: <a href="/docs">/docs</a>
      </footer>
    </>
  );
}
