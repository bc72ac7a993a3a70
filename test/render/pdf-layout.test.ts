/**
 * The PDF renderer's pure parts: column widths, page capacity and fitting
 * text into cells, measured with a simple fixed-pitch measure.
 */
import { describe, expect, it } from "vitest";
import { isRtlParagraph, visualRuns } from "../../src/render/pdf/bidi.js";
import {
  allocateWidths,
  type ColumnDemand,
  expectedPages,
  PDF_LAYOUT,
  pageCapacity,
  pageGeometry,
} from "../../src/render/pdf/layout.js";
import {
  ELLIPSIS,
  fitPrefix,
  lastLine,
  layoutText,
  paragraphs,
  safeCut,
} from "../../src/render/pdf/text.js";
import type { PdfSettings } from "../../src/render/renderer.js";

/** Every code unit is 5 points wide. */
const mono = (text: string) => text.length * 5;

const auto = (preferred: number, minimum = preferred, text = true): ColumnDemand => ({
  fixed: undefined,
  preferred,
  minimum,
  text,
});
const fixed = (width: number): ColumnDemand => ({
  fixed: width,
  preferred: width,
  minimum: width,
  text: true,
});
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

describe("column widths", () => {
  it("gives every column its preferred width and the leftover to text columns", () => {
    const widths = allocateWidths([auto(50, 50, false), auto(100), auto(50)], 400);
    expect(widths[0]).toBe(50);
    expect(widths[1]).toBeCloseTo(100 + (200 * 100) / 150);
    expect(widths[2]).toBeCloseTo(50 + (200 * 50) / 150);
    expect(sum(widths)).toBeCloseTo(400);
  });

  it("keeps fixed widths exactly when they fit", () => {
    expect(allocateWidths([fixed(100), fixed(50)], 500)).toEqual([100, 50]);
    const widths = allocateWidths([fixed(100), auto(50)], 500);
    expect(widths[0]).toBe(100);
    expect(widths[1]).toBeCloseTo(400);
  });

  it("cuts the widest columns back first, keeping whole words", () => {
    // Preferred 60 + 300 + 200 = 560 > 400; minimums (longest words) 60 + 80 + 40.
    const widths = allocateWidths([auto(60), auto(300, 80), auto(200, 40)], 400);
    expect(widths[0]).toBeCloseTo(60);
    expect(widths[1]).toBeCloseTo(170);
    expect(widths[2]).toBeCloseTo(170);
    expect(sum(widths)).toBeCloseTo(400);
  });

  it("never drops a column below its longest word while that is possible", () => {
    const widths = allocateWidths([auto(60), auto(300, 250), auto(200, 40)], 400);
    expect(widths[1]).toBeGreaterThanOrEqual(250);
    expect(widths[2]).toBeGreaterThanOrEqual(40);
    expect(sum(widths)).toBeCloseTo(400);
  });

  it("scales down proportionally with a minimum when even words do not fit", () => {
    const widths = allocateWidths([fixed(600), fixed(300), fixed(35)], 500);
    expect(sum(widths)).toBeCloseTo(500);
    expect(widths[2]).toBe(PDF_LAYOUT.minColumnWidth);
    expect((widths[0] ?? 0) / (widths[1] ?? 1)).toBeCloseTo(2);
  });

  it("shares the page equally when there are too many columns for the minimum", () => {
    const widths = allocateWidths(
      Array.from({ length: 40 }, () => auto(100)),
      500,
    );
    expect(widths.every((w) => w === 12.5)).toBe(true);
  });

  it("never exceeds the page", () => {
    for (let n = 1; n <= 30; n++) {
      const demands = Array.from({ length: n }, (_, i) =>
        i % 3 === 0 ? fixed(50 + i * 40) : auto(20 + i * 30, 10 + i * 7),
      );
      const widths = allocateWidths(demands, 523.28);
      expect(sum(widths)).toBeLessThanOrEqual(523.28 + 1e-6);
      if (n * PDF_LAYOUT.minColumnWidth < 523.28) {
        for (const w of widths) expect(w).toBeGreaterThanOrEqual(PDF_LAYOUT.minColumnWidth - 1e-9);
      }
    }
  });
});

