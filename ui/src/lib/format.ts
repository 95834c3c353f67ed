// Presentation helpers shared by the pages (pure: unit-tested in format.test.ts).

export function money(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value !== 0 && Math.abs(value) < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toFixed(2)}`;
}

export function count(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return String(value);
}

/** A UNIX-seconds time as "2026-12-08 01:15 UTC". */
export function when(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const iso = new Date(seconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** How a key is shown: its prefix, an ellipsis and its last four characters. */
export function keyLabel(prefix: string, suffix: string): string {
  return `${prefix}…${suffix}`;
}

export type KeyStatus = "active" | "revoked" | "expired";

export function keyStatus(
  key: { revoked_at: number | null; expires_at: number | null },
  nowSeconds: number,
): KeyStatus {
  if (key.revoked_at !== null) return "revoked";
  if (key.expires_at !== null && key.expires_at <= nowSeconds) return "expired";
  return "active";
}

/** The share of a budget spent, clamped to [0, 1]; null without a budget. */
export function budgetShare(spend: number, max: number | null | undefined): number | null {
  if (max === null || max === undefined) return null;
  if (max <= 0) return 1;
  return Math.min(1, Math.max(0, spend / max));
}

/** Limits in one line: "rpm 60 · tpm 10k · parallel 4", "none" when unlimited. */
export function limits(l: { rpm: number | null; tpm: number | null; max_parallel: number | null }): string {
  const parts: string[] = [];
  if (l.rpm !== null) parts.push(`rpm ${count(l.rpm)}`);
  if (l.tpm !== null) parts.push(`tpm ${count(l.tpm)}`);
  if (l.max_parallel !== null) parts.push(`parallel ${l.max_parallel}`);
  return parts.length ? parts.join(" · ") : "none";
}

/** Rows whose listed fields contain `query`, case-insensitively (all rows for ""). */
export function search<T>(rows: T[], query: string, fields: (row: T) => (string | null | undefined)[]): T[] {
  const q = query.trim().toLowerCase();
  if (!q) return rows;
  return rows.filter((row) => fields(row).some((f) => f != null && f.toLowerCase().includes(q)));
}
