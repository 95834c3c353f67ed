// Usage rows (one per day and id) into a chart's series and a top-spenders list.

export interface UsageRow {
  day: string;
  id: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
}

export interface DayTotal {
  day: string;
  cost: number;
  tokens: number;
  requests: number;
}

/** Totals per day, oldest first, with every day between the first and the last present,
 * and at least `minDays` days (earlier empty days added before the first). */
export function byDay(rows: UsageRow[], minDays = 1): DayTotal[] {
  const totals = new Map<string, DayTotal>();
  for (const r of rows) {
    const t = totals.get(r.day) ?? { day: r.day, cost: 0, tokens: 0, requests: 0 };
    t.cost += r.cost;
    t.tokens += r.prompt_tokens + r.completion_tokens;
    t.requests += r.requests;
    totals.set(r.day, t);
  }
  const days = [...totals.keys()].sort();
  if (days.length === 0) return [];
  const out: DayTotal[] = [];
  const end = Date.parse(`${days[days.length - 1]}T00:00:00Z`);
  const first = Math.min(Date.parse(`${days[0]}T00:00:00Z`), end - (minDays - 1) * 86_400_000);
  for (let t = first; t <= end; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(totals.get(day) ?? { day, cost: 0, tokens: 0, requests: 0 });
  }
  return out;
}

export interface Spender {
  id: string;
  cost: number;
  tokens: number;
  requests: number;
}

/** The ids that spent most over all days, highest first (ties: most tokens, then id). */
export function topSpenders(rows: UsageRow[], n = 10): Spender[] {
  const totals = new Map<string, Spender>();
  for (const r of rows) {
    const id = r.id ?? "(none)";
    const t = totals.get(id) ?? { id, cost: 0, tokens: 0, requests: 0 };
    t.cost += r.cost;
    t.tokens += r.prompt_tokens + r.completion_tokens;
    t.requests += r.requests;
    totals.set(id, t);
  }
  return [...totals.values()]
    .sort((a, b) => b.cost - a.cost || b.tokens - a.tokens || a.id.localeCompare(b.id))
    .slice(0, n);
}

/** Bar heights in [0, height] for values, scaled to the largest (all 0 when none is > 0). */
export function barHeights(values: number[], height: number): number[] {
  const max = Math.max(0, ...values);
  return values.map((v) => (max > 0 ? (Math.max(0, v) / max) * height : 0));
}
