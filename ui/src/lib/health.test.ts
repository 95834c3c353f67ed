import { describe, expect, it } from "vitest";
import { recentErrors, summary, verdict } from "./health";

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

describe("recent errors", () => {
  it("counts each deployment's failures in the window, with the newest error", () => {
    const rows = [
      { ts: 100, status: 502, deployment: "a/0", error: "upstream_unreachable" },
      { ts: 99, status: 200, deployment: "a/0", error: null },
      { ts: 98, status: 500, deployment: "a/0", error: null },
      { ts: 97, status: 503, deployment: null, error: "no_healthy_deployment" },
      { ts: 1, status: 500, deployment: "b/1", error: "old" },
    ];
    const errors = recentErrors(rows, 110, 60);
    expect([...errors.keys()]).toEqual(["a/0"]);
    expect(errors.get("a/0")).toEqual({ count: 2, last: "upstream_unreachable", at: 100 });
  });
});