describe("page capacity", () => {
  const a4: PdfSettings = {
    title: "",
    pageSize: "A4",
    orientation: "portrait",
    generatedAt: undefined,
  };

  it("follows from the layout constants", () => {
    const { height } = pageGeometry(a4);
    const body = height - PDF_LAYOUT.marginTop - PDF_LAYOUT.marginBottom;
    const header = 2 * PDF_LAYOUT.headerPaddingY + PDF_LAYOUT.lineHeight;
    const row = 2 * PDF_LAYOUT.cellPaddingY + PDF_LAYOUT.lineHeight;
    expect(pageCapacity(a4).otherPages).toBe(Math.floor((body - header) / row));
    expect(pageCapacity(a4).firstPage).toBe(pageCapacity(a4).otherPages);
  });

  it("loses rows on page 1 to the title block, and more in landscape", () => {
    const titled = { ...a4, title: "T", generatedAt: new Date(0) };
    expect(pageCapacity(titled).firstPage).toBeLessThan(pageCapacity(titled).otherPages);
    const landscape = { ...a4, orientation: "landscape" } as const;
    expect(pageCapacity(landscape).otherPages).toBeLessThan(pageCapacity(a4).otherPages);
    expect(pageCapacity(a4, { rowLines: 3 }).otherPages).toBeLessThan(pageCapacity(a4).otherPages);
  });

  it("counts pages", () => {
    const { firstPage, otherPages } = pageCapacity(a4);
    expect(expectedPages(a4, 0)).toBe(1);
    expect(expectedPages(a4, firstPage)).toBe(1);
    expect(expectedPages(a4, firstPage + 1)).toBe(2);
    expect(expectedPages(a4, firstPage + otherPages)).toBe(2);
    expect(expectedPages(a4, firstPage + otherPages + 1)).toBe(3);
  });

  it("ignores an invalid generation date", () => {
    const bad = { ...a4, generatedAt: new Date(Number.NaN) };
    expect(pageCapacity(bad)).toEqual(pageCapacity(a4));
  });
});

