import { fromBinary } from "@bufbuild/protobuf";
import type { ListValue, Value } from "@bufbuild/protobuf/wkt";
import {
  ColumnType,
  type ExportStart,
  Format,
  LineEnding,
  Orientation,
  PageSize,
  Quoting,
  type RowBatch,
  RowBatchSchema,
} from "../../gen/export/v1/export_pb.js";
import { maxColumnsOnPage, PDF_LAYOUT } from "../render/pdf/layout.js";
import type {
  Cell,
  CellRows,
  ColumnKind,
  ColumnSpec,
  CsvSettings,
  PdfSettings,
  RowBlock,
  XlsxSettings,
} from "../render/renderer.js";
import { leadingUnits, MAX_SHEET_NAME_UNITS } from "../render/xlsx/parts.js";
import { InvalidRequestError, LimitExceededError, malformedRequestError } from "./errors.js";
import type { ExportLimits } from "./limits.js";
import { readUtf8Rows } from "./row-batch-wire.js";

export type ExportFormat = "csv" | "pdf" | "xlsx";

/** A validated start message, in the renderers' terms. */
export interface ExportPlan {
  readonly format: ExportFormat;
  readonly columns: readonly ColumnSpec[];
  /** The client's file name, if it gave one. */
  readonly fileName: string | undefined;
  readonly csv: CsvSettings;
  readonly pdf: PdfSettings;
  readonly xlsx: XlsxSettings;
  /** The longest cell this format takes: MAX_CELL_CHARS, or less for XLSX. */
  readonly maxCellChars: number;
  /** The largest file this format may grow to: MAX_EXPORT_BYTES, or less for XLSX. */
  readonly maxExportBytes: number;
}

const MAX_KEY_CHARS = 128;
/** Excel's limits: characters in a cell, in a sheet name. */
const XLSX_MAX_CELL_CHARS = 32_767;
/** Excel's last column is XFD. */
const XLSX_MAX_COLUMNS = 16_384;
const XLSX_SHEET_NAME_FORBIDDEN = /[:\\/?*[\]\p{Cc}]/u;
/** A zip without ZIP64 ends at 4 GiB: its offsets are 32-bit. */
const XLSX_MAX_BYTES = 4 * 1024 ** 3 - 1024 ** 2;
const MAX_TITLE_CHARS = 1024;
const MAX_FILE_NAME_CHARS = 255;
const MAX_PDF_TITLE_CHARS = 500;

function invalid(field: string, description: string): InvalidRequestError {
  return new InvalidRequestError({ field, description });
}

function formatOf(format: Format): ExportFormat {
  switch (format) {
    case Format.CSV:
      return "csv";
    case Format.PDF:
      return "pdf";
    case Format.XLSX:
      return "xlsx";
    case Format.UNSPECIFIED:
      throw invalid("start.format", "format is required: FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX");
    default:
      throw invalid(
        "start.format",
        `unknown format ${format}; use FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX`,
      );
  }
}

function columnKindOf(type: ColumnType, field: string): ColumnKind {
  switch (type) {
    case ColumnType.UNSPECIFIED:
    case ColumnType.TEXT:
      return "text";
    case ColumnType.NUMBER:
      return "number";
    case ColumnType.BOOLEAN:
      return "boolean";
    case ColumnType.TIMESTAMP:
      return "timestamp";
    default:
      throw invalid(field, `unknown column type ${type}`);
  }
}

