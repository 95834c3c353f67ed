// A deployment's health in words, from its score and circuit (pure: health.test.ts).

export type Verdict = "healthy" | "degraded" | "unhealthy";

export function verdict(d: { score: number; circuit: string; consecutive_failures: number }): Verdict {
  if (d.circuit === "open") return "unhealthy";
  if (d.circuit !== "closed" || d.score < 50 || d.consecutive_failures > 0) {
    return d.score < 20 ? "unhealthy" : "degraded";
  }
  return "healthy";
}

/** Counts per verdict, for the page's summary line. */
export function summary(rows: { score: number; circuit: string; consecutive_failures: number }[]): Record<Verdict, number> {
  const out: Record<Verdict, number> = { healthy: 0, degraded: 0, unhealthy: 0 };
  for (const r of rows) out[verdict(r)] += 1;
  return out;
}

export interface RecentErrors {
  count: number;
  last: string;
  at: number;
}

/** Per deployment, the failed requests among `rows` (spend logs, newest first) of the last
 * `windowSeconds`: how many, and the newest one's error and time. */
export function recentErrors(
  rows: { ts: number; status: number; deployment: string | null; error: string | null }[],
  nowSeconds: number,
  windowSeconds = 300,
): Map<string, RecentErrors> {
  const out = new Map<string, RecentErrors>();
  for (const r of rows) {
    if (r.deployment === null || r.status < 400 || nowSeconds - r.ts > windowSeconds) continue;
    const seen = out.get(r.deployment);
    if (seen) {
      seen.count += 1;
      if (r.ts > seen.at) Object.assign(seen, { last: r.error ?? `HTTP ${r.status}`, at: r.ts });
    } else {
      out.set(r.deployment, { count: 1, last: r.error ?? `HTTP ${r.status}`, at: r.ts });
    }
  }
  return out;
}
