import { randomUUID } from "node:crypto";
import { createWriteStream, type Stats } from "node:fs";
import { chmod, lstat, readlink, realpath, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import {
  ColumnType,
  type ExportRequest,
  ExportRequestSchema,
  ExportService,
  type ExportStartSchema,
  type ExportSummary,
  Format,
  LineEnding,
  Orientation,
  PageSize,
  Quoting,
  type Row,
  RowBatchSchema,
} from "../../gen/export/v1/export_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import {
  type ColumnDefinition,
  type ColumnInput,
  type ColumnKind,
  createRowEncoder,
  type EncodedRow,
  inferColumns,
} from "./cells.js";
import {
  ExportCallError,
  ExportClientError,
  ExportInputError,
  ExportIntegrityError,
  isRetryableRefusal,
  typedError,
} from "./errors.js";
import { FileCheck } from "./integrity.js";
import { DEFAULT_RETRY, type RetryOptions, retryDelayMs } from "./retry.js";

export type ExportProtocol = "grpc" | "connect" | "grpc-web";
export type ExportFormat = "csv" | "pdf" | "xlsx";

/** TLS settings, passed to Node's `http2.connect`; the baseUrl must be `https://`. */
export interface ExportClientTls {
  /** CA certificates (PEM) to trust for the server's certificate; default: Node's CAs. */
  readonly ca?: string | Buffer | (string | Buffer)[];
  /** A client certificate and its key (PEM), for servers that ask for one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name the server's certificate must carry; default: the baseUrl's host. */
  readonly servername?: string;
}

export interface ExportClientOptions {
  /** The server, e.g. `http://localhost:50051` (h2c) or `https://exports.example` (TLS). */
  readonly baseUrl: string;
  /** Wire protocol; default "grpc". "connect" uses the binary Connect protocol. */
  readonly protocol?: ExportProtocol;
  /** Sent as `authorization: Bearer <token>` with every call; default none. */
  readonly token?: string;
  readonly tls?: ExportClientTls;
  /** Most rows in one batch message; default 1,000. */
  readonly batchRows?: number;
  /**
   * Most bytes in one batch message, counted as an upper bound of the
   * encoded size; default 256 KiB, a quarter of the server's default
   * MAX_MESSAGE_BYTES. A single row larger than this goes alone.
   */
  readonly batchBytes?: number;
  /**
   * A batch is sent once its first row is this old, full or not, so rows
   * from a slow or paused source reach the server (which fails an export
   * it hears nothing from for IDLE_TIMEOUT_MS); default 1,000 ms.
   */
  readonly batchMaxAgeMs?: number;
  /**
   * Retry exports the server refused with RESOURCE_EXHAUSTED and a RetryInfo
   * (no free slot); default off. `true` means the defaults of RetryOptions.
   */
  readonly retry?: boolean | RetryOptions;
  /** Deadline of each export call in ms; default none. */
  readonly timeoutMs?: number;
}

export interface CsvExportOptions {
  readonly omitHeader?: boolean;
  /** One character; default ",". */
  readonly delimiter?: string;
  /** Default "crlf", as RFC 4180 asks. */
  readonly lineEnding?: "crlf" | "lf";
  /** Default "minimal": quote only fields that need it (and empty strings). */
  readonly quoting?: "minimal" | "all";
  /** Start with a UTF-8 byte order mark, for Excel. */
  readonly bom?: boolean;
  /** Prefix cells starting with =, +, -, @, tab or CR with ', for spreadsheets. */
  readonly escapeFormulas?: boolean;
}

export interface XlsxExportOptions {
  /** The first sheet's name; default: the file name without its extension. */
  readonly sheetName?: string;
}

export interface PdfExportOptions {
  /** Printed above the table, in the footer and the document info. */
  readonly title?: string;
  /** Default "a4". */
  readonly pageSize?: "a4" | "letter";
  /** Default "portrait". */
  readonly orientation?: "portrait" | "landscape";
  /** Leave out the "Generated <UTC time>" line. */
  readonly omitGeneratedAt?: boolean;
}

