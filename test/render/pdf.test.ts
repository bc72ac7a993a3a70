/**
 * The PDF renderer end to end: render through the Renderer interface, write
 * the file, read it back with poppler (pdfinfo, pdftotext, pdffonts).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundledFontPaths } from "../../src/render/pdf/fonts.js";
import {
  createPdfRenderer,
  expectedPages,
  PDF_LAYOUT,
  pageCapacity,
  type RowShape,
} from "../../src/render/pdf/index.js";
import { deflatePageContent } from "../../src/render/pdf/typeset.js";
import type {
  Cell,
  ColumnKind,
  ColumnSpec,
  PdfSettings,
  RenderJob,
  RowBlock,
} from "../../src/render/renderer.js";
import {
  collect,
  inBlocks,
  pdfJob as job,
  pageTexts,
  pdffonts,
  pdfinfo,
  renderPdf,
} from "../support/pdf.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pdf-renderer-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const renderer = createPdfRenderer();

function column(key: string, kind: ColumnKind = "text", width?: number): ColumnSpec {
  return { key, title: key, kind, width };
}

let fileCount = 0;
async function renderFile(
  rows: readonly (readonly Cell[])[],
  renderJob: RenderJob,
  using = renderer,
): Promise<{ path: string; bytes: Buffer }> {
  const bytes = await renderPdf(using, rows, renderJob);
  const path = join(dir, `out-${++fileCount}.pdf`);
  await writeFile(path, bytes);
  return { path, bytes };
}

const ORDER_COLUMNS = [
  column("order_id", "number"),
  column("customer"),
  column("email"),
  column("amount", "number"),
  column("paid", "boolean"),
  column("created_at"),
  column("city"),
  column("note"),
];
const NAMES = ["Søren Berg", "Olga Ivanova", "Αλέξης Παππάς", "Иван Петров", "Maëlle Roux"];
const CITIES = ["Zürich", "Reykjavík", "Αθήνα", "Москва", "Kraków", "São Paulo"];

/** Short single-line order rows: every row of these fits on one line in A4 portrait. */
function orderRows(count: number): Cell[][] {
  return Array.from({ length: count }, (_, i) => [
    String(100001 + i),
    NAMES[i % NAMES.length] ?? "",
    `u${i}@example.com`,
    ((i * 37.13) % 5000).toFixed(2),
    i % 3 === 0 ? "false" : "true",
    `2026-03-${String((i % 28) + 1).padStart(2, "0")}`,
    CITIES[i % CITIES.length] ?? "",
    i % 4 === 0 ? null : "gift wrap",
  ]);
}