function validateColumns(start: ExportStart, maxColumns: number): ColumnSpec[] {
  if (start.columns.length === 0) {
    throw invalid("start.columns", "at least one column is required");
  }
  if (start.columns.length > maxColumns) {
    throw new LimitExceededError(
      "start.columns",
      "max_columns",
      maxColumns,
      start.columns.length,
      `${start.columns.length} columns exceed the limit of ${maxColumns}`,
    );
  }
  const firstIndexOfKey = new Map<string, number>();
  return start.columns.map((column, index) => {
    const field = `start.columns[${index}]`;
    if (column.key.length === 0) throw invalid(`${field}.key`, "column key is required");
    if (column.key.length > MAX_KEY_CHARS) {
      throw invalid(`${field}.key`, `column key is longer than ${MAX_KEY_CHARS} characters`);
    }
    const earlier = firstIndexOfKey.get(column.key);
    if (earlier !== undefined) {
      throw invalid(
        `${field}.key`,
        `duplicate column key "${column.key}" (also columns[${earlier}]); keys must be unique`,
      );
    }
    firstIndexOfKey.set(column.key, index);
    if (column.title.length > MAX_TITLE_CHARS) {
      throw invalid(`${field}.title`, `column title is longer than ${MAX_TITLE_CHARS} characters`);
    }
    if (!Number.isFinite(column.width) || column.width < 0) {
      throw invalid(`${field}.width`, "width must be a positive number of points, or 0 for auto");
    }
    return {
      key: column.key,
      title: column.title === "" ? column.key : column.title,
      kind: columnKindOf(column.type, `${field}.type`),
      width: column.width > 0 ? column.width : undefined,
    };
  });
}

// Path separators would let a file name escape the download folder, and
// control characters (C0 and C1, line and paragraph separators) break a
// Content-Disposition header or a log line downstream; format characters
// are invisible, and a bidi override shows "invoice\u202Evsc.exe" as
// "invoiceexe.csv".
// Joiners are format characters too, but emoji (👩‍💻) and Persian words need them.
const UNSAFE_FILE_NAME = /[\p{Cc}\p{Zl}\p{Zp}/\\]|(?![\u200C\u200D])\p{Cf}/u;

function validateFileName(fileName: string | undefined): string | undefined {
  if (fileName === undefined) return undefined;
  if (fileName.length === 0 || fileName.length > MAX_FILE_NAME_CHARS) {
    throw invalid("start.file_name", `file name must be 1 to ${MAX_FILE_NAME_CHARS} characters`);
  }
  if (UNSAFE_FILE_NAME.test(fileName) || fileName === "." || fileName === "..") {
    throw invalid(
      "start.file_name",
      "file name must not contain path separators, control or format characters",
    );
  }
  return fileName;
}

function validateCsv(start: ExportStart): CsvSettings {
  const options = start.csv;
  const delimiter = options?.delimiter || ",";
  if (
    [...delimiter].length !== 1 ||
    delimiter === '"' ||
    delimiter === "\r" ||
    delimiter === "\n"
  ) {
    throw invalid(
      "start.csv.delimiter",
      `delimiter must be one character other than a quote, CR or LF (got ${JSON.stringify(delimiter)})`,
    );
  }
  const lineEnding = options?.lineEnding ?? LineEnding.UNSPECIFIED;
  if (!(lineEnding in LineEnding)) {
    throw invalid("start.csv.line_ending", `unknown line ending ${lineEnding}`);
  }
  const quoting = options?.quoting ?? Quoting.UNSPECIFIED;
  if (!(quoting in Quoting)) throw invalid("start.csv.quoting", `unknown quoting ${quoting}`);
  return {
    header: !(options?.omitHeader ?? false),
    delimiter,
    recordDelimiter: lineEnding === LineEnding.LF ? "\n" : "\r\n",
    quoteAll: quoting === Quoting.ALL,
    bom: options?.bom ?? false,
    escapeFormulas: options?.escapeFormulas ?? false,
  };
}

function validatePdf(start: ExportStart, now: Date): PdfSettings {
  const options = start.pdf;
  const title = options?.title ?? "";
  if (title.length > MAX_PDF_TITLE_CHARS) {
    throw invalid("start.pdf.title", `title is longer than ${MAX_PDF_TITLE_CHARS} characters`);
  }
  const pageSize = options?.pageSize ?? PageSize.UNSPECIFIED;
  if (!(pageSize in PageSize))
    throw invalid("start.pdf.page_size", `unknown page size ${pageSize}`);
  const orientation = options?.orientation ?? Orientation.UNSPECIFIED;
  if (!(orientation in Orientation)) {
    throw invalid("start.pdf.orientation", `unknown orientation ${orientation}`);
  }
  return {
    title,
    pageSize: pageSize === PageSize.LETTER ? "LETTER" : "A4",
    orientation: orientation === Orientation.LANDSCAPE ? "landscape" : "portrait",
    generatedAt: options?.omitGeneratedAt ? undefined : now,
  };
}

