import { useState } from "react";
import { apiError, unwrap, type Api, type Schemas } from "../api/client";
import { when } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { ErrorBox } from "../ui";

export function ConfigPage({ api }: { api: Api }) {
  const config = useLoad(() => unwrap(api.GET("/admin/config")), [api]);
  const [result, setResult] = useState<Schemas["ConfigReload"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reload = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.POST("/admin/config/reload");
      // 422 answers in the reply's shape, with every problem listed.
      if (r.data) setResult(r.data);
      else if (r.response.status === 422 && r.error && typeof r.error === "object" && "problems" in r.error) {
        setResult(r.error as Schemas["ConfigReload"]);
      } else throw apiError(r.response.status, r.error);
      config.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="config-title">
      <div className="page-head">
        <h1 id="config-title">Config</h1>
        <button type="button" className="primary" onClick={() => void reload()} disabled={busy}>Reload</button>
      </div>
      <ErrorBox error={error ?? config.error} />
      {result && (
        <div className={result.status === "invalid" ? "panel error-panel" : "panel"} role="status">
          <p>Reload: <strong>{result.status}</strong>, revision <code>{result.revision}</code>, {result.models} models, {result.deployments} deployments.</p>
          {result.problems.length > 0 && <ul>{result.problems.map((p) => <li key={p}>{p}</li>)}</ul>}
          {result.warnings.length > 0 && <p>Warnings: {result.warnings.join("; ")}</p>}
          {result.restart_needed.length > 0 && <p>Applied at the next restart: {result.restart_needed.join(", ")}</p>}
        </div>
      )}
      {config.data && (
        <>
          <dl className="facts">
            <dt>File</dt><dd><code>{config.data.file}</code></dd>
            <dt>Revision</dt><dd><code data-testid="revision">{config.data.revision}</code></dd>
            <dt>Loaded</dt><dd>{when(config.data.loaded_at)}</dd>
          </dl>
          <h2>Loaded config (secrets masked)</h2>
          <pre className="config" tabIndex={0} aria-label="Loaded config">{JSON.stringify(config.data.config, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
