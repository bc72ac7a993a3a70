import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RowBatchSchema } from "../../gen/export/v1/export_pb.js";
import { readUtf8Rows } from "../../src/export/row-batch-wire.js";
import { stringifyOptions } from "../../src/render/csv.js";
import { createCsvBlockWriter, createUtf8CsvWriter } from "../../src/render/csv-writer.js";
import { escapeFormula } from "../../src/render/formula.js";
import type { Cell, CsvSettings, Utf8Rows } from "../../src/render/renderer.js";

const SEED = Number(process.env.FC_SEED ?? 20261126);

/** Characters that matter to CSV, formulas and UTF-16, mixed into ordinary text. */
const special = fc.constantFrom(
  '"',
  ",",
  ";",
  "\t",
  "|",
  "\r",
  "\n",
  "\r\n",
  "=",
  "+",
  "-",
  "@",
  "'",
  " ",
  "é",
  "王",
  "😀",
  "\u0000",
  "\uff1d",
  "\ufeff",
  "0",
  "-0.75",
  "1e5",
  "_",
);
const cellText = fc
  .array(fc.oneof(special, fc.string({ unit: "binary", maxLength: 4 })), { maxLength: 6 })
  .map((parts) => parts.join(""));
const cell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 8, arbitrary: cellText },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant("") },
);
const settings: fc.Arbitrary<CsvSettings> = fc.record({
  header: fc.boolean(),
  delimiter: fc.constantFrom(",", ";", "\t", "|", " ", "é", "'", "=", "-"),
  recordDelimiter: fc.constantFrom("\r\n" as const, "\n" as const),
  quoteAll: fc.boolean(),
  bom: fc.boolean(),
  escapeFormulas: fc.boolean(),
});

/** Which columns escape formulas, and up to 8 rows of 1 to 6 random cells. */
const escapesAndRows = fc
  .integer({ min: 1, max: 6 })
  .chain((width) =>
    fc.tuple(
      fc.array(fc.boolean(), { minLength: width, maxLength: width }),
      fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 8 }),
    ),
  );

function formulaTransforms(csv: CsvSettings, escapes: readonly boolean[]) {
  return escapes.map((escaped) => (csv.escapeFormulas && escaped ? escapeFormula : undefined));
}

describe("fast CSV writer", () => {
  it("writes exactly what csv-stringify writes, for random cells and every option", () => {
    fc.assert(
      fc.property(settings, escapesAndRows, (csv, [escapes, rows]) => {
        const transforms = formulaTransforms(csv, escapes);
        const fast = createCsvBlockWriter(csv, transforms);
        expect(fast).toBeDefined();
        const expected = rows.length === 0 ? "" : stringify(rows, stringifyOptions(csv, escapes));
        expect(fast?.(rows)).toBe(expected);
      }),
      { seed: SEED, numRuns: 3_000 },
    );
  });

  it("leaves a delimiter of two UTF-16 units to csv-stringify", () => {
    const csv: CsvSettings = {
      header: true,
      delimiter: "😀",
      recordDelimiter: "\r\n",
      quoteAll: false,
      bom: false,
      escapeFormulas: false,
    };
    expect(createCsvBlockWriter(csv, [])).toBeUndefined();
  });
});

describe("CSV writer for UTF-8 rows", () => {
  it("writes exactly what csv-stringify writes, for random cells and every option", () => {
    fc.assert(
      fc.property(settings, escapesAndRows, (csv, [escapes, rows]) => {
        const transforms = formulaTransforms(csv, escapes);
        const write = createUtf8CsvWriter(csv, transforms);
        if (csv.delimiter.charCodeAt(0) >= 0x80) {
          expect(write).toBeUndefined();
          return;
        }
        // The cells as they travel: UTF-8 in a RowBatch, nulls by index.
        const batch = toBinary(
          RowBatchSchema,
          create(RowBatchSchema, {
            rows: rows.map((row) => ({
              cells: row.map((value) => value ?? ""),
              nullCells: row.flatMap((value, index) => (value === null ? [index] : [])),
            })),
          }),
        );
        const sent = fromBinary(RowBatchSchema, batch).rows.map((row) =>
          row.cells.map((value, index) => (row.nullCells.includes(index) ? null : value)),
        );
        const utf8Rows = readUtf8Rows(batch, escapes.length, 1_000);
        expect(utf8Rows).toBeDefined();
        const expected = sent.length === 0 ? "" : stringify(sent, stringifyOptions(csv, escapes));
        expect(Buffer.from(write?.(utf8Rows as Utf8Rows) ?? []).toString()).toBe(expected);
      }),
      { seed: SEED, numRuns: 3_000 },
    );
  });
});
