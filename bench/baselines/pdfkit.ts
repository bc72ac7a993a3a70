/**
 * Plain pdfkit, in process, on the bench's rows: the way a table is usually
 * drawn with it, one `doc.text` per cell in DejaVu Sans 8pt, each cell kept
 * to its box, a new page when one is full. The service's PDF end to end is
 * measured against it.
 */
import { once } from "node:events";
import { createRequire } from "node:module";
import { setImmediate } from "node:timers/promises";
import { BATCH, batchesOf, COLUMNS } from "../rows.js";
import { startClock } from "../worker/clock.js";
import type { JobResult } from "../worker/jobs.js";

const require = createRequire(import.meta.url);
// pdfkit's type definitions use `export =`, which this project's compiler
// settings only allow to be loaded through `require`.
const PDFDocument: typeof import("pdfkit") = require("pdfkit");
const FONT = require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf");

const MARGIN = 36;
const ROW_HEIGHT = 12;
const GAP = 4;

export async function plainPdfkit(rows: number): Promise<JobResult> {
  const batches = batchesOf(rows);
  const clock = startClock();
  const doc = new PDFDocument({ size: "A4", margin: MARGIN });
  let bytes = 0;
  doc.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const ended = once(doc, "end");
  doc.registerFont("DejaVu", FONT).font("DejaVu").fontSize(8);
  const columnWidth = (doc.page.width - 2 * MARGIN) / COLUMNS.length;
  const bottom = doc.page.height - MARGIN;
  let y = MARGIN;
  for (let batch = 0; batch < batches; batch++) {
    for (const row of BATCH) {
      if (y + ROW_HEIGHT > bottom) {
        doc.addPage();
        y = MARGIN;
      }
      row.forEach((cell, column) => {
        doc.text(cell, MARGIN + column * columnWidth, y, {
          width: columnWidth - GAP,
          height: ROW_HEIGHT,
          ellipsis: true,
        });
      });
      y += ROW_HEIGHT;
    }
    // Let the finished pages flow out to the sink, as a server would.
    await setImmediate();
  }
  doc.end();
  await ended;
  return { rows, bytes, startedAt: clock.startedAt, ...clock.stop() };
}
