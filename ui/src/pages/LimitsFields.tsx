import type { LimitsForm } from "../lib/forms";
import { Field, Select } from "../ui";

export const PERIODS: [string, string][] = [
  ["", "(total)"],
  ["daily", "daily"],
  ["weekly", "weekly"],
  ["monthly", "monthly"],
  ["total", "total"],
];

export function LimitsFields({ form, set }: { form: LimitsForm; set: (f: LimitsForm) => void }) {
  return (
    <fieldset>
      <legend>Limits and budget</legend>
      <div className="grid">
        <Field label="RPM" value={form.rpm} onChange={(v) => set({ ...form, rpm: v })} placeholder="unlimited" />
        <Field label="TPM" value={form.tpm} onChange={(v) => set({ ...form, tpm: v })} placeholder="unlimited" />
        <Field label="Parallel" value={form.parallel} onChange={(v) => set({ ...form, parallel: v })} placeholder="unlimited" />
        <Field label="Budget (USD)" value={form.budget} onChange={(v) => set({ ...form, budget: v })} placeholder="none" />
        <Select label="Budget period" value={form.period} onChange={(v) => set({ ...form, period: v })} options={PERIODS} />
      </div>
    </fieldset>
  );
}
