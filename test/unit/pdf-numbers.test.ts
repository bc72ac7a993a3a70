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
});