describe("PDF renderer", () => {
  it("is a PDF renderer", () => {
    expect(renderer.contentType).toBe("application/pdf");
    expect(renderer.fileExtension).toBe("pdf");
  });

  it("renders a multi-page table with title, header on every page and page numbers", async () => {
    const pdf = {
      title: "Orders",
      generatedAt: new Date("2026-07-01T09:30:00.000Z"),
    } satisfies Partial<PdfSettings>;
    const renderJob = job(ORDER_COLUMNS, pdf);
    const { firstPage, otherPages } = pageCapacity(renderJob.pdf);
    const count = firstPage + 2 * otherPages + 3;
    const rows = orderRows(count);
    const { path, bytes } = await renderFile(rows, renderJob);

    expect(bytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(bytes.subarray(-6).toString("latin1")).toContain("%%EOF");
    const info = await pdfinfo(path);
    expect(info.pages).toBe(expectedPages(renderJob.pdf, count));
    expect(info.pages).toBe(4);
    expect(info.pageSize).toBe("595.28 x 841.89 pts (A4)");
    expect(info.raw).toMatch(/^Title:\s+Orders$/m);

    const pages = await pageTexts(path);
    expect(pages).toHaveLength(4);
    pages.forEach((text, i) => {
      for (const { title } of ORDER_COLUMNS) expect(text).toContain(title);
      expect(text).toMatch(new RegExp(`Page ${i + 1}\\s*$`));
    });
    expect(pages[0]).toMatch(/^\s*Orders\s*\n\s*Generated 2026-07-01T09:30:00Z/);
    expect(pages[1]).not.toContain("Generated");

    // Rows land exactly where the layout constants say.
    const id = (row: number) => String(100001 + row);
    expect(pages[0]).toContain(id(firstPage - 1));
    expect(pages[0]).not.toContain(id(firstPage));
    expect(pages[1]).toContain(id(firstPage));
    expect(pages[3]).toContain(id(count - 1));

    const all = pages.join("\n");
    for (const word of ["Zürich", "Reykjavík", "Søren", "Αθήνα", "Москва", "Kraków", "Παππάς"]) {
      expect(all).toContain(word);
    }
    // Null renders as an empty cell, never as the word "null".
    expect(all).not.toContain("null");
  });

  it.each([
    ["A4", "portrait", "595.28 x 841.89 pts (A4)"],
    ["A4", "landscape", "841.89 x 595.28 pts (A4)"],
    ["LETTER", "portrait", "612 x 792 pts (letter)"],
    ["LETTER", "landscape", "792 x 612 pts (letter)"],
  ] as const)("lays out %s %s pages", async (pageSize, orientation, expected) => {
    const renderJob = job(ORDER_COLUMNS, { pageSize, orientation, title: "Sized" });
    const { firstPage, otherPages } = pageCapacity(renderJob.pdf);
    const count = firstPage + otherPages + 1;
    const { path } = await renderFile(orderRows(count), renderJob);
    const info = await pdfinfo(path);
    expect(info.pageSize).toBe(expected);
    expect(info.pages).toBe(3);
    const pages = await pageTexts(path);
    expect(pages[2]).toContain(String(100001 + count - 1));
  });

  it("right-aligns numbers and centres booleans", async () => {
    const values = ["7", "1234.56", "-42", "99.5", "1000000", "0.001"];
    const rows = values.map((amount, i) => [`item ${i}`, amount, i % 2 === 0 ? "true" : "false"]);
    const columns = [column("item"), column("amount", "number"), column("flag", "boolean")];
    const { path } = await renderFile(rows, job(columns));
    const lines = (await pageTexts(path))[0]?.split("\n") ?? [];
    const ends = values.map((v, i) => {
      const line = lines.find((l) => l.includes(`item ${i} `)) ?? "";
      const at = line.lastIndexOf(v);
      expect(at).toBeGreaterThan(0);
      return at + v.length;
    });
    expect(new Set(ends).size).toBe(1);
    const header = lines.find((l) => l.includes("amount")) ?? "";
    // The bold title may land one text column off in pdftotext's character grid.
    const headerEnd = header.indexOf("amount") + "amount".length;
    expect(Math.abs(headerEnd - (ends[0] ?? 0))).toBeLessThanOrEqual(1);

    const centres = values.map((_, i) => {
      const line = lines.find((l) => l.includes(`item ${i} `)) ?? "";
      const flag = i % 2 === 0 ? "true" : "false";
      return line.lastIndexOf(flag) + flag.length / 2;
    });
    expect(Math.max(...centres) - Math.min(...centres)).toBeLessThanOrEqual(1);
  });

  it("survives hostile characters without breaking the layout", async () => {
    const hostile = [
      "東京都渋谷区",
      "😀🎉👍🏽",
      "👨‍👩‍👧‍👦 family",
      "مرحبا بالعالم",
      "שלום עולם",
      "Zoë e\u0301 n\u0303 Z̤͔ͧ̑̓",
      "nul\u0000byte",
      "tab\there",
      "bell\u0007 del\u007f c1\u0085x",
      "\u202Eevil\u202C override",
      "\uFEFFbom",
      "lone \uD800 surrogate \uDC00",
      "soft\u00ADhyphen",
      "nbsp\u00A0space",
      "  padded  ",
      "\uFFFF\uFFFE",
    ];
    const columns = [column("id", "number"), column("value"), column("other")];
    const rows = Array.from({ length: 120 }, (_, i) => [
      String(i),
      hostile[i % hostile.length] ?? "",
      hostile[(i * 5) % hostile.length] ?? "",
    ]);
    const renderJob = job(columns, { title: "Hostile ☃ 東京 😀" });
    const { path } = await renderFile(rows, renderJob);
    expect((await pdfinfo(path)).pages).toBe(expectedPages(renderJob.pdf, rows.length));
    const pages = await pageTexts(path);
    const all = pages.join("\n");
    expect(all).toContain("Zoë");
    expect(all).toContain("\u00e9 \u00f1"); // combining sequences are composed (NFC)
    expect(all).toContain("tab here");
    expect(all).toContain("nulbyte");
    pages.forEach((text, i) => {
      expect(text).toContain("value");
      expect(text).toMatch(new RegExp(`Page ${i + 1}\\s*$`));
    });
  });

  it("turns newlines inside a cell into lines, at most three", async () => {
    const columns = [column("id", "number"), column("text")];
    const rows = [
      ["1", "first\r\nsecond"],
      ["2", "alpha\nbeta\ngamma\ndelta\nepsilon"],
      ["3", "xray\r\r\n\n\nyankee"],
      ["4", "single"],
    ];
    const { path } = await renderFile(rows, job(columns));
    const lines = (await pageTexts(path))[0]?.split("\n") ?? [];
    const at = (s: string) => lines.findIndex((l) => l.includes(s));
    expect(at("second")).toBe(at("first") + 1);
    expect(at("alpha")).toBe(at("2 "));
    expect(at("beta")).toBe(at("alpha") + 1);
    // The third line takes the rest, joined with spaces.
    expect(lines[at("beta") + 1]).toMatch(/gamma delta epsilon|gamma delta…|gamma…/);
    // Blank lines inside a cell are dropped.
    expect(at("yankee")).toBe(at("xray") + 1);
  });

  it("cuts huge cells with an ellipsis and keeps rows at three lines", async () => {
    const huge = "lorem ipsum dolor sit amet ".repeat(2300).slice(0, 60_000);
    const word = "W".repeat(5_000);
    const columns = [column("id", "number"), column("huge"), column("word"), column("city")];
    const rows = Array.from({ length: 200 }, (_, i) => [String(i), huge, word, "Zürich"]);
    const renderJob = job(columns, { orientation: "landscape" });
    const { path, bytes } = await renderFile(rows, renderJob);
    const shape: RowShape = { rowLines: PDF_LAYOUT.maxLines };
    expect((await pdfinfo(path)).pages).toBe(expectedPages(renderJob.pdf, rows.length, shape));
    // Only what fits is drawn: a few hundred bytes per row, not 65 KB.
    expect(bytes.length).toBeLessThan(200 * 1_500);
    const first = (await pageTexts(path))[0] ?? "";
    expect(first).toContain("lorem ipsum");
    expect(first).toContain("…");
    expect(first).toContain("WWWW");
  });

  it("writes the first bytes and whole pages before the input ends", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const rows = orderRows(300);
    async function* blocks(): AsyncGenerator<RowBlock> {
      yield rows.slice(0, 200);
      await gate;
      yield rows.slice(200);
    }
    const received: Uint8Array[] = [];
    const done = (async () => {
      for await (const chunk of renderer.render(blocks(), job(ORDER_COLUMNS))) received.push(chunk);
    })();
    for (let turn = 0; turn < 1_000 && received.length < 2; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const early = Buffer.concat(received).toString("latin1");
    expect(early.startsWith("%PDF-")).toBe(true);
    // 200 rows fill several pages, which are out before the last block exists.
    expect(early.match(/\/Type \/Page\b/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    release();
    await done;
    const path = join(dir, "gated.pdf");
    await writeFile(path, Buffer.concat(received));
    expect((await pdfinfo(path)).pages).toBe(expectedPages(job(ORDER_COLUMNS).pdf, 300));
  });

  it("pulls the next block only after handing on the previous block's bytes", async () => {
    const rows = orderRows(600);
    const pulls: number[] = [];
    let consumed = 0;
    async function* blocks(): AsyncGenerator<RowBlock> {
      for (let i = 0; i < rows.length; i += 100) {
        pulls.push(consumed);
        yield rows.slice(i, i + 100);
      }
    }
    for await (const _chunk of renderer.render(blocks(), job(ORDER_COLUMNS))) consumed++;
    // The header chunk, then one chunk per block (each block of 100 rows ends a page).
    expect(pulls).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("stops cleanly when the consumer gives up early", async () => {
    let pulled = 0;
    let closed = false;
    async function* blocks(): AsyncGenerator<RowBlock> {
      try {
        for (;;) {
          pulled++;
          yield orderRows(100);
        }
      } finally {
        closed = true;
      }
    }
    let chunks = 0;
    for await (const _chunk of renderer.render(blocks(), job(ORDER_COLUMNS))) {
      if (++chunks === 3) break;
    }
    expect(closed).toBe(true);
    expect(pulled).toBe(2);
  });

  it("passes on errors from the input", async () => {
    async function* blocks(): AsyncGenerator<RowBlock> {
      yield orderRows(10);
      throw new Error("client went away");
    }
    await expect(collect(renderer.render(blocks(), job(ORDER_COLUMNS)))).rejects.toThrow(
      "client went away",
    );
  });

  it("is byte-for-byte reproducible when generatedAt is set", async () => {
    const renderJob = job(ORDER_COLUMNS, { title: "Same", generatedAt: new Date(0) });
    const a = await collect(renderer.render(inBlocks(orderRows(150)), renderJob));
    const b = await collect(createPdfRenderer().render(inBlocks(orderRows(150)), renderJob));
    expect(a.equals(b)).toBe(true);
  });

  it("makes the same file when its pages are deflated elsewhere and answered out of order", async () => {
    const renderJob = job(ORDER_COLUMNS, { title: "Same", generatedAt: new Date(0) });
    let asked = 0;
    // Every third page is answered last of its three: the order answers come in must not matter.
    const late = createPdfRenderer(
      {},
      {
        deflater: (content) => {
          const delay = asked++ % 3 === 0 ? 20 : 1;
          return new Promise((resolve) =>
            setTimeout(() => resolve(deflatePageContent(content)), delay),
          );
        },
      },
    );
    const here = await collect(renderer.render(inBlocks(orderRows(1500)), renderJob));
    const elsewhere = await collect(late.render(inBlocks(orderRows(1500)), renderJob));
    expect(asked).toBeGreaterThan(20);
    expect(elsewhere.equals(here)).toBe(true);
  });

  it("fails, and leaves nothing unhandled, when deflating a page elsewhere fails", async () => {
    const failing = createPdfRenderer(
      {},
      { deflater: () => Promise.reject(new Error("no room to deflate")) },
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await expect(
        collect(failing.render(inBlocks(orderRows(600)), job(ORDER_COLUMNS))),
      ).rejects.toThrow("no room to deflate");
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it("renders an empty table as one page with the header", async () => {
    const { path } = await renderFile([], job(ORDER_COLUMNS, { title: "Nothing" }));
    expect((await pdfinfo(path)).pages).toBe(1);
    const [page] = await pageTexts(path);
    expect(page).toContain("Nothing");
    expect(page).toContain("created_at");
    expect(page).toContain("No rows.");
    expect(page).toContain("Page 1");
  });

  it("renders rows without columns as a valid document", async () => {
    const { path } = await renderFile([[], []], job([], { title: "No columns" }));
    expect((await pdfinfo(path)).pages).toBe(1);
  });

  it("wraps long column titles in a taller header on every page", async () => {
    const columns = [
      { key: "a", title: "A very long column title that has to wrap", kind: "text", width: 60 },
      column("b"),
    ] as const;
    const renderJob = job(columns);
    const rows = Array.from({ length: 100 }, (_, i) => [`a${i}`, `b${i}`]);
    const { path } = await renderFile(rows, renderJob);
    const shape = { headerLines: 3 };
    expect((await pdfinfo(path)).pages).toBe(expectedPages(renderJob.pdf, rows.length, shape));
    for (const page of await pageTexts(path)) {
      expect(page).toContain("A very long");
      expect(page).toContain("column");
      expect(page).toContain("title that…");
    }
  });

  it("embeds DejaVu Sans regular and bold as subsets", async () => {
    const { path } = await renderFile(orderRows(5), job(ORDER_COLUMNS));
    const stdout = await pdffonts(path);
    const fonts = stdout.split("\n").slice(2).filter(Boolean);
    expect(fonts).toHaveLength(2);
    expect(fonts.some((l) => /\+DejaVuSans\s.*yes\s+yes\s+yes/.test(l))).toBe(true);
    expect(fonts.some((l) => /\+DejaVuSans-Bold\s.*yes\s+yes\s+yes/.test(l))).toBe(true);
  });

  it("uses the font given in the options", async () => {
    const serif = bundledFontPaths().regular.replace("DejaVuSans.ttf", "DejaVuSerif.ttf");
    const custom = createPdfRenderer({ fontPath: serif });
    const { path } = await renderFile(orderRows(5), job(ORDER_COLUMNS), custom);
    const stdout = await pdffonts(path);
    expect(stdout).toContain("DejaVuSerif");
    expect(stdout).not.toContain("DejaVuSans");
    expect((await pageTexts(path))[0]).toContain("Zürich");
  });

  it("refuses a font file that does not exist when created", () => {
    expect(() => createPdfRenderer({ fontPath: join(dir, "missing.ttf") })).toThrow();
  });
});
