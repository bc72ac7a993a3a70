import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pdfNumber } from "../../src/render/pdf/numbers.js";

const SEED = Number(process.env.FC_SEED ?? 20261126);

describe("PDF numbers", () => {
  it("are what Number#toString writes for the value rounded to the hundredth", () => {
    fc.assert(
      fc.property(fc.double({ min: -20_000, max: 20_000, noNaN: true }), (value) => {
        expect(pdfNumber(value)).toBe((Math.round(value * 100) / 100).toString());
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    for (const value of [0, -0, 0.004, -0.004, 0.05, -0.05, 0.5, -0.5, 12, 65.41, -703.5, 841.89]) {
      expect(pdfNumber(value)).toBe((Math.round(value * 100) / 100).toString());
    }
  });

  it("are the same when written again, from the numbers remembered or after they were forgotten", () => {
    // A table's distances come back again and again; 10,000 of them is more than are remembered.
    const distances = Array.from({ length: 10_000 }, (_, i) => ((i * 7919) % 20_011) / 7 - 1_000);
    for (let pass = 0; pass < 3; pass++) {
      for (const value of distances) {
        expect(pdfNumber(value)).toBe((Math.round(value * 100) / 100).toString());
      }
    }
  });
});
