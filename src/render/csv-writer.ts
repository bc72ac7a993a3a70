import type { Cell, CellRows, CsvSettings, Utf8Rows } from "./renderer.js";

/** Writes a block of rows as CSV text, ending each record with the record delimiter. */
export type CsvBlockWriter = (rows: CellRows) => string;

/** Writes a block of UTF-8 rows as CSV bytes, ending each record with the record delimiter. */
export type Utf8CsvWriter = (rows: Utf8Rows) => Uint8Array;

/** Applied to a non-empty cell before quoting (formula escaping), by column. */
export type CellTransforms = readonly (((cell: string) => string) | undefined)[];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One field as csv-stringify writes it with these settings. */
function fieldWriter(
  settings: CsvSettings,
): (cell: Cell, transform: ((cell: string) => string) | undefined) => string {
  const needsQuotes = new RegExp(`["\\r\\n]|${escapeRegExp(settings.delimiter)}`);
  return (cell, transform) => {
    if (cell === null) return "";
    if (cell === "") return '""';
    const value = transform ? transform(cell) : cell;
    if (!settings.quoteAll && !needsQuotes.test(value)) return value;
    return `"${value.includes('"') ? value.replaceAll('"', '""') : value}"`;
  };
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
  transforms: CellTransforms,
): CsvBlockWriter | undefined {
  const { delimiter, recordDelimiter } = settings;
  if (delimiter.length !== 1) return undefined;
  const field = fieldWriter(settings);
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

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/** First bytes of the cells formula escaping may change (0xef leads the full-width forms). */
function mayBeFormula(byte: number): boolean {
  return (
    byte === 0x3d ||
    byte === 0x2b ||
    byte === 0x2d ||
    byte === 0x40 ||
    byte === 0x09 ||
    byte === CR ||
    byte === 0xef
  );
}

/**
 * The same CSV as {@link createCsvBlockWriter}, written from UTF-8 cells
 * byte by byte, with no string made per cell: a cell that needs no quotes
 * is copied as it is, one that does is copied between quotes with its
 * quotes doubled. Only a cell that formula escaping may change is made a
 * string, and goes through the string writer's rules.
 *
 * Undefined for a delimiter that is not one ASCII character.
 */
export function createUtf8CsvWriter(
  settings: CsvSettings,
  transforms: CellTransforms,
): Utf8CsvWriter | undefined {
  const { delimiter, quoteAll } = settings;
  if (delimiter.length !== 1 || delimiter.charCodeAt(0) >= 0x80) return undefined;
  const delimiterByte = delimiter.charCodeAt(0);
  const recordDelimiter = Buffer.from(settings.recordDelimiter);
  const field = fieldWriter(settings);
  // A leading U+FEFF is a character of the cell, not a byte order mark to drop.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  // Reused between blocks, so a block costs one exact-size copy, not a
  // buffer sized for the worst case.
  let scratch = Buffer.allocUnsafe(64 * 1024);

  return ({ bytes, starts, ends, length, width }) => {
    // Room for every byte doubled, and per cell two quotes, a formula's `'`
    // and the delimiter: no cell needs to check.
    const bound = 2 * bytes.length + length * (4 * width + recordDelimiter.length);
    if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, 2 * scratch.length));
    const out = scratch;
    let pos = 0;
    let index = 0;
    for (let row = 0; row < length; row++) {
      for (let column = 0; column < width; column++, index++) {
        if (column > 0) out[pos++] = delimiterByte;
        const start = starts[index] as number;
        if (start < 0) continue;
        const end = ends[index] as number;
        if (start === end) {
          out[pos++] = QUOTE;
          out[pos++] = QUOTE;
          continue;
        }
        const transform = transforms[column];
        if (transform && mayBeFormula(bytes[start] as number)) {
          // The escaped text is the cell's with at most a `'` more, quotes
          // doubled: within the bound.
          pos += out.write(field(decoder.decode(bytes.subarray(start, end)), transform), pos);
          continue;
        }
        let needsQuotes = quoteAll;
        const at = pos;
        for (let cell = start; cell < end; cell++) {
          const byte = bytes[cell] as number;
          if (byte === QUOTE || byte === delimiterByte || byte === CR || byte === LF) {
            needsQuotes = true;
            break;
          }
          out[pos++] = byte;
        }
        if (needsQuotes) {
          pos = at;
          out[pos++] = QUOTE;
          for (let cell = start; cell < end; cell++) {
            const byte = bytes[cell] as number;
            if (byte === QUOTE) out[pos++] = QUOTE;
            out[pos++] = byte;
          }
          out[pos++] = QUOTE;
        }
      }
      for (let at = 0; at < recordDelimiter.length; at++)
        out[pos++] = recordDelimiter[at] as number;
    }
    return Buffer.from(out.subarray(0, pos));
  };
}
