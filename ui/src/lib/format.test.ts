import { describe, expect, it } from "vitest";
import { budgetShare, count, keyLabel, keyStatus, limits, money, search, when } from "./format";

describe("format", () => {
  it("shows money with cents, tiny amounts with two significant digits", () => {
    expect(money(1.5)).toBe("$1.50");
    expect(money(0)).toBe("$0.00");
    expect(money(0.000123)).toBe("$0.00012");
    expect(money(null)).toBe("—");
  });
  it("abbreviates large counts", () => {
    expect(count(999)).toBe("999");
    expect(count(12_345)).toBe("12.3k");
    expect(count(2_500_000)).toBe("2.5M");
  });
  it("shows times in UTC", () => {
    expect(when(0)).toBe("1970-01-01 00:00 UTC");
    expect(when(null)).toBe("—");
  });
  it("labels a key by prefix and last four", () => {
    expect(keyLabel("sk-pllm-ab", "wxyz")).toBe("sk-pllm-ab…wxyz");
  });
  it("tells a key's status", () => {
    expect(keyStatus({ revoked_at: null, expires_at: null }, 100)).toBe("active");
    expect(keyStatus({ revoked_at: 5, expires_at: null }, 100)).toBe("revoked");
    expect(keyStatus({ revoked_at: null, expires_at: 100 }, 100)).toBe("expired");
    expect(keyStatus({ revoked_at: null, expires_at: 101 }, 100)).toBe("active");
  });
  it("clamps the budget share", () => {
    expect(budgetShare(5, 10)).toBe(0.5);
    expect(budgetShare(50, 10)).toBe(1);
    expect(budgetShare(5, null)).toBeNull();
    expect(budgetShare(0, 0)).toBe(1);
  });
  it("summarises limits", () => {
    expect(limits({ rpm: null, tpm: null, max_parallel: null })).toBe("none");
    expect(limits({ rpm: 60, tpm: 20_000, max_parallel: 4 })).toBe("rpm 60 · tpm 20.0k · parallel 4");
  });
  it("searches the given fields case-insensitively", () => {
    const rows = [{ a: "Alpha", b: null }, { a: "beta", b: "GAMMA" }];
    expect(search(rows, "", (r) => [r.a, r.b])).toHaveLength(2);
    expect(search(rows, "gam", (r) => [r.a, r.b])).toEqual([rows[1]]);
    expect(search(rows, " ALP ", (r) => [r.a, r.b])).toEqual([rows[0]]);
  });
});