/**
 * The rows: an array, a generator, any (async) iterable, or a Node Readable
 * in object mode. Each row is an array of cells in column order or an
 * object keyed by column (see `formatCell` for how values become text).
 */
export type RowSource = Iterable<unknown> | AsyncIterable<unknown>;

export interface ExportOptions {
  readonly format: ExportFormat;
  readonly rows: RowSource;
  /**
   * Default: the first row's keys, in the object's property order (which in
   * JavaScript puts integer-like keys such as "2024" first), typed by its
   * values (numbers right-aligned in PDF); then a later row with another
   * key is refused.
   * Given columns pick those properties from object rows, ignoring others.
   */
  readonly columns?: readonly ColumnInput[];
  /** The server's default: `export-<id>.csv` / `.pdf`. */
  readonly fileName?: string;
  readonly csv?: CsvExportOptions;
  readonly pdf?: PdfExportOptions;
  readonly xlsx?: XlsxExportOptions;
  /** Aborting cancels the export: the server stops and the file is incomplete. */
  readonly signal?: AbortSignal;
  /** Overrides the client's retry option for this export. */
  readonly retry?: boolean | RetryOptions;
}

export interface ExportHeaderInfo {
  readonly exportId: string;
  readonly contentType: string;
  readonly fileName: string;
}

/** The server's summary, after the client checked it against what arrived. */
export interface ExportSummaryInfo {
  readonly exportId: string;
  readonly rows: number;
  readonly bytes: number;
  /** Lowercase hex SHA-256 of the file, checked by this client. */
  readonly sha256: string;
  /** Server time from the start message to the summary. */
  readonly durationMs: number;
  readonly chunks: number;
  readonly batches: number;
  /** Calls made, refused ones included. */
  readonly attempts: number;
}

/**
 * A running export. The call starts when the file is first read (iterate it,
 * or call `writeTo`), and the file can be read once. A file whose reading
 * ended with an error is incomplete or wrong, whatever bytes came before.
 */
export interface ExportRun extends AsyncIterable<Uint8Array> {
  /** Resolves when the server accepted the export; rejects if it failed first. */
  readonly header: Promise<ExportHeaderInfo>;
  /** Resolves once the whole file arrived and matched the server's summary. */
  readonly summary: Promise<ExportSummaryInfo>;
  /** Rows handed to the transport, file bytes received and calls made so far. */
  progress(): {
    readonly rowsSent: number;
    readonly bytesReceived: number;
    readonly attempts: number;
  };
  /**
   * Writes the file to a path, atomically: into a temporary file beside it,
   * renamed once the file was checked, removed on failure. A device, a named
   * pipe or a symbolic link (`/dev/null`, `/dev/stdout`) is written in place,
   * through the link, instead: renaming over it would replace it. Or pipes
   * it into a Writable, which is ended. Resolves with the summary.
   */
  writeTo(target: string | Writable): Promise<ExportSummaryInfo>;
}

export interface ExportClient {
  export(options: ExportOptions): ExportRun;
  /** gRPC health Check: "SERVING", "NOT_SERVING", …; `service` "" is the whole server. */
  health(service?: string): Promise<string>;
  /** Closes the HTTP/2 connection and every call on it. */
  close(): void;
}

const DEFAULT_BATCH_ROWS = 1_000;
const DEFAULT_BATCH_BYTES = 256 * 1024;
const DEFAULT_BATCH_MAX_AGE_MS = 1_000;
const AGED = Symbol("aged");

const COLUMN_TYPES: Readonly<Record<ColumnKind, ColumnType>> = {
  text: ColumnType.TEXT,
  number: ColumnType.NUMBER,
  boolean: ColumnType.BOOLEAN,
  timestamp: ColumnType.TIMESTAMP,
};

