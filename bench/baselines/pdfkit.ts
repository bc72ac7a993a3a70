/**
 * Plain pdfkit, in process, on the bench's rows: the way a table is usually
 * drawn with it, one `doc.text` per cell in DejaVu Sans 8pt, each cell kept
 * to its box, a new page when one is full. It draws the report the service
 * draws: a title and "Generated" line on page 1, on every page a bold header
 * row on a shaded band, zebra stripes and a footer with the title and page
 * number, columns sized from the first 200 rows as the service sizes them,
 * and cells wrapped at spaces to at most 3 lines, so every cell shows in full.
 * The service's PDF end to end is measured against it.
 */
import { once } from "node:events";
import { createRequire } from "node:module";
import { setImmediate } from "node:timers/promises";
import { allocateWidths } from "../../src/render/pdf/layout.js";
import { BATCH, batchesOf, COLUMNS, TITLES } from "../rows.js";
import { startClock } from "../worker/clock.js";
import type { JobResult } from "../worker/jobs.js";

const require = createRequire(import.meta.url);
// pdfkit's type definitions use `export =`, which this project's compiler
// settings only allow to be loaded through `require`.
const PDFDocument: typeof import("pdfkit") = require("pdfkit");
const REGULAR = require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf");
const BOLD = require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf");

const TITLE = "Orders";
const MARGIN = 36;
const BOTTOM_MARGIN = 44;
const FONT_SIZE = 8;
const LINE_HEIGHT = 10;
const PADDING_X = 4;
/** Above and below a row's lines. */
const ROW_PADDING = 6;
/** Lines a cell may take before it is cut with "…". */
const MAX_LINES = 3;
const HEADER_HEIGHT = 18;
const SIZED_FROM_ROWS = 200;

type Doc = InstanceType<typeof PDFDocument>;

/**
 * Column widths as the service chooses them, from the same demands (widest
 * title or cell, longest word, among the first 200 rows), shared out by the
 * service's own arithmetic: the baseline is pdfkit's drawing, not its own
 * idea of a table.
 */
function columnWidths(doc: Doc, tableWidth: number): number[] {
  const sample = BATCH.slice(0, SIZED_FROM_ROWS);
  const demands = TITLES.map((title, column) => {
    doc.font("Bold");
    let widest = doc.widthOfString(title);
    let longestWord = Math.max(...title.split(" ").map((word) => doc.widthOfString(word)));
    doc.font("Regular");
    for (const row of sample) {
      const cell = row[column] as string;
      widest = Math.max(widest, doc.widthOfString(cell));
      for (const word of cell.split(" ")) {
        longestWord = Math.max(longestWord, doc.widthOfString(word));
      }
    }
    return {
      fixed: undefined,
      preferred: widest + 2 * PADDING_X,
      minimum: Math.min(widest, longestWord) + 2 * PADDING_X,
      text: COLUMNS[column]?.type === "text",
    };
  });
  return allocateWidths(demands, tableWidth);
}

export async function plainPdfkit(rows: number): Promise<JobResult> {
  const batches = batchesOf(rows);
  const clock = startClock();
  // No bottom margin: the footer sits in it, and pdfkit would start a new
  // page for text drawn there. Rows break pages by the table's own bottom.
  const doc = new PDFDocument({
    size: "A4",
    margins: { top: MARGIN, left: MARGIN, right: MARGIN, bottom: 0 },
  });
  let bytes = 0;
  doc.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const ended = once(doc, "end");
  doc.registerFont("Regular", REGULAR).registerFont("Bold", BOLD).fontSize(FONT_SIZE);
  const tableWidth = doc.page.width - 2 * MARGIN;
  const widths = columnWidths(doc, tableWidth);
  const bottom = doc.page.height - BOTTOM_MARGIN;
  let page = 1;
  let y = MARGIN;

  const inner = widths.map((width) => width - 2 * PADDING_X);
  // pdfkit spaces lines by the font's height plus this gap: 10pt, as the service does.
  const lineGap = LINE_HEIGHT - doc.font("Regular").currentLineHeight(true);
  /** Lines a cell takes, at most MAX_LINES: measured whole only when it does not fit one. */
  const linesOf = (value: string, column: number) => {
    const width = inner[column] as number;
    if (doc.widthOfString(value) <= width) return 1;
    const height = doc.heightOfString(value, { width, lineGap });
    return Math.min(MAX_LINES, Math.max(1, Math.round(height / LINE_HEIGHT)));
  };
  const cells = (values: readonly string[], top: number, lines: number) => {
    let x = MARGIN;
    values.forEach((value, column) => {
      doc.text(value, x + PADDING_X, top, {
        width: inner[column] as number,
        // A little over the lines' height, so rounding cannot drop the last.
        height: lines * LINE_HEIGHT + 0.5,
        lineGap,
        ellipsis: true,
      });
      x += widths[column] as number;
    });
  };
  const header = () => {
    doc.rect(MARGIN, y, tableWidth, HEADER_HEIGHT).fill("#e6ebf2");
    doc.font("Bold").fillColor("#1c2129");
    cells(TITLES, y + 5, 1);
    y += HEADER_HEIGHT;
    doc
      .moveTo(MARGIN, y)
      .lineTo(MARGIN + tableWidth, y)
      .lineWidth(0.75)
      .stroke("#8c99a8");
    doc.font("Regular").fillColor("#1c2129");
  };
  const footer = () => {
    doc.font("Regular").fontSize(7).fillColor("#6b7585");
    const baseline = doc.page.height - 24 - 7;
    doc.text(TITLE, MARGIN, baseline, { lineBreak: false });
    const label = `Page ${page}`;
    doc.text(label, MARGIN + tableWidth - doc.widthOfString(label), baseline, { lineBreak: false });
    doc.fontSize(FONT_SIZE).fillColor("#1c2129");
  };

  doc.font("Bold").fontSize(14).text(TITLE, MARGIN, y, { lineBreak: false });
  y += 20;
  doc.font("Regular").fontSize(FONT_SIZE).fillColor("#6b7585");
  doc.text(`Generated ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}`, MARGIN, y, {
    lineBreak: false,
  });
  y += 22;
  header();
  let stripe = false;
  for (let batch = 0; batch < batches; batch++) {
    for (const row of BATCH) {
      const lines = Math.max(...row.map(linesOf));
      const rowHeight = ROW_PADDING + lines * LINE_HEIGHT;
      if (y + rowHeight > bottom) {
        footer();
        doc.addPage();
        page++;
        y = MARGIN;
        stripe = false;
        header();
      }
      if (stripe) {
        doc.rect(MARGIN, y, tableWidth, rowHeight).fill("#f5f5f7");
        doc.fillColor("#1c2129");
      }
      stripe = !stripe;
      cells(row, y + ROW_PADDING / 2, lines);
      y += rowHeight;
    }
    // Let the finished pages flow out to the sink, as a server would.
    await setImmediate();
  }
  footer();
  doc.end();
  await ended;
  return { rows, bytes, startedAt: clock.startedAt, ...clock.stop() };
}
