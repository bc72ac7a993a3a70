import { Code } from "@connectrpc/connect";
import {
  ColumnType,
  type ExportRequest,
  type ExportStart,
  Format,
  LineEnding,
  Orientation,
  PageSize,
  Quoting,
  type RowBatch,
} from "../../gen/export/v1/export_pb.js";

/**
 * What README.md promises for a stream of request messages, written from
 * its tables rather than from src/: the file a valid stream renders, or the
 * documented error (code, field, metrics outcome) that ends an invalid one.
 * The property tests compare the real server against it.
 */

export interface ModelLimits {
  readonly maxColumns: number;
  readonly maxCellChars: number;
  readonly maxMessageBytes: number;
}

/** One request message as the server receives it. */
export type Received =
  /** Decodes to `message`; `size` is the payload the server reads (binary or JSON bytes). */
  | { readonly size: number; readonly message: ExportRequest }
  /** A payload that does not decode as an ExportRequest. */
  | { readonly size: number; readonly undecodable: true }
  /** A frame whose length prefix promises `size` bytes, cut off by the end of the stream. */
  | { readonly size: number; readonly truncated: true };

export type ModelCell = string | null;
export type MetricsFormat = "csv" | "pdf" | "unknown";

export interface CsvModel {
  readonly header: boolean;
  readonly delimiter: string;
  readonly recordDelimiter: string;
  readonly quoteAll: boolean;
  readonly bom: boolean;
}

export interface ExpectedFile {
  readonly kind: "file";
  readonly format: "csv" | "pdf";
  readonly titles: readonly string[];
  readonly csv: CsvModel;
  readonly rows: readonly (readonly ModelCell[])[];
  readonly batches: number;
}

export interface ExpectedError {
  readonly kind: "error";
  /** Index of the message that causes it; the message count when the end of the stream does. */
  readonly at: number;
  readonly code: Code;
  /** The BadRequest field (and the message's prefix), when the error names one. */
  readonly field: string | undefined;
  /** The ErrorInfo limit name of an EXPORT_LIMIT_EXCEEDED refusal. */
  readonly limitName: string | undefined;
  /** The `export_requests_total` outcome label the stream is counted under. */
  readonly outcome: string;
  /** The `format` labels it may be counted under. */
  readonly formats: readonly MetricsFormat[];
}

/** The file, or the errors any one of which may end the stream. */
export type Expected = ExpectedFile | { readonly kind: "errors"; readonly errors: ExpectedError[] };

type Failure = Omit<ExpectedError, "kind" | "at" | "formats">;

const invalid = (field: string | undefined): Failure => ({
  code: Code.InvalidArgument,
  field,
  limitName: undefined,
  outcome: "invalid_argument",
});

const overLimit = (field: string, limitName: string): Failure => ({
  code: Code.ResourceExhausted,
  field,
  limitName,
  outcome: "limit_exceeded",
});

/** A message refused by the transport before the pipeline sees it. */
function transportFailure(received: Received, limits: ModelLimits): Failure | undefined {
  if (received.size > limits.maxMessageBytes) {
    return {
      code: Code.ResourceExhausted,
      field: undefined,
      limitName: "max_message_bytes",
      outcome: "limit_exceeded",
    };
  }
  // A payload that does not decode names the field `request`; a frame cut
  // off by the end of the stream is a request message that cannot be
  // decoded either (README: "truncated").
  if ("undecodable" in received || "truncated" in received) return invalid("request");
  return undefined;
}

const KNOWN_COLUMN_TYPES: readonly number[] = [
  ColumnType.UNSPECIFIED,
  ColumnType.TEXT,
  ColumnType.NUMBER,
  ColumnType.BOOLEAN,
];

/**
 * What a file name may not hold: path separators, control characters (C0,
 * C1, line and paragraph separators) and invisible format characters.
 */
export const UNSAFE_FILE_NAME = /[\p{Cc}\p{Zl}\p{Zp}/\\]|(?![\u200C\u200D])\p{Cf}/u;

interface Plan {
  readonly format: "csv" | "pdf";
  readonly titles: readonly string[];
  readonly csv: CsvModel;
}

