import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname } from "node:path";
import { createInterface } from "node:readline";
import { pipeline, Readable } from "node:stream";
import { parse as parseCsv } from "csv-parse";
import streamArray from "stream-json/streamers/stream-array.js";
import { CliError } from "./report.js";

export type InputFormat = "ndjson" | "csv" | "json";
export const INPUT_FORMATS: readonly InputFormat[] = ["ndjson", "csv", "json"];

/** Records read one at a time from a file or stdin, never the whole input at once. */
export interface RecordInput {
  readonly format: InputFormat;
  readonly records: AsyncIterable<unknown>;
  /** Where the last record handed out came from, e.g. "input line 17". */
  position(): string;
  /** Input bytes read so far. */
  bytesRead(): number;
  /** The input's size when it is a regular file. */
  readonly totalBytes: number | undefined;
  /**
   * CSV's header row, the records' keys in the order the input has them
   * (a record object would put integer-like keys such as "2024" first).
   */
  readonly header: readonly string[] | undefined;
  /** Stops reading: closes the file or stdin, even while a read waits. */
  close(): void;
}

export interface InputOptions {
  /** Default: from the extension (.ndjson/.jsonl, .csv, .json), else from the first byte. */
  readonly format?: InputFormat;
  /** CSV input's delimiter; default ",". */
  readonly csvDelimiter?: string;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const FORMAT_OF_EXTENSION: Readonly<Record<string, InputFormat>> = {
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".csv": "csv",
  ".json": "json",
};

function describe(value: unknown): string {
  if (value === null) return "null";
  return typeof value === "string" ? "a string" : `a ${typeof value}`;
}

/**
 * `[` starts a JSON array, `{` an NDJSON object per line (a line may also
 * be an array); anything else is taken for CSV with a header row.
 */
function sniff(firstByte: number | undefined): InputFormat {
  if (firstByte === 0x5b) return "json";
  if (firstByte === 0x7b) return "ndjson";
  return "csv";
}

async function* ndjsonRecords(input: Readable, where: { line: number }) {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new CliError(`input line ${line}: not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== "object" || value === null) {
      throw new CliError(
        `input line ${line}: expected a JSON object or array, got ${describe(value)}`,
      );
    }
    where.line = line;
    yield value;
  }
}

/** The header's names, refused if one repeats: csv-parse would keep only its last column. */
function distinctNames(header: string[]): string[] {
  const seen = new Map<string, number>();
  for (const [index, name] of header.entries()) {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new Error(
        `the header row names ${JSON.stringify(name)} twice (columns ${first + 1} and ${index + 1})`,
      );
    }
    seen.set(name, index);
  }
  return header;
}

async function* csvRecords(
  input: Readable,
  delimiter: string,
  where: { line: number; header?: readonly string[] },
) {
  const parser = pipeline(
    input,
    parseCsv({
      columns: (header: string[]) => {
        where.header = distinctNames(header);
        return header;
      },
      bom: true,
      delimiter,
      info: true,
      // An unquoted empty field is no value; a quoted one ("") an empty string.
      cast: (value, context) =>
        value === "" && !context.quoting && !context.header ? null : value,
    }),
    () => {},
  );
  try {
    for await (const { info, record } of parser as AsyncIterable<{
      info: { lines: number };
      record: unknown;
    }>) {
      where.line = info.lines;
      yield record;
    }
  } catch (error) {
    throw new CliError(`input: ${(error as Error).message}`);
  }
}

async function* jsonArrayRecords(input: Readable, where: { element: number }) {
  const elements = pipeline(input, streamArray.withParserAsStream(), () => {});
  try {
    for await (const { key, value } of elements as AsyncIterable<{ key: number; value: unknown }>) {
      if (typeof value !== "object" || value === null) {
        throw new CliError(
          `input element ${key}: expected a JSON object or array, got ${describe(value)}`,
        );
      }
      where.element = key;
      yield value;
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`input: not a valid JSON array: ${(error as Error).message}`);
  }
}

/** Opens `path` ("-" for stdin) and reads records from it as they are needed. */
export async function openInput(path: string, options: InputOptions = {}): Promise<RecordInput> {
  let stream: Readable;
  let totalBytes: number | undefined;
  if (path === "-") {
    stream = process.stdin;
  } else {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new CliError(
        `cannot read ${path}: ${error.code === "ENOENT" ? "no such file" : error.message}`,
      );
    });
    if (info.isFile()) totalBytes = info.size;
    stream = createReadStream(path);
  }
  let read = 0;
  const source = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const counting = (async function* () {
    try {
      for (;;) {
        const next = await source.next();
        if (next.done) return;
        read += next.value.length;
        yield next.value;
      }
    } finally {
      // Closes the file when the export stops reading early.
      await source.return?.();
    }
  })();
  // The first chunks that hold more than whitespace tell the format; the
  // parser gets them back in front of the rest.
  const head: Buffer[] = [];
  let firstByte: number | undefined;
  try {
    for (;;) {
      const next = await counting.next();
      if (next.done) break;
      // A UTF-8 byte order mark, which Windows tools write, is not part of
      // the records, and would hide the first byte that tells the format.
      const chunk =
        head.length === 0 && next.value.subarray(0, 3).equals(UTF8_BOM)
          ? next.value.subarray(3)
          : next.value;
      head.push(chunk);
      const text = chunk.toString("latin1").trimStart();
      if (text !== "") {
        firstByte = text.charCodeAt(0);
        break;
      }
    }
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const format =
    options.format ?? FORMAT_OF_EXTENSION[extname(path).toLowerCase()] ?? sniff(firstByte);
  const counted = Readable.from(
    (async function* () {
      yield* head;
      yield* counting;
    })(),
    { objectMode: false },
  );
  const where: { line: number; element: number; header?: readonly string[] } = {
    line: 0,
    element: 0,
  };
  let records: AsyncIterable<unknown> =
    format === "ndjson"
      ? ndjsonRecords(counted, where)
      : format === "csv"
        ? csvRecords(counted, options.csvDelimiter ?? ",", where)
        : jsonArrayRecords(counted, where);
  // The parsers read through `counted`: ended first, it closes them
  // quietly, where ending the input alone would fail a read they wait on.
  const close = () => {
    counted.destroy();
    stream.destroy();
  };
  if (format === "csv") {
    // The header row comes with the first record: read it now, so that the
    // columns keep the input's order.
    const rest = records[Symbol.asyncIterator]();
    const first = await rest.next().catch((error: unknown) => {
      close();
      throw error;
    });
    records = (async function* () {
      if (first.done) return;
      yield first.value;
      yield* { [Symbol.asyncIterator]: () => rest };
    })();
  }
  return {
    format,
    records,
    header: where.header,
    close,
    position: () =>
      format === "json" ? `input element ${where.element}` : `input line ${where.line}`,
    bytesRead: () => read,
    totalBytes,
  };
}
