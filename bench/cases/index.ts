import { baselineCase } from "./baseline.js";
import type { Case, Scale } from "./case.js";
import { concurrencyCase } from "./concurrency.js";
import { endToEndCase } from "./end-to-end.js";
import { firstChunkCase } from "./first-chunk.js";
import { freshServerCase } from "./fresh-server.js";
import { replacedDesignCase } from "./replaced.js";

/** Every case, in the order a round runs them and the table lists them. */
export function allCases(scale: Scale, options: { readonly tenMillion: boolean }): Case[] {
  const { csvRows, pdfRows } = scale;
  // Warm-ups run a fifth of a case's rows: enough for the JIT and the heap
  // to reach their working state. A PDF server takes several exports:
  // after 20,000 rows, consecutive 100,000-row exports cost 12.0, 10.4, then
  // 9.0 to 9.5 µs of server CPU a row (and after one 300,000-row export,
  // 11.0 to 11.4 for the next), so the PDF cases warm up with three exports
  // of their size. Plain pdfkit has no such trend: 72 to 81 µs a row over
  // six runs in a row.
  // The PDF lines, plain pdfkit's included, also warm up once more just
  // before each measured run: warmed only before the first round, the
  // service's PDF export came after a round of other cases and cost 11.0 to
  // 12.9 µs of server CPU a row (three runs), against 7.7 to 8.2 so warmed.
  // On one server alone the effect was smaller: 100,000 rows after 40 s of
  // CSV exports cost 8.2 to 9.5 µs a row, right after a PDF export 7.7 to
  // 9.6 (five of each); after 40 s idle 8.4 to 10.9, against 8.1 to 9.2.
  const pdfWarmUp = { rows: pdfRows, exports: 3, eachRound: 1 };
  const csvCase = (encoding: "rows" | "json_rows", gzip: boolean) =>
    endToEndCase(
      {
        id: `csv-${encoding.replace("_", "-")}${gzip ? "-gzip" : ""}`,
        title: `CSV end to end, ${encoding}${gzip ? ", gzip" : ""}`,
        rows: csvRows,
        csvFile: true,
      },
      ["csv"],
      { format: "csv", encoding, gzip },
      { rows: csvRows / 5 },
    );
  const freshCase = (rows: number, tags: string[], holdUntilFirstChunk: boolean) =>
    freshServerCase(
      {
        id: `fresh-${rows}`,
        title: `CSV end to end, first export on a fresh server${holdUntilFirstChunk ? " (cold first chunk)" : ""}`,
        rows,
        csvFile: true,
      },
      tags,
      holdUntilFirstChunk,
    );
  return [
    csvCase("rows", false),
    csvCase("json_rows", false),
    csvCase("rows", true),
    csvCase("json_rows", true),
    baselineCase(
      "csv-stringify-stream",
      {
        id: "csv-stringify-stream",
        title: "csv-stringify stream API alone (in process)",
        rows: csvRows,
        csvFile: true,
      },
      ["csv"],
      { rows: csvRows / 5 },
    ),
    baselineCase(
      "csv-stringify-sync",
      {
        id: "csv-stringify-sync",
        title: "csv-stringify sync API alone, per batch (in process)",
        rows: csvRows,
        csvFile: true,
      },
      ["csv"],
      { rows: csvRows / 5 },
    ),
    endToEndCase(
      { id: "pdf", title: "PDF end to end, rows", rows: pdfRows },
      ["pdf"],
      { format: "pdf", encoding: "rows", gzip: false },
      pdfWarmUp,
    ),
    endToEndCase(
      { id: "pdf-main-thread", title: "PDF end to end, rows, RENDER_THREADS=0", rows: pdfRows },
      ["pdf", "threads"],
      { format: "pdf", encoding: "rows", gzip: false },
      pdfWarmUp,
      0,
    ),
    baselineCase(
      "pdfkit",
      { id: "pdfkit", title: "plain pdfkit, doc.text per cell (in process)", rows: pdfRows },
      ["pdf"],
      { rows: pdfRows, eachRound: 1 },
    ),
    freshCase(scale.smallRows, ["memory", "first-chunk"], true),
    freshCase(scale.largeRows, ["memory", "replaced"], false),
    ...(options.tenMillion ? [freshCase(scale.hugeRows, ["memory"], false)] : []),
    concurrencyCase(scale.concurrentRows),
    firstChunkCase(scale.firstChunkExports),
    replacedDesignCase(scale.largeRows),
  ];
}