/** README "Requests" and "CSV options" / "PDF reports": the start message's rules. */
function planOf(start: ExportStart, limits: ModelLimits): Plan | Failure {
  let format: "csv" | "pdf";
  if (start.format === Format.CSV) format = "csv";
  else if (start.format === Format.PDF) format = "pdf";
  else return invalid("start.format");

  if (start.columns.length === 0) return invalid("start.columns");
  if (start.columns.length > limits.maxColumns) return overLimit("start.columns", "max_columns");
  const keys = new Set<string>();
  for (const [index, column] of start.columns.entries()) {
    const field = `start.columns[${index}]`;
    if (column.key.length === 0 || column.key.length > 128 || keys.has(column.key)) {
      return invalid(`${field}.key`);
    }
    keys.add(column.key);
    if (column.title.length > 1024) return invalid(`${field}.title`);
    if (!Number.isFinite(column.width) || column.width < 0) return invalid(`${field}.width`);
    if (!KNOWN_COLUMN_TYPES.includes(column.type)) return invalid(`${field}.type`);
  }

  const fileName = start.fileName;
  if (
    fileName !== undefined &&
    (fileName.length === 0 ||
      fileName.length > 255 ||
      UNSAFE_FILE_NAME.test(fileName) ||
      fileName === "." ||
      fileName === "..")
  ) {
    return invalid("start.file_name");
  }

  const csv = start.csv;
  const delimiter = csv?.delimiter || ",";
  if ([...delimiter].length !== 1 || ['"', "\r", "\n"].includes(delimiter)) {
    return invalid("start.csv.delimiter");
  }
  if (!((csv?.lineEnding ?? 0) in LineEnding)) return invalid("start.csv.line_ending");
  if (!((csv?.quoting ?? 0) in Quoting)) return invalid("start.csv.quoting");

  const pdf = start.pdf;
  if ((pdf?.title.length ?? 0) > 500) return invalid("start.pdf.title");
  if (!((pdf?.pageSize ?? 0) in PageSize)) return invalid("start.pdf.page_size");
  if (!((pdf?.orientation ?? 0) in Orientation)) return invalid("start.pdf.orientation");
  if (format === "pdf") {
    const landscape = pdf?.orientation === Orientation.LANDSCAPE;
    const fit = pdf?.pageSize === PageSize.LETTER ? (landscape ? 24 : 18) : landscape ? 25 : 17;
    if (start.columns.length > fit) return invalid("start.columns");
  }

  return {
    format,
    titles: start.columns.map((column) => column.title || column.key),
    csv: {
      header: !(csv?.omitHeader ?? false),
      delimiter,
      recordDelimiter: csv?.lineEnding === LineEnding.LF ? "\n" : "\r\n",
      quoteAll: csv?.quoting === Quoting.ALL,
      bom: csv?.bom ?? false,
    },
  };
}

/** README "How cells render" and "Errors": the cells of one batch, or why it is refused. */
function cellsOf(
  batch: RowBatch,
  width: number,
  batchIndex: number,
  limits: ModelLimits,
): ModelCell[][] | Failure {
  const rows: ModelCell[][] = [];
  const tooLong = (text: string) => text.length > limits.maxCellChars;
  for (const [index, row] of batch.rows.entries()) {
    const field = `batch[${batchIndex}].rows[${index}]`;
    if (row.cells.length !== width) return invalid(`${field}.cells`);
    const long = row.cells.findIndex(tooLong);
    if (long >= 0) return overLimit(`${field}.cells[${long}]`, "max_cell_chars");
    if (row.nullCells.some((nullIndex) => nullIndex >= width)) {
      return invalid(`${field}.null_cells`);
    }
    rows.push(row.cells.map((cell, column) => (row.nullCells.includes(column) ? null : cell)));
  }
  for (const [index, row] of batch.jsonRows.entries()) {
    const field = `batch[${batchIndex}].json_rows[${index}]`;
    if (row.values.length !== width) return invalid(field);
    const cells: ModelCell[] = [];
    for (const [column, value] of row.values.entries()) {
      const kind = value.kind;
      let cell: ModelCell;
      switch (kind.case) {
        case "stringValue":
          cell = kind.value;
          break;
        case "numberValue":
          if (!Number.isFinite(kind.value)) return invalid(`${field}[${column}]`);
          cell = String(kind.value);
          break;
        case "boolValue":
          cell = String(kind.value);
          break;
        case "listValue":
        case "structValue":
          return invalid(`${field}[${column}]`);
        default:
          cell = null;
      }
      if (cell !== null && tooLong(cell)) {
        return overLimit(`${field}[${column}]`, "max_cell_chars");
      }
      cells.push(cell);
    }
    rows.push(cells);
  }
  return rows;
}

