import type { Estimate } from "../api/types";
import { FRAME_PX, MIN_PX, ROW_PX, forestFigure, forestHeight } from "./forest";

const est = (i: number, estimand = "ATE"): Estimate =>
  ({ estimator: `e${i}`, estimand, estimate: i, se: 1, ci: [i - 1, i + 1], p_value: 0.5, n: 10, gates: [], tables: {}, params: {}, warnings: [], status: i % 2 ? "pass" : "warn" }) as Estimate;

describe("forest plot", () => {
  it("gives every row the same height from 1 to 200 estimates", () => {
    expect(forestHeight(1)).toBe(MIN_PX);
    expect(forestHeight(2)).toBe(MIN_PX);
    for (const n of [10, 50, 200]) expect((forestHeight(n) - FRAME_PX) / n).toBe(ROW_PX);
  });

  it("draws one row per estimate with its interval, and the consensus per estimand", () => {
    const estimates = [est(1), est(2), est(3, "ATT")];
    const { data, layout } = forestFigure(estimates, { ATE: { estimate: 1.5 } as never });
    const points = data.filter((d) => (d as { mode?: string }).mode === "markers");
    expect(points.map((d) => (d as { y: string[] }).y).flat().sort()).toEqual(["e1 · ATE", "e2 · ATE", "e3 · ATT"]);
    const consensus = data.find((d) => d.name === "consensus ATE") as { x: number[]; y: string[] };
    expect(consensus.x).toEqual([1.5, 1.5]);
    expect(layout.yaxis?.range).toEqual([-0.6, 2.6]); // no padding rows around few estimates
    expect(layout.legend?.orientation).toBe("h");
  });

  it("survives an estimate without an interval", () => {
    const e = { ...est(1), ci: [null, null] as [null, null], estimate: null };
    const { data } = forestFigure([e], {});
    expect((data[0] as { error_x: { array: unknown[] } }).error_x.array).toEqual([null]);
  });
});
