import { useEffect, useMemo, useState, type FormEvent } from "react";
import { makeClient, unwrap, type Api } from "./api/client";
import { clearKey, loadKey, saveKey } from "./lib/session";
import { ErrorBox, Field } from "./ui";
import { KeysPage } from "./pages/Keys";
import { UsersPage } from "./pages/Users";
import { GroupsPage } from "./pages/Groups";
import { UsagePage } from "./pages/Usage";
import { DeploymentsPage } from "./pages/Deployments";
import { ConfigPage } from "./pages/Config";

const PAGES = [
  ["keys", "Keys"],
  ["users", "Users"],
  ["groups", "Groups"],
  ["usage", "Usage"],
  ["deployments", "Deployments"],
  ["config", "Config"],
] as const;
type Page = (typeof PAGES)[number][0];

function pageOf(path: string): Page {
  const name = path.replace(/^\/ui\/?/, "").split("/")[0];
  return (PAGES.find(([p]) => p === name)?.[0] ?? "keys") as Page;
}

type Theme = "light" | "dark";
function initialTheme(): Theme {
  const saved = localStorage.getItem("pllm.theme"); // a preference, never a secret
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function App() {
  const [key, setKey] = useState<string | null>(() => loadKey(sessionStorage));
  const [page, setPage] = useState<Page>(() => pageOf(location.pathname));
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const api = useMemo(() => (key ? makeClient(key) : null), [key]);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("pllm.theme", theme);
  }, [theme]);
  useEffect(() => {
    const back = () => setPage(pageOf(location.pathname));
    window.addEventListener("popstate", back);
    return () => window.removeEventListener("popstate", back);
  }, []);
  useEffect(() => {
    const title = PAGES.find(([p]) => p === page)?.[1];
    document.title = key ? `${title} · pllm admin` : "Sign in · pllm admin";
  }, [page, key]);

  const go = (p: Page) => {
    history.pushState(null, "", `/ui/${p}`);
    setPage(p);
  };
  const signOut = () => {
    clearKey(sessionStorage);
    setKey(null);
  };
  const toggle = (
    <button type="button" className="theme" onClick={() => setTheme(theme === "dark" ? "light" : "dark")}>
      {theme === "dark" ? "Light theme" : "Dark theme"}
    </button>
  );

  if (!api) {
    return (
      <SignIn
        toggle={toggle}
        onSignedIn={(k) => {
          saveKey(sessionStorage, k);
          setKey(k);
        }}
      />
    );
  }
  return (
    <div className="shell">
      <header className="top">
        <strong className="brand">pllm admin</strong>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map(([p, label]) => (
              <li key={p}>
                <a
                  href={`/ui/${p}`}
                  aria-current={p === page ? "page" : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    go(p);
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="top-actions">
          {toggle}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <CurrentPage page={page} api={api} />
      </main>
    </div>
  );
}

function CurrentPage({ page, api }: { page: Page; api: Api }) {
  switch (page) {
    case "keys":
      return <KeysPage api={api} />;
    case "users":
      return <UsersPage api={api} />;
    case "groups":
      return <GroupsPage api={api} />;
    case "usage":
      return <UsagePage api={api} />;
    case "deployments":
      return <DeploymentsPage api={api} />;
    case "config":
      return <ConfigPage api={api} />;
  }
}

function SignIn({ onSignedIn, toggle }: { onSignedIn: (key: string) => void; toggle: JSX.Element }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Any guarded read proves the key is an admin credential (401/403 otherwise).
      await unwrap(makeClient(key.trim()).GET("/admin/users", { params: { query: { limit: 1 } } }));
      onSignedIn(key.trim());
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">pllm admin</h1>
        <Field label="Master key or admin key" type="password" value={key} onChange={setKey} required autoFocus
          hint="Kept in this tab's session storage only, sent as the Authorization header." />
        <ErrorBox error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || !key.trim()}>
            Sign in
          </button>
          {toggle}
        </div>
      </form>
    </main>
  );
}