const isFailure = (value: object): value is Failure => "outcome" in value;

/**
 * The outcome README.md documents for these request messages, sent in order
 * and then closed: the file, or the error of the first bad message.
 *
 * One allowance for the transport: connect-es splits every message of one
 * read from the socket before it hands any on, and a length prefix over
 * MAX_MESSAGE_BYTES fails the whole read. So the first oversized message
 * after the bad one may be what the client hears of (RESOURCE_EXHAUSTED),
 * and a start message read together with an oversized one is lost (the
 * stream counts as refused before its start, format unknown).
 */
export function expectedOutcome(received: readonly Received[], limits: ModelLimits): Expected {
  let format: "csv" | "pdf" | undefined;
  const fail = (at: number, failure: Failure): Expected => {
    const errors: ExpectedError[] = [];
    const add = (index: number, cause: Failure) => {
      const sizeRefusal = cause.limitName === "max_message_bytes";
      const formats: MetricsFormat[] =
        format === undefined ? ["unknown"] : sizeRefusal ? [format, "unknown"] : [format];
      errors.push({ kind: "error", at: index, formats, ...cause });
    };
    add(at, failure);
    const oversized = received.findIndex(
      (message, index) => index > at && message.size > limits.maxMessageBytes,
    );
    if (oversized > at)
      add(oversized, transportFailure(received[oversized] as Received, limits) as Failure);
    return { kind: "errors", errors };
  };
  const [first] = received;
  if (first === undefined) return fail(0, invalid("start"));
  const refused = transportFailure(first, limits);
  if (refused) return fail(0, refused);
  if (!("message" in first) || first.message.kind.case !== "start")
    return fail(0, invalid("start"));
  const plan = planOf(first.message.kind.value, limits);
  if (isFailure(plan)) return fail(0, plan);
  format = plan.format;

  const rows: ModelCell[][] = [];
  for (let index = 1; index < received.length; index++) {
    const next = received[index] as Received;
    const failure = transportFailure(next, limits);
    if (failure) return fail(index, failure);
    if (!("message" in next) || next.message.kind.case !== "batch") {
      return fail(index, invalid(`batch[${index - 1}]`));
    }
    const cells = cellsOf(next.message.kind.value, plan.titles.length, index - 1, limits);
    if (isFailure(cells)) return fail(index, cells);
    rows.push(...cells);
  }
  return { kind: "file", ...plan, rows, batches: received.length - 1 };
}

/**
 * README "CSV options": a field is quoted when it holds the delimiter, a
 * quote, CR or LF, or is an empty string (QUOTING_ALL: every non-null field);
 * quotes are doubled; null is empty and unquoted.
 */
export function renderCsv(
  csv: CsvModel,
  titles: readonly string[],
  rows: readonly (readonly ModelCell[])[],
): Buffer {
  const field = (cell: ModelCell) => {
    if (cell === null) return "";
    const quoted =
      csv.quoteAll || cell === "" || cell.includes(csv.delimiter) || /["\r\n]/.test(cell);
    return quoted ? `"${cell.replaceAll('"', '""')}"` : cell;
  };
  const record = (cells: readonly ModelCell[]) =>
    `${cells.map(field).join(csv.delimiter)}${csv.recordDelimiter}`;
  const text = (csv.header ? [titles, ...rows] : rows).map(record).join("");
  return Buffer.concat([Buffer.from(csv.bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text)]);
}
