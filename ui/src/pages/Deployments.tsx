import { unwrap, type Api } from "../api/client";
import { useLoad } from "../lib/hooks";
import { recentErrors, summary, verdict } from "../lib/health";
import { when } from "../lib/format";
import { ErrorBox } from "../ui";

export const REFRESH_MS = 2000;

export function DeploymentsPage({ api }: { api: Api }) {
  const live = useLoad(() => unwrap(api.GET("/admin/deployments")), [api], REFRESH_MS);
  // Recent failures come from the spend logs (each failed request names its deployment).
  const logs = useLoad(() => unwrap(api.GET("/admin/spend/logs", { params: { query: { limit: 200 } } })), [api], REFRESH_MS);
  const errors = recentErrors(logs.data?.data ?? [], Date.now() / 1000);
  const rows = live.data?.data ?? [];
  const counts = summary(rows);
  return (
    <section aria-labelledby="deployments-title">
      <h1 id="deployments-title">Deployments</h1>
      <p className="muted" aria-live="polite">
        {counts.healthy} healthy, {counts.degraded} degraded, {counts.unhealthy} unhealthy · refreshed every {REFRESH_MS / 1000} s
        {live.data ? ` · config ${live.data.revision}` : ""}
      </p>
      <ErrorBox error={live.error} />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Deployments and their live health</caption>
          <thead>
            <tr><th scope="col">Deployment</th><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Health</th>
              <th scope="col">Score</th><th scope="col">Circuit</th><th scope="col">In flight</th><th scope="col">Latency (TTFT)</th>
              <th scope="col"><abbr title="failures in a row">Failures</abbr></th><th scope="col">Ejections</th><th scope="col">Errors (5 min)</th></tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const v = verdict(d);
              return (
                <tr key={d.deployment} data-deployment={d.deployment}>
                  <td>{d.deployment}</td><td>{d.model}</td><td>{d.provider}</td>
                  <td><span className={`badge ${v}`} data-testid="verdict">{v}</span></td>
                  <td className="nowrap"><meter min={0} max={100} low={50} high={80} optimum={100} value={d.score} aria-label={`score ${d.score}`} /> {d.score}</td>
                  <td>{d.circuit}</td><td>{d.in_flight}</td>
                  <td>{d.ttft_ms === null ? "—" : `${Math.round(d.ttft_ms)} ms`}</td>
                  <td>{d.consecutive_failures}</td><td>{d.ejections}</td>
                  <td>{errorCell(errors.get(d.deployment))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function errorCell(e: { count: number; last: string; at: number } | undefined) {
  if (!e) return <span className="muted">none</span>;
  return (
    <span title={`last at ${when(e.at)}`}>
      {e.count} · <code>{e.last}</code>
    </span>
  );
}
