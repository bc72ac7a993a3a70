import { type Options as StringifyOptions, stringify } from "csv-stringify/sync";
import {
  type CellTransforms,
  type CsvBlockWriter,
  createCsvBlockWriter,
  createUtf8CsvWriter,
} from "./csv-writer.js";
import { escapeFormula } from "./formula.js";
import type { Cell, CsvSettings, Renderer, RowBlock } from "./renderer.js";
import { cellRows, isUtf8Rows, slicesOf } from "./slices.js";

const EMPTY = /^$/;
/** About 10 ms of rendering: larger blocks are rendered in slices this size. */
const ROWS_PER_SLICE = 5_000;
const UTF8_BOM = Uint8Array.of(0xef, 0xbb, 0xbf);

/**
 * csv-stringify's options for the settings, for what the fast writer does
 * not cover. `escapes[i]` says whether column i gets formula escaping. The escaping runs
 * as csv-stringify's string cast, which comes before quoting, so a cell that
 * needs quotes is quoted with its `'` inside. csv-stringify's own
 * `escape_formulas` is not used: it prefixes `-0.75` too, so a column of
 * amounts would read back as text.
 */
export function stringifyOptions(
  settings: CsvSettings,
  escapes: readonly boolean[],
): StringifyOptions {
  const options: StringifyOptions = {
    delimiter: settings.delimiter,
    record_delimiter: settings.recordDelimiter,
    quoted: settings.quoteAll,
    // Quote any field with CR or LF: the default quotes only fields holding
    // the configured record delimiter, so a bare LF under CRLF would split
    // the record for every reader.
    quote_record_delimiter: true,
    // An empty string is written as "" and a null as nothing, so the two
    // stay distinct for readers that care (PostgreSQL COPY does the same).
    // (`quoted_empty` would quote nulls as well.)
    quoted_match: EMPTY,
    eof: true,
  };
  if (settings.escapeFormulas) {
    options.cast = {
      string: (value, context) => (escapes[context.index] ? escapeFormula(value) : value),
    };
  }
  return options;
}

/**
 * The block writer for these settings: the fast writer where it covers
 * them, else csv-stringify's sync API, one call per block.
 */
export function csvBlockWriter(settings: CsvSettings, escapes: readonly boolean[]): CsvBlockWriter {
  return (
    createCsvBlockWriter(settings, formulaTransforms(settings, escapes)) ??
    ((rows) => stringify(rows as Cell[][], stringifyOptions(settings, escapes)))
  );
}

function formulaTransforms(settings: CsvSettings, escapes: readonly boolean[]): CellTransforms {
  return escapes.map((escaped) => (settings.escapeFormulas && escaped ? escapeFormula : undefined));
}

/**
 * Writes any block: UTF-8 rows byte by byte where the settings allow it,
 * everything else through the block writer.
 */
function rowsWriter(
  settings: CsvSettings,
  escapes: readonly boolean[],
): (block: RowBlock) => Uint8Array {
  const writeCells = csvBlockWriter(settings, escapes);
  const writeUtf8 = createUtf8CsvWriter(settings, formulaTransforms(settings, escapes));
  return (block) =>
    writeUtf8 && isUtf8Rows(block) ? writeUtf8(block) : Buffer.from(writeCells(cellRows(block)));
}

/** RFC 4180 CSV, rendered a block (a request batch) at a time. */
export function createCsvRenderer(): Renderer {
  return {
    contentType: "text/csv; charset=utf-8",
    fileExtension: "csv",
    async *render(blocks: AsyncIterable<RowBlock>, job) {
      // Values in number columns are never escaped, so a column of amounts
      // stays numeric; titles are text whatever their column's kind.
      const writeRows = rowsWriter(
        job.csv,
        job.columns.map((column) => column.kind !== "number"),
      );
      if (job.csv.bom) yield UTF8_BOM;
      if (job.csv.header) {
        const titles = job.columns.map((column) => column.title);
        yield Buffer.from(
          csvBlockWriter(
            job.csv,
            titles.map(() => true),
          )([titles]),
        );
      }
      for await (const block of blocks) {
        for await (const slice of slicesOf(block, ROWS_PER_SLICE)) {
          yield writeRows(slice);
        }
      }
    },
  };
}
