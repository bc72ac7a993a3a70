import type { Row } from "../../gen/export/v1/export_pb.js";
import { ExportInputError } from "./errors.js";

/**
 * How a column is aligned in PDF reports and which cell type it gets in
 * XLSX; never changes a cell's text in CSV or PDF.
 */
export type ColumnKind = "text" | "number" | "boolean" | "timestamp";

export interface ColumnDefinition {
  /** Unique within the export, 1 to 128 characters; an object row's property name. */
  readonly key: string;
  /** Shown in the header row; default: the key. */
  readonly title?: string;
  /** Default "text". */
  readonly type?: ColumnKind;
  /** PDF column width in points; default: chosen by the server. */
  readonly width?: number;
}

/** A column: a key alone, or a full definition. */
export type ColumnInput = string | ColumnDefinition;

/**
 * One row: cells in column order, or an object whose properties are looked
 * up by column key. Cells are formatted as `formatCell` says.
 */
export type ExportRecord = readonly unknown[] | { readonly [key: string]: unknown };

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object (${value.constructor?.name ?? "no prototype"})`;
  return `a ${typeof value}`;
}

/**
 * A cell's text, or null for "no value":
 * - string: as is;
 * - number: the shortest text that reads back as the same double (`String`),
 *   NaN and ±Infinity refused;
 * - boolean: `true` / `false`;
 * - bigint: decimal digits;
 * - Date: ISO 8601 in UTC (`toISOString`), an invalid date refused;
 * - null and undefined: null (an empty, unquoted CSV field);
 * - anything else (objects, arrays, symbols, functions): refused.
 * Returns an error message for a refused value.
 */
export function formatCell(value: unknown): string | null | { readonly refused: string } {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return Number.isFinite(value) ? String(value) : { refused: `number ${value} is not finite` };
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "undefined":
      return null;
    default:
      if (value === null) return null;
      if (value instanceof Date) {
        return Number.isNaN(value.getTime()) ? { refused: "invalid Date" } : value.toISOString();
      }
      return {
        refused: `${describe(value)} has no text form; cells are strings, numbers, booleans, bigints, Dates or null`,
      };
  }
}

/**
 * An object whose properties are the row: a literal, `Object.create(null)`
 * or a class instance. Not a Map, a Date, a Buffer or another built-in
 * whose data are not its properties, which would read as a row of nulls.
 */
function isPlainRecord(value: unknown): value is { readonly [key: string]: unknown } {
  return Object.prototype.toString.call(value) === "[object Object]";
}

/** Columns from the first record's own keys, typed by its values (a Date: timestamp). */
export function inferColumns(record: unknown): ColumnDefinition[] {
  if (!isPlainRecord(record)) {
    throw new ExportInputError(
      `columns cannot be inferred from ${describe(record)}: give columns, or send rows as objects`,
      1,
    );
  }
  return Object.entries(record).map(([key, value]) => {
    switch (typeof value) {
      case "number":
      case "bigint":
        return { key, type: "number" as const };
      case "boolean":
        return { key, type: "boolean" as const };
      default:
        return value instanceof Date ? { key, type: "timestamp" as const } : { key };
    }
  });
}

/** A row ready to send, and an upper bound of its encoded size. */
export interface EncodedRow {
  readonly row: Row;
  readonly bytes: number;
}

/**
 * Protobuf bytes a cell of `length` UTF-16 units may take at most: 3 UTF-8
 * bytes per unit, a tag and a length of up to 5 bytes.
 */
const cellBytes = (length: number) => 3 * length + 6;
/** A row's own tag and length, and a null index. */
const ROW_OVERHEAD_BYTES = 6;
const NULL_INDEX_BYTES = 5;

/** Turns records into `Row` messages for a fixed set of columns. */
export interface RowEncoder {
  /** `rowNumber` counts from 1 over the export, as the server's messages do. */
  encode(record: unknown, rowNumber: number): EncodedRow;
}

/**
 * `strictKeys`: refuse an object row with a key that is no column. Set when
 * the columns were inferred from the first row, so a later row's extra
 * property is an error rather than data silently left out; when the caller
 * named the columns, other properties are left out on purpose.
 */
export function createRowEncoder(
  columns: readonly ColumnDefinition[],
  strictKeys: boolean,
): RowEncoder {
  const keys = columns.map((column) => column.key);
  const keySet = new Set(keys);
  const width = keys.length;
  const shownKeys = keys.length > 5 ? `${keys.slice(0, 5).join(", ")}, …` : keys.join(", ");

  function cell(value: unknown, rowNumber: number, column: number): string | null {
    const text = formatCell(value);
    if (typeof text !== "object" || text === null) return text;
    const key = keys[column] as string;
    throw new ExportInputError(
      `row ${rowNumber}, column "${key}": ${text.refused}`,
      rowNumber,
      key,
    );
  }

  return {
    encode(record, rowNumber) {
      const cells: string[] = new Array(width);
      const nullCells: number[] = [];
      let bytes = ROW_OVERHEAD_BYTES;
      let cellAt: (column: number) => unknown;
      if (Array.isArray(record)) {
        if (record.length !== width) {
          throw new ExportInputError(
            `row ${rowNumber} has ${record.length} cells, expected ${width} (columns: ${shownKeys})`,
            rowNumber,
          );
        }
        cellAt = (column) => record[column];
      } else if (isPlainRecord(record)) {
        if (strictKeys) {
          for (const key of Object.keys(record)) {
            if (!keySet.has(key)) {
              throw new ExportInputError(
                `row ${rowNumber} has "${key}", which the first row did not have (columns: ${shownKeys}); give columns to choose which properties to export`,
                rowNumber,
                key,
              );
            }
          }
        }
        cellAt = (column) => record[keys[column] as string];
      } else {
        throw new ExportInputError(
          `row ${rowNumber} is ${describe(record)}; rows are arrays of cells or objects keyed by column`,
          rowNumber,
        );
      }
      for (let column = 0; column < width; column++) {
        const text = cell(cellAt(column), rowNumber, column);
        if (text === null) {
          cells[column] = "";
          nullCells.push(column);
          bytes += cellBytes(0) + NULL_INDEX_BYTES;
        } else {
          cells[column] = text;
          bytes += cellBytes(text.length);
        }
      }
      // A complete Row message without create(): this runs once per row.
      return { row: { $typeName: "export.v1.Row", cells, nullCells }, bytes };
    },
  };
}
