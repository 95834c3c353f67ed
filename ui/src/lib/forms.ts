// Turning form fields into API bodies (pure: unit-tested in forms.test.ts).

/** An optional whole number from a field: null when empty; throws on anything else. */
export function optionalInt(label: string, text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  if (!/^[0-9]+$/.test(t)) throw new Error(`${label} must be a whole number.`);
  return Number(t);
}

/** An optional amount of money: null when empty. */
export function optionalMoney(label: string, text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || !Number.isFinite(n)) {
    throw new Error(`${label} must be an amount such as 10 or 2.50.`);
  }
  return n;
}

export function optionalText(text: string): string | null {
  const t = text.trim();
  return t ? t : null;
}

export interface LimitsForm {
  rpm: string;
  tpm: string;
  parallel: string;
  budget: string;
  period: string;
}

export const EMPTY_LIMITS: LimitsForm = { rpm: "", tpm: "", parallel: "", budget: "", period: "" };

export type BudgetPeriod = "daily" | "weekly" | "monthly" | "total";

export interface LimitsBody {
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
  max_budget: number | null;
  budget_period: BudgetPeriod | null;
}

/** The limit fields of a create or update body; a budget without a period is "total". */
export function limitsBody(form: LimitsForm): LimitsBody {
  const max_budget = optionalMoney("Budget", form.budget);
  const period = (form.period || null) as BudgetPeriod | null;
  return {
    rpm: optionalInt("RPM", form.rpm),
    tpm: optionalInt("TPM", form.tpm),
    max_parallel: optionalInt("Parallel", form.parallel),
    max_budget,
    budget_period: max_budget === null ? null : (period ?? "total"),
  };
}

/** The form's fields from an entity's limits (to edit them). */
export function limitsForm(l: {
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
  max_budget: number | null;
  budget_period: string | null;
}): LimitsForm {
  const s = (v: number | null) => (v === null ? "" : String(v));
  return {
    rpm: s(l.rpm),
    tpm: s(l.tpm),
    parallel: s(l.max_parallel),
    budget: s(l.max_budget),
    period: l.budget_period ?? "",
  };
}
