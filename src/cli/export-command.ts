import { access, constants } from "node:fs/promises";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { writeTarget } from "../client/client.js";
import {
  type ColumnDefinition,
  type ColumnKind,
  type ExportFormat,
  ExportInputError,
  type ExportOptions,
  type ExportSummaryInfo,
} from "../client/index.js";
import { CONNECTION_FLAGS, CONNECTION_USAGE, connect } from "./connection.js";
import { INPUT_FORMATS, type InputFormat, openInput } from "./input.js";
import { type Progress, showProgress } from "./progress.js";
import { bytes, CliError, count, InterruptedError, seconds, UsageError } from "./report.js";

export const EXPORT_USAGE = `export-cli export --format csv|pdf|xlsx --in FILE|- --out FILE|- [options]

Streams records from NDJSON, CSV (with a header row) or a JSON array to the
server and writes the file it renders. --out FILE is written atomically (a
temporary file renamed once the SHA-256 matched); nothing is left on failure
or on Ctrl-C. Through a symbolic link, the file it leads to is replaced; a
device, named pipe or /dev/stdout is written in place.

input:
  --in FILE|-            the records; - for stdin
  --input-format F       ndjson, csv or json (default: from the extension, else
                         from the first byte: [ json, { ndjson, else csv)
  --input-delimiter C    CSV input's delimiter (default ,)
  --columns a,b:number,c keys (and types: text, number, boolean, timestamp) to
                         export, in order; default: CSV's header row, or the
                         first JSON record's keys (integer-like keys first,
                         as JavaScript orders them)
output:
  --format csv|pdf|xlsx
  --out FILE|-           - for stdout
  --file-name NAME       the file name the server reports (default export-<id>.<ext>)
  --delimiter C  --line-ending crlf|lf  --quote-all  --bom  --omit-header
  --escape-formulas      CSV options (see README)
  --title T  --page-size a4|letter  --landscape  --omit-generated-at
                         PDF options
  --sheet-name NAME      XLSX option
run:
  --retry N              try a refused export (no free slot) up to N times in all
  --quiet                no progress and no summary line on stderr
  --json                 print the summary as JSON (to stdout, or to stderr when
                         the file goes to stdout)
${CONNECTION_USAGE}`;

const KINDS: readonly ColumnKind[] = ["text", "number", "boolean", "timestamp"];

/** `id:number,name,paid:boolean` → column definitions. */
export function parseColumns(list: string): ColumnDefinition[] {
  return list.split(",").map((item) => {
    const [key = "", type = "text"] = item.trim().split(":");
    if (key === "") throw new UsageError(`--columns has an empty key: ${list}`);
    if (!KINDS.includes(type as ColumnKind)) {
      throw new UsageError(`--columns: type of ${key} must be one of ${KINDS.join(", ")}`);
    }
    return { key, type: type as ColumnKind };
  });
}

function oneOf<T extends string>(flag: string, value: string | undefined, values: readonly T[]) {
  if (value === undefined || values.includes(value as T)) return value as T | undefined;
  throw new UsageError(`--${flag} must be one of ${values.join(", ")}, got ${value}`);
}

/** The output flags of each format: one given for another format is a mistake to point out. */
const FLAGS_OF_FORMAT: Readonly<Record<ExportFormat, readonly string[]>> = {
  csv: ["delimiter", "line-ending", "quote-all", "bom", "omit-header", "escape-formulas"],
  pdf: ["title", "page-size", "landscape", "omit-generated-at"],
  xlsx: ["sheet-name"],
};

function refuseOtherFormatsFlags(format: ExportFormat, given: Readonly<Record<string, unknown>>) {
  for (const [other, flags] of Object.entries(FLAGS_OF_FORMAT)) {
    if (other === format) continue;
    const flag = flags.find((name) => given[name] !== undefined);
    if (flag !== undefined) {
      throw new UsageError(`--${flag} is for --format ${other}, not ${format}`);
    }
  }
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`--${flag} must be a positive integer`);
  return Number(value);
}

