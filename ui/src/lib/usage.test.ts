import { describe, expect, it } from "vitest";
import { barHeights, byDay, topSpenders } from "./usage";

const row = (day: string, id: string | null, cost: number, tokens = 10) => ({
  day, id, requests: 1, prompt_tokens: tokens, completion_tokens: 0, cost,
});

describe("usage", () => {
  it("sums per day and fills the gaps", () => {
    const days = byDay([row("2026-12-03", "a", 1), row("2026-12-01", "a", 2), row("2026-12-01", "b", 0.5)]);
    expect(days.map((d) => d.day)).toEqual(["2026-12-01", "2026-12-02", "2026-12-03"]);
    expect(days.map((d) => d.cost)).toEqual([2.5, 0, 1]);
    expect(days[0].requests).toBe(2);
    expect(byDay([])).toEqual([]);
    const padded = byDay([row("2026-12-08", "a", 1)], 3);
    expect(padded.map((d) => [d.day, d.cost])).toEqual([["2026-12-06", 0], ["2026-12-07", 0], ["2026-12-08", 1]]);
  });
  it("ranks spenders by cost, then tokens, then id", () => {
    const top = topSpenders([row("d", "a", 1), row("d", "b", 3), row("e", "a", 1), row("d", "c", 2, 5), row("d", null, 2, 50)], 3);
    expect(top.map((s) => s.id)).toEqual(["b", "(none)", "a"]);
  });
  it("scales bars to the largest", () => {
    expect(barHeights([1, 2, 4], 100)).toEqual([25, 50, 100]);
    expect(barHeights([0, 0], 100)).toEqual([0, 0]);
  });
});