const FORMATS: Readonly<Record<ExportFormat, Format>> = {
  csv: Format.CSV,
  pdf: Format.PDF,
  xlsx: Format.XLSX,
};

type StartInit = MessageInitShape<typeof ExportStartSchema>;

function startMessage(options: ExportOptions, columns: readonly ColumnDefinition[]): StartInit {
  const { csv = {}, pdf = {}, xlsx = {} } = options;
  return {
    format: FORMATS[options.format],
    columns: columns.map((column) => ({
      key: column.key,
      title: column.title ?? "",
      type: COLUMN_TYPES[column.type ?? "text"],
      width: column.width ?? 0,
    })),
    fileName: options.fileName,
    csv: {
      omitHeader: csv.omitHeader ?? false,
      delimiter: csv.delimiter ?? "",
      lineEnding: csv.lineEnding === "lf" ? LineEnding.LF : LineEnding.CRLF,
      quoting: csv.quoting === "all" ? Quoting.ALL : Quoting.MINIMAL,
      bom: csv.bom ?? false,
      escapeFormulas: csv.escapeFormulas ?? false,
    },
    pdf: {
      title: pdf.title ?? "",
      pageSize: pdf.pageSize === "letter" ? PageSize.LETTER : PageSize.A4,
      orientation: pdf.orientation === "landscape" ? Orientation.LANDSCAPE : Orientation.PORTRAIT,
      omitGeneratedAt: pdf.omitGeneratedAt ?? false,
    },
    xlsx: { sheetName: xlsx.sheetName ?? "" },
  };
}

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  let reject: (reason: unknown) => void = () => {};
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // Whoever does not await it must not see an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function cancelled(message: string, cause?: unknown): ExportCallError {
  return new ExportCallError(new ConnectError(message, Code.Canceled, undefined, undefined, cause));
}

/** `promise`, or CANCELLED as soon as `signal` aborts, whichever comes first. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(cancelled("the export was cancelled", signal.reason));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** File names are at most 255 bytes on Linux filesystems. */
const NAME_MAX_BYTES = 255;

/**
 * A new file's path beside `target`, hidden, named after it (shortened
 * where the whole would not fit in a file name).
 */
function temporaryBeside(target: string): string {
  const suffix = `.${randomUUID().slice(0, 8)}.part`;
  const name = [...basename(target)];
  while (Buffer.byteLength(`.${name.join("")}${suffix}`) > NAME_MAX_BYTES) name.pop();
  return join(dirname(target), `.${name.join("")}${suffix}`);
}

/** Where `writeTo(path)` writes, and how. */
export interface WriteTarget {
  /** The file replaced: `path`, or the file its links lead to. */
  readonly path: string;
  /**
   * Written in place, through `path`: a device, a pipe, or an open
   * descriptor (`/dev/stdout`, `/dev/fd/1`). Renaming over it would
   * replace it with a regular file (as root, /dev/null itself) or leave
   * the file the shell opened empty.
   */
  readonly inPlace: boolean;
  /** The file there now, whose permissions its replacement keeps. */
  readonly existing: Stats | undefined;
}

/** Links followed before giving up; the write then fails as the system says (ELOOP). */
const MAX_LINK_HOPS = 40;

/**
 * Follows `path`'s symbolic links to the file a write replaces: a link to
 * a file keeps pointing at it, and the file is replaced atomically; a link
 * into /proc names an open descriptor.
 */
export async function writeTarget(path: string): Promise<WriteTarget> {
  const inPlace = { path, inPlace: true, existing: undefined };
  let current = path;
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    const entry = await lstat(current).catch(() => undefined);
    if (entry === undefined) return { path: current, inPlace: false, existing: undefined };
    if (!entry.isSymbolicLink())
      return { path: current, inPlace: !entry.isFile(), existing: entry };
    const folder = await realpath(dirname(current)).catch(() => dirname(current));
    const next = resolve(folder, await readlink(current));
    if (folder.startsWith("/proc/") || next.startsWith("/proc/")) return inPlace;
    current = next;
  }
  return inPlace;
}

