import { describe, expect, it } from "vitest";
import { EMPTY_LIMITS, limitsBody, limitsForm, optionalInt, optionalMoney, optionalText } from "./forms";

describe("forms", () => {
  it("reads optional numbers", () => {
    expect(optionalInt("RPM", " ")).toBeNull();
    expect(optionalInt("RPM", "60")).toBe(60);
    expect(() => optionalInt("RPM", "6.5")).toThrow("RPM must be a whole number.");
    expect(optionalMoney("Budget", "2.50")).toBe(2.5);
    expect(() => optionalMoney("Budget", "-1")).toThrow(/Budget/);
    expect(optionalText("  ")).toBeNull();
  });
  it("builds the limits of a body; a budget without a period is total", () => {
    expect(limitsBody(EMPTY_LIMITS)).toEqual({ rpm: null, tpm: null, max_parallel: null, max_budget: null, budget_period: null });
    expect(limitsBody({ ...EMPTY_LIMITS, budget: "10" }).budget_period).toBe("total");
    expect(limitsBody({ ...EMPTY_LIMITS, budget: "10", period: "monthly" }).budget_period).toBe("monthly");
    expect(limitsBody({ ...EMPTY_LIMITS, period: "monthly" }).budget_period).toBeNull();
  });
  it("round-trips an entity's limits through the form", () => {
    const l = { rpm: 5, tpm: null, max_parallel: 2, max_budget: 1.5, budget_period: "daily" };
    expect(limitsBody(limitsForm(l))).toEqual({ ...l, budget_period: "daily" });
  });
});