/** A PDF table with more columns than its page takes is refused, not drawn as overlapping letters. */
function checkColumnsFitPage(columns: number, pdf: PdfSettings): void {
  const fit = maxColumnsOnPage(pdf);
  if (columns <= fit) return;
  const page = `${pdf.pageSize === "A4" ? "an A4" : "a Letter"} ${pdf.orientation} page`;
  const landscape =
    pdf.orientation === "portrait"
      ? `, ${maxColumnsOnPage({ ...pdf, orientation: "landscape" })} in landscape`
      : "";
  throw invalid(
    "start.columns",
    `${columns} columns do not fit ${page}: it takes at most ${fit}${landscape}, each ${PDF_LAYOUT.minColumnWidth} pt wide or more; send fewer columns, or export CSV or XLSX`,
  );
}

/**
 * The sheet name: the option, checked against Excel's rules; else the file
 * name without its extension, made valid; else "Export".
 */
function validateXlsx(start: ExportStart, fileName: string | undefined): XlsxSettings {
  const sheetName = start.xlsx?.sheetName ?? "";
  if (sheetName !== "") {
    if (
      sheetName.length > MAX_SHEET_NAME_UNITS ||
      XLSX_SHEET_NAME_FORBIDDEN.test(sheetName) ||
      sheetName.startsWith("'") ||
      sheetName.endsWith("'")
    ) {
      throw invalid(
        "start.xlsx.sheet_name",
        `sheet name must be 1 to ${MAX_SHEET_NAME_UNITS} characters, none of : \\ / ? * [ ] or a control character, not starting or ending with '`,
      );
    }
    return { sheetName };
  }
  const fromFile = leadingUnits(
    (fileName ?? "")
      .replace(/\.[^.]*$/, "")
      .replaceAll(new RegExp(XLSX_SHEET_NAME_FORBIDDEN.source, "gu"), "_")
      .replace(/^'+|'+$/g, ""),
    MAX_SHEET_NAME_UNITS,
  );
  return { sheetName: fromFile.trim() === "" ? "Export" : fromFile };
}

/** Checks the start message and turns it into an ExportPlan. */
export function validateStart(start: ExportStart, limits: ExportLimits, now: Date): ExportPlan {
  const format = formatOf(start.format);
  const fileName = validateFileName(start.fileName);
  const columns = validateColumns(
    start,
    format === "xlsx" ? Math.min(limits.maxColumns, XLSX_MAX_COLUMNS) : limits.maxColumns,
  );
  const csv = validateCsv(start);
  const pdf = validatePdf(start, now);
  if (format === "pdf") checkColumnsFitPage(columns.length, pdf);
  return {
    format,
    columns,
    fileName,
    csv,
    pdf,
    xlsx: validateXlsx(start, fileName),
    maxCellChars:
      format === "xlsx" ? Math.min(limits.maxCellChars, XLSX_MAX_CELL_CHARS) : limits.maxCellChars,
    maxExportBytes:
      format === "xlsx" ? Math.min(limits.maxExportBytes, XLSX_MAX_BYTES) : limits.maxExportBytes,
  };
}

/** Where a batch sits in the stream, for error messages. */
export interface BatchPosition {
  /** 0-based index of the batch among the stream's batches. */
  readonly batchIndex: number;
  /** Rows accepted before this batch. */
  readonly rowsBefore: number;
}

function columnList(columns: readonly ColumnSpec[]): string {
  const shown = columns.slice(0, 5).map((column) => column.key);
  return columns.length > 5 ? `${shown.join(", ")}, …` : shown.join(", ");
}

/** Where a cell sits, for error messages. */
interface CellPosition {
  readonly field: string;
  readonly rowNumber: number;
  readonly columnKey: string;
}

function where(cell: CellPosition): string {
  return `row ${cell.rowNumber}, column "${cell.columnKey}"`;
}

function cellTooLong(text: string, cell: CellPosition, limits: ExportLimits) {
  return new LimitExceededError(
    cell.field,
    "max_cell_chars",
    limits.maxCellChars,
    text.length,
    `${where(cell)}: cell has ${text.length} characters, more than the limit of ${limits.maxCellChars}`,
  );
}