/** The rows being read: the first one taken early when columns were inferred. */
interface RowFeed {
  readonly columns: readonly ColumnDefinition[];
  /** Whether the columns came from the first row. */
  readonly inferred: boolean;
  /** Rows taken from the source so far. */
  taken(): number;
  next(): Promise<IteratorResult<unknown>>;
  /** Closes the source (a generator's finally, a stream's destroy) unless it ended. */
  close(): void;
}

function isAsyncIterable(rows: RowSource): rows is AsyncIterable<unknown> {
  return typeof (rows as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function";
}

async function openRows(
  rows: RowSource,
  columns: readonly ColumnInput[] | undefined,
  signal: AbortSignal | undefined,
): Promise<RowFeed> {
  const iterator: Iterator<unknown> | AsyncIterator<unknown> = isAsyncIterable(rows)
    ? rows[Symbol.asyncIterator]()
    : rows[Symbol.iterator]();
  let peeked: IteratorResult<unknown> | undefined;
  let taken = 0;
  let ended = false;
  const close = () => {
    if (ended) return;
    ended = true;
    // Not awaited: a source blocked in its own await would hold us too.
    Promise.resolve()
      .then(() => iterator.return?.())
      .catch(() => {});
    // A stream's iterator ends it only once a read that waits is answered,
    // which may be never: the stream is destroyed now.
    if (rows instanceof Readable) rows.destroy();
  };
  const next = async () => {
    const result = peeked ?? (await iterator.next());
    peeked = undefined;
    if (result.done) ended = true;
    else taken++;
    return result;
  };
  let definitions: ColumnDefinition[];
  if (columns) {
    definitions = columns.map((column) => (typeof column === "string" ? { key: column } : column));
  } else {
    try {
      peeked = await unlessAborted(Promise.resolve(iterator.next()), signal);
      if (peeked.done) {
        throw new ExportInputError("there are no rows to infer the columns from: give columns");
      }
      definitions = inferColumns(peeked.value);
    } catch (error) {
      close();
      throw error;
    }
  }
  return {
    columns: definitions,
    inferred: columns === undefined,
    taken: () => taken,
    next,
    close,
  };
}

function bearer(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

/**
 * A client for ExportService: batching, backpressure, cell formatting,
 * checking the file against its summary, typed errors and retry of
 * refusals. See "Client and command line" in README.md.
 */
export function createExportClient(options: ExportClientOptions): ExportClient {
  const url = new URL(options.baseUrl);
  if (options.tls && url.protocol !== "https:") {
    throw new TypeError(`tls needs an https:// baseUrl, got ${options.baseUrl}`);
  }
  const { ca, cert, key, servername } = options.tls ?? {};
  const sessions = new Http2SessionManager(
    options.baseUrl,
    {},
    options.tls ? { ca, cert, key, servername } : {},
  );
  const transportOptions = {
    baseUrl: options.baseUrl,
    httpVersion: "2" as const,
    sessionManager: sessions,
    interceptors: options.token === undefined ? [] : [bearer(options.token)],
  };
  const transport =
    options.protocol === "connect"
      ? createConnectTransport({ ...transportOptions, useBinaryFormat: true })
      : options.protocol === "grpc-web"
        ? createGrpcWebTransport(transportOptions)
        : createGrpcTransport(transportOptions);
  const exports = createClient(ExportService, transport);
  const health = createClient(Health, transport);
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  const batchMaxAgeMs = options.batchMaxAgeMs ?? DEFAULT_BATCH_MAX_AGE_MS;

  function exportFile(request: ExportOptions): ExportRun {
    const header = deferred<ExportHeaderInfo>();
    const summary = deferred<ExportSummaryInfo>();
    const retrySetting = request.retry ?? options.retry ?? false;
    const retry =
      retrySetting === false
        ? undefined
        : { ...DEFAULT_RETRY, ...(retrySetting === true ? {} : retrySetting) };
    const signal = request.signal;
    let rowsSent = 0;
    let bytesReceived = 0;
    let attemptsMade = 0;
    let read = false;

    /** One call. Sends no row before the header: a refusal leaves the rows unread. */
    async function* attempt(feed: RowFeed, attempts: number): AsyncGenerator<Uint8Array> {
      attemptsMade = attempts;
      const admitted = deferred<boolean>();
      const encoder = createRowEncoder(feed.columns, feed.inferred);
      // The source's own failure, rethrown as is rather than as the call's.
      let sourceError: { error: unknown } | undefined;
      const start = startMessage(request, feed.columns);

      async function* requests(): AsyncGenerator<ExportRequest> {
        yield create(ExportRequestSchema, { kind: { case: "start", value: start } });
        if (!(await admitted.promise)) return;
        let rows: Row[] = [];
        let bytes = 0;
        // Resolves once the batch's first row is batchMaxAgeMs old.
        let aged: Promise<typeof AGED> | undefined;
        let agedTimer: NodeJS.Timeout | undefined;
        const batch = () => {
          const message = create(ExportRequestSchema, {
            kind: { case: "batch", value: create(RowBatchSchema, { rows }) },
          });
          rowsSent += rows.length;
          rows = [];
          bytes = 0;
          clearTimeout(agedTimer);
          aged = undefined;
          return message;
        };
        // The next row, asked for once and waited on across batch timeouts.
        let pending: Promise<IteratorResult<unknown>> | undefined;
        try {
          for (;;) {
            // Only the source's and the encoder's errors: the transport also
            // throws into this generator, at its yields.
            let next: IteratorResult<unknown> | typeof AGED;
            try {
              pending ??= feed.next();
              next = aged ? await Promise.race([pending, aged]) : await pending;
            } catch (error) {
              sourceError = { error };
              throw error;
            }
            if (next === AGED) {
              // The row still comes; a failure then is heard at the next wait.
              pending.catch(() => {});
              yield batch();
              continue;
            }
            pending = undefined;
            if (next.done) break;
            let encoded: EncodedRow;
            try {
              encoded = encoder.encode(next.value, rowsSent + rows.length + 1);
            } catch (error) {
              sourceError = { error };
              throw error;
            }
            if (rows.length > 0 && bytes + encoded.bytes > batchBytes) yield batch();
            if (rows.length === 0) {
              aged = new Promise((resolve) => {
                agedTimer = setTimeout(resolve, batchMaxAgeMs, AGED);
              });
            }
            rows.push(encoded.row);
            bytes += encoded.bytes;
            if (rows.length >= batchRows) yield batch();
          }
        } finally {
          clearTimeout(agedTimer);
        }
        if (rows.length > 0) yield batch();
      }

      // Ends the call when the reader stops early: connect-node's response
      // iterator has no return() that would.
      const stop = new AbortController();
      const check = new FileCheck();
      let exportId: string | undefined;
      let last: ExportSummary | undefined;
      const streamError = (what: string) =>
        new ExportIntegrityError(
          "stream",
          "header, chunks, summary",
          what,
          `the server sent ${what}`,
        );
      try {
        for await (const response of exports.export(requests(), {
          signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
          timeoutMs: options.timeoutMs,
        })) {
          switch (response.kind.case) {
            case "header":
              if (exportId !== undefined) throw streamError("a second header");
              exportId = response.kind.value.exportId;
              header.resolve({
                exportId,
                contentType: response.kind.value.contentType,
                fileName: response.kind.value.fileName,
              });
              admitted.resolve(true);
              break;
            case "chunk": {
              if (exportId === undefined || last) throw streamError("a chunk outside the file");
              const { data, offset } = response.kind.value;
              check.chunk(data, offset);
              bytesReceived += data.length;
              yield data;
              break;
            }
            case "summary":
              if (exportId === undefined || last) throw streamError("a misplaced summary");
              last = response.kind.value;
              break;
            default:
              throw streamError("an empty message");
          }
        }
      } catch (error) {
        if (sourceError) throw sourceError.error;
        if (signal?.aborted) throw cancelled("the export was cancelled", signal.reason);
        throw error;
      } finally {
        admitted.resolve(false);
        stop.abort();
      }
      if (!last || exportId === undefined) {
        throw streamError("no summary: the file is incomplete");
      }
      check.finish(last, rowsSent);
      summary.resolve({
        exportId,
        rows: Number(last.rows),
        bytes: Number(last.bytes),
        sha256: last.sha256,
        durationMs:
          last.duration === undefined
            ? 0
            : Number(last.duration.seconds) * 1000 + last.duration.nanos / 1e6,
        chunks: last.chunks,
        batches: last.batches,
        attempts,
      });
    }

    async function* file(): AsyncGenerator<Uint8Array> {
      let finished = false;
      try {
        if (signal?.aborted) throw cancelled("the export was cancelled", signal.reason);
        const feed = await openRows(request.rows, request.columns, signal);
        try {
          for (let attempts = 1; ; attempts++) {
            try {
              yield* attempt(feed, attempts);
              finished = true;
              return;
            } catch (error) {
              const failure = typedError(error);
              // Safe only while no row has been sent: the server refuses
              // before the header, and rows wait for the header.
              if (!retry || !isRetryableRefusal(failure) || feed.taken() > 0) throw failure;
              if (attempts >= retry.maxAttempts) throw failure;
              const wait = retryDelayMs(failure.retryDelayMs ?? 0, attempts, retry.maxDelayMs);
              await sleep(wait, undefined, { signal }).catch((cause: unknown) => {
                throw cancelled("the export was cancelled while waiting to retry", cause);
              });
            }
          }
        } finally {
          feed.close();
        }
      } catch (error) {
        const failure = typedError(error);
        header.reject(failure);
        summary.reject(failure);
        throw failure;
      } finally {
        if (!finished) {
          // The reader stopped early: the call was cancelled on the way out.
          const stopped = cancelled("the export's file was not read to the end");
          header.reject(stopped);
          summary.reject(stopped);
        }
      }
    }

    const run: ExportRun = {
      header: header.promise,
      summary: summary.promise,
      progress: () => ({ rowsSent, bytesReceived, attempts: attemptsMade }),
      [Symbol.asyncIterator]() {
        if (read) throw new ExportClientError("an export's file can be read only once");
        read = true;
        return file();
      },
      async writeTo(target) {
        if (typeof target !== "string") {
          await pipeline(Readable.from(run, { objectMode: false }), target);
          return summary.promise;
        }
        const { path, inPlace, existing } = await writeTarget(target);
        if (inPlace) {
          await pipeline(Readable.from(run, { objectMode: false }), createWriteStream(target));
          return summary.promise;
        }
        const temporary = temporaryBeside(path);
        try {
          await pipeline(
            Readable.from(run, { objectMode: false }),
            createWriteStream(temporary, { flags: "wx" }),
          );
          // A file that replaces another keeps its permissions: one made
          // private stays private.
          if (existing !== undefined) await chmod(temporary, existing.mode & 0o7777);
          await rename(temporary, path);
        } catch (error) {
          await rm(temporary, { force: true });
          throw error;
        }
        return summary.promise;
      },
    };
    return run;
  }

  return {
    export: exportFile,
    async health(service = "") {
      try {
        const { status } = await health.check({ service }, { timeoutMs: options.timeoutMs });
        return HealthCheckResponse_ServingStatus[status] ?? String(status);
      } catch (error) {
        throw typedError(error);
      }
    },
    close() {
      sessions.abort();
    },
  };
}