describe("cell text", () => {
  const wrapCell = (text: string, width = 50, lines = 3, chars = 1000) =>
    layoutText(text, width, lines, chars, mono).map((l) => l.text);

  it("keeps text that fits on one line as is", () => {
    expect(wrapCell("hello")).toEqual(["hello"]);
    expect(wrapCell("")).toEqual([]);
    expect(layoutText("abc", 50, 3, 100, mono)).toEqual([{ text: "abc", width: 15 }]);
  });

  it("wraps at spaces", () => {
    expect(wrapCell("aaaa bbbb cccc")).toEqual(["aaaa bbbb", "cccc"]);
    expect(wrapCell("a b c d e f g h i j k", 25)).toEqual(["a b c", "d e f", "g h…"]);
  });

  it("cuts after three lines with an ellipsis that fits", () => {
    const lines = layoutText("word ".repeat(50), 50, 3, 1000, mono);
    expect(lines).toHaveLength(3);
    expect(lines[2]?.text.endsWith(ELLIPSIS)).toBe(true);
    for (const line of lines) expect(line.width).toBeLessThanOrEqual(50);
  });

  it("breaks a word wider than the column between characters", () => {
    expect(wrapCell("x".repeat(25))).toEqual(["x".repeat(10), "x".repeat(10), "xxxxx"]);
    const lines = wrapCell("y".repeat(5_000));
    expect(lines).toEqual(["y".repeat(10), "y".repeat(10), `${"y".repeat(9)}…`]);
  });

  it("shows the start of a cell whose first letter carries more marks than maxChars, then …", () => {
    const text = `a${"\u0301".repeat(400)} and more text`;
    // Marks take no room of their own, as in a font.
    const measure = (part: string) => mono(part.replace(/\p{M}/gu, ""));
    const lines = layoutText(text, 50, 3, 120, measure);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]?.text.startsWith("a\u0301")).toBe(true);
    expect(lines.at(-1)?.text.endsWith(ELLIPSIS)).toBe(true);
  });

  it("looks at no more than maxChars characters of a huge cell", () => {
    const seen: number[] = [];
    const measure = (text: string) => {
      seen.push(text.length);
      return mono(text);
    };
    const lines = layoutText("z ".repeat(30_000), 50, 3, 120, measure);
    expect(lines).toHaveLength(3);
    expect(lines[2]?.text.endsWith(ELLIPSIS)).toBe(true);
    expect(Math.max(...seen)).toBeLessThanOrEqual(120);
    expect(seen.length).toBeLessThan(200);
  });

  it("marks a clipped cell with an ellipsis even if the rest would fit", () => {
    expect(wrapCell("a".repeat(20), 500, 3, 10)).toEqual([`${"a".repeat(10)}…`]);
  });

  it("treats newlines as line breaks and drops blank lines", () => {
    expect(wrapCell("one\ntwo")).toEqual(["one", "two"]);
    expect(wrapCell("one\r\ntwo\rthree")).toEqual(["one", "two", "three"]);
    expect(wrapCell("one\n\n\n\ntwo")).toEqual(["one", "two"]);
    expect(wrapCell("a\nb\nc\nd")).toEqual(["a", "b", "c d"]);
    expect(wrapCell("aaaa\nbbbb\ncccc\ndddd")).toEqual(["aaaa", "bbbb", "cccc dddd"]);
    expect(wrapCell("aaaa\nbbbb\ncccc\ndddd eeee")).toEqual(["aaaa", "bbbb", "cccc dddd…"]);
    expect(wrapCell("\n\n")).toEqual([]);
  });

  it("turns tabs into spaces and removes other control characters", () => {
    expect(paragraphs("a\tb")).toEqual(["a b"]);
    expect(paragraphs("a\u0000b\u0007c\u007fd\u009be")).toEqual(["abcde"]);
    expect(paragraphs("  padded \t")).toEqual(["padded"]);
    expect(paragraphs("x\u2028y\u000bz")).toEqual(["x", "y", "z"]);
    expect(wrapCell("  padded  ")).toEqual(["padded"]);
  });

  it("never splits a surrogate pair or a combining sequence", () => {
    const emoji = "😀😀😀😀😀😀😀😀😀😀😀😀";
    for (const line of wrapCell(emoji, 22)) {
      expect(line.replace(ELLIPSIS, "")).toMatch(/^(\uD83D\uDE00)+$/u);
    }
    const accents = "e\u0301".repeat(20);
    for (const line of wrapCell(accents, 22)) {
      expect(line.replace(ELLIPSIS, "")).toMatch(/^(e\u0301)+$/);
    }
    expect(safeCut("ab😀", 3)).toBe(2);
    expect(safeCut("abe\u0301", 3)).toBe(2);
  });

  it("never splits an emoji sequence: ZWJ, skin tone, flag", () => {
    // mono counts UTF-16 units: 👩‍💻 is 25 points wide, 👍🏽 and 🇯🇵 20.
    for (const [cluster, width] of [
      ["👩‍💻", 60],
      ["👍🏽", 50],
      ["🇯🇵", 50],
    ] as const) {
      const lines = wrapCell(cluster.repeat(8), width, 10);
      expect(lines.join("")).toBe(cluster.repeat(8));
      for (const line of lines) expect(line).toMatch(new RegExp(`^(${cluster})+$`, "u"));
    }
    expect(safeCut("a👩‍💻", 4)).toBe(1);
    expect(safeCut("a🇯🇵", 3)).toBe(1);
  });

  it("finds the longest prefix that fits", () => {
    expect(fitPrefix("abcdefgh", 20, mono)).toEqual({ text: "abcd", width: 20 });
    expect(fitPrefix("abcdefgh", 4, mono)).toEqual({ text: "", width: 0 });
    expect(lastLine("abcdefgh", false, 20, mono).text).toBe("abc…");
    expect(lastLine("abc", false, 20, mono).text).toBe("abc");
    expect(lastLine("abc", true, 20, mono).text).toBe("abc…");
  });

  it("marks the lines of right-to-left paragraphs", () => {
    expect(layoutText("שלום עולם", 500, 3, 100, mono)).toEqual([
      { text: "שלום עולם", width: 45, rtl: true },
    ]);
    expect(wrapCell("Zürich")).toEqual(["Zürich"]);
    expect(layoutText("Zürich", 500, 3, 100, mono)[0]?.rtl).toBeUndefined();
    const lines = layoutText("שלום עולם abc\nhello עולם", 50, 3, 100, mono);
    expect(lines.map((l) => [l.text, l.rtl])).toEqual([
      ["שלום עולם", true],
      ["abc", true],
      ["hello עולם", undefined],
    ]);
    expect(lastLine("مرحبا بالعالم", true, 30, mono)).toEqual({
      text: "مرحبا…",
      width: 30,
      rtl: true,
    });
  });
});