function jsonCellText(value: Value, cell: CellPosition): Cell {
  const kind = value.kind;
  switch (kind.case) {
    case "stringValue":
      return kind.value;
    case "numberValue":
      if (!Number.isFinite(kind.value)) {
        throw invalid(cell.field, `${where(cell)}: number ${kind.value} is not finite`);
      }
      return String(kind.value);
    case "boolValue":
      return kind.value ? "true" : "false";
    case "nullValue":
    case undefined:
      return null;
    case "listValue":
    case "structValue":
      throw invalid(
        cell.field,
        `${where(cell)}: cell is ${kind.case === "listValue" ? "a list" : "an object"}; cells must be strings, numbers, booleans or null`,
      );
  }
}

/**
 * Checks every row of a batch against the columns and returns its cells:
 * `rows` first, then `json_rows`. Row numbers in messages count from 1 over
 * the whole export; field paths index from 0 within the batch.
 */
export function decodeBatch(
  batch: RowBatch | Uint8Array,
  columns: readonly ColumnSpec[],
  position: BatchPosition,
  limits: ExportLimits,
): RowBlock {
  if (!(batch instanceof Uint8Array)) return checkBatch(batch, columns, position, limits);
  return (
    readUtf8Rows(batch, columns.length, limits.maxCellChars) ??
    checkBatch(parseRowBatch(batch), columns, position, limits)
  );
}

/** An encoded batch as a message, for the checks that name what is wrong with it. */
function parseRowBatch(bytes: Uint8Array): RowBatch {
  try {
    return fromBinary(RowBatchSchema, bytes, { readUnknownFields: false });
  } catch (error) {
    // The words connect-node uses for a message it cannot decode.
    throw malformedRequestError(`parse binary: ${error instanceof Error ? error.message : error}`);
  }
}

/** decodeBatch's checks, on a batch decoded by protobuf-es. */
function checkBatch(
  batch: RowBatch,
  columns: readonly ColumnSpec[],
  position: BatchPosition,
  limits: ExportLimits,
): CellRows {
  const width = columns.length;
  const block: (readonly Cell[])[] = [];
  const batchField = `batch[${position.batchIndex}]`;
  const wrongWidth = (field: string, rowNumber: number, cells: number) =>
    invalid(
      field,
      `row ${rowNumber} has ${cells} cells, expected ${width} (columns: ${columnList(columns)})`,
    );

  batch.rows.forEach((row, index) => {
    const rowNumber = position.rowsBefore + block.length + 1;
    const field = `${batchField}.rows[${index}]`;
    if (row.cells.length !== width) throw wrongWidth(`${field}.cells`, rowNumber, row.cells.length);
    for (let column = 0; column < width; column++) {
      const text = row.cells[column] as string;
      if (text.length > limits.maxCellChars) {
        const key = (columns[column] as ColumnSpec).key;
        const position = { field: `${field}.cells[${column}]`, rowNumber, columnKey: key };
        throw cellTooLong(text, position, limits);
      }
    }
    if (row.nullCells.length === 0) {
      block.push(row.cells);
      return;
    }
    const cells: Cell[] = row.cells.slice();
    for (const nullIndex of row.nullCells) {
      if (nullIndex >= width) {
        throw invalid(
          `${field}.null_cells`,
          `row ${rowNumber}: null cell index ${nullIndex} is not below the column count ${width}`,
        );
      }
      cells[nullIndex] = null;
    }
    block.push(cells);
  });

  batch.jsonRows.forEach((row: ListValue, index) => {
    const rowNumber = position.rowsBefore + block.length + 1;
    const field = `${batchField}.json_rows[${index}]`;
    if (row.values.length !== width) throw wrongWidth(field, rowNumber, row.values.length);
    const cells: Cell[] = new Array(width);
    for (let column = 0; column < width; column++) {
      const position = {
        field: `${field}[${column}]`,
        rowNumber,
        columnKey: (columns[column] as ColumnSpec).key,
      };
      const cell = jsonCellText(row.values[column] as Value, position);
      if (cell !== null && cell.length > limits.maxCellChars) {
        throw cellTooLong(cell, position, limits);
      }
      cells[column] = cell;
    }
    block.push(cells);
  });
  return block;
}
