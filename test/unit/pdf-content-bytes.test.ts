import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ContentBytes } from "../../src/render/pdf/content-bytes.js";

const SEED = Number(process.env.FC_SEED ?? 20261126);

/** What a content stream should hold for `value`: Number#toString of it rounded to the hundredth. */
const rounded = (value: number) => (Math.round(value * 100) / 100).toString();

function written(write: (bytes: ContentBytes) => void): string {
  const bytes = new ContentBytes();
  write(bytes);
  return bytes.take("", "").toString("latin1");
}

describe("PDF content bytes", () => {
  it("write numbers as Number#toString writes them rounded to the hundredth", () => {
    fc.assert(
      fc.property(fc.double({ min: -20_000, max: 20_000, noNaN: true }), (value) => {
        expect(written((bytes) => bytes.number(value))).toBe(rounded(value));
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    const edges = [0, -0, 0.004, -0.004, 0.005, -0.005, 0.05, -0.05, 0.5, -0.5, 9.99, 10, 12];
    const more = [65.41, -703.5, 841.89, 1e13, -1e13, 2 ** 53, 1e21, Number.NaN, Infinity];
    for (const value of [...edges, ...more]) {
      expect(written((bytes) => bytes.number(value))).toBe(rounded(value));
    }
  });

  it("write whole hundredths as the number they make", () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (hundredths) => {
        expect(written((bytes) => bytes.hundredths(hundredths))).toBe(String(hundredths / 100));
      }),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  it("write glyph ids as two bytes of a PDF literal string, escaping parentheses, backslash, CR and LF", () => {
    const escapes: Record<number, string> = {
      40: "\\(",
      41: "\\)",
      92: "\\\\",
      10: "\\n",
      13: "\\r",
    };
    const inString = (byte: number) => escapes[byte] ?? String.fromCharCode(byte);
    const expected = (id: number) => inString(id >> 8) + inString(id & 0xff);
    const special = [0x28, 0x29, 0x5c, 0x0a, 0x0d, 0x00, 0x41, 0xff];
    const ids = special.flatMap((high) => special.map((low) => (high << 8) | low));
    for (const id of ids) expect(written((bytes) => bytes.glyph(id))).toBe(expected(id));

    // A run of code units, each looked up in a table of ids.
    const glyphIds = new Uint16Array(0x10000);
    ids.forEach((id, code) => {
      glyphIds[0x100 + code] = id;
    });
    const text = String.fromCharCode(...ids.map((_, code) => 0x100 + code));
    expect(written((bytes) => bytes.glyphs(text, glyphIds))).toBe(ids.map(expected).join(""));
    expect(written((bytes) => bytes.glyphs(text.repeat(300), glyphIds))).toBe(
      ids.map(expected).join("").repeat(300),
    );
  });

  it("write text a byte a character, short and long, and grow past their first buffer", () => {
    const pieces = fc.array(
      fc.oneof(
        fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) }),
        fc.string({ minLength: 60, maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, "?")),
        fc.double({ min: -20_000, max: 20_000, noNaN: true }),
      ),
      { maxLength: 400, size: "max" },
    );
    fc.assert(
      fc.property(pieces, pieces, (page, next) => {
        const bytes = new ContentBytes();
        const expected = (piece: string | number) =>
          typeof piece === "number" ? rounded(piece) : piece;
        for (const [pieces, prefix, suffix] of [
          [page, "q\n", "Q\n"],
          [next, "", "end"],
        ] as const) {
          for (const piece of pieces) {
            if (typeof piece === "number") bytes.number(piece);
            else bytes.text(piece);
          }
          const taken = bytes.take(prefix, suffix);
          expect(taken.toString("latin1")).toBe(prefix + pieces.map(expected).join("") + suffix);
          expect(taken.byteOffset === 0 && taken.byteLength === taken.buffer.byteLength).toBe(true);
        }
        expect(bytes.empty).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("keep what a page holds when it outgrows its buffer", () => {
    const bytes = new ContentBytes();
    const piece = "0.91 0.92 0.95 rg\n";
    let expected = "";
    // Past the first buffer (16 KiB) and the second, a piece and a number at a time.
    for (let i = 0; expected.length < 40_000; i++) {
      bytes.text(piece);
      bytes.hundredths(i);
      expected += piece + String(i / 100);
    }
    expect(bytes.take("", "").toString("latin1")).toBe(expected);
  });
});