describe("bidi", () => {
  const one = (text: string) => [{ start: 0, end: text.length, font: 0 }];
  const runs = (text: string, rtl: boolean) =>
    visualRuns(text, one(text), rtl).map((r) => [r.text, r.rtl ? "rtl" : "ltr"]);

  it("takes a paragraph's direction from its first strong character", () => {
    expect(isRtlParagraph("שלום world")).toBe(true);
    expect(isRtlParagraph("123 - مرحبا")).toBe(true);
    expect(isRtlParagraph("hello שלום")).toBe(false);
    expect(isRtlParagraph("\u2066abc\u2069 שלום")).toBe(true);
    expect(isRtlParagraph("Zürich 東京")).toBe(false);
  });

  it("puts the runs of a line in visual order", () => {
    expect(runs("שלום עולם", true)).toEqual([["שלום עולם", "rtl"]]);
    expect(runs("abc שלום def", false)).toEqual([
      ["abc ", "ltr"],
      ["שלום", "rtl"],
      [" def", "ltr"],
    ]);
    // Numbers and Latin inside right-to-left text keep their own order.
    expect(runs("طلب رقم 1234", true)).toEqual([
      ["1234", "ltr"],
      ["طلب رقم ", "rtl"],
    ]);
    // Digits after Latin letters count as Latin (rule W7).
    expect(runs("שלום abc 123", true)).toEqual([
      ["abc 123", "ltr"],
      ["שלום ", "rtl"],
    ]);
    expect(runs("שלום 12 abc", true)).toEqual([
      ["abc", "ltr"],
      [" ", "rtl"],
      ["12", "ltr"],
      ["שלום ", "rtl"],
    ]);
  });

  it("mirrors brackets in right-to-left runs", () => {
    expect(runs("(שלום)", true)).toEqual([[")שלום(", "rtl"]]);
    expect(runs("a (b)", false)).toEqual([["a (b)", "ltr"]]);
  });

  it("keeps surrogate pairs whole and emoji neutral", () => {
    expect(runs("שלום 😀 עולם", true)).toEqual([["שלום 😀 עולם", "rtl"]]);
    expect(runs("abc 😀 def", false)).toEqual([["abc 😀 def", "ltr"]]);
  });

  it("splits runs at font changes as well", () => {
    const text = "abc 王芳 שלום";
    const fonts = [
      { start: 0, end: 4, font: 0 },
      { start: 4, end: 6, font: 1 },
      { start: 6, end: text.length, font: 0 },
    ];
    expect(visualRuns(text, fonts, false).map((r) => [r.text, r.font, r.rtl])).toEqual([
      ["abc ", 0, false],
      ["王芳", 1, false],
      [" ", 0, false],
      ["שלום", 0, true],
    ]);
  });
});
