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
