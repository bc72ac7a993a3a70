/**
 * Text in every script the bundled fonts cover: each character drawn by the
 * first font of the chain that has it, read back with poppler (pdftotext,
 * pdffonts), with no empty boxes, Arabic joined and right-to-left text in
 * reading order.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundledFontPaths } from "../../src/render/pdf/fonts.js";
import { createPdfRenderer } from "../../src/render/pdf/index.js";
import type { Cell, ColumnSpec, RenderJob } from "../../src/render/renderer.js";
import {
  drawnGlyphIds,
  lineStartingWith,
  pageTexts,
  pdffonts,
  pdfJob,
  renderPdf,
  wordBoxes,
} from "../support/pdf.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pdf-scripts-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const renderer = createPdfRenderer();

const COLUMNS: readonly ColumnSpec[] = [
  { key: "id", title: "id", kind: "text", width: 40 },
  { key: "text", title: "text", kind: "text", width: undefined },
];

let fileCount = 0;
async function render(
  rows: readonly (readonly Cell[])[],
  job: RenderJob = pdfJob(COLUMNS),
  using = renderer,
): Promise<{ path: string; bytes: Buffer }> {
  const bytes = await renderPdf(using, rows, job);
  const path = join(dir, `scripts-${++fileCount}.pdf`);
  await writeFile(path, bytes);
  return { path, bytes };
}

/** Embedded fonts as pdffonts lists them: name (subset prefix included), then its flags. */
async function fonts(path: string): Promise<{ name: string; line: string }[]> {
  return (await pdffonts(path))
    .split("\n")
    .slice(2)
    .filter(Boolean)
    .map((line) => ({ name: line.split(/\s+/)[0] ?? "", line }));
}

/** One sample a script, by a short id (it heads the sample's row). */
const SAMPLES = {
  zh: "王芳 北京市朝阳区",
  tw: "張偉 臺北市信義區",
  ja: "佐藤さくら 東京都渋谷区 カタカナ",
  ko: "김민준 서울특별시 강남구",
  // "لا" becomes one glyph, the lam-alef ligature.
  ar: "محمد علي السلام عليكم",
  he: "דוד לוי שלום עולם",
  emoji: "😀🎉👍 👨‍👩‍👧‍👦 ❤️ 🇯🇵",
} as const;

/** A right-to-left word as pdftotext -bbox reports it: letters in drawing order. */
const drawn = (word: string) => [...word].reverse().join("");