export async function exportCommand(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...CONNECTION_FLAGS,
      format: { type: "string" },
      in: { type: "string" },
      out: { type: "string" },
      "input-format": { type: "string" },
      "input-delimiter": { type: "string" },
      columns: { type: "string" },
      "file-name": { type: "string" },
      delimiter: { type: "string" },
      "line-ending": { type: "string" },
      "quote-all": { type: "boolean" },
      bom: { type: "boolean" },
      "omit-header": { type: "boolean" },
      "escape-formulas": { type: "boolean" },
      title: { type: "string" },
      "page-size": { type: "string" },
      landscape: { type: "boolean" },
      "omit-generated-at": { type: "boolean" },
      "sheet-name": { type: "string" },
      retry: { type: "string" },
      quiet: { type: "boolean" },
      json: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  const format = oneOf<ExportFormat>("format", values.format, ["csv", "pdf", "xlsx"]);
  if (!format) throw new UsageError("--format is required: csv, pdf or xlsx");
  refuseOtherFormatsFlags(format, values);
  if (values.in === undefined) throw new UsageError("--in is required: a file, or - for stdin");
  if (values.out === undefined) throw new UsageError("--out is required: a file, or - for stdout");
  const retry = positiveInteger("retry", values.retry);
  const columns = values.columns === undefined ? undefined : parseColumns(values.columns);
  const lineEnding = oneOf("line-ending", values["line-ending"], ["crlf", "lf"] as const);
  const pageSize = oneOf("page-size", values["page-size"], ["a4", "letter"] as const);
  const inputFormat = oneOf<InputFormat>("input-format", values["input-format"], INPUT_FORMATS);
  const toStdout = values.out === "-";
  const target = toStdout ? undefined : await writeTarget(values.out);
  const inPlace = target?.inPlace === true;
  if (inPlace) {
    await access(values.out, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new CliError(`cannot write ${values.out}: ${error.code ?? error.message}`);
    });
  } else if (target !== undefined) {
    // Checked first, so that a typo in --out fails before any row is sent.
    const folder = dirname(target.path);
    await access(folder, constants.W_OK).catch(() => {
      throw new CliError(`cannot write ${values.out}: ${folder} is no writable folder`);
    });
  }
  const { client, server } = await connect(values);

  const input = await openInput(values.in, {
    ...(inputFormat ? { format: inputFormat } : {}),
    ...(values["input-delimiter"] ? { csvDelimiter: values["input-delimiter"] } : {}),
  });
  // Ctrl-C cancels the export, so the temporary file is removed; a second
  // one, with these listeners gone, ends the process at once.
  const interrupted = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => interrupted.abort(signal);
  process.once("SIGINT", interrupt).once("SIGTERM", interrupt);
  const givenColumns = columns ?? input.header?.map((key) => ({ key }));
  const options: ExportOptions = {
    format,
    rows: input.records,
    signal: interrupted.signal,
    ...(givenColumns ? { columns: givenColumns } : {}),
    ...(values["file-name"] ? { fileName: values["file-name"] } : {}),
    csv: {
      ...(values.delimiter ? { delimiter: values.delimiter } : {}),
      ...(lineEnding ? { lineEnding } : {}),
      quoting: values["quote-all"] ? "all" : "minimal",
      bom: values.bom ?? false,
      omitHeader: values["omit-header"] ?? false,
      escapeFormulas: values["escape-formulas"] ?? false,
    },
    pdf: {
      ...(values.title ? { title: values.title } : {}),
      ...(pageSize ? { pageSize } : {}),
      orientation: values.landscape ? "landscape" : "portrait",
      omitGeneratedAt: values["omit-generated-at"] ?? false,
    },
    ...(values["sheet-name"] ? { xlsx: { sheetName: values["sheet-name"] } } : {}),
    ...(retry && retry > 1 ? { retry: { maxAttempts: retry } } : {}),
  };
  const startedAt = performance.now();
  const run = client.export(options);
  let progress: Progress | undefined;
  if (process.stderr.isTTY && !values.quiet) {
    progress = showProgress({
      progress: run.progress,
      inputBytes: input.bytesRead,
      inputTotal: input.totalBytes,
    });
  }
  let summary: ExportSummaryInfo;
  try {
    summary = await run.writeTo(toStdout ? process.stdout : values.out);
  } catch (error) {
    if (interrupted.signal.aborted) {
      const left =
        toStdout || inPlace ? "what was written is incomplete" : `${values.out} was left as it was`;
      throw new InterruptedError(
        interrupted.signal.reason as NodeJS.Signals,
        `the export was cancelled; ${left}`,
      );
    }
    if (error instanceof ExportInputError) {
      throw new CliError(`${input.position()}: ${error.message}`);
    }
    throw error;
  } finally {
    process.off("SIGINT", interrupt).off("SIGTERM", interrupt);
    progress?.stop();
    client.close();
    // A failed export may leave the input unread: stdin from a pipe that
    // stays open would keep the process alive.
    input.close();
  }
  const elapsedMs = performance.now() - startedAt;
  const header = await run.header;
  if (values.json) {
    const report = `${JSON.stringify({
      out: values.out,
      fileName: header.fileName,
      contentType: header.contentType,
      ...summary,
      elapsedMs: Math.round(elapsedMs),
    })}\n`;
    (toStdout ? process.stderr : process.stdout).write(report);
  } else if (!values.quiet) {
    process.stderr.write(
      `export-cli: wrote ${toStdout ? "stdout" : values.out}: ${count(summary.rows)} rows, ` +
        `${bytes(summary.bytes)}, sha256 ${summary.sha256.slice(0, 12)}… verified, in ` +
        `${seconds(elapsedMs)} (${count(summary.rows / (elapsedMs / 1000))} rows/s) from ${server}\n`,
    );
  }
}
