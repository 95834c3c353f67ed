import { describe, expect, it } from "vitest";
import { summary, verdict } from "./health";

describe("health", () => {
  it("calls an open circuit unhealthy", () => {
    expect(verdict({ score: 90, circuit: "open", consecutive_failures: 0 })).toBe("unhealthy");
  });
  it("calls a closed, high-scoring deployment healthy", () => {
    expect(verdict({ score: 95, circuit: "closed", consecutive_failures: 0 })).toBe("healthy");
  });
  it("calls failures or a low score degraded, a very low one unhealthy", () => {
    expect(verdict({ score: 80, circuit: "closed", consecutive_failures: 2 })).toBe("degraded");
    expect(verdict({ score: 40, circuit: "half_open", consecutive_failures: 0 })).toBe("degraded");
    expect(verdict({ score: 5, circuit: "closed", consecutive_failures: 3 })).toBe("unhealthy");
  });
  it("counts verdicts", () => {
    expect(summary([{ score: 95, circuit: "closed", consecutive_failures: 0 }, { score: 0, circuit: "open", consecutive_failures: 5 }]))
      .toEqual({ healthy: 1, degraded: 0, unhealthy: 1 });
  });
});
