import type { Cell, CsvSettings, RowBlock } from "./renderer.js";

/** Writes a block of rows as CSV text, ending each record with the record delimiter. */
export type CsvBlockWriter = (rows: RowBlock) => string;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A CSV writer for the options this service offers, byte for byte what
 * csv-stringify writes with them (a property test holds the two to that):
 * null as nothing, an empty string as `""`, a field quoted when it holds
 * the delimiter, a quote, CR or LF (or always, with `quoteAll`), quotes
 * doubled inside. It skips csv-stringify's per-field option handling, which
 * was most of the server's CPU time per row.
 *
 * Undefined for a delimiter of more than one UTF-16 unit, whose partial
 * matches csv-stringify treats specially: that case stays with it.
 */
export function createCsvBlockWriter(
  settings: CsvSettings,
  /** Applied to a non-empty cell before quoting (formula escaping), by column. */
  transforms: readonly (((cell: string) => string) | undefined)[],
): CsvBlockWriter | undefined {
  const { delimiter, recordDelimiter, quoteAll } = settings;
  if (delimiter.length !== 1) return undefined;
  const needsQuotes = new RegExp(`["\\r\\n]|${escapeRegExp(delimiter)}`);
  const field = (cell: Cell, transform: ((cell: string) => string) | undefined): string => {
    if (cell === null) return "";
    if (cell === "") return '""';
    const value = transform ? transform(cell) : cell;
    if (!quoteAll && !needsQuotes.test(value)) return value;
    return `"${value.includes('"') ? value.replaceAll('"', '""') : value}"`;
  };
  return (rows) => {
    let text = "";
    for (const row of rows) {
      for (let index = 0; index < row.length; index++) {
        if (index > 0) text += delimiter;
        text += field(row[index] as Cell, transforms[index]);
      }
      text += recordDelimiter;
    }
    return text;
  };
}
