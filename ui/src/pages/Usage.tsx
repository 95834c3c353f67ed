import { useState } from "react";
import { unwrap, type Api, type Schemas } from "../api/client";
import { count, money, when } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { barHeights, byDay, topSpenders } from "../lib/usage";
import { ErrorBox, Field, Select } from "../ui";

type GroupBy = "key" | "user" | "group" | "model";
type Metric = "cost" | "tokens" | "requests";
const METRICS: [Metric, string][] = [["cost", "Spend (USD)"], ["tokens", "Tokens"], ["requests", "Requests"]];

export function UsagePage({ api }: { api: Api }) {
  const [groupBy, setGroupBy] = useState<GroupBy>("key");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [metric, setMetric] = useState<Metric>("cost");
  const usage = useLoad(
    () => unwrap(api.GET("/admin/usage", { params: { query: { group_by: groupBy, limit: 1000, from: from || undefined, to: to || undefined } } })),
    [api, groupBy, from, to],
  );
  const rows = usage.data?.data ?? [];
  const days = byDay(rows, 14);
  const top = topSpenders(rows, 10);
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div className="filters">
        <Select label="Group by" value={groupBy} onChange={(v) => setGroupBy(v as GroupBy)}
          options={[["key", "key"], ["user", "user"], ["group", "group"], ["model", "model"]]} />
        <Field label="From" type="date" value={from} onChange={setFrom} />
        <Field label="To" type="date" value={to} onChange={setTo} />
      </div>
      <ErrorBox error={usage.error} />
      <div className="cards">
        <div className="card"><span>Spend</span><strong>{money(days.reduce((s, d) => s + d.cost, 0))}</strong></div>
        <div className="card"><span>Tokens</span><strong>{count(days.reduce((s, d) => s + d.tokens, 0))}</strong></div>
        <div className="card"><span>Requests</span><strong>{count(days.reduce((s, d) => s + d.requests, 0))}</strong></div>
      </div>
      <div className="page-head">
        <h2 id="chart-title">{METRICS.find(([m]) => m === metric)?.[1]} per day</h2>
        <Select label="Chart" value={metric} onChange={(v) => setMetric(v as Metric)} options={METRICS} />
      </div>
      <Chart days={days} metric={metric} />
      <h2>Top spenders by {groupBy}</h2>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Top spenders</caption>
          <thead><tr><th scope="col">{groupBy}</th><th scope="col">Spend</th><th scope="col">Tokens</th><th scope="col">Requests</th></tr></thead>
          <tbody>
            {top.map((s) => <tr key={s.id}><td>{s.id}</td><td>{money(s.cost)}</td><td>{count(s.tokens)}</td><td>{s.requests}</td></tr>)}
            {!usage.loading && top.length === 0 && <tr><td colSpan={4} className="muted">No usage in this period.</td></tr>}
          </tbody>
        </table>
      </div>
      <SpendLogs api={api} />
    </section>
  );
}

function Chart({ days, metric }: { days: ReturnType<typeof byDay>; metric: Metric }) {
  const height = 120;
  const width = Math.max(days.length * 28, 280);
  const bars = barHeights(days.map((d) => d[metric]), height);
  if (days.length === 0) return <p className="muted">No data.</p>;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-labelledby="chart-title" preserveAspectRatio="xMinYMax meet">
        {days.map((d, i) => (
          <g key={d.day}>
            <rect x={i * 28 + 4} y={height - bars[i]} width={20} height={Math.max(bars[i], 1)} className="bar">
              <title>{`${d.day}: ${money(d.cost)}, ${count(d.tokens)} tokens, ${d.requests} requests`}</title>
            </rect>
            {(days.length <= 10 || i % Math.ceil(days.length / 10) === 0) && (
              <text x={i * 28 + 14} y={height + 14} textAnchor="middle" className="axis">{d.day.slice(5)}</text>
            )}
          </g>
        ))}
      </svg>
    </figure>
  );
}

function SpendLogs({ api }: { api: Api }) {
  const [keyId, setKeyId] = useState("");
  const [model, setModel] = useState("");
  // Keyset paging: each older page starts before the last row of the one above.
  const [cursors, setCursors] = useState<string[]>([]);
  const before = cursors[cursors.length - 1];
  const logs = useLoad(
    () => unwrap(api.GET("/admin/spend/logs", { params: { query: { limit: 25, key_id: keyId || undefined, model: model || undefined, before } } })),
    [api, keyId, model, before],
  );
  const rows: Schemas["SpendLogRow"][] = logs.data?.data ?? [];
  const next = logs.data?.next_before ?? null;
  return (
    <>
      <h2 id="logs-title">Spend logs</h2>
      <div className="filters">
        <Field label="Key ID" value={keyId} onChange={(v) => { setKeyId(v); setCursors([]); }} />
        <Field label="Model" value={model} onChange={(v) => { setModel(v); setCursors([]); }} />
        <button type="button" onClick={() => { setCursors([]); logs.reload(); }}>Refresh</button>
      </div>
      <ErrorBox error={logs.error} />
      <div className="table-wrap">
        <table aria-labelledby="logs-title">
          <thead>
            <tr><th scope="col">Time</th><th scope="col">Request</th><th scope="col">Key</th><th scope="col">Model</th><th scope="col">Status</th>
              <th scope="col">Tokens</th><th scope="col">Cost</th><th scope="col">Latency</th></tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.request_id}>
                <td>{when(r.ts)}</td><td><code>{r.request_id}</code></td><td>{r.key_id ?? "—"}</td><td>{r.model}</td>
                <td>{r.status}{r.error ? ` ${r.error}` : ""}</td><td>{r.prompt_tokens} + {r.completion_tokens}</td>
                <td>{money(r.cost)}</td><td>{Math.round(r.latency_ms)} ms</td>
              </tr>
            ))}
            {!logs.loading && rows.length === 0 && <tr><td colSpan={8} className="muted">No requests.</td></tr>}
          </tbody>
        </table>
      </div>
      <div className="actions">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <button type="button" disabled={next === null} onClick={() => next && setCursors([...cursors, next])}>Older</button>
      </div>
    </>
  );
}