describe("PDF text in other scripts", () => {
  it("draws CJK, Korean, Arabic, Hebrew and emoji text that reads back exactly", async () => {
    const rows = Object.entries(SAMPLES);
    const { path, bytes } = await render(rows);
    const [page] = await pageTexts(path);
    const lines = (page ?? "").split("\n");
    for (const [id, text] of rows) {
      const line = lines.find((l) => l.trimStart().startsWith(`${id} `)) ?? "";
      // pdftotext marks right-to-left runs with U+202B … U+202C.
      expect(line.replace(/[\u202b\u202c]/g, "")).toContain(text);
    }
    // Glyph 0 is a font's empty box.
    expect(drawnGlyphIds(bytes)).not.toContain(0);
  });

  it("embeds each font of the chain that was used, as a subset with a ToUnicode map", async () => {
    const { path } = await render(Object.entries(SAMPLES));
    const embedded = await fonts(path);
    for (const font of [
      "DejaVuSans",
      "DejaVuSans-Bold",
      "NotoSansHans-Regular",
      "NotoSansKR-Regular",
      "NotoEmoji-Regular",
    ]) {
      const entry = embedded.find(({ name }) => name.endsWith(`+${font}`));
      expect(entry, font).toBeDefined();
      // emb, sub, uni: embedded, a subset, with a ToUnicode map.
      expect(entry?.line).toMatch(/\syes\s+yes\s+yes\s/);
    }
    for (const { name } of embedded) expect(name).toMatch(/^[A-Z]{6}\+/);
    // DejaVu Sans has Arabic and Hebrew letters; the Noto fonts only fill its gaps.
    expect(embedded.map(({ name }) => name).join(" ")).not.toMatch(/Naskh|Hebrew/);
  });

  it("draws a character shown as emoji by default in the emoji font, whatever else its line holds", async () => {
    // DejaVu Sans has ☕ too; on a line of plain Latin it was drawn in DejaVu.
    const { path } = await render([["1", "coffee ☕"]]);
    expect((await pageTexts(path))[0]).toContain("coffee ☕");
    const embedded = (await fonts(path)).map(({ name }) => name);
    expect(embedded.some((name) => name.endsWith("+NotoEmoji-Regular"))).toBe(true);
  });

  it("embeds only the glyphs used: three Chinese names make a small file", async () => {
    const { path, bytes } = await render([
      ["1", "王芳"],
      ["2", "张伟"],
      ["3", "李娜"],
    ]);
    expect((await pageTexts(path))[0]).toMatch(/王芳[\s\S]*张伟[\s\S]*李娜/);
    // The font file is 8.4 MB; its subset of six glyphs is about 42 KB.
    expect(bytes.length).toBeLessThan(64 * 1024);
    expect((await fonts(path)).some(({ name }) => name.endsWith("+NotoSansHans-Regular"))).toBe(
      true,
    );
  });

  it("joins Arabic letters", async () => {
    const { path } = await render([
      ["joined", "بببب"],
      ["apart", "ب ب ب ب"],
    ]);
    const words = await wordBoxes(path);
    const width = (first: string) => {
      const head = words.find((word) => word.text === first);
      return words
        .filter((word) => word.yMin === head?.yMin && word.text !== first)
        .reduce((sum, word) => sum + word.xMax - word.xMin, 0);
    };
    expect(lineStartingWith(words, "joined")).toEqual(["joined", "بببب"]);
    // Initial, medial and final forms are far narrower than four isolated letters.
    expect(width("joined")).toBeLessThan(0.6 * width("apart"));
  });

  it("lays out right-to-left and mixed-direction cells in reading order", async () => {
    const { path } = await render([
      ["r1", "שלום עולם"],
      ["r2", "طلب رقم 1234 للعميل ACME"],
      ["r3", "הזמנה 5678 – express (דחוף)"],
      ["r4", "Order for שרה כהן, total 42 ₪"],
    ]);
    const words = await wordBoxes(path);
    // Words left to right as drawn; right-to-left words read from their right end.
    expect(lineStartingWith(words, "r1")).toEqual(["r1", drawn("עולם"), drawn("שלום")]);
    expect(lineStartingWith(words, "r2")).toEqual([
      "r2",
      "ACME",
      drawn("للعميل"),
      "1234",
      drawn("رقم"),
      drawn("طلب"),
    ]);
    // Brackets are mirrored: "(" opens on the right.
    expect(lineStartingWith(words, "r3")).toEqual([
      "r3",
      `(${drawn("דחוף")})`,
      "express",
      "–",
      "5678",
      drawn("הזמנה"),
    ]);
    expect(lineStartingWith(words, "r4")).toEqual([
      "r4",
      "Order",
      "for",
      drawn("כהן"),
      `${drawn("שרה")},`,
      "total",
      "42",
      "₪",
    ]);
  });

  it("wraps text in other scripts by its measured width", async () => {
    const long = "東京都渋谷区神南一丁目 ".repeat(8).trim();
    const narrow: ColumnSpec[] = [
      { key: "id", title: "id", kind: "text", width: 40 },
      { key: "text", title: "text", kind: "text", width: 120 },
    ];
    const { path } = await render([["w1", long]], pdfJob(narrow));
    const lines = (await pageTexts(path))[0]?.split("\n") ?? [];
    const at = lines.findIndex((l) => l.includes("w1"));
    expect(lines[at]).toContain("東京都渋谷区神南一丁目");
    expect(lines[at + 1]).toContain("東京都渋谷区神南一丁目");
    expect(lines[at + 2]).toMatch(/東京都.*…/);
  });

  it("sets bold titles and header rows in the bold fallback fonts", async () => {
    const columns: ColumnSpec[] = [
      { key: "name", title: "名前 이름", kind: "text", width: undefined },
      { key: "note", title: "الملاحظة 😀", kind: "text", width: undefined },
    ];
    const { path, bytes } = await render(
      [["王芳", "ok"]],
      pdfJob(columns, { title: "顧客 고객 😀" }),
    );
    const names = (await fonts(path)).map(({ name }) => name).join(" ");
    for (const bold of ["NotoSansHans-Bold", "NotoSansKR-Bold", "NotoEmoji-Bold"]) {
      expect(names).toContain(`+${bold}`);
    }
    const [page] = await pageTexts(path);
    expect(page).toContain("顧客 고객 😀");
    expect(page).toContain("名前 이름");
    expect(page).toContain("الملاحظة");
    expect(drawnGlyphIds(bytes)).not.toContain(0);
  });

  it("tries fonts from the options after the first font and before the bundled ones", async () => {
    const dejaVu = bundledFontPaths().regular;
    const mono = dejaVu.replace("DejaVuSans.ttf", "DejaVuSansMono.ttf");
    const serif = dejaVu.replace("DejaVuSans.ttf", "DejaVuSerif.ttf");
    const custom = createPdfRenderer({ fontPath: mono, fallbackFontPaths: [serif] });
    // DejaVu Sans Mono has no "Ǆ"; DejaVu Serif has, and no CJK.
    const { path, bytes } = await render([["x", "Ǆ 王芳"]], pdfJob(COLUMNS), custom);
    const names = (await fonts(path)).map(({ name }) => name);
    expect(names.some((name) => name.endsWith("+DejaVuSansMono"))).toBe(true);
    expect(names.some((name) => name.endsWith("+DejaVuSerif"))).toBe(true);
    expect(names.some((name) => name.endsWith("+NotoSansHans-Regular"))).toBe(true);
    expect((await pageTexts(path))[0]).toContain("Ǆ 王芳");
    expect(drawnGlyphIds(bytes)).not.toContain(0);
  });

  it("keeps the subsets of documents rendered at the same time apart", async () => {
    const job = pdfJob(COLUMNS, { generatedAt: new Date(0) });
    const a = Array.from({ length: 300 }, (_, i) => [`a${i}`, `王芳 ${i} 김민준 😀`]);
    const b = Array.from({ length: 300 }, (_, i) => [`b${i}`, `張偉 ${i} مرحبا 🎉`]);
    const alone = [await renderPdf(renderer, a, job), await renderPdf(renderer, b, job)];
    const together = await Promise.all([renderPdf(renderer, a, job), renderPdf(renderer, b, job)]);
    expect(together[0]?.equals(alone[0] as Buffer)).toBe(true);
    expect(together[1]?.equals(alone[1] as Buffer)).toBe(true);
  });

  it("draws the first font's empty box for a character no font has", async () => {
    const { bytes } = await render([["x", "a\ua000b"]]);
    expect(drawnGlyphIds(bytes)).toContain(0);
  });
});

describe("the bundled fallback fonts", () => {
  const MiB = 1024 * 1024;

  it("are read only when a character needs one: a Latin and Greek table reads none of their 30 MB", async () => {
    // A process of its own: the fonts this file's other tests read stay in memory.
    const script = fileURLToPath(new URL("../support/font-memory.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", script],
      // Where tsx resolves from.
      { cwd: fileURLToPath(new URL("../..", import.meta.url)) },
    );
    const { started, latin, chinese } = JSON.parse(stdout) as {
      started: number;
      latin: number;
      chinese: number;
    };
    // DejaVu Sans and DejaVu Sans Bold (for the header) are 0.7 MB each;
    // the regular and bold fallbacks, 14 MB each.
    expect((latin - started) / MiB).toBeLessThan(5);
    // Noto Sans SC (Hans), 8.4 MB: the figure does show a font being read.
    expect((chinese - latin) / MiB).toBeGreaterThan(5);
  });
});
